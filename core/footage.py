"""Real footage as the reference, the numpy side: the depth of a camera solve's bundles and a reference
from an external pose estimator with its depths. Blender's clip is read in parascale_blender/tracking.py,
which hands the arrays here.

A camera solve from footage is known only up to scale (and a rigid motion): exactly the gauge the Parallax
Number removes. The reference depth at each frame is the median depth of the reconstructed bundles that the
reference (solved) camera sees at that frame (core.depth.PointsDepth's frustum rule), per frame restricted
to the bundles the solve covers there, each bundle weighted by the image area it stands for (its Voronoi
cell in the frame, core/image_area.py), so that it estimates the median over the image's pixels that the
Geometry source measures on the target side; Pi_t = ||C_t - C_{t-1}|| / Zbar_t is then a property of the
footage alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .depth import PerFrameDepth, PointsDepth, Views, frustum_depths
from .errors import DepthError, NoDepthError, frame_list
from .formats import read_trajectory
from .image_area import bundle_statistic, image_pixels
from .pointcloud import per_frame_median_depths, read_depth_values
from .poses import Trajectory
from .statistics import DEFAULT_STATISTIC, normalize_statistic, representative_depth


def solve_space_points(bundles: np.ndarray, solved_cameras: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Bundles (P, 3) in the axes of each solved camera (F, 4, 4 camera-to-solve matrices, Blender camera
    axes): shape (F, P, 3), times `scale` (a tracking object's scale; 1 for the camera object)."""
    bundles = np.asarray(bundles, dtype=np.float64).reshape(-1, 3)
    cams = np.asarray(solved_cameras, dtype=np.float64)
    rotations, centres = cams[:, :3, :3], cams[:, :3, 3]
    # Solved cameras are rigid, so the inverse is the transpose (any tiny float32 scale is kept out). A
    # stacked matmul (row vectors times R) is 4x faster than the einsum for 1,000 frames x 2,000 bundles.
    return scale * ((bundles[None, :, :] - centres[:, None, :]) @ rotations)


def world_points(camera_matrices: np.ndarray, camera_points: np.ndarray) -> np.ndarray:
    """Points given in each camera's axes (F, P, 3) placed in the world by the cameras' world matrices
    (F, 4, 4, scale included): shape (F, P, 3)."""
    m = np.asarray(camera_matrices, dtype=np.float64)
    return camera_points @ m[:, :3, :3].transpose(0, 2, 1) + m[:, None, :3, 3]


def marker_mask(track_index: np.ndarray, marker_frames: np.ndarray, marker_enabled: np.ndarray,
                clip_frames: np.ndarray, n_tracks: int) -> np.ndarray:
    """(F, P) True where track p has an enabled marker at clip frame clip_frames[f] (distinct frames); the
    markers of all tracks are given flat: track index, frame and enabled flag of each."""
    clip_frames = np.asarray(clip_frames, dtype=np.float64)
    mask = np.zeros((clip_frames.size, int(n_tracks)), dtype=bool)
    if clip_frames.size == 0:
        return mask
    keep = np.asarray(marker_enabled, dtype=bool)
    frames = np.asarray(marker_frames, dtype=np.float64)[keep]
    tracks = np.asarray(track_index)[keep]
    order = np.argsort(clip_frames)
    slot = np.minimum(np.searchsorted(clip_frames[order], frames), clip_frames.size - 1)
    hit = clip_frames[order][slot] == frames
    mask[order[slot[hit]], tracks[hit]] = True
    return mask


def solved_index(solved_frames: np.ndarray, clip_frames: np.ndarray) -> np.ndarray:
    """Index of each clip frame in the solve's camera list, -1 where the frame was not solved (or is not
    a whole frame)."""
    solved_frames = np.asarray(solved_frames, dtype=np.float64)
    clip_frames = np.asarray(clip_frames, dtype=np.float64)
    order = np.argsort(solved_frames)
    slot = np.clip(np.searchsorted(solved_frames[order], clip_frames), 0, max(solved_frames.size - 1, 0))
    if solved_frames.size == 0:
        return np.full(clip_frames.shape, -1)
    found = solved_frames[order][slot] == clip_frames
    return np.where(found, order[slot], -1)


def bundle_drift(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far a camera that should follow a solve strays from it: bundles placed in the world from each
    frame's camera (F, P, 3) must be the same points at every frame. Returns their median positions (P, 3)
    and, per frame (F,), the largest distance of a bundle from its median position relative to that
    bundle's distance from the cameras (at least the bundles' median distance). Relative to each bundle's
    own distance: float32 round-off moves a near-degenerate bundle far away (10^5 times the median depth, as
    solves make) by far more than the median depth's share, and must not count as straying."""
    anchor = np.nanmedian(points, axis=0)
    distance = np.linalg.norm(anchor - np.asarray(centres, dtype=np.float64).mean(axis=0), axis=1)
    scale = np.maximum(distance, max(float(np.nanmedian(distance)), 1e-300))
    drift = np.linalg.norm(points - anchor[None], axis=2) / scale[None, :]
    return anchor, np.nanmax(drift, axis=1)


def frames_below(counts: np.ndarray, frames: np.ndarray, min_bundles: int) -> np.ndarray:
    """The frames whose bundle count is below the threshold."""
    return np.asarray(frames)[np.asarray(counts) < int(min_bundles)]


# How BundlesDepth weighs the bundles in view: "area" (each by its Voronoi cell in the frame,
# core/image_area.py: the statistic then estimates the image's pixel statistic, which Geometry measures on
# the target side), "none" (each bundle once: the statistic of the bundles themselves).
BUNDLE_WEIGHTINGS = ("area", "none")


class BundlesDepth(PointsDepth):
    """Median depth of the tracking bundles inside each view's frustum (core PointsDepth), restricted per
    clip frame by a mask (solved frames; with `markers only`, the tracks with an enabled marker there).
    Points are world positions (P, 3), or per frame (F, P, 3) for an object track (the object moves).
    Views index the frames through `views.indices`. `frames` are the scene frame numbers of those indices,
    `solved` (default: all) says which of them the solve covers, for messages."""

    name = "tracking"

    def __init__(self, points: np.ndarray, frame_mask: np.ndarray, frames: np.ndarray, min_points: int = 8,
                 label: str = "tracking bundles", solved: np.ndarray | None = None, chunk: int = 64,
                 statistic: str = DEFAULT_STATISTIC, weighting: str = "area", seen: np.ndarray | None = None):
        self.statistic = normalize_statistic(statistic)
        if weighting not in BUNDLE_WEIGHTINGS:
            raise DepthError(f"bundle weighting must be one of {', '.join(BUNDLE_WEIGHTINGS)}, not {weighting!r}")
        self.weighting = weighting
        # (F, P): the bundle's track has an enabled marker at the frame (None: unknown); with area weighting, a
        # bundle not seen at a frame that lies just behind a nearer seen one in the image is left out there.
        self.seen = None if seen is None else np.asarray(seen, dtype=bool)
        if self.seen is not None and self.seen.shape != frame_mask.shape:
            raise DepthError(f"a seen mask of shape {self.seen.shape} for a frame mask of {frame_mask.shape}")
        points = np.asarray(points, dtype=np.float64)
        frame_mask = np.asarray(frame_mask, dtype=bool)
        n_points = points.shape[-2] if points.ndim == 3 else points.reshape(-1, 3).shape[0]
        if points.ndim == 3:
            if points.shape[0] != frame_mask.shape[0]:
                raise DepthError(f"{points.shape[0]} frames of bundle positions for {frame_mask.shape[0]} frames")
            self.frame_points: np.ndarray | None = points
            static = points[0]
        else:
            self.frame_points = None
            static = points.reshape(-1, 3)
        if n_points == 0:
            raise DepthError("the solve has no bundles")
        if frame_mask.shape[1] != n_points:
            raise DepthError(f"a mask of {frame_mask.shape[1]} bundles for {n_points} bundles")
        # Not PointsDepth.__init__: it drops non-finite points, which would break the mask's columns.
        self.points = static
        self.frame_mask = frame_mask & np.all(np.isfinite(points), axis=-1)
        self.frames = np.asarray(frames, dtype=np.float64)
        self.solved = np.ones(self.frames.shape, dtype=bool) if solved is None else np.asarray(solved, dtype=bool)
        self.min_points = max(int(min_points), 1)
        self.chunk = chunk
        self.label = label

    def camera_points(self, views: Views) -> np.ndarray:
        """The bundles in each view's camera axes, (N, P, 3)."""
        if np.any(views.indices >= self.frame_mask.shape[0]):
            raise DepthError(f"the tracking depth holds {self.frame_mask.shape[0]} frames; a view asks for more")
        points = self.points[None] if self.frame_points is None else self.frame_points[views.indices]
        return np.einsum("nji,npj->npi", views.rotations, points - views.centres[:, None, :])

    def visible_depths(self, views: Views) -> tuple[np.ndarray, np.ndarray]:
        depth, inside = frustum_depths(self.camera_points(views), views.pixel_intrinsics, views.width, views.height)
        return depth, inside & self.frame_mask[views.indices]

    def __call__(self, views: Views) -> np.ndarray:
        out = np.empty(len(views))
        for start in range(0, len(views), self.chunk):
            index = np.arange(start, min(start + self.chunk, len(views)))
            part = views.take(index)
            cam = self.camera_points(part)
            depth, inside = frustum_depths(cam, part.pixel_intrinsics, part.width, part.height)
            inside &= self.frame_mask[part.indices]
            if self.weighting == "area":
                seen = None if self.seen is None else self.seen[part.indices]
                zbar = bundle_statistic(depth, image_pixels(cam, part.pixel_intrinsics), inside, seen, part.width,
                                        part.height, self.statistic)
            else:
                zbar = representative_depth(np.where(inside, depth, np.nan), statistic=self.statistic)
            out[index] = np.where(inside.sum(axis=1) >= self.min_points, zbar, np.nan)
        return out

    def describe(self) -> str:
        weighting = "area-weighted " if self.weighting == "area" else ""
        return f"{self.label}, {weighting}{self.statistic} of at least {self.min_points}"

    def frames_without_depth(self, views: Views) -> np.ndarray:
        """Scene frames (of the views) where fewer than `min_points` bundles are seen."""
        return self.frames[views.indices][self.counts(views) < self.min_points]


def require_depth(probe: BundlesDepth, trajectory: Trajectory) -> np.ndarray:
    """The probe's depth at every frame of `trajectory`; raises NoDepthError naming the scene frames the
    solve does not cover and those that see too few bundles (with how many they see)."""
    views = Views.of(trajectory)
    depth = probe(views)
    missing = np.flatnonzero(~np.isfinite(depth))
    if missing.size == 0:
        return depth
    frames = trajectory.frames[missing].astype(int)
    unsolved = ~probe.solved[views.indices[missing]]
    parts = []
    if np.any(~unsolved):
        few, counts = frames[~unsolved], probe.counts(views.take(missing[~unsolved]))
        detail = ", ".join(f"{f}: {c}" for f, c in zip(few[:12], counts[:12], strict=False))
        parts.append(f"frame {frame_list(few)}: fewer than {probe.min_points} bundles in view (frame: count {detail})")
    if np.any(unsolved):
        parts.append(f"frame {frame_list(frames[unsolved])}: outside the solve")
    raise NoDepthError(f"{probe.label}: no depth at {'; at '.join(parts)}", frames.tolist())


def external_reference(pose_path: str | Path, depth_path: str | Path, format: str | None = None,
                       require_all: bool = True, statistic: str = DEFAULT_STATISTIC, **options: object
                       ) -> tuple[Trajectory, PerFrameDepth]:
    """A reference extracted from footage by an external pose estimator, with its depth: the poses through
    core.formats.read_trajectory (any supported format; `format` and `options` go to it) and one depth per
    pose from a .txt / .npy of values, or from a folder of per-frame depth maps (.npy, natural name order,
    each reduced to its valid depths' `statistic`, the median by default; the probe then carries that
    statistic, so a transfer against a target measured with another one is refused). Poses and depths share
    the estimator's arbitrary scale, which
    Pi removes. A depth map that sees nothing gives no depth at that frame: with `require_all` a
    NoDepthError names it; otherwise it is NaN in the probe."""
    trajectory = read_trajectory(pose_path, format, **options)
    depth_path = Path(depth_path)
    if depth_path.is_dir():
        values, kind = per_frame_median_depths(depth_path, statistic), "depth maps"
    else:  # values computed elsewhere: whatever statistic made them
        values, kind = read_depth_values(depth_path), "depth values"
    if values.size != len(trajectory):
        raise DepthError(f"{depth_path.name}: {values.size} {kind} for the {len(trajectory)} poses of "
                         f"{Path(pose_path).name}")
    probe = PerFrameDepth(values, name=f"{kind} {depth_path.name}")
    if depth_path.is_dir():
        probe.statistic = normalize_statistic(statistic)
    missing = np.flatnonzero(~np.isfinite(values))
    if require_all and missing.size:
        frames = trajectory.frames[missing].astype(int).tolist()
        raise NoDepthError(f"{depth_path.name}: the depth map of frame {frame_list(frames)} holds no valid depth",
                           frames)
    return trajectory, probe
