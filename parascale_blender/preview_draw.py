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


class PARASCALE_OT_render_preview(bpy.types.Operator):
    """Render the reference, uncalibrated and calibrated cameras side by side (Workbench, low
    resolution) into a contact sheet PNG and an animated GIF"""

    bl_idname = "parascale.render_preview"
    bl_label = "Render Parallax Preview"

    directory: bpy.props.StringProperty(name="Directory", subtype="DIR_PATH", default="//parascale_preview",
                                        description="Where the contact sheet and the GIF are written")
    width: bpy.props.IntProperty(name="Width", default=160, min=16, max=1920)
    height: bpy.props.IntProperty(name="Height", default=90, min=16, max=1080)
    max_frames: bpy.props.IntProperty(name="Frames", default=24, min=2, max=500,
                                      description="At most this many frames, evenly spread over the transfer")

    def execute(self, context: bpy.types.Context) -> set[str]:
        from . import preview_render

        camera = preview_data.find_transferred_camera(context.scene, context.active_object)
        if camera is None:
            self.report({"ERROR"}, "no transferred camera in this scene: run the transfer first")
            return {"CANCELLED"}
        try:
            result = preview_render.render_preview(
                context.scene, camera, _output_directory(self.directory), width=self.width, height=self.height,
                max_frames=self.max_frames)
        except ParaScaleError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {result.sheet_path} and {result.gif_path}")
        return {"FINISHED"}


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
