"""The Transfer Camera Move operator: read the reference camera and both depths from Blender, run
core.parallax.transfer, write the calibrated camera with its per-frame record."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import bpy
import numpy as np

from ..core.depth import Views, measured_depths, probe_depths_steps
from ..core.errors import NoMotionError, ParaScaleError, TrajectoryError, frame_list
from ..core.framing import SubjectError, subject_anchor
from ..core.metrics import parallax_consistency
from ..core.parallax import (
    TransferResult,
    check_strength,
    realized_at_written_pose,
    run_steps,
    shifted_steps,
    transfer_steps,
)
from ..core.poses import Trajectory, float32_precision_warning
from ..core.solve_check import interpolate_poses, trusted_span
from . import transfer_record
from .camera_writing import OUTPUT_MARKER, OUTPUT_SUFFIX, find_written_camera, select_only, write_camera
from .chunked_run import ChunkedRun, ModalRun
from .depth_sources import reference_depth_probe_steps, target_depth_probe
from .scene_reading import (
    MovingObjects,
    pose_rotations,
    preserved_frame,
    recording_moving_objects,
    sample_cameras,
    sample_cameras_steps,
    sample_object_positions,
    scene_fps,
    scene_frame_range,
    scene_intrinsics,
    scene_of,
)
from .tracking import (
    TRACK_CHUNK,
    read_reference_solve_steps,
    settings_clip,
    solve_precision,
    suspect_warning,
    suspects_in_range,
    track_chunks,
    tracks_to_read,
)

# The per-frame solve accepts a scale where the measured depth puts the fixed point within this fraction of
# it. The written camera is realized there, so each frame's Pi is within 1e-6 of the reference's (PCE
# below 1e-6); tighter is not kept anyway: Blender stores the keyframes in float32, 6e-8 of each
# coordinate, which is 1e-6 of a step 1/16 of the camera's distance from the origin. The Embree probe
# measures in float32 too. Tighter costs about one probe evaluation per frame more.
SCALE_TOLERANCE = 1e-6
# A frame whose median depth jumps at the solution (an occlusion edge) has no exact fixed point; the bracket
# closes on the jump within this many steps and the frame is reported as not converged.
MAX_ITERATIONS = 64


@dataclass(frozen=True, eq=False)
class TransferOutcome:
    """What one run of the operator produced."""

    camera: bpy.types.Object
    result: TransferResult
    reference: Trajectory
    record: transfer_record.TransferRecord
    pi_uncalibrated: np.ndarray
    # The float32 keyframe warning (core.poses.float32_precision_warning), None when the path is safe.
    precision_warning: str | None
    # The suspect solve frames of a TRACKING reference and what was done with them (tracking.suspect_warning).
    suspect_warning: str | None = None
    # How precisely a TRACKING reference's solve fixes Pi over the range (tracking.SolvePrecision.message).
    solve_precision: str | None = None

    def report_lines(self) -> list[tuple[str, str]]:
        """(level, message) lines for Blender's report system."""
        result = self.result
        record = self.record
        # The figures of the record: realized Pi as the written (float32) camera realizes it, against the aim
        # strength x Pi_t.
        consistency = parallax_consistency(result.pi_target, record.pi_realized)
        aim = (f" x {result.strength:g} = {result.pi_total_target:.4g}" if result.strength != 1.0 else "")
        worst = ""
        if consistency.worst_index >= 0:
            worst = (f", worst frame {int(record.frames[1 + consistency.worst_index])} "
                     f"|ln| {abs(consistency.worst_log_ratio):.3g}")
        lines = [("INFO", f"ParaScale: Pi_total reference {result.pi_total_reference:.4g}{aim}, result "
                          f"{_partial_total(record.pi_realized, 'the target depth sees nothing')} (uncalibrated "
                          f"{_partial_total(self.pi_uncalibrated, 'its camera leaves the target scene')}); "
                          f"PCE {_number(record.pce, '.3g')}{worst}, bias {_number(record.bias, '.4g')}; "
                          f"scale {float(np.min(result.scale)):.4g} to {float(np.max(result.scale)):.4g}; "
                          f"{len(result.trajectory)} frames -> '{self.camera.name}'")]
        summary = result.summary()
        if result.missing_target_frames:
            lines.append(("WARNING", "ParaScale: the target depth sees nothing at frame "
                                     f"{frame_list(result.missing_target_frames)}"))
        unconverged = summary["unconverged_frames"]
        if unconverged:
            lines.append(("WARNING", f"ParaScale: the per-frame scale did not converge at frame "
                                     f"{frame_list(unconverged)}"))
        if self.precision_warning:
            lines.append(("WARNING", f"ParaScale: {self.precision_warning}"))
        if self.solve_precision:
            lines.append(("INFO", f"ParaScale: {self.solve_precision}"))
        if self.suspect_warning:
            lines.append(("WARNING", f"ParaScale: {self.suspect_warning}"))
        if result.framing is not None:
            lines.append(("INFO", f"ParaScale: {result.framing.text()}"))
        return lines


def _partial_total(pi: np.ndarray, none_seen: str) -> str:
    """Sum of the per-frame parallax where it has a depth, saying so when some frames have none."""
    finite = pi[np.isfinite(pi)]
    if not finite.size:
        return f"n/a: {none_seen}"
    return f"{finite.sum():.4g}" + (f" over {finite.size} of {pi.size} steps" if finite.size < pi.size else "")


def _number(value: object, spec: str) -> str:
    return format(value, spec) if isinstance(value, float) and np.isfinite(value) else "n/a"


def written_centres(centres: np.ndarray) -> np.ndarray:
    """The camera centres as Blender stores them: float32 keyframes (the written camera has no parent)."""
    return np.asarray(centres, dtype=np.float32).astype(np.float64)


def progress_frames(scene: bpy.types.Scene, settings: object) -> int:
    """How many frames a transfer reads and solves (its progress counts each in every phase)."""
    start, end = ((scene.frame_start, scene.frame_end) if settings.use_scene_range
                  else (settings.frame_start, settings.frame_end))
    return max(1, end - start + 1)


def clip_tracks(scene: bpy.types.Scene, settings: object) -> int:
    """How many tracks a TRACKING reference reads from its clip (in the reference camera's scene), else 0."""
    reference = settings.reference_camera
    return tracks_to_read(scene if reference is None else scene_of(reference, scene), settings)


def progress_steps(scene: bpy.types.Scene, settings: object, frames: int | None = None) -> int:
    """How many progress steps a transfer reports: reading the clip's tracks (a TRACKING reference: a step
    per tracking.TRACK_CHUNK tracks), reading every frame, measuring the reference depth at every frame,
    solving every frame, then measuring the uncalibrated comparison at every frame. `frames`: the range's
    length when it is known to differ from the settings' (Suspect Frames: Stop Before)."""
    n = progress_frames(scene, settings) if frames is None else frames
    comparison = 0 if settings.mode == "UNCALIBRATED" else n
    return 3 * n + track_chunks(clip_tracks(scene, settings)) + comparison


def _chosen_subjects(settings: object, scene: bpy.types.Scene, reference_scene: bpy.types.Scene
                     ) -> tuple[bpy.types.Object, bpy.types.Object | None] | None:
    """(reference subject, target subject or None) when Keep Subject Framed is on, else None; each must be
    in its side's scene."""
    if not settings.keep_subject_framed:
        return None
    reference_subject, target_subject = settings.reference_subject, settings.target_subject
    if reference_subject is None:
        raise SubjectError("Keep Subject Framed: choose a reference subject (the object the reference move frames)")
    if reference_scene.objects.get(reference_subject.name) != reference_subject:
        raise SubjectError(f"the reference subject '{reference_subject.name}' is not in the reference's scene "
                           f"'{reference_scene.name}'")
    if target_subject is not None and scene.objects.get(target_subject.name) != target_subject:
        raise SubjectError(f"the target subject '{target_subject.name}' is not in the scene '{scene.name}': choose "
                           "an object of the target scene")
    return reference_subject, target_subject


def _output_rotation_mode(reference: bpy.types.Object) -> str:
    return "QUATERNION" if reference.rotation_mode in ("QUATERNION", "AXIS_ANGLE") else reference.rotation_mode


def transfer_camera_move(context: bpy.types.Context, settings: object | None = None,
                         progress: Callable[[int], None] | None = None) -> TransferOutcome:
    """Run the whole transfer for `settings` (default: the scene's) and write the calibrated camera.
    Raises a ParaScaleError on bad input, before anything is changed. `progress` is called with a step
    number, 0 .. progress_steps() - 1: R steps reading a TRACKING reference's clip, then reading frame i is
    step R + i, then the reference depth's frames (N), solving frame t is step 2N + R + t, then the
    uncalibrated comparison's frames."""
    return run_steps(transfer_camera_move_steps(context, settings), progress)


def transfer_camera_move_steps(context: bpy.types.Context, settings: object | None = None,
                               on_range: Callable[[int], None] | None = None
                               ) -> Generator[int, None, TransferOutcome]:
    """`transfer_camera_move` in steps (the modal operator runs a few per timer event): yields the step
    number after each frame read and each frame solved, returns the outcome. The camera is written after
    the last step; closing it before (Esc) restores the frames and leaves the scene as it was. `on_range` is
    called with the number of frames when Suspect Frames (Stop Before) shortens the range."""
    scene = context.scene
    settings = scene.parascale if settings is None else settings
    reference = settings.reference_camera
    if reference is None:
        raise TrajectoryError("choose a reference camera")
    if reference.type != "CAMERA":
        raise TrajectoryError(f"the reference '{reference.name}' is not a camera")
    if reference.data.type != "PERSP":
        raise TrajectoryError(f"the reference '{reference.name}' is not a perspective camera")
    target_start = settings.target_start or scene.camera
    if target_start is None:
        raise TrajectoryError("choose a target start camera (the scene has no camera)")
    if target_start == reference:
        raise TrajectoryError(f"the reference '{reference.name}' cannot also be the target start: choose "
                              "the camera that frames the target scene")
    if target_start.get(OUTPUT_MARKER) == reference.name:
        raise TrajectoryError(f"the target start '{target_start.name}' is the camera ParaScale wrote for this "
                              "reference: choose the camera that frames the target scene")
    if scene.objects.get(target_start.name) != target_start:
        raise TrajectoryError(f"the target start '{target_start.name}' is not in the scene '{scene.name}': run "
                              "the transfer from the target's scene")
    if target_start.type != "CAMERA":
        # Target Start only offers cameras; the scene camera it falls back on can be any object.
        raise TrajectoryError(f"the scene camera '{target_start.name}' is not a camera: choose a Target Start "
                              "camera")
    frames = scene_frame_range(scene, settings)

    # The reference may live in a Blender scene of its own; it is then read there, at the same frames.
    reference_scene = scene_of(reference, scene)
    subjects = _chosen_subjects(settings, scene, reference_scene)
    # A TRACKING reference's clip is read first, once, in steps (a large clip takes seconds): the suspect
    # frames, which can shorten the range, and the reference depth both come from it.
    clip_steps = track_chunks(clip_tracks(scene, settings))
    solve = yield from read_reference_solve_steps(reference_scene, settings)
    suspects = suspects_in_range(reference_scene, settings, frames, solve)
    suspect_action = getattr(settings, "tracking_suspect_frames", "KEEP")
    if suspects and suspect_action == "STOP":
        frames = trusted_span(frames, suspects.mask)
        if on_range is not None:
            on_range(frames.size)
    with preserved_frame(scene), preserved_frame(reference_scene):
        # Sampling the cameras visits every frame: what Blender re-evaluates on the way is what moves.
        with recording_moving_objects() as moving_names:
            if reference_scene == scene:
                reference_samples, start_samples = yield from shifted_steps(sample_cameras_steps(
                    scene, [reference, target_start], frames), clip_steps)
            else:
                reference_samples = (yield from shifted_steps(sample_cameras_steps(
                    reference_scene, [reference], frames), clip_steps))[0]
                start_samples = sample_cameras(scene, [target_start], frames)[0]
        moving = MovingObjects(moving_names, moving_names.deforming)
        data = reference.data
        # Its frame (resolution, aspect) and fps are its scene's; the core measures the target through the
        # same frame.
        reference_trajectory = reference_samples.trajectory(scene_intrinsics(reference_scene, data),
                                                            scene_fps(reference_scene), data.clip_start,
                                                            data.clip_end)
        if not np.any(np.diff(reference_trajectory.centres, axis=0)):
            raise NoMotionError(f"the reference '{reference.name}' does not move over frames {frames[0]}-"
                                f"{frames[-1]}: a move without translation has no parallax to transfer")
        scene.frame_set(int(frames[0]))
        reference_scene.frame_set(int(frames[0]))
        # The clip read above (no steps here); read here only when it could not be read there, to say why.
        reference_probe = yield from shifted_steps(reference_depth_probe_steps(
            reference_scene, settings, reference_trajectory, reference_samples, moving, solve), frames.size)
        if suspects and suspect_action == "INTERPOLATE":
            # After the probe is built (it checks the camera follows the solve at every frame as read); the
            # depth is then measured at the interpolated poses.
            reference_trajectory = interpolate_poses(reference_trajectory, suspects.mask)
        target_probe = target_depth_probe(scene, settings, start_samples, frames, moving)

        start_rotation = pose_rotations(start_samples.matrices[:1])[0]
        start_centre = start_samples.matrices[0, :3, 3].copy()
        mode = settings.mode.lower()
        strength = check_strength(settings.strength)
        anchor = None
        if subjects is not None:
            reference_subject, target_subject = subjects
            anchor = subject_anchor(
                reference_trajectory, sample_object_positions(reference_scene, reference_subject, frames),
                None if target_subject is None else sample_object_positions(scene, target_subject, frames),
                target_probe, start_rotation, start_centre)
        # The reference's depth at every frame, a chunk of frames a step (a large solve's bundles or a large
        # reference set take seconds); the solve then reads it as per-frame values.
        reference_depth = measured_depths(reference_probe, (yield from shifted_steps(probe_depths_steps(
            reference_probe, Views.of(reference_trajectory), "reference depth", reference_trajectory.frames),
            frames.size + clip_steps)))
        # Inside the preserved frames: a scene that moves is read at each frame the solve measures.
        result = yield from shifted_steps(transfer_steps(
            reference_trajectory, reference_depth, target_probe, start_rotation, start_centre, mode=mode,
            tolerance=SCALE_TOLERANCE, max_iterations=MAX_ITERATIONS, strength=strength, reorient=anchor),
            2 * frames.size + clip_steps)
        if anchor is not None:
            result = anchor.framed(result)
        # What the camera realizes as written: float32 keyframes, and the frames that did not converge
        # measured again there (a rounding can cross the jump the solve closed on).
        pi_realized, depth_target = realized_at_written_pose(result, target_probe,
                                                             written_centres(result.trajectory.centres))
        if mode == "uncalibrated":
            pi_uncalibrated = pi_realized
        else:  # in steps too: on a large target it measures every frame once more
            comparison = yield from shifted_steps(transfer_steps(
                reference_trajectory, result.depth_reference, target_probe, start_rotation, start_centre,
                mode="uncalibrated", strength=strength), 3 * frames.size + clip_steps)
            pi_uncalibrated = comparison.pi_realized

    output = result.trajectory
    consistency = parallax_consistency(result.pi_target, pi_realized)
    record = transfer_record.TransferRecord(
        reference=reference.name, mode=settings.mode, source_reference=reference_probe.describe(),
        source_target=result.source_target, frames=frames.copy(), pi_reference=result.pi_reference,
        pi_realized=pi_realized, pi_uncalibrated=np.asarray(pi_uncalibrated, dtype=np.float64),
        scale=result.scale, depth_reference=result.depth_reference, depth_target=depth_target,
        centres=output.centres, reference_centres=reference_trajectory.centres, start_centre=start_centre,
        start_rotation=start_rotation, pce=consistency.pce, bias=consistency.bias, strength=strength,
        suspect_frames=suspects.frames if suspects else None,
        suspects=suspect_warning(suspects, suspect_action, frames) if suspects else "",
        **transfer_record.framing_fields(result.framing))

    # How precisely the solve fixes Pi over the range (a TRACKING reference).
    precision = None if solve is None else solve_precision(settings_clip(reference_scene, settings), solve)
    precision_note = None if precision is None else precision.within(frames).message()

    # Everything that can fail on bad input has run: from here on the scene is changed.
    rotation_mode = _output_rotation_mode(reference)
    euler_hint = (np.array(target_start.rotation_euler) if target_start.rotation_mode == rotation_mode
                  and target_start.parent is None else None)
    clip_scale = (output.clip_start / reference_trajectory.clip_start, output.clip_end / reference_trajectory.clip_end)
    camera = write_camera(scene, output, reference.name + OUTPUT_SUFFIX, template=data, rotation_mode=rotation_mode,
                          animate_lens=bool(np.ptp(reference_samples.lens) > 0),
                          replace=find_written_camera(reference.name), marker=reference.name,
                          clip_scale=clip_scale, size_scale=float(np.sqrt(clip_scale[0] * clip_scale[1])),
                          euler_hint=euler_hint)
    transfer_record.store(camera, record)
    return TransferOutcome(camera, result, reference_trajectory, record, np.asarray(pi_uncalibrated),
                           float32_precision_warning(output.centres), record.suspects or None, precision_note)


class ChunkedTransfer(ChunkedRun[TransferOutcome]):
    """A transfer run a little at a time, between the UI's events: `advance` runs steps for a time budget
    and returns the outcome once the camera is written; `cancel` stops it with the scene as it was. The
    modal operator is a thin shell over this (which the tests drive without a window)."""

    def __init__(self, context: bpy.types.Context, settings: object | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        scene = context.scene
        chosen = scene.parascale if settings is None else settings
        self.frames, self.tracks = progress_frames(scene, chosen), clip_tracks(scene, chosen)
        self.clip_steps = track_chunks(self.tracks)
        self._scene, self._settings = scene, chosen
        super().__init__(transfer_camera_move_steps(context, settings, self._range_known),
                         progress_steps(scene, chosen), clock)

    def _range_known(self, frames: int) -> None:
        """Stop Before shortened the range: the steps to come count its frames."""
        self.frames = frames
        self.total = progress_steps(self._scene, self._settings, frames)

    def position(self) -> tuple[str, int, int]:
        if self.done <= self.clip_steps:
            return "reading the clip's tracks", min(self.done * TRACK_CHUNK, self.tracks), self.tracks
        if self.done <= self.clip_steps + self.frames:
            return "reading frame", self.done - self.clip_steps, self.frames
        read = self.frames + self.clip_steps
        if self.done <= read + self.frames:
            return "measuring the reference depth at frame", self.done - read, self.frames
        if self.done <= read + 2 * self.frames:
            return "solving frame", self.done - read - self.frames, self.frames
        return "measuring the uncalibrated comparison at frame", self.done - read - 2 * self.frames, self.frames


class PARASCALE_OT_transfer_camera_move(ModalRun, bpy.types.Operator):
    """Write a new camera that moves through the target scene with the reference's parallax, frame by frame"""

    bl_idname = "parascale.transfer_camera_move"
    bl_label = "Transfer Camera Move"
    bl_options = {"REGISTER", "UNDO"}

    CANCELLED_MESSAGE = "ParaScale: transfer cancelled; nothing was changed"

    def execute(self, context: bpy.types.Context) -> set[str]:
        # Scripts and background mode: all at once.
        try:
            outcome = transfer_camera_move(context, context.scene.parascale)
        except ParaScaleError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return self.finish_run(context, outcome)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if context.window is None:  # no UI to stay responsive for
            return self.execute(context)
        return self.start_run(context, ChunkedTransfer(context))

    def finish_run(self, context: bpy.types.Context, outcome: TransferOutcome) -> set[str]:
        select_only(context, outcome.camera)
        for level, message in outcome.report_lines():
            self.report({level}, message)
        return {"FINISHED"}


CLASSES = (PARASCALE_OT_transfer_camera_move,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
