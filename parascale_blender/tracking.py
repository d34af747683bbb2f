"""Real footage as the reference: the depth of Blender's own camera solve.

A camera solve from footage is known only up to scale (and a rigid motion): exactly the gauge the Parallax
Number removes. The reference depth at each frame is the median depth of the reconstructed bundles that
the reference (solved) camera sees at that frame, measured in the solve's own frame whatever its scale and
orientation; Pi_t = ||C_t - C_{t-1}|| / Zbar_t is then a property of the footage alone.

Where the bundles are in the world (what Blender's viewport draws, overlay_extra.cc):
- camera tracking object: bundle b sits at B b, where B is the camera object's matrix without its Camera
  Solver constraint; the constraint places the camera at B S_t (S_t the solved camera of the clip frame),
  so B = M_t S_t^-1 for the camera's evaluated world matrix M_t, at every frame. A camera baked from the
  constraint keeps M_t = B S_t. We read B from the camera as it is (scale of the object or its parent,
  e.g. from "Set Scale", included) and insist it is the same at every frame: a camera that does not follow
  the solve is not the solved camera.
- any other tracking object: the object's solve gives the camera in object space scaled by the object's
  "scale"; bundle b is seen at M_t (scale * S_t^-1 b) (per frame: the object moves).
Clip frames: clip frame = scene frame - clip.frame_start + 1 (BKE_movieclip_remap_scene_to_clip_frame);
frames outside the solve have no depth.

This module only reads the clip and the camera (bpy); the depth statistic over the bundles and the bundle
geometry (`solve_space_points`, `marker_mask`, `BundlesDepth`, ...) are pure numpy in core/footage.py.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from ..core.depth import Views, frustum_depths
from ..core.errors import DepthError, NoDepthError, ParaScaleError, frame_list
from ..core.footage import (
    BundlesDepth,
    bundle_drift,
    frames_below,
    marker_mask,
    require_depth,
    solve_space_points,
    solved_index,
    world_points,
)
from ..core.parallax import run_steps
from ..core.poses import Trajectory
from ..core.solve_check import SuspectFrames, step_precision, suspect_frames
from ..core.statistics import DEFAULT_STATISTIC, normalize_statistic

# The transfer's progress steps through a clip's tracks this many at a time (~50 ms for 1,000 markers each).
TRACK_CHUNK = 100
# A camera that follows the solve maps every bundle to the same world point at every frame up to float32
# round-off (~1e-7 relative); more drift than this, relative to the bundles' distance, means it does not.
FOLLOW_TOLERANCE = 1e-3


# ----------------------------------------------------------------------------------------------------
# Reading the clip (bpy).


@dataclass(frozen=True, eq=False)
class SolveData:
    """What a clip's solve holds for one tracking object, as arrays: solved clip frames (K,), solved cameras
    (K, 4, 4, camera-to-solve), bundles (P, 3) and their track names, the object's scale, and every marker
    of those tracks flat (track index, clip frame, enabled)."""

    clip_name: str
    object_name: str
    is_camera: bool
    scale: float
    solved_frames: np.ndarray
    solved_cameras: np.ndarray
    bundles: np.ndarray
    track_names: list[str]
    marker_track: np.ndarray
    marker_frames: np.ndarray
    marker_enabled: np.ndarray
    average_error: float
    # The solve's average reprojection error at each solved camera (K,), in pixels.
    camera_errors: np.ndarray | None = None

    def label(self) -> str:
        return f"bundles of clip '{self.clip_name}' ({self.object_name})"


def tracking_object_of(clip: object, name: str = "") -> object:
    """The clip's tracking object called `name`; the camera object when `name` is empty."""
    objects = clip.tracking.objects
    if not name:
        for obj in objects:
            if obj.is_camera:
                return obj
        raise DepthError(f"clip '{clip.name}' has no camera tracking object")
    obj = objects.get(name)
    if obj is None:
        names = ", ".join(repr(o.name) for o in objects)
        raise DepthError(f"clip '{clip.name}' has no tracking object '{name}' (it has {names})")
    return obj


def _foreach(collection: object, attribute: str, dtype: type, width: int = 1) -> np.ndarray:
    out = np.empty(len(collection) * width, dtype=dtype)
    if out.size:
        collection.foreach_get(attribute, out)
    return out


def read_solve(clip: object, object_name: str = "") -> SolveData:
    """Read a solved clip's cameras, bundles and markers. Raises DepthError when there is no clip, it is
    not solved, the tracking object does not exist or has no bundles."""
    return run_steps(read_solve_steps(clip, object_name))


def track_chunks(n_tracks: int) -> int:
    """How many steps `read_solve_steps` takes for a tracking object of `n_tracks` tracks."""
    return -(-int(n_tracks) // TRACK_CHUNK)


def tracks_to_read(scene: object, settings: object) -> int:
    """How many tracks the transfer reads from the settings' clip: those of its tracking object when the
    reference depth is TRACKING, else 0 (also when the clip cannot be read: the reading says why)."""
    if getattr(settings, "reference_source", "") != "TRACKING":
        return 0
    clip = settings_clip(scene, settings)
    try:
        return len(tracking_object_of(clip, getattr(settings, "tracking_object", "")).tracks) if clip else 0
    except DepthError:
        return 0


def read_solve_steps(clip: object, object_name: str = "") -> Generator[int, None, SolveData]:
    """`read_solve` in steps: yields after each TRACK_CHUNK tracks (their markers are read one track at a
    time, the bulk of the read: about a second for 2,000 tracks of 1,000 markers, bench/tracking_read.py)."""
    if clip is None:
        raise DepthError("no movie clip chosen for the tracking depth")
    tracking_object = tracking_object_of(clip, object_name)
    reconstruction = tracking_object.reconstruction
    if not reconstruction.is_valid or len(reconstruction.cameras) == 0:
        raise DepthError(f"clip '{clip.name}' ({tracking_object.name}) is not solved: run Solve Camera Motion "
                         "in the Movie Clip Editor first")
    cameras = reconstruction.cameras
    solved_frames = _foreach(cameras, "frame", np.int32).astype(np.int64)
    # foreach_get returns matrices column-major.
    solved = _foreach(cameras, "matrix", np.float32, 16).reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
    tracks = tracking_object.tracks
    has_bundle = _foreach(tracks, "has_bundle", bool)
    bundles_all = _foreach(tracks, "bundle", np.float32, 3).reshape(-1, 3).astype(np.float64)
    chosen = np.flatnonzero(has_bundle)
    if chosen.size == 0:
        raise DepthError(f"clip '{clip.name}' ({tracking_object.name}) has no reconstructed bundles")
    marker_track, marker_frames, marker_enabled, names = [], [], [], []
    first = 0
    chunk_ends = np.searchsorted(chosen, TRACK_CHUNK * np.arange(1, track_chunks(len(tracks)) + 1))
    for step, end in enumerate(chunk_ends):
        for column in range(first, int(end)):
            track = tracks[int(chosen[column])]
            names.append(track.name)
            frames = _foreach(track.markers, "frame", np.int32)
            muted = _foreach(track.markers, "mute", bool)
            marker_track.append(np.full(frames.size, column))
            marker_frames.append(frames)
            marker_enabled.append(~muted)
        first = int(end)
        yield step
    return SolveData(
        clip_name=clip.name, object_name=tracking_object.name, is_camera=bool(tracking_object.is_camera),
        scale=1.0 if tracking_object.is_camera else float(tracking_object.scale),
        solved_frames=solved_frames, solved_cameras=solved, bundles=bundles_all[chosen], track_names=names,
        marker_track=np.concatenate(marker_track), marker_frames=np.concatenate(marker_frames).astype(np.int64),
        marker_enabled=np.concatenate(marker_enabled), average_error=float(reconstruction.average_error),
        camera_errors=_foreach(cameras, "average_error", np.float32).astype(np.float64))


def solver_clip(scene: object, camera: object) -> object | None:
    """The clip a camera's Camera Solver constraint follows (the scene's active clip when it says so)."""
    if camera is None:
        return None
    for constraint in camera.constraints:
        if constraint.type == "CAMERA_SOLVER" and not constraint.mute:
            return scene.active_clip if constraint.use_active_clip else constraint.clip
    return None


def settings_clip(scene: object, settings: object) -> object | None:
    """The clip the settings name, else the one the reference camera's Camera Solver follows."""
    clip = getattr(settings, "tracking_clip", None)
    if clip is None:
        clip = solver_clip(scene, getattr(settings, "reference_camera", None))
    return clip


def settings_solve(clip: object, settings: object, solve: SolveData | None = None) -> SolveData:
    """The solve of the settings' tracking object in `clip`: `solve` when it has been read already, else read
    now. Raises DepthError like `read_solve`."""
    return read_solve(clip, getattr(settings, "tracking_object", "")) if solve is None else solve


def settings_solve_steps(scene: object, settings: object) -> Generator[int, None, SolveData]:
    """The solve of the settings' clip and tracking object, read in steps (`read_solve_steps`)."""
    return (yield from read_solve_steps(settings_clip(scene, settings), getattr(settings, "tracking_object", "")))


def clip_frames_of(clip: object, scene_frames: np.ndarray) -> np.ndarray:
    """Scene frame numbers -> the clip's own frame numbers (BKE_movieclip_remap_scene_to_clip_frame)."""
    return np.asarray(scene_frames, dtype=np.float64) - float(clip.frame_start) + 1.0


def _object_world_scale(camera: object) -> float:
    """The uniform scale of a camera's world matrix (its own and its parents'), at the current frame."""
    if camera is None:
        return 1.0
    m = np.array(camera.matrix_world, dtype=np.float64)[:3, :3]
    return float(np.cbrt(abs(np.linalg.det(m))))


def _frame_layout(solve: SolveData, clip_frames: np.ndarray, markers_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """(index of each frame's solved camera or -1, per-frame bundle mask (F, P))."""
    index = solved_index(solve.solved_frames, clip_frames)
    mask = np.repeat((index >= 0)[:, None], solve.bundles.shape[0], axis=1)
    if markers_only:
        mask &= marker_mask(solve.marker_track, solve.marker_frames, solve.marker_enabled, clip_frames,
                            solve.bundles.shape[0])
    return index, mask


def bundle_world_points(solve: SolveData, trajectory: Trajectory, clip_frames: np.ndarray,
                        camera_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """World positions of the bundles at each frame of `trajectory` (the reference camera, whose world
    matrix is R_t, C_t with a uniform `camera_scale`), NaN at unsolved frames: (F, P, 3), and the index of
    each frame's solved camera (-1 where unsolved)."""
    index = solved_index(solve.solved_frames, clip_frames)
    n, p = len(trajectory), solve.bundles.shape[0]
    points = np.full((n, p, 3), np.nan)
    solved = np.flatnonzero(index >= 0)
    if solved.size:
        local = solve_space_points(solve.bundles, solve.solved_cameras[index[solved]], solve.scale)
        matrices = trajectory.matrices()[solved]
        matrices[:, :3, :3] *= camera_scale
        points[solved] = world_points(matrices, local)
    return points, index


def tracking_depth_probe_steps(scene: object, settings: object, trajectory: Trajectory,
                               require_all: bool = True, solve: SolveData | None = None
                               ) -> Generator[int, None, BundlesDepth]:
    """`tracking_depth_probe` with the clip read in steps (`read_solve_steps`: one per TRACK_CHUNK tracks),
    unless `solve` has been read already (then no steps)."""
    if solve is None:
        solve = yield from settings_solve_steps(scene, settings)
    return tracking_depth_probe(scene, settings, trajectory, require_all, solve)


def tracking_depth_probe(scene: object, settings: object, trajectory: Trajectory,
                         require_all: bool = True, solve: SolveData | None = None) -> BundlesDepth:
    """The reference depth of a solved clip: a BundlesDepth over the bundles of the settings' clip and
    tracking object as the reference camera (`trajectory`, its evaluated path) sees them. Frames with fewer
    than `settings.tracking_min_bundles` bundles in view (or unsolved) have no depth (NaN): with
    `require_all` (default) a NoDepthError names them and their bundle counts; otherwise the probe is
    returned and `BundlesDepth.frames_without_depth` names them.

    Raises DepthError when there is no clip, the clip is not solved, the tracking object is missing or has
    no bundles, or (camera tracking object) the reference camera does not follow the solve. `solve`: the
    clip's solve when it has been read already."""
    clip = settings_clip(scene, settings)
    solve = settings_solve(clip, settings, solve)
    clip_frames = clip_frames_of(clip, trajectory.frames)
    camera = getattr(settings, "reference_camera", None) or getattr(scene, "camera", None)
    points, index = bundle_world_points(solve, trajectory, clip_frames, _object_world_scale(camera))
    _, mask = _frame_layout(solve, clip_frames, bool(getattr(settings, "tracking_markers_only", False)))
    seen = marker_mask(solve.marker_track, solve.marker_frames, solve.marker_enabled, clip_frames,
                       solve.bundles.shape[0])
    min_bundles = int(getattr(settings, "tracking_min_bundles", 8))
    statistic = normalize_statistic(getattr(settings, "depth_statistic", DEFAULT_STATISTIC))
    solved = index >= 0
    if not np.any(solved):
        raise NoDepthError(f"clip '{clip.name}' has no solved camera at any of frames "
                           f"{int(trajectory.frames[0])}-{int(trajectory.frames[-1])}",
                           trajectory.frames.astype(int).tolist())
    if solve.is_camera:
        # The camera object's bundles are static in the world: check the camera really follows the solve.
        anchor, drift = bundle_drift(points[solved], trajectory.centres[solved])
        worst = int(np.argmax(drift))
        if drift[worst] > FOLLOW_TOLERANCE:
            name = getattr(camera, "name", "?")
            raise DepthError(f"camera '{name}' does not follow the solve of clip '{clip.name}' (bundles drift "
                             f"by {drift[worst]:.2g} of their distance at frame "
                             f"{int(trajectory.frames[solved][worst])}): use the camera with its Camera "
                             "Solver constraint, or one baked from it")
        probe = BundlesDepth(anchor, mask, trajectory.frames, min_bundles, solve.label(), solved, statistic=statistic,
                             seen=seen)
    else:
        probe = BundlesDepth(points, mask, trajectory.frames, min_bundles, solve.label(), solved, statistic=statistic,
                             seen=seen)
    if require_all:
        require_depth(probe, trajectory)
    return probe


def bundle_counts(scene: object, settings: object, trajectory: Trajectory | None = None,
                  solve: SolveData | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scene frames, bundles in view at each) for the sidebar. With a trajectory, exactly what
    `tracking_depth_probe` sees from it; without, from the solve alone through the clip's own camera
    (focal length, principal point, frame size) over the solved frames: no frame stepping, cheap. `solve`:
    the clip's solve when it has been read already."""
    if trajectory is not None:
        probe = tracking_depth_probe(scene, settings, trajectory, require_all=False, solve=solve)
        return trajectory.frames.astype(np.int64), probe.counts(Views.of(trajectory))
    clip = settings_clip(scene, settings)
    solve = settings_solve(clip, settings, solve)
    clip_frames = solve.solved_frames.astype(np.float64)
    _, mask = _frame_layout(solve, clip_frames, bool(getattr(settings, "tracking_markers_only", False)))
    local = solve_space_points(solve.bundles, solve.solved_cameras, solve.scale)
    intrinsics = clip_pixel_intrinsics(clip)
    width, height = (int(v) for v in clip.size)
    _, inside = frustum_depths(local, np.repeat(intrinsics[None], len(clip_frames), axis=0), width, height)
    scene_frames = (clip_frames + float(clip.frame_start) - 1.0).astype(np.int64)
    return scene_frames, (inside & mask).sum(axis=1)


def suspect_check_inputs(solve: SolveData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What `solve_suspects` checks, as core.solve_check.suspect_frames takes it, over the span of the solved
    frames (the clip's own frame numbers): the frames, the solved camera centres (solve space: the checks use
    only ratios; NaN where not solved), which are solved, how many tracks with a bundle have an enabled
    marker at each frame, and the solve's per-frame reprojection error."""
    first, last = int(solve.solved_frames.min()), int(solve.solved_frames.max())
    clip_frames = np.arange(first, last + 1)
    index = solved_index(solve.solved_frames, clip_frames)
    solved = index >= 0
    centres = np.full((clip_frames.size, 3), np.nan)
    centres[solved] = solve.solved_cameras[index[solved], :3, 3]
    errors = np.full(clip_frames.size, np.nan)
    if solve.camera_errors is not None:
        errors[solved] = solve.camera_errors[index[solved]]
    reobserved = marker_mask(solve.marker_track, solve.marker_frames, solve.marker_enabled, clip_frames,
                             solve.bundles.shape[0]).sum(axis=1)
    return clip_frames, centres, solved, reobserved, errors


def solve_suspects(solve: SolveData) -> SuspectFrames:
    """The suspect frames of a solve (core.solve_check), in the clip's own frame numbers (`suspect_check_inputs`)."""
    return suspect_frames(*suspect_check_inputs(solve))


def tracking_suspects(scene: object, settings: object, solve: SolveData | None = None) -> SuspectFrames:
    """The suspect frames of the settings' solved clip, in scene frame numbers. Raises DepthError like
    `read_solve` (no clip, not solved, ...). `solve`: the clip's solve when it has been read already."""
    clip = settings_clip(scene, settings)
    solve = settings_solve(clip, settings, solve)
    suspects = solve_suspects(solve)
    offset = int(clip.frame_start) - 1
    return SuspectFrames(suspects.frames + offset, suspects.mask,
                         {f + offset: reasons for f, reasons in suspects.reasons.items()})


@dataclass(frozen=True, eq=False)
class SolvePrecision:
    """How precisely a camera solve fixes each frame's Pi (core.solve_check.step_precision): scene frames (K,)
    and the relative standard deviation of each one's step (NaN where the step is not defined)."""

    frames: np.ndarray
    precision: np.ndarray

    def within(self, frames: np.ndarray) -> SolvePrecision:
        keep = np.isin(self.frames, np.asarray(frames))
        return SolvePrecision(self.frames[keep], self.precision[keep])

    def figures(self) -> tuple[float, float, int] | None:
        """(median precision, the worst, its frame) over the frames where it is known, else None."""
        known = np.flatnonzero(np.isfinite(self.precision))
        if known.size == 0:
            return None
        worst = int(known[np.argmax(self.precision[known])])
        return float(np.median(self.precision[known])), float(self.precision[worst]), int(self.frames[worst])

    def short(self) -> str:
        """The sidebar's line: 'Pi precision: ±2.1% per frame, ±9.4% at frame 18', or why there is none."""
        figures = self.figures()
        if figures is None:
            return "Pi precision: not known"
        return f"Pi precision: ±{figures[0]:.1%} per frame, ±{figures[1]:.1%} at frame {figures[2]}"

    def message(self) -> str:
        """'the solve fixes each frame's Pi to about ±2.1% (one standard deviation, median over the frames;
        ±9.4% at frame 18)', or why not."""
        figures = self.figures()
        if figures is None:
            return "the solve's precision is not known at these frames"
        return (f"the solve fixes each frame's Pi to about ±{figures[0]:.1%} (one standard deviation, median over "
                f"the frames; ±{figures[1]:.1%} at frame {figures[2]})")


def precision_inputs(clip: object, solve: SolveData
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
    """What `solve_precision` gives core.solve_check.step_precision: the solved frames, their cameras, the
    bundles, which bundles each frame observes, the clip's focal length in pixels and the solve's typical
    reprojection error (the median of its per-frame errors, else its average error)."""
    errors = np.asarray(solve.camera_errors if solve.camera_errors is not None else [], dtype=np.float64)
    errors = errors[np.isfinite(errors) & (errors > 0)]
    pixel_error = float(np.median(errors)) if errors.size else float(solve.average_error)
    observed = marker_mask(solve.marker_track, solve.marker_frames, solve.marker_enabled, solve.solved_frames,
                           solve.bundles.shape[0])
    return (solve.solved_frames, solve.solved_cameras, solve.bundles, observed,
            float(clip_pixel_intrinsics(clip)[0]), pixel_error)


def solve_precision(clip: object, solve: SolveData) -> SolvePrecision | None:
    """The precision of a camera solve at each solved frame (scene frames), from the clip's focal length and
    the solve's typical reprojection error: the median of its per-frame errors (a frame solved from a few
    tracks fits them closely, so its own error understates the tracker's noise), else its average error.
    None for an object's solve (its cameras are relative to the object)."""
    if not solve.is_camera:
        return None
    precision = step_precision(*precision_inputs(clip, solve))
    return SolvePrecision(solve.solved_frames + int(clip.frame_start) - 1, precision)


def tracking_precision(scene: object, settings: object, solve: SolveData | None = None) -> SolvePrecision | None:
    """The settings' clip's solve precision (scene frames). Raises DepthError like `read_solve`. `solve`: the
    clip's solve when it has been read already."""
    clip = settings_clip(scene, settings)
    return solve_precision(clip, settings_solve(clip, settings, solve))


# What the Suspect Frames setting does (add-on property tracking_suspect_frames) and how the report says it.
SUSPECT_ACTIONS = ("KEEP", "INTERPOLATE", "STOP")


def suspects_in_range(scene: object, settings: object, frames: np.ndarray, solve: SolveData | None = None
                      ) -> SuspectFrames | None:
    """The suspect solve frames among a transfer's `frames` when the reference depth is TRACKING, else None.
    A clip that cannot be read gives None here: the tracking depth source reports why. `solve`: the clip's
    solve when it has been read already (`read_solve_steps`)."""
    if getattr(settings, "reference_source", "") != "TRACKING":
        return None
    try:
        return tracking_suspects(scene, settings, solve).within(frames)
    except DepthError:
        return None


def read_reference_solve_steps(scene: object, settings: object) -> Generator[int, None, SolveData | None]:
    """The settings' clip's solve read in steps (`read_solve_steps`) when the reference depth is TRACKING,
    else None (no steps). A clip that cannot be read gives None here too: the tracking depth source reads it
    again where the transfer needs it, and reports why then, in the order the other checks run."""
    if getattr(settings, "reference_source", "") != "TRACKING":
        return None
    try:
        return (yield from settings_solve_steps(scene, settings))
    except DepthError:
        return None


def suspect_warning(suspects: SuspectFrames, action: str, frames: np.ndarray) -> str:
    """The report line for suspect frames, saying what was done with them."""
    text = f"suspect frames in the camera solve: {suspects.message()}"
    if action == "INTERPOLATE":
        return text + "; their poses were interpolated from the nearest trusted frames (held past the last one)"
    if action == "STOP":
        return text + f"; the transfer covers frames {int(frames[0])}-{int(frames[-1])} only (Stop Before)"
    return text + ("; transferred as solved: check the solve there, or set Suspect Frames to Interpolate or "
                   "Stop Before")


def clip_pixel_intrinsics(clip: object) -> np.ndarray:
    """fx, fy, cx, cy in pixels (image rows downwards) of the clip's tracking camera."""
    camera = clip.tracking.camera
    width, height = (float(v) for v in clip.size)
    fx = float(camera.focal_length_pixels)
    fy = fx * float(camera.pixel_aspect)
    if hasattr(camera, "principal_point_pixels"):
        px, py = camera.principal_point_pixels
    else:  # pragma: no cover - older API (principal point in pixels)
        px, py = camera.principal
    # Blender's clip pixels start at the bottom-left corner.
    return np.array([fx, fy, float(px), height - float(py)])


@dataclass(frozen=True)
class BundleSummary:
    """Bundles in view per frame, summarized for the sidebar."""

    frames: np.ndarray
    counts: np.ndarray
    min_bundles: int

    @property
    def minimum(self) -> int:
        return int(self.counts.min()) if self.counts.size else 0

    @property
    def median(self) -> float:
        return float(np.median(self.counts)) if self.counts.size else 0.0

    @property
    def frames_below(self) -> np.ndarray:
        return frames_below(self.counts, self.frames, self.min_bundles)

    def message(self) -> str:
        below = self.frames_below
        if below.size == 0:
            return f"every frame sees at least {self.min_bundles} bundles"
        return f"{below.size} frame(s) see fewer than {self.min_bundles} bundles: {frame_list(below)}"


def bundle_summary(scene: object, settings: object, solve: SolveData | None = None) -> BundleSummary:
    """Bundles in view per solved frame (through the clip's camera) against the settings' threshold."""
    frames, counts = bundle_counts(scene, settings, solve=solve)
    return BundleSummary(frames, counts, int(getattr(settings, "tracking_min_bundles", 8)))


# ----------------------------------------------------------------------------------------------------
# Sidebar sub-panel.

# The panel redraws often: the summary is recomputed only when the solve or the settings change.
_summary_cache: dict[tuple, BundleSummary | str] = {}


def _summary_key(scene: object, settings: object) -> tuple:
    clip = settings_clip(scene, settings)
    if clip is None:
        return (None,)
    objects = clip.tracking.objects
    tracking_object = objects.get(settings.tracking_object) if settings.tracking_object else None
    tracking_object = tracking_object or next((o for o in objects if o.is_camera), None)
    reconstruction = tracking_object.reconstruction if tracking_object else None
    stamp = (len(tracking_object.tracks), len(reconstruction.cameras), reconstruction.is_valid,
             round(float(reconstruction.average_error), 9)) if reconstruction else ()
    return (clip.name_full, clip.frame_start, tuple(clip.size), settings.tracking_object, stamp,
            settings.tracking_min_bundles, settings.tracking_markers_only)


def _cached(cache: dict, scene: object, settings: object, compute: Callable[[object, object], object],
            failed: Callable[[ParaScaleError], object]) -> object:
    """compute(scene, settings), kept until the solve or the settings change; failed(error) when it raises."""
    key = _summary_key(scene, settings)
    if key not in cache:
        if len(cache) > 32:
            cache.clear()
        try:
            cache[key] = compute(scene, settings)
        except ParaScaleError as error:
            cache[key] = failed(error)
    return cache[key]


# The sidebar's three figures (bundles in view, suspect frames, precision) share one read of the solve, kept
# for the current clip and settings only: a large clip's markers take tens of MB.
_panel_solve_cache: dict[tuple, SolveData | None] = {}


def panel_solve(scene: object, settings: object) -> SolveData | None:
    """The settings' clip's solve for the sidebar, read once per change of clip or settings; None when it
    cannot be read (each figure then reads it again and says why)."""
    key = _summary_key(scene, settings)
    if key not in _panel_solve_cache:
        _panel_solve_cache.clear()
        try:
            _panel_solve_cache[key] = settings_solve(settings_clip(scene, settings), settings)
        except ParaScaleError:
            _panel_solve_cache[key] = None
    return _panel_solve_cache[key]


def cached_summary(scene: object, settings: object) -> BundleSummary | str:
    """The bundle summary, or the one-line reason there is none (no clip, not solved, ...)."""
    return _cached(_summary_cache, scene, settings,
                   lambda sc, st: bundle_summary(sc, st, panel_solve(sc, st)), str)


_suspect_cache: dict[tuple, SuspectFrames | None] = {}
_precision_cache: dict[tuple, SolvePrecision | None] = {}


def cached_suspects(scene: object, settings: object) -> SuspectFrames | None:
    """The solve's suspect frames for the sidebar (scene frames), None when the clip cannot be read."""
    return _cached(_suspect_cache, scene, settings,
                   lambda sc, st: tracking_suspects(sc, st, panel_solve(sc, st)), lambda _error: None)


def cached_precision(scene: object, settings: object) -> SolvePrecision | None:
    """The solve's precision for the sidebar, None when the clip cannot be read or it is an object's solve."""
    return _cached(_precision_cache, scene, settings,
                   lambda sc, st: tracking_precision(sc, st, panel_solve(sc, st)), lambda _error: None)


MAIN_PANEL = "VIEW3D_PT_parascale"
_panel_classes: list[type] = []


def _make_panel() -> type:
    import bpy

    from .panels import SidebarPanel

    class VIEW3D_PT_parascale_tracking(SidebarPanel, bpy.types.Panel):
        """Pick the solved clip and tracking object; bundles in view per frame."""

        bl_label = "Tracking Reference"
        bl_idname = "VIEW3D_PT_parascale_tracking"

        @classmethod
        def poll(cls, context: bpy.types.Context) -> bool:
            settings = getattr(context.scene, "parascale", None)
            return settings is not None and settings.reference_source == "TRACKING"

        def draw(self, context: bpy.types.Context) -> None:
            layout = self.layout
            layout.use_property_split = True
            layout.use_property_decorate = False
            scene = context.scene
            settings = scene.parascale
            layout.prop(settings, "tracking_clip")
            clip = settings_clip(scene, settings)
            if clip is not None and settings.tracking_clip is None:
                layout.label(text=f"From the Camera Solver: {clip.name}", icon="INFO")
            if clip is not None:
                layout.prop_search(settings, "tracking_object", clip.tracking, "objects", text="Object")
            layout.prop(settings, "tracking_min_bundles")
            layout.prop(settings, "tracking_markers_only")
            layout.prop(settings, "tracking_suspect_frames")
            summary = cached_summary(scene, settings)
            if isinstance(summary, str):
                layout.label(text=summary, icon="ERROR")
                return
            col = layout.column(align=True)
            col.label(text=f"Bundles in view: min {summary.minimum}, median {summary.median:g}",
                      icon="TRACKER")
            below = summary.frames_below
            if below.size:
                col.alert = True
                col.label(text=f"{below.size} frame(s) below {summary.min_bundles}: {frame_list(below, 6)}",
                          icon="ERROR")
                col.label(text="These frames have no depth: lower Min Bundles or track more features")
            precision = cached_precision(scene, settings)
            if precision is not None:
                layout.label(text=precision.short(), icon="INFO")
            suspects = cached_suspects(scene, settings)
            if suspects:
                row = layout.row()
                row.alert = True
                row.label(text=f"Suspect solve frames: {frame_list(suspects.frames, 6)}", icon="ERROR")

    return VIEW3D_PT_parascale_tracking


def register() -> None:
    import bpy

    panel = _make_panel()
    # A sub-panel of the add-on's main panel when there is one (it must be registered first).
    if hasattr(bpy.types, MAIN_PANEL):
        panel.bl_parent_id = MAIN_PANEL
    bpy.utils.register_class(panel)
    _panel_classes.append(panel)


def unregister() -> None:
    import bpy

    while _panel_classes:
        bpy.utils.unregister_class(_panel_classes.pop())
    _summary_cache.clear()
    _suspect_cache.clear()
    _precision_cache.clear()
    _panel_solve_cache.clear()
