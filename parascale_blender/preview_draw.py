"""The viewport overlay's drawing shell, its draw handlers, the readout sub-panel and the preview
operators. Every number comes from preview_data; this module only turns an `Overlay` into gpu batches
and blf text, and manages when that happens.

Handlers: two SpaceView3D draw handlers (POST_VIEW for the world-space paths and markers, POST_PIXEL
for the graph and the readout) exist while at least one scene has `scene.parascale.show_overlay` on.
`sync_draw_handlers()` adds or removes them (idempotent); it runs on register, on every file load
(a @persistent load_post handler: a loaded file brings its own scenes and flags), from the toggle
operator and from the property's update callback (properties.py). unregister removes everything it added.
"""

from __future__ import annotations

from pathlib import Path

import blf
import bpy
import gpu
from bpy.app.handlers import persistent
from gpu_extras.batch import batch_for_shader

from ..core.errors import ParaScaleError
from . import preview_data, properties
from .panels import SidebarPanel

FONT_ID = 0
_draw_handles: dict[str, object] = {}


# ------------------------------------------------------------------------------------------------ shell


def draw_primitives(primitives: tuple[preview_data.Primitive, ...] | list[preview_data.Primitive]) -> None:
    """One batch per primitive: its builtin shader, its vertices (and colours), its uniforms."""
    gpu.state.blend_set("ALPHA")
    for prim in primitives:
        shader = gpu.shader.from_builtin(prim.shader)
        content = {"pos": prim.positions} if prim.colours is None else {"pos": prim.positions, "color": prim.colours}
        batch = batch_for_shader(shader, prim.kind, content)
        shader.bind()
        for name, value in prim.uniforms:
            shader.uniform_float(name, value)
        batch.draw(shader)
    gpu.state.blend_set("NONE")


def draw_labels(labels: tuple[preview_data.Label, ...] | list[preview_data.Label]) -> None:
    for label in labels:
        blf.size(FONT_ID, label.size)
        blf.color(FONT_ID, *label.colour)
        blf.position(FONT_ID, label.x, label.y, 0.0)
        blf.draw(FONT_ID, label.text)


def _current_overlay(context: bpy.types.Context) -> preview_data.Overlay:
    region = context.region
    return preview_data.overlay(context.scene, (region.width, region.height), active=context.active_object)


def draw_world(context: bpy.types.Context | None = None) -> None:
    """POST_VIEW callback: the paths and markers."""
    draw_primitives(_current_overlay(context or bpy.context).world)


def draw_screen(context: bpy.types.Context | None = None) -> None:
    """POST_PIXEL callback: the graph and the readout."""
    current = _current_overlay(context or bpy.context)
    draw_primitives(current.screen)
    draw_labels(current.labels)


# ---------------------------------------------------------------------------------------------- handlers


def draw_handlers_installed() -> bool:
    return bool(_draw_handles)


def install_draw_handlers() -> None:
    """Add the two draw handlers (once: calling again changes nothing)."""
    if _draw_handles:
        return
    _draw_handles["world"] = bpy.types.SpaceView3D.draw_handler_add(draw_world, (), "WINDOW", "POST_VIEW")
    _draw_handles["screen"] = bpy.types.SpaceView3D.draw_handler_add(draw_screen, (), "WINDOW", "POST_PIXEL")
    _tag_redraw()


def remove_draw_handlers() -> None:
    """Remove the draw handlers if they are there."""
    while _draw_handles:
        _, handle = _draw_handles.popitem()
        bpy.types.SpaceView3D.draw_handler_remove(handle, "WINDOW")
    _tag_redraw()


def sync_draw_handlers() -> bool:
    """Draw handlers present exactly when some scene has the overlay on; returns whether they are."""
    wanted = any(preview_data.overlay_enabled(scene) for scene in bpy.data.scenes)
    if wanted:
        install_draw_handlers()
    else:
        remove_draw_handlers()
    return wanted


def _tag_redraw() -> None:
    window_manager = getattr(bpy.context, "window_manager", None)
    for window in getattr(window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


@persistent
def on_load_post(*_args: object) -> None:
    sync_draw_handlers()


# ------------------------------------------------------------------------------------------- operators


class PARASCALE_OT_toggle_overlay(bpy.types.Operator):
    """Show or hide the ParaScale parallax overlay in the 3D viewports of this scene"""

    bl_idname = "parascale.toggle_overlay"
    bl_label = "Toggle Parallax Overlay"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = getattr(context.scene, "parascale", None)
        if settings is None:
            self.report({"ERROR"}, "the ParaScale settings are not registered")
            return {"CANCELLED"}
        settings.show_overlay = not settings.show_overlay
        sync_draw_handlers()
        return {"FINISHED"}


def _output_directory(directory: str) -> Path:
    if directory.startswith("//") and not bpy.data.filepath:
        import tempfile

        return Path(tempfile.gettempdir()) / directory[2:]
    return Path(bpy.path.abspath(directory))


class PreviewProgress:
    """The interactive run of a preview job: one panel image per timer event, Blender's progress indicator
    (window_manager.progress_begin/update/end) updated after each, Esc stops it and removes everything
    the job made. The operator below is the thin shell around it (Blender's modal handler and timer)."""

    def __init__(self, job: object, window_manager: bpy.types.WindowManager) -> None:
        self.job = job
        self.window_manager = window_manager
        self.result: object | None = None
        self.error: str = ""

    def begin(self) -> None:
        self.job.start()
        self.window_manager.progress_begin(0, self.job.total)

    def handle(self, event_type: str) -> set[str]:
        """One event: ESC cancels, TIMER renders the next panel image (and at the end writes the files)."""
        if event_type == "ESC":
            self.job.cancel()
            self.window_manager.progress_end()
            return {"CANCELLED"}
        if event_type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            if self.job.step():
                self.result = self.job.finish()
                self.window_manager.progress_end()
                return {"FINISHED"}
        except ParaScaleError as error:
            # The job has removed what it made (finish cancels on error); the step that failed did too.
            self.job.cancel()
            self.window_manager.progress_end()
            self.error = str(error)
            return {"CANCELLED"}
        self.window_manager.progress_update(self.job.done)
        return {"RUNNING_MODAL"}


def _written(result: object) -> str:
    return " and ".join(str(p) for p in (result.movie_path, result.sheet_path) if p is not None)


class PARASCALE_OT_render_preview(bpy.types.Operator):
    """Render the reference, uncalibrated and calibrated cameras side by side with captions into an MP4
    (H.264, Blender's FFmpeg output) and a contact sheet PNG. Esc stops it"""

    bl_idname = "parascale.render_preview"
    bl_label = "Render Parallax Preview"

    directory: bpy.props.StringProperty(name="Directory", subtype="DIR_PATH", default="//parascale_preview",
                                        description="Where the MP4 and the contact sheet are written")
    width: bpy.props.IntProperty(name="Panel Width", default=640, min=16, max=3840)
    height: bpy.props.IntProperty(name="Panel Height", default=360, min=16, max=2160)
    use_transfer_range: bpy.props.BoolProperty(name="Transfer Range", default=True,
                                               description="Render every frame of the transfer")
    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=250)
    engine: bpy.props.EnumProperty(name="Engine", items=[
        ("WORKBENCH", "Workbench", "Fast flat shading (default)"),
        ("EEVEE", "EEVEE", "The scene's materials and lights; slower")], default="WORKBENCH")
    sheet_frames: bpy.props.IntProperty(name="Sheet Frames", default=4, min=1, max=32,
                                        description="Frames on the contact sheet, evenly spread")
    show_graph: bpy.props.BoolProperty(name="Pi Graph", default=True,
                                       description="A strip under the panels plotting Pi over the frames")

    def _job(self, context: bpy.types.Context) -> object | None:
        """The preview job for the current scene (None after reporting the error)."""
        from . import preview_render

        camera = preview_data.find_transferred_camera(context.scene, context.active_object)
        if camera is None:
            self.report({"ERROR"}, "no transferred camera in this scene: run the transfer first")
            return None
        frames = {} if self.use_transfer_range else {"frame_start": self.frame_start, "frame_end": self.frame_end}
        try:
            return preview_render.PreviewJob(context.scene, camera, _output_directory(self.directory),
                                             width=self.width, height=self.height, engine=self.engine,
                                             sheet_frames=self.sheet_frames, graph=self.show_graph, **frames)
        except ParaScaleError as error:
            self.report({"ERROR"}, str(error))
            return None

    def execute(self, context: bpy.types.Context) -> set[str]:
        job = self._job(context)
        if job is None:
            return {"CANCELLED"}
        try:
            job.start()
            result = job.finish()
        except ParaScaleError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {_written(result)}")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if context.window is None:  # background runs stay synchronous
            return self.execute(context)
        job = self._job(context)
        if job is None:
            return {"CANCELLED"}
        self._progress = PreviewProgress(job, context.window_manager)
        try:
            self._progress.begin()
        except ParaScaleError as error:
            context.window_manager.progress_end()
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.01, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        state = self._progress.handle(event.type)
        if "RUNNING_MODAL" in state or "PASS_THROUGH" in state:
            return state
        context.window_manager.event_timer_remove(self._timer)
        if self._progress.error:
            self.report({"ERROR"}, self._progress.error)
        elif "FINISHED" in state:
            self.report({"INFO"}, f"wrote {_written(self._progress.result)}")
        else:
            self.report({"WARNING"}, "preview cancelled: nothing written")
        return state


# ---------------------------------------------------------------------------------------------- panel


class PARASCALE_PT_parallax_readout(SidebarPanel, bpy.types.Panel):
    bl_label = "Parallax Readout"
    bl_idname = "PARASCALE_PT_parallax_readout"
    # A sub-panel of the add-on's sidebar panel (panels.py registers it first).
    bl_parent_id = "VIEW3D_PT_parascale"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = getattr(context.scene, "parascale", None)
        if settings is not None:
            layout.prop(settings, "show_overlay")
        state = preview_data.preview_state(context.scene, active=context.active_object)
        column = layout.column(align=True)
        for line in preview_data.readout_lines(state) or ["No transferred camera in this scene"]:
            column.label(text=line, icon="ERROR" if line == preview_data.STALE_MESSAGE else "NONE")
        layout.operator(PARASCALE_OT_render_preview.bl_idname, icon="RENDER_ANIMATION")


CLASSES = (PARASCALE_OT_toggle_overlay, PARASCALE_OT_render_preview, PARASCALE_PT_parallax_readout)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    _remove_load_post()
    bpy.app.handlers.load_post.append(on_load_post)
    properties.SHOW_OVERLAY_LISTENERS.append(sync_draw_handlers)
    sync_draw_handlers()


def _remove_load_post() -> None:
    # By identity and by name: a reloaded add-on leaves its earlier function object in the list.
    for handler in list(bpy.app.handlers.load_post):
        if handler is on_load_post or (getattr(handler, "__module__", None) == __name__
                                       and getattr(handler, "__name__", None) == on_load_post.__name__):
            bpy.app.handlers.load_post.remove(handler)


def unregister() -> None:
    if sync_draw_handlers in properties.SHOW_OVERLAY_LISTENERS:
        properties.SHOW_OVERLAY_LISTENERS.remove(sync_draw_handlers)
    remove_draw_handlers()
    _remove_load_post()
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
