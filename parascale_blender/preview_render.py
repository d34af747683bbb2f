"""The rendered side-by-side preview: the reference camera, the uncalibrated copy and the calibrated camera
rendered over the transferred frames (Workbench by default, or EEVEE), composed by Blender's Video
Sequencer with captions in Blender's own font, and written by Blender as

- `<basename>.mp4`: H.264 through Blender's FFmpeg output at the scene's frame rate, panels reference |
  uncalibrated | calibrated side by side (640x360 each by default), a caption band under each panel
  (panel name, frame, mode; Pi of the step arriving at that frame, the panel's own and the reference's)
  and, optionally, a strip plotting Pi over the frames with the current frame marked;
- `<basename>_sheet.png`: a contact sheet of a few of those frames, one above the other (a PNG written by
  Blender's sequencer from the same composition).

How: every panel image is a still render of a temporary scene (`bpy.data.scenes.new`) that links the
user's collections and excludes, in its own view layer, the other scene's collection (the target set
while the reference renders, the reference set while the other two do). The uncalibrated camera is a
temporary copy of the calibrated one on the uncalibrated path (s = 1, same rotations, lens and clip
range), linked only into the temporary scene. A temporary composition scene then holds image-sequence
strips for the panels, text strips for the captions (a text strip's text cannot be animated, so there is
one strip per caption and frame), colour strips for the background and the frame marker, and renders the
MP4; a temporary sheet scene stacks a few composed frames into the PNG. The user's scene is not changed
(its frame is restored); every temporary scene, camera, image and file is removed afterwards, also on
error or cancel. Outputs appear only when complete (rendered into a hidden folder next to them, then
renamed).

Rendering is split into steps (one panel image each) so the add-on's operator can show progress and
stop on Esc between two renders (`PreviewJob`); `render_preview` runs all steps at once.

Also runnable for pipelines:
    python -m parascale.parascale_blender.preview_render FILE.blend --camera NAME --out DIR
        [--scene NAME] [--width 640] [--height 360] [--frame-start N] [--frame-end N] [--engine WORKBENCH]
        [--sheet-frames 4] [--no-graph] [--reference-collection NAME] [--target-collection NAME]
It never saves the .blend. Exit status 0 on success, 1 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core.errors import OutputFileError, ParaScaleError, TrajectoryError
from ..core.fileio import TEMP_PREFIX, check_output_paths
from . import camera_writing, compat, preview_data, scene_reading
from .transfer_record import TransferRecord, load

PANELS = ("reference", "uncalibrated", "calibrated")
MODE_NAMES = {"PER_FRAME": "per-frame", "GLOBAL": "global", "UNCALIBRATED": "uncalibrated"}
ENGINES = ("WORKBENCH", "EEVEE")
DEFAULT_BASENAME = "parascale_preview"
TEMPORARY_PREFIX = "ParaScale.preview"
RENDER_RESULT = "Render Result"
GAP = 4  # pixels of background between panels, and between the sheet's rows
BACKGROUND = (0.09, 0.09, 0.09)
TEXT_COLOUR = (0.95, 0.95, 0.95, 1.0)
WARNING_COLOUR = (1.0, 0.6, 0.3, 1.0)
# What a camera sees of its scene (camera_sees): something within its clip range, nothing at all (it has left
# the scene), or surfaces only nearer or farther than its clip range reaches.
SEES_THE_SCENE, LEFT_THE_SCENE, BEYOND_CLIP_RANGE = "sees", "left", "clipped"
WARNINGS = {LEFT_THE_SCENE: "The camera has left the scene",
            BEYOND_CLIP_RANGE: "The scene is beyond the camera's clip range"}
# Rays per frame for camera_sees (across x up): enough to find a box a tenth of the frame wide.
SIGHT_RAYS = (16, 9)


# ------------------------------------------------------------------------------------------------ layout


@dataclass(frozen=True)
class Layout:
    """Where everything sits in a composed frame (pixels; rows counted from the top as in the PNG)."""

    panel_width: int
    panel_height: int
    caption_height: int
    graph_height: int
    width: int
    height: int

    def panel_left(self, index: int) -> int:
        return index * (self.panel_width + GAP)

    def panel_box(self, index: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of panel `index`, for slicing a decoded frame."""
        left = self.panel_left(index)
        return 0, self.panel_height, left, left + self.panel_width

    @property
    def caption_font_size(self) -> int:
        return max(8, round(0.34 * self.caption_height))


def make_layout(width: int, height: int, graph: bool) -> Layout:
    """Panels side by side, the caption band under them, then the graph; H.264 needs an even frame size,
    so the caption band absorbs the odd pixel."""
    caption = max(24, round(0.16 * height))
    graph_height = max(48, round(0.3 * height)) // 2 * 2 if graph else 0
    total_width = 3 * width + 2 * GAP
    total_width += total_width % 2
    caption += (height + caption + graph_height) % 2
    return Layout(width, height, caption, graph_height, total_width, height + caption + graph_height)


# ----------------------------------------------------------------------------------------------- captions


@dataclass(frozen=True)
class Caption:
    """The text under one panel at one frame: a title line, a Pi line, and (uncalibrated panel only) a
    warning shown over the panel where its camera sees nothing of the scene."""

    panel: str
    frame: int
    title: str
    pi_line: str
    warning: str = ""


def panel_pi(record: TransferRecord, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Pi per panel at the frame indices: the step arriving at that frame (NaN at the first frame)."""
    series = {"reference": record.pi_reference, "uncalibrated": record.pi_uncalibrated,
              "calibrated": record.pi_realized}
    return {name: np.where(indices >= 1, np.concatenate([[np.nan], values])[indices], np.nan)
            for name, values in series.items()}


def make_captions(record: TransferRecord, indices: np.ndarray, visibility: np.ndarray) -> list[list[Caption]]:
    """Per frame index, the three panels' captions. `visibility`: what the uncalibrated camera sees at
    each of those frames (camera_sees)."""
    pi = panel_pi(record, indices)
    titles = {"reference": "Reference", "uncalibrated": "Uncalibrated (s = 1)",
              "calibrated": f"Calibrated ({MODE_NAMES.get(record.mode, record.mode.lower())})"}
    out = []
    for row, index in enumerate(np.asarray(indices)):
        frame = int(record.frames[index])
        reference_pi = pi["reference"][row]
        # What the other panels are compared with: strength x the reference's Pi.
        aim = (f"reference {preview_data.fmt(reference_pi)} x {record.strength:g} = "
               f"{preview_data.fmt(record.strength * reference_pi)}" if record.strength != 1.0
               else f"reference {preview_data.fmt(reference_pi)}")
        captions = []
        for panel in PANELS:
            title = f"{titles[panel]} \u00b7 frame {frame}"
            if index == 0:
                pi_line = "\u03a0 -  (first frame: no step yet)"
            elif panel == "reference":
                pi_line = f"\u03a0 {preview_data.fmt(reference_pi)}"
            else:
                pi_line = f"\u03a0 {preview_data.fmt(pi[panel][row])}  ({aim})"
            warning = WARNINGS.get(str(visibility[row]), "") if panel == "uncalibrated" else ""
            captions.append(Caption(panel, frame, title, pi_line, warning))
        out.append(captions)
    return out


# ------------------------------------------------------------------------------------------------ result


@dataclass(frozen=True, eq=False)
class PreviewRender:
    """What a preview made: the frames (all frames of the range, in the MP4), the sheet's frames, each
    panel's Pi per frame, the captions per frame, the uncalibrated camera's visibility per frame, the
    layout of a composed frame, the files written (movie_path None when this Blender has no FFmpeg) and
    the collections hidden ('reference': while the reference panel renders, 'others': while the other two
    do; '' for none)."""

    frames: np.ndarray
    sheet_frames: np.ndarray
    pi: dict[str, np.ndarray]
    captions: list[list[Caption]]
    visibility: np.ndarray
    layout: Layout
    movie_path: Path | None
    sheet_path: Path
    hidden: dict[str, str]


def spread(n: int, count: int) -> np.ndarray:
    """`count` indices evenly spread over range(n), first and last kept (all of them when n <= count)."""
    if n <= count:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max(2, int(count)))).astype(np.int64))


def camera_sees(scene: bpy.types.Scene, camera: bpy.types.Object, rays: tuple[int, int] = SIGHT_RAYS) -> str:
    """What `camera` sees of `scene` at its current frame, by casting a grid of rays through its frame with
    Blender's own ray cast on the scene's evaluated geometry: SEES_THE_SCENE when a ray hits a surface within
    the clip range, BEYOND_CLIP_RANGE when rays hit surfaces only outside it, LEFT_THE_SCENE when none hits.
    (The record's own per-frame depth says the same for the depth source's collection, but not for what
    the render shows: a Bounds depth exists while the camera looks past every object.)"""
    depsgraph = scene.view_layers[0].depsgraph
    evaluated = camera.evaluated_get(depsgraph)
    matrix = np.array(evaluated.matrix_world)
    corners = np.array([tuple(v) for v in evaluated.data.view_frame(scene=scene)])  # camera space, z < 0
    # view_frame: top-right, bottom-right, bottom-left, top-left.
    u = (np.arange(rays[0]) + 0.5) / rays[0]
    v = (np.arange(rays[1]) + 0.5) / rays[1]
    uu, vv = np.meshgrid(u, v)
    bottom = corners[2] + uu[..., None] * (corners[1] - corners[2])
    top = corners[3] + uu[..., None] * (corners[0] - corners[3])
    local = (bottom + vv[..., None] * (top - bottom)).reshape(-1, 3)
    directions = local @ matrix[:3, :3].T
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    forward = -matrix[:3, 2] / np.linalg.norm(matrix[:3, 2])
    origin = matrix[:3, 3]
    clip_start, clip_end = evaluated.data.clip_start, evaluated.data.clip_end
    hit_any = False
    for direction in directions:
        hit, location, *_ = scene.ray_cast(depsgraph, origin.tolist(), direction.tolist())
        if hit:
            depth = float(np.dot(np.array(location) - origin, forward))
            if clip_start <= depth <= clip_end:
                return SEES_THE_SCENE
            hit_any = True
    return BEYOND_CLIP_RANGE if hit_any else LEFT_THE_SCENE


def _setting(scene: bpy.types.Scene, name: str) -> object | None:
    """A scene.parascale setting (None when the add-on's properties are not registered)."""
    return getattr(getattr(scene, "parascale", None), name, None)


def _remove_camera(obj: bpy.types.Object) -> None:
    data = obj.data
    compat.remove_animation(obj)
    bpy.data.objects.remove(obj)
    if data is not None and data.users == 0:
        compat.remove_animation(data)
        bpy.data.cameras.remove(data)


def _layer_collections(layer: bpy.types.LayerCollection) -> list[bpy.types.LayerCollection]:
    out = [layer]
    for child in layer.children:
        out += _layer_collections(child)
    return out


def _render(scene: bpy.types.Scene, animation: bool = False) -> None:
    """Render `scene` (its current frame, or its frame range). The render operator takes the frame from the
    context's scene, not from the scene it is given, so the scene is made the context's scene."""
    with bpy.context.temp_override(scene=scene):
        if animation:
            bpy.ops.render.render(animation=True, scene=scene.name)
        else:
            bpy.ops.render.render(write_still=True, scene=scene.name)


def _render_still(scene: bpy.types.Scene, path: Path) -> None:
    compat.set_png_output(scene)
    scene.render.filepath = str(path)
    _render(scene)


# --------------------------------------------------------------------------------------------------- job


class PreviewJob:
    """One preview, in steps: construct (checks everything, creates nothing), `start()` (the temporary
    scenes and camera), `step()` until it returns True (one panel image per call), `finish()` (compose,
    write the files, clean up) or `cancel()` (clean up, leave nothing behind). Raises ParaScaleError
    (TrajectoryError, OutputFileError) for bad input, before anything is created."""

    def __init__(self, scene: bpy.types.Scene, camera: bpy.types.Object, out_dir: Path | str, *,
                 width: int = 640, height: int = 360, frame_start: int | None = None,
                 frame_end: int | None = None, engine: str = "WORKBENCH", sheet_frames: int = 4,
                 graph: bool = True, reference_collection: bpy.types.Collection | None = None,
                 target_collection: bpy.types.Collection | None = None,
                 basename: str = DEFAULT_BASENAME) -> None:
        record = load(camera)
        if record is None:
            raise TrajectoryError(f"camera {camera.name!r} has no ParaScale transfer record: run the transfer first")
        if preview_data.camera_is_stale(camera, record, None):
            raise TrajectoryError(f"camera {camera.name!r} was edited after the transfer (stale): transfer again")
        reference = bpy.data.objects.get(record.reference)
        if reference is None or reference.type != "CAMERA":
            raise TrajectoryError(f"the reference camera {record.reference!r} of {camera.name!r} is gone")
        if reference.name not in scene.objects or camera.name not in scene.objects:
            raise TrajectoryError(f"the reference camera {reference.name!r} and {camera.name!r} must both be in "
                                  f"scene {scene.name!r}")
        if engine not in ENGINES:
            raise TrajectoryError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
        if width < 16 or height < 16:
            raise TrajectoryError(f"panels of {width}x{height} pixels are too small (16x16 at least)")
        first, last = int(record.frames[0]), int(record.frames[-1])
        start = first if frame_start is None else int(frame_start)
        end = last if frame_end is None else int(frame_end)
        if not first <= start <= end <= last:
            raise TrajectoryError(f"frames {start}..{end} are not within the transfer's frames {first}..{last}")
        self.scene, self.camera, self.reference, self.record = scene, camera, reference, record
        self.reference_collection = reference_collection or _setting(scene, "reference_collection")
        self.target_collection = target_collection or _setting(scene, "target_collection")
        self.out_dir = Path(out_dir)
        self.movie_path = self.out_dir / f"{basename}.mp4" if compat.HAS_FFMPEG else None
        self.sheet_path = self.out_dir / f"{basename}_sheet.png"
        # A folder that is a file, sits under a file or cannot be created is named before anything renders.
        check_output_paths([p for p in (self.movie_path, self.sheet_path) if p is not None])
        self.indices = np.flatnonzero((record.frames >= start) & (record.frames <= end))
        self.frames = record.frames[self.indices]
        self.sheet_rows = spread(self.indices.size, max(1, int(sheet_frames)))
        self.layout = make_layout(int(width), int(height), graph)
        self.engine, self.graph = engine, graph
        self.visibility = np.full(self.frames.size, SEES_THE_SCENE, dtype=object)
        self.steps = [(panel, row) for row in range(self.frames.size) for panel in PANELS]
        self.done = 0
        self._created_folders: list[Path] = []
        self._scenes: list[bpy.types.Scene] = []
        self._uncalibrated: bpy.types.Object | None = None
        self._work: Path | None = None
        self._had_render_result = RENDER_RESULT in bpy.data.images
        self._user_frame = (scene.frame_current, scene.frame_subframe)
        self.panel_scenes: dict[str, bpy.types.Scene] = {}
        self.panel_cameras: dict[str, bpy.types.Object] = {}

    @property
    def total(self) -> int:
        """Number of steps (panel images) to render."""
        return len(self.steps)

    # -------------------------------------------------------------------------------------- set-up

    def start(self) -> None:
        """Create the output folder, the hidden working folder, the panel scenes and the uncalibrated camera."""
        missing = []
        folder = self.out_dir
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputFileError(self.out_dir, "", f"cannot be created ({error.strerror or type(error).__name__})"
                                  ) from None
        self._created_folders = missing  # deepest first
        try:
            self._work = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + "preview-", dir=self.out_dir))
            reference_view = self._panel_scene("reference", hidden=self.target_collection)
            target_view = self._panel_scene("target", hidden=self.reference_collection)
            trajectory = scene_reading.read_camera_trajectory(self.scene, self.camera, self.record.frames)
            self._uncalibrated = camera_writing.write_camera(
                target_view, trajectory.replace(centres=preview_data.uncalibrated_path(self.record)),
                f"{TEMPORARY_PREFIX}.uncalibrated", template=self.camera.data)
            self.panel_scenes = {"reference": reference_view, "uncalibrated": target_view, "calibrated": target_view}
            self.panel_cameras = {"reference": self.reference, "uncalibrated": self._uncalibrated,
                                  "calibrated": self.camera}
            for panel in PANELS:
                (self._work / panel).mkdir()
        except BaseException:
            self.cancel()
            raise

    def _panel_scene(self, name: str, hidden: bpy.types.Collection | None) -> bpy.types.Scene:
        """A temporary scene showing the user's collections and objects except `hidden` (excluded in its
        view layer, as are the collections the user's own first view layer excludes)."""
        user = self.scene
        panel = bpy.data.scenes.new(f"{TEMPORARY_PREFIX}.{name}")
        self._scenes.append(panel)
        for child in user.collection.children:
            panel.collection.children.link(child)
        for obj in user.collection.objects:
            panel.collection.objects.link(obj)
        excluded = {layer.collection.name for layer in _layer_collections(user.view_layers[0].layer_collection)
                    if layer.exclude}
        for layer in _layer_collections(panel.view_layers[0].layer_collection)[1:]:
            if layer.collection == hidden or layer.collection.name in excluded:
                layer.exclude = True
        panel.world = user.world
        panel.render.fps, panel.render.fps_base = user.render.fps, user.render.fps_base
        panel.frame_start, panel.frame_end = int(self.frames[0]), int(self.frames[-1])
        render = panel.render
        render.resolution_x, render.resolution_y = self.layout.panel_width, self.layout.panel_height
        render.resolution_percentage = 100
        render.film_transparent = False
        render.dither_intensity = 0.0  # dither noise differs from render to render: panels compare exactly
        if self.engine == "EEVEE":
            render.engine = compat.eevee_engine()
            for attribute in ("view_transform", "look", "exposure", "gamma"):
                setattr(panel.view_settings, attribute, getattr(user.view_settings, attribute))
        else:
            render.engine = "BLENDER_WORKBENCH"
            shading = panel.display.shading
            # Flat studio look without screen-space or world-space effects: cavity works in world units
            # and would make a scaled copy of a scene look different.
            shading.light, shading.color_type = "STUDIO", "MATERIAL"
            shading.show_cavity = shading.show_shadows = shading.show_object_outline = False
            panel.view_settings.view_transform, panel.view_settings.look = "Standard", "None"
        return panel

    # ------------------------------------------------------------------------------------- rendering

    def panel_path(self, panel: str, row: int) -> Path:
        assert self._work is not None
        return self._work / panel / f"{row:05d}.png"

    def step(self) -> bool:
        """Render the next panel image; True once every panel image is rendered."""
        if self.done < len(self.steps):
            panel, row = self.steps[self.done]
            scene = self.panel_scenes[panel]
            scene.camera = self.panel_cameras[panel]
            scene.frame_set(int(self.frames[row]))
            if panel == "uncalibrated":
                self.visibility[row] = camera_sees(scene, scene.camera)
            _render_still(scene, self.panel_path(panel, row))
            self.done += 1
        return self.done >= len(self.steps)

    def finish(self) -> PreviewRender:
        """Compose the panels and captions, write the MP4 and the contact sheet, clean up."""
        try:
            while not self.step():
                pass
            composition = self.compose()
            assert self._work is not None
            written: list[tuple[Path, Path]] = []
            if self.movie_path is not None:
                movie = self._work / "preview.mp4"
                compat.set_h264_output(composition)
                composition.render.filepath = str(movie)
                _render(composition, animation=True)
                written.append((movie, self.movie_path))
            sheet = self._sheet(composition)
            written.append((sheet, self.sheet_path))
            for made, destination in written:
                if not made.is_file():
                    raise TrajectoryError(f"Blender did not write {destination.name}")
            for made, destination in written:
                os.replace(made, destination)
        except BaseException:
            self.cancel()
            raise
        self._cleanup()
        hidden = {"reference": self.target_collection.name if self.target_collection else "",
                  "others": self.reference_collection.name if self.reference_collection else ""}
        return PreviewRender(frames=self.frames, sheet_frames=self.frames[self.sheet_rows],
                             pi=panel_pi(self.record, self.indices), captions=self.captions,
                             visibility=self.visibility.astype(str), layout=self.layout,
                             movie_path=self.movie_path, sheet_path=self.sheet_path, hidden=hidden)

    # ------------------------------------------------------------------------------------ composing

    def _new_scene(self, name: str, width: int, height: int) -> bpy.types.Scene:
        scene = bpy.data.scenes.new(f"{TEMPORARY_PREFIX}.{name}")
        self._scenes.append(scene)
        render = scene.render
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.fps, render.fps_base = self.scene.render.fps, self.scene.render.fps_base
        render.use_sequencer, render.use_compositing = True, False
        render.dither_intensity = 0.0
        # The panels are display-referred already: the sequencer passes them through unchanged.
        scene.view_settings.view_transform, scene.view_settings.look = "Standard", "None"
        return scene

    def _place(self, strip: bpy.types.bpy_struct, left: float, bottom: float, width: float, height: float,
               frame_width: int, frame_height: int) -> None:
        """Move a strip whose image is centred in the frame so that it covers the given box (pixels, from
        the bottom-left corner)."""
        strip.transform.offset_x = left + width / 2.0 - frame_width / 2.0
        strip.transform.offset_y = bottom + height / 2.0 - frame_height / 2.0

    def _text(self, scene: bpy.types.Scene, text: str, channel: int, frame: int, x: float, y: float,
              size: int, anchor: tuple[str, str], colour: tuple[float, float, float, float] = TEXT_COLOUR,
              wrap: float = 1.0, box: bool = False) -> bpy.types.bpy_struct:
        strip = compat.new_effect_strip(scene, f"caption.{channel}.{frame}", "TEXT", channel, frame, 1)
        strip.text = text
        strip.font_size = size
        strip.color = colour
        strip.location = (x / scene.render.resolution_x, y / scene.render.resolution_y)
        strip.wrap_width = wrap
        compat.set_text_anchor(strip, *anchor)
        strip.use_box = box
        if box:
            strip.box_color = (0.0, 0.0, 0.0, 0.75)
        return strip

    def compose(self) -> bpy.types.Scene:
        """The temporary scene whose sequencer composes one preview frame per transferred frame."""
        layout = self.layout
        self.captions = make_captions(self.record, self.indices, self.visibility)
        scene = self._new_scene("composition", layout.width, layout.height)
        first, n = int(self.frames[0]), int(self.frames.size)
        scene.frame_start, scene.frame_end = first, first + n - 1
        background = compat.new_effect_strip(scene, "background", "COLOR", 1, first, n)
        background.color = BACKGROUND
        panel_bottom = layout.graph_height + layout.caption_height
        for p, panel in enumerate(PANELS):
            strip = compat.sequencer_strips(scene).new_image(
                panel, str(self.panel_path(panel, 0)), 2 + p, first, fit_method="ORIGINAL")
            for row in range(1, n):
                strip.elements.append(self.panel_path(panel, row).name)
            strip.blend_type = "ALPHA_OVER"
            self._place(strip, layout.panel_left(p), panel_bottom, layout.panel_width, layout.panel_height,
                        layout.width, layout.height)
        # The font fits the longest caption line into the panel (a monospaced glyph is about 0.6 em wide).
        longest = max(len(line) for captions in self.captions for c in captions for line in (c.title, c.pi_line))
        size = max(6, min(layout.caption_font_size, int(0.92 * layout.panel_width / (0.6 * longest))))
        pad = max(3, size // 3)
        wrap = (layout.panel_width - 2 * pad) / layout.width
        for row, captions in enumerate(self.captions):
            frame = first + row
            for p, caption in enumerate(captions):
                x = layout.panel_left(p) + pad
                self._text(scene, caption.title, 5 + 2 * p, frame, x, panel_bottom - pad, size, ("LEFT", "TOP"),
                           wrap=wrap)
                self._text(scene, caption.pi_line, 6 + 2 * p, frame, x, panel_bottom - pad - 1.3 * size, size,
                           ("LEFT", "TOP"), wrap=wrap)
                if caption.warning:
                    self._text(scene, caption.warning, 11, frame, layout.panel_left(p) + layout.panel_width / 2,
                               panel_bottom + layout.panel_height / 2, size, ("CENTER", "CENTER"),
                               colour=WARNING_COLOUR, wrap=wrap, box=True)
        if self.graph:
            self._graph(scene, first, n, size)
        return scene

    def _graph(self, scene: bpy.types.Scene, first: int, n: int, caption_size: int) -> None:
        """The strip under the captions: Pi per frame (log scale) of the three series, drawn as curves in a
        temporary Workbench scene rendered once, with the current frame marked by a one-frame colour strip
        per frame and a legend in text strips."""
        layout = self.layout
        width, height = layout.width, layout.graph_height
        graph = self._new_scene("graph", width, height)
        graph.render.engine = "BLENDER_WORKBENCH"
        shading = graph.display.shading
        shading.light, shading.color_type = "FLAT", "OBJECT"
        graph.display.shading.background_type = "VIEWPORT"
        graph.render.film_transparent = True
        size = max(6, min(caption_size, int(0.3 * height)))
        legend_height = int(1.4 * size)
        rect = (float(GAP), 0.0, float(width - 2 * GAP), float(height - legend_height))
        record = self.record
        x_of, y_of = preview_data.graph_mapping(record, rect)
        colours = preview_data.SERIES_COLOURS
        step_frames = record.frames[1:]
        thickness = max(1.0, height / 60.0)
        # The calibrated curve lies under the reference's (thicker, lower), so both show where they agree.
        widths, heights = {"realized": 2.2, "reference": 1.0, "uncalibrated": 1.0}, {"realized": 0.0, "reference": 1.0,
                                                                                 "uncalibrated": 2.0}
        for name, pi in preview_data.graph_series(record).items():
            keep = np.isfinite(pi) & (pi > 0)
            if keep.sum() < 2:
                continue
            curve = bpy.data.curves.new(f"{TEMPORARY_PREFIX}.{name}", "CURVE")
            curve.dimensions, curve.bevel_depth = "3D", widths[name] * thickness
            spline = curve.splines.new("POLY")
            points = np.stack([x_of(step_frames[keep]), y_of(pi[keep]), np.full(int(keep.sum()), heights[name]),
                               np.ones(int(keep.sum()))], axis=-1)
            spline.points.add(points.shape[0] - 1)
            spline.points.foreach_set("co", points.astype(np.float32).ravel())
            obj = bpy.data.objects.new(curve.name, curve)
            obj.color = colours[name]
            graph.collection.objects.link(obj)
        camera_data = bpy.data.cameras.new(f"{TEMPORARY_PREFIX}.graph")
        camera_data.type, camera_data.ortho_scale = "ORTHO", float(width)
        camera_data.sensor_fit = "HORIZONTAL"
        camera = bpy.data.objects.new(camera_data.name, camera_data)
        camera.location = (width / 2.0, height / 2.0, 10.0)
        graph.collection.objects.link(camera)
        graph.camera = camera
        assert self._work is not None
        image = self._work / "graph.png"
        compat.set_png_output(graph)
        graph.render.image_settings.color_mode = "RGBA"
        graph.render.filepath = str(image)
        _render(graph)
        strip = compat.sequencer_strips(scene).new_image("graph", str(image), 12, first, fit_method="ORIGINAL")
        strip.frame_final_duration = n
        strip.blend_type = "ALPHA_OVER"
        self._place(strip, 0, 0, width, height, layout.width, layout.height)
        legend = [("\u03a0 of each step, log scale:", TEXT_COLOUR), ("reference", colours["reference"]),
                  ("calibrated", colours["realized"]), ("uncalibrated", colours["uncalibrated"])]
        x = float(GAP)
        for i, (label, colour) in enumerate(legend):
            self._text(scene, label, 14 + i, first, x, height - 1, size, ("LEFT", "TOP"), colour=colour,
                       ).frame_final_duration = n
            x += 0.6 * size * (len(label) + 2)
        marker_width = max(2.0, width / 400.0)
        for row in range(n):
            x = float(x_of(np.array([self.frames[row]]))[0])
            marker = compat.new_effect_strip(scene, f"marker.{row}", "COLOR", 13, first + row, 1)
            marker.color = preview_data.FRAME_MARKER_COLOUR[:3]
            marker.blend_type = "ALPHA_OVER"
            marker.transform.scale_x = marker_width / layout.width
            marker.transform.scale_y = height / layout.height
            self._place(marker, x - marker_width / 2, 0, marker_width, height, layout.width, layout.height)

    def _sheet(self, composition: bpy.types.Scene) -> Path:
        """The contact sheet: the composition rendered at the sheet's frames, stacked top to bottom by a
        temporary sequencer scene, written as PNG by Blender."""
        assert self._work is not None
        layout = self.layout
        rows = [int(r) for r in self.sheet_rows]
        stills = []
        for i, row in enumerate(rows):
            composition.frame_set(int(composition.frame_start) + row)
            still = self._work / f"sheet_{i:03d}.png"
            _render_still(composition, still)
            stills.append(still)
        height = len(rows) * layout.height + (len(rows) - 1) * GAP
        sheet = self._new_scene("sheet", layout.width, height)
        sheet.frame_start = sheet.frame_end = 1
        background = compat.new_effect_strip(sheet, "background", "COLOR", 1, 1, 1)
        background.color = BACKGROUND
        for i, still in enumerate(stills):
            strip = compat.sequencer_strips(sheet).new_image(f"row{i}", str(still), 2 + i, 1, fit_method="ORIGINAL")
            strip.blend_type = "ALPHA_OVER"
            top = i * (layout.height + GAP)
            self._place(strip, 0, height - top - layout.height, layout.width, layout.height, layout.width, height)
        out = self._work / "sheet.png"
        sheet.frame_set(1)
        _render_still(sheet, out)
        return out

    # ------------------------------------------------------------------------------------- clean-up

    def _cleanup(self) -> None:
        """Remove every temporary scene, object, camera, curve and image, and the working folder."""
        if self._uncalibrated is not None:
            _remove_camera(self._uncalibrated)
            self._uncalibrated = None
        for scene in self._scenes:
            if scene.name in bpy.data.scenes:
                graph_objects = [obj for obj in scene.collection.objects if obj.name.startswith(TEMPORARY_PREFIX)]
                bpy.data.scenes.remove(scene)
                for obj in graph_objects:
                    data = obj.data
                    bpy.data.objects.remove(obj)
                    if isinstance(data, bpy.types.Curve):
                        bpy.data.curves.remove(data)
                    elif isinstance(data, bpy.types.Camera):
                        bpy.data.cameras.remove(data)
        self._scenes = []
        # Rendering creates Blender's "Render Result" image; the sequencer loads its images as strips,
        # not as data-blocks. A file that had no render result gets none.
        result_image = bpy.data.images.get(RENDER_RESULT)
        if not self._had_render_result and result_image is not None:
            bpy.data.images.remove(result_image)
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        frame, subframe = self._user_frame
        if (self.scene.frame_current, self.scene.frame_subframe) != (frame, subframe) or self.done:
            self.scene.frame_set(frame, subframe=subframe)

    def cancel(self) -> None:
        """Stop: remove everything `start` made, the folders it created included (when still empty)."""
        self._cleanup()
        for folder in self._created_folders:
            try:
                folder.rmdir()
            except OSError:
                break
        self._created_folders = []


def render_preview(scene: bpy.types.Scene, camera: bpy.types.Object, out_dir: Path | str, width: int = 640,
                   height: int = 360, frame_start: int | None = None, frame_end: int | None = None,
                   engine: str = "WORKBENCH", sheet_frames: int = 4, graph: bool = True,
                   reference_collection: bpy.types.Collection | None = None,
                   target_collection: bpy.types.Collection | None = None,
                   basename: str = DEFAULT_BASENAME) -> PreviewRender:
    """Render the preview of the transferred `camera` (see the module doc) into `out_dir`, all at once.
    While the reference panel renders, the target collection is hidden, and the reference collection while
    the other two do (defaults: the scene's ParaScale settings; None hides nothing). Raises
    TrajectoryError when the camera has no transfer record, was edited since (stale), or its reference
    camera is gone, and OutputFileError when `out_dir` cannot be written."""
    job = PreviewJob(scene, camera, out_dir, width=width, height=height, frame_start=frame_start,
                     frame_end=frame_end, engine=engine, sheet_frames=sheet_frames, graph=graph,
                     reference_collection=reference_collection, target_collection=target_collection,
                     basename=basename)
    job.start()
    return job.finish()


# ----------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parascale.parascale_blender.preview_render",
                                     description="Render the ParaScale side-by-side preview of a transferred camera.")
    parser.add_argument("blend", help="the .blend file (never saved)")
    parser.add_argument("--camera", required=True, help="the transferred camera (carries the transfer record)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--scene", default=None, help="scene name (default: the file's active scene)")
    parser.add_argument("--width", type=int, default=640, help="panel width in pixels")
    parser.add_argument("--height", type=int, default=360, help="panel height in pixels")
    parser.add_argument("--frame-start", type=int, default=None, help="default: the transfer's first frame")
    parser.add_argument("--frame-end", type=int, default=None, help="default: the transfer's last frame")
    parser.add_argument("--engine", choices=ENGINES, default="WORKBENCH")
    parser.add_argument("--sheet-frames", type=int, default=4, help="frames on the contact sheet")
    parser.add_argument("--no-graph", action="store_true", help="leave out the Pi graph under the panels")
    parser.add_argument("--basename", default=DEFAULT_BASENAME)
    parser.add_argument("--reference-collection", default=None)
    parser.add_argument("--target-collection", default=None)
    args = parser.parse_args(argv)
    # Register the add-on's settings so the file's stored ones (the collections) can be read; Blender
    # keeps the values of properties that are registered after the file was loaded.
    from . import properties

    registered_here = not hasattr(bpy.types.Scene, "parascale")
    if registered_here:
        properties.register()
    try:
        if not Path(args.blend).is_file():
            raise TrajectoryError(f"{args.blend}: no such file")
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend).resolve()))
        scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
        if scene is None:
            raise TrajectoryError(f"{args.blend}: no scene named {args.scene!r}")
        camera = bpy.data.objects.get(args.camera)
        if camera is None:
            raise TrajectoryError(f"{args.blend}: no object named {args.camera!r}")
        collections = []
        for name in (args.reference_collection, args.target_collection):
            if name is not None and bpy.data.collections.get(name) is None:
                raise TrajectoryError(f"{args.blend}: no collection named {name!r}")
            collections.append(bpy.data.collections.get(name) if name else None)
        result = render_preview(scene, camera, args.out, args.width, args.height, args.frame_start, args.frame_end,
                                args.engine, args.sheet_frames, not args.no_graph, collections[0], collections[1],
                                args.basename)
    except ParaScaleError as error:
        print(f"parascale preview: {error}", file=sys.stderr)
        return 1
    finally:
        if registered_here:
            properties.unregister()
    files = " and ".join(str(p) for p in (result.movie_path, result.sheet_path) if p is not None)
    print(f"wrote {files} ({result.frames.size} frames; hidden while the reference renders: "
          f"{result.hidden['reference'] or 'nothing'}; while the others render: "
          f"{result.hidden['others'] or 'nothing'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
