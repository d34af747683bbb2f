"""Pose file export and import: the calibrated (or active) camera to any format or preset of the core
pose I/O (core.formats) at the scene's render resolution, and a pose file to a new animated camera (so
a trajectory from an external pose estimator can serve as the reference)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core import formats
from ..core.errors import ParaScaleError, TrajectoryError, one_line
from ..core.formats.contracts import parse_model_size
from ..core.parallax import run_steps, shifted_steps
from ..core.poses import Trajectory
from .camera_writing import find_written_camera, select_only, write_camera
from .chunked_run import ChunkedRun, ModalRun, error_line
from .depth_sources import IMPORTED_DEPTH
from .scene_reading import (
    evaluated_depsgraph,
    preserved_frame,
    read_camera_trajectory_steps,
    scene_intrinsics,
    view_layer_of,
)

IMPORTED_MARKER = "parascale_imported"
# Blender keeps only pointers to the strings of enum items: build them once, keep them for its lifetime.
PRESET_ITEMS: list[tuple[str, str, str]] = [(name, name, description)
                                            for name, description in formats.preset_descriptions().items()]


def file_suffix(format_or_preset: str) -> str:
    """The file name suffix a format or preset writes ('' for the COLMAP folder)."""
    name = formats.resolve_format(format_or_preset).name
    return {"realestate10k": ".txt", "colmap": ""}.get(name, ".json")


def export_camera(context: bpy.types.Context, which: str) -> bpy.types.Object:
    """The camera to export: CALIBRATED = the camera ParaScale wrote for the current reference, else the
    active camera, else the scene camera; ACTIVE = the active camera, else the scene camera."""
    scene = context.scene
    reference = scene.parascale.reference_camera
    calibrated = find_written_camera(reference.name) if reference is not None else None
    active = context.active_object
    candidates = [calibrated, active, scene.camera] if which == "CALIBRATED" else [active, scene.camera]
    for camera in candidates:
        if camera is not None and camera.type == "CAMERA":
            return camera
    raise TrajectoryError("no camera to export: run Transfer Camera Move or select a camera")


def export_frames(context: bpy.types.Context, camera: bpy.types.Object) -> np.ndarray:
    """The frames to export: those of the camera's transfer record when it has one (the transferred
    range), else the scene's range."""
    from .transfer_record import load

    record = load(camera)
    if record is not None:
        return record.frames
    scene = context.scene
    return np.arange(scene.frame_start, scene.frame_end + 1)


def sample_at_subframes_steps(scene: bpy.types.Scene, camera: bpy.types.Object, times: np.ndarray
                              ) -> Generator[int, None, tuple[np.ndarray, np.ndarray]]:
    """(world matrices (N, 4, 4), lens (N,)) of the camera evaluated at fractional frame times: Blender's own
    F-curves, constraints, drivers and parents at each subframe (frame_set with subframe), not an
    interpolation of whole frames. Yields each time's index once it is read; the current frame and subframe
    are restored (also when the generator is closed before its end)."""
    times = np.asarray(times, dtype=np.float64)
    matrices, lens = np.empty((times.size, 4, 4)), np.empty(times.size)
    view_layer = view_layer_of(scene)
    evaluated_depsgraph(scene)
    with preserved_frame(scene):
        for i, at in enumerate(times):
            frame = int(np.floor(at))
            scene.frame_set(frame, subframe=float(at - frame))
            evaluated = camera.evaluated_get(view_layer.depsgraph)
            matrices[i] = evaluated.matrix_world
            lens[i] = evaluated.data.lens
            yield i
    if not np.all(np.isfinite(matrices)) or not np.all(np.isfinite(lens)):
        raise TrajectoryError(f"camera '{camera.name}' has a NaN or infinite value between its keyframes")
    return matrices, lens


def export_trajectory_steps(scene: bpy.types.Scene, camera: bpy.types.Object, frames: np.ndarray,
                            plan: formats.ExportPlan, whole_frames: Trajectory) -> Generator[int, None, Trajectory]:
    """The trajectory to write: the whole frames when the plan keeps them (no steps), else the camera
    evaluated by Blender at the plan's source times (subframes; a step each), numbered from the first frame
    at the plan's fps."""
    if plan.times is None:
        return whole_frames.replace(fps=plan.fps)
    matrices, lens = yield from sample_at_subframes_steps(scene, camera, plan.times)
    return Trajectory.from_matrices(matrices, frames=frames[0] + np.arange(plan.count, dtype=np.float64),
                                    fps=plan.fps, lens=lens, intrinsics=scene_intrinsics(scene, camera.data),
                                    clip_start=whole_frames.clip_start, clip_end=whole_frames.clip_end)


@dataclass(frozen=True)
class ExportOutcome:
    """What one export wrote, and the report lines that say so."""

    written: list[Path]
    warnings: list[str]
    summary: str

    def report_lines(self) -> list[tuple[str, str]]:
        return [("WARNING", f"ParaScale: {w}") for w in self.warnings] + [("INFO", self.summary)]


def export_poses_steps(context: bpy.types.Context, options: object, resolution: tuple[int, int] | None = None,
                       on_total: Callable[[int], None] | None = None) -> Generator[int, None, ExportOutcome]:
    """Export Camera Poses in steps (the modal operator runs a few per timer event): `options` has the
    operator's filepath, preset, camera, sidecar and timing. Yields the step number after each whole frame
    read (0 .. N-1) and each subframe time evaluated (N ..); `on_total` is told how many steps there are in
    all once the plan is known (after the whole frames). The file is written after the last step, so closing
    the generator before (Esc) writes nothing and restores the frame. Raises a ParaScaleError or OSError on
    bad input, with nothing written."""
    scene = context.scene
    path = Path(bpy.path.abspath(options.filepath))
    suffix = file_suffix(options.preset)
    if suffix and path.suffix.lower() != suffix:
        path = path.with_name(path.name + suffix)
    camera = export_camera(context, options.camera)
    frames = export_frames(context, camera)
    whole_frames = yield from read_camera_trajectory_steps(scene, camera, frames)
    preset = options.preset if options.preset in formats.PRESETS else None
    plan = formats.export_plan(whole_frames, preset, timing=options.timing, resolution=resolution)
    if on_total is not None:
        on_total(frames.size + (0 if plan.times is None else plan.count))
    trajectory = yield from shifted_steps(export_trajectory_steps(scene, camera, frames, plan, whole_frames),
                                          frames.size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = formats.write_trajectory(path, trajectory, options.preset, sidecar=options.sidecar,
                                           timing=options.timing, resolution=resolution)
    render = scene.render
    summary = (f"ParaScale: wrote '{camera.name}' ({plan.describe(len(whole_frames))}; render "
               f"{trajectory.intrinsics.width}x{trajectory.intrinsics.height}, {options.preset}"
               f"{'' if render.resolution_percentage == 100 else ', resolution % applied'}) to "
               + ", ".join(p.name for p in written))
    return ExportOutcome(written, [one_line(str(w.message)) for w in caught], summary)


class ExportRun(ChunkedRun[ExportOutcome]):
    """An export run a little at a time between the UI's events (the steps of `export_poses_steps`)."""

    def __init__(self, context: bpy.types.Context, options: object, resolution: tuple[int, int] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        # The whole frames are the first part; how many output frames follow is known once they are read.
        self.frames = len(export_frames(context, export_camera(context, options.camera)))
        super().__init__(export_poses_steps(context, options, resolution, self._set_total), self.frames, clock)

    def _set_total(self, total: int) -> None:
        self.total = total

    def position(self) -> tuple[str, int, int]:
        if self.done <= self.frames:
            return "exporting: reading frame", self.done, self.frames
        return "exporting: evaluating output frame", self.done - self.frames, self.total - self.frames


class PARASCALE_OT_export_poses(ModalRun, bpy.types.Operator, ExportHelper):
    """Write the calibrated camera's poses, at the scene's render resolution, to a pose file"""

    bl_idname = "parascale.export_poses"
    bl_label = "Export Camera Poses"
    bl_options = {"REGISTER"}

    filename_ext = ""
    check_extension = None
    filter_glob: StringProperty(default="*.txt;*.json", options={"HIDDEN"})
    preset: EnumProperty(name="Format", items=PRESET_ITEMS, default="parascale",
                         description="Pose file format, or a model preset (its format and frame count)")
    camera: EnumProperty(name="Camera", default="CALIBRATED", items=[
        ("CALIBRATED", "Calibrated", "The camera ParaScale wrote for the current reference (else the active camera)"),
        ("ACTIVE", "Active", "The active camera object (else the scene camera)"),
    ])
    sidecar: BoolProperty(name="Sidecar", default=True,
                          description="Also write <file>.meta.json with frame size, sensor and frame numbers "
                                      "where the format cannot carry them")
    timing: EnumProperty(name="Timing", default=formats.DEFAULT_TIMING, items=[
        ("fit", "Fit Move", "Fit the whole move into the model's clip (Pi_total kept; Pi per output frame "
                            "scaled by the frame ratio)"),
        ("speed", "Keep Speed", "One scene frame per output frame (per-frame Pi kept): the model shows part of "
                                "a long move; a short one is padded by holding the last pose"),
    ], description="What a preset that changes the frame count does with time")
    model_size: StringProperty(name="Model Size", default="",
                               description="The model frame WIDTHxHEIGHT the intrinsics are written for (e.g. "
                                           "832x480); empty: the preset's, in the render's orientation")

    CANCELLED_MESSAGE = "ParaScale: export cancelled; nothing was written"
    ERRORS = (ParaScaleError, OSError)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        # The file browser calls execute once a file is chosen: in the UI the export then runs modal.
        self._interactive = context.window is not None
        return ExportHelper.invoke(self, context, event)

    def execute(self, context: bpy.types.Context) -> set[str]:
        interactive, self._interactive = getattr(self, "_interactive", False), False
        try:
            resolution = self._model_size()
            if interactive and context.window is not None:
                return self.start_run(context, ExportRun(context, self, resolution))
            # Scripts and background mode: all at once.
            outcome = run_steps(export_poses_steps(context, self, resolution))
        except self.ERRORS as error:
            self.report({"ERROR"}, error_line(error))
            return {"CANCELLED"}
        return self.finish_run(context, outcome)

    def finish_run(self, context: bpy.types.Context, outcome: ExportOutcome) -> set[str]:
        for level, message in outcome.report_lines():
            self.report({level}, message)
        return {"FINISHED"}

    def _model_size(self) -> tuple[int, int] | None:
        if not self.model_size.strip():
            return None
        try:
            return parse_model_size(self.model_size)
        except ValueError as error:
            raise TrajectoryError(f"Model Size: {error}") from None


class PARASCALE_OT_import_poses(bpy.types.Operator, ImportHelper):
    """Read a camera pose file (any format ParaScale reads) into a new animated camera"""

    bl_idname = "parascale.import_poses"
    bl_label = "Import Camera Poses"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.txt;*.json", options={"HIDDEN"})
    use_scene_start: BoolProperty(name="Start at Scene Start", default=True,
                                  description="Shift the file's frames so its first frame is the scene's start "
                                              "frame (pose files usually count from 0)")

    depth_path: StringProperty(name="Depth", subtype="FILE_PATH", default="",
                               description="Optional depth of the same frames, in the poses' own scale (an "
                                           "external pose estimator's output): a .txt or .npy of one value per "
                                           "pose, or a folder of .npy depth maps. The reference depth source "
                                           "'Imported' uses it")

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..core.footage import external_reference

        path = Path(bpy.path.abspath(self.filepath))
        depth = None
        try:
            if self.depth_path:
                # A folder of depth maps is reduced with the statistic the scene transfers with.
                trajectory, depth = external_reference(path, Path(bpy.path.abspath(self.depth_path)),
                                                       statistic=context.scene.parascale.depth_statistic.lower())
            else:
                trajectory = formats.read_trajectory(path)
        except (ParaScaleError, OSError) as error:
            self.report({"ERROR"}, str(error).splitlines()[0] if str(error) else type(error).__name__)
            return {"CANCELLED"}
        if self.use_scene_start:
            trajectory = trajectory.replace(frames=trajectory.frames - trajectory.frames[0] + context.scene.frame_start)
        name = path.stem if path.suffix else path.name
        camera = write_camera(context.scene, trajectory, name, rotation_mode="XYZ")
        camera[IMPORTED_MARKER] = str(path)
        if depth is not None:
            camera[IMPORTED_DEPTH] = {"frames": [int(f) for f in trajectory.frames],
                                      "depth": depth.values.tolist(), "source": depth.name,
                                      **({"statistic": depth.statistic} if hasattr(depth, "statistic") else {})}
        select_only(context, camera)
        intrinsics = trajectory.intrinsics
        self.report({"INFO"}, f"ParaScale: imported {len(trajectory)} frames (frames {int(trajectory.frames[0])}-"
                              f"{int(trajectory.frames[-1])}, made for {intrinsics.width}x{intrinsics.height}) "
                              f"into '{camera.name}'")
        return {"FINISHED"}


def _menu_export(self: bpy.types.Menu, _context: bpy.types.Context) -> None:
    self.layout.operator(PARASCALE_OT_export_poses.bl_idname, text="Camera Poses (ParaScale)")


def _menu_import(self: bpy.types.Menu, _context: bpy.types.Context) -> None:
    self.layout.operator(PARASCALE_OT_import_poses.bl_idname, text="Camera Poses (ParaScale)")


CLASSES = (PARASCALE_OT_export_poses, PARASCALE_OT_import_poses)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_export.append(_menu_export)
    bpy.types.TOPBAR_MT_file_import.append(_menu_import)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(_menu_import)
    bpy.types.TOPBAR_MT_file_export.remove(_menu_export)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
