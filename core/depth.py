"""Depth sources (METHOD.md "Depth sources"): each is a function of a batch of camera views that returns
the representative scene depth Zbar per view, NaN where the source sees nothing.

A probe whose depth is an affine function of the camera centre, D = g . C + h (fixed values, per-frame
values, bounds), says so through `affine_form`; the per-frame transfer then solves the whole clip in
closed form instead of iterating frame by frame.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .errors import DepthError, NoDepthError, frame_list
from .poses import MAX_COORDINATE, MIN_MAGNITUDE, Trajectory, positive_in_range
from .statistics import DEFAULT_STATISTIC, normalize_statistic, representative_depth, statistic_label


@dataclass(frozen=True, eq=False)
class Views:
    """A batch of camera views: camera-to-world rotations (Blender axes), centres, per-view pixel
    intrinsics (fx, fy, cx, cy), the frame size they belong to, and each view's index in its clip (for
    sources that hold one value per frame)."""

    rotations: np.ndarray
    centres: np.ndarray
    pixel_intrinsics: np.ndarray
    width: int
    height: int
    indices: np.ndarray

    @classmethod
    def of(cls, trajectory: Trajectory) -> Views:
        n = len(trajectory)
        return cls(trajectory.rotations, trajectory.centres, trajectory.pixel_intrinsics(),
                   trajectory.intrinsics.width, trajectory.intrinsics.height, np.arange(n))

    def __len__(self) -> int:
        return int(self.rotations.shape[0])

    def take(self, index: int | np.ndarray, rotations: np.ndarray | None = None,
             centres: np.ndarray | None = None) -> Views:
        """The views at `index` (int or index array), optionally with other poses."""
        index = np.atleast_1d(np.asarray(index))
        return Views(
            self.rotations[index] if rotations is None else np.asarray(rotations).reshape(-1, 3, 3),
            self.centres[index] if centres is None else np.asarray(centres, dtype=np.float64).reshape(-1, 3),
            self.pixel_intrinsics[index], self.width, self.height, self.indices[index],
        )

    def forward(self) -> np.ndarray:
        """World-space viewing direction of each view (-z camera axis), (N, 3)."""
        return -self.rotations[:, :, 2]


def camera_space(points: np.ndarray, rotations: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """World points (P,3) in each camera's axes (Blender: depth is -z): shape (N, P, 3)."""
    return np.einsum("nji,npj->npi", rotations, points[None, :, :] - centres[:, None, :])


def frustum_depths(camera_points: np.ndarray, pixel_intrinsics: np.ndarray, width: int, height: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Depth (N, P) and whether each point is inside the frustum (N, P): in front of the camera and
    projecting inside the width x height frame, for points in camera axes (N, P, 3; Blender: depth is -z)
    and per-view pixel intrinsics (N, 4: fx, fy, cx, cy)."""
    depth = -camera_points[..., 2]
    fx, fy, cx, cy = (np.asarray(pixel_intrinsics, dtype=np.float64)[:, k:k + 1] for k in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        u = cx + fx * camera_points[..., 0] / depth
        v = cy - fy * camera_points[..., 1] / depth  # image rows grow downwards
    inside = (depth > 0) & (u >= 0) & (u <= width) & (v >= 0) & (v <= height)
    return depth, inside


class DepthProbe:
    """Base of every depth source. Subclasses implement `__call__(views) -> (N,) depths` with NaN where
    nothing is seen, and a short `name` used in reports and files."""

    name = "depth"

    def __call__(self, views: Views) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def affine_form(self, views: Views) -> tuple[np.ndarray, np.ndarray] | None:
        """(g, h) with depth = g . C + h for every view's centre C, when the depth is affine in the centre
        at fixed rotation; None otherwise."""
        return None

    def describe(self) -> str:
        return self.name


class FixedDepth(DepthProbe):
    """One number for every view."""

    name = "fixed"

    def __init__(self, value: float):
        value = float(value)
        if not (np.isfinite(value) and value > 0):
            raise DepthError(f"a fixed depth must be finite and positive, got {value}")
        if not positive_in_range(value):
            raise DepthError(f"a fixed depth must lie within {MIN_MAGNITUDE:g} .. {MAX_COORDINATE:g}, got {value:g}")
        self.value = value

    def __call__(self, views: Views) -> np.ndarray:
        return np.full(len(views), self.value)

    def affine_form(self, views: Views) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(views), 3)), np.full(len(views), self.value)

    def describe(self) -> str:
        return f"fixed {self.value:g}"


class PerFrameDepth(DepthProbe):
    """One value per frame of the clip (a depth file, the focus distance of each frame, a solve's bundle
    depths). NaN entries mean "no depth at that frame"."""

    name = "per-frame"

    def __init__(self, values: np.ndarray, name: str | None = None):
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        finite = values[np.isfinite(values)]
        if np.any(finite <= 0):
            raise DepthError(f"per-frame depths must be positive; frame {int(np.flatnonzero(values <= 0)[0])} "
                             f"holds {values[values <= 0][0]:g}")
        if np.any(np.isinf(values)):
            raise DepthError("per-frame depths must be finite (NaN marks a frame without depth)")
        usable = positive_in_range(values) | np.isnan(values)
        if not np.all(usable):
            i = int(np.flatnonzero(~usable)[0])
            raise DepthError(f"per-frame depths must lie within {MIN_MAGNITUDE:g} .. {MAX_COORDINATE:g}; frame {i} "
                             f"holds {values[i]:g}")
        self.values = values
        if name:
            self.name = name

    def __call__(self, views: Views) -> np.ndarray:
        if np.any(views.indices >= self.values.size):
            raise DepthError(f"{self.values.size} per-frame depths for a clip of more frames")
        return self.values[views.indices]

    def affine_form(self, views: Views) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(views), 3)), self(views)


class BoundsDepth(DepthProbe):
    """The depth along the view axis of one world point, the centre of a collection's world bounding
    box (the "bounding depth": cheap, no occlusion). A centre behind the camera has no depth. The centre
    is one point (3,), or one per frame of the clip (N, 3), indexed by the views' frame indices (a
    collection that moves)."""

    name = "bounds"

    def __init__(self, centre: np.ndarray):
        centre = np.asarray(centre, dtype=np.float64)
        centre = centre.reshape(3) if centre.size == 3 else centre.reshape(-1, 3)
        if not np.all(np.isfinite(centre)):
            raise DepthError("the bounding box centre must be finite")
        self.centre = centre

    @classmethod
    def of_points(cls, points: np.ndarray) -> BoundsDepth:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if points.shape[0] == 0:
            raise DepthError("cannot take the bounding box of no points")
        return cls((points.min(axis=0) + points.max(axis=0)) / 2.0)

    def centres(self, views: Views) -> np.ndarray:
        """The centre each view measures against, (N, 3)."""
        if self.centre.ndim == 1:
            return np.broadcast_to(self.centre, (len(views), 3))
        if np.any(views.indices >= self.centre.shape[0]):
            raise DepthError(f"the bounds hold {self.centre.shape[0]} frames; a view asks for more")
        return self.centre[views.indices]

    def __call__(self, views: Views) -> np.ndarray:
        depth = np.einsum("ni,ni->n", self.centres(views) - views.centres, views.forward())
        return np.where(depth > 0, depth, np.nan)

    def affine_form(self, views: Views) -> tuple[np.ndarray, np.ndarray]:
        f = views.forward()
        return -f, np.einsum("ni,ni->n", f, self.centres(views))

    def describe(self) -> str:
        return "bounds" if self.centre.ndim == 1 else "bounds at every frame"


class PointsDepth(DepthProbe):
    """Median (or another `statistic`, core.statistics) depth of the points that lie inside each view's
    frustum (in front of the camera and inside the frame): tracking bundles, a point cloud, an unprojected
    depth map."""

    name = "points"
    statistic = DEFAULT_STATISTIC

    def __init__(self, points: np.ndarray, min_points: int = 1, chunk: int = 64,
                 statistic: str = DEFAULT_STATISTIC):
        self.statistic = normalize_statistic(statistic)
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        points = points[np.all(np.isfinite(points), axis=1)]
        if points.shape[0] == 0:
            raise DepthError("a points depth source needs at least one finite point")
        self.points = points
        self.min_points = int(min_points)
        self.chunk = chunk

    def visible_depths(self, views: Views) -> tuple[np.ndarray, np.ndarray]:
        """Per view and point: depth (N, P) and whether the point is inside the frustum (N, P)."""
        cam = camera_space(self.points, views.rotations, views.centres)
        return frustum_depths(cam, views.pixel_intrinsics, views.width, views.height)

    def counts(self, views: Views) -> np.ndarray:
        """How many points each view sees."""
        return np.concatenate([self.visible_depths(views.take(np.arange(i, min(i + self.chunk, len(views)))))[1]
                               .sum(axis=1) for i in range(0, len(views), self.chunk)])

    def __call__(self, views: Views) -> np.ndarray:
        out = np.empty(len(views))
        for start in range(0, len(views), self.chunk):
            index = np.arange(start, min(start + self.chunk, len(views)))
            depth, inside = self.visible_depths(views.take(index))
            masked = np.where(inside, depth, np.nan)
            enough = inside.sum(axis=1) >= self.min_points
            zbar = representative_depth(masked, statistic=self.statistic)
            out[index] = np.where(enough, zbar, np.nan)
        return out

    def describe(self) -> str:
        return f"{self.name}{statistic_label(self.statistic)}"


def probe_depths(probe: DepthProbe, views: Views, what: str = "depth",
                 frames: np.ndarray | None = None) -> np.ndarray:
    """Evaluate `probe` on `views` and insist on a depth at every view: raises NoDepthError naming the
    frames where the source sees nothing (`frames`: the clip's frame numbers, indexed by the views'
    indices; without it, the indices themselves)."""
    return checked_depths(np.asarray(probe(views), dtype=np.float64), probe, views, what, frames)


def probe_depths_steps(probe: DepthProbe, views: Views, what: str = "depth", frames: np.ndarray | None = None,
                       chunk: int = 64) -> Generator[int, None, np.ndarray]:
    """`probe_depths` a chunk of views at a time, yielding the index of the last view measured (a source
    that reduces many points per frame, such as a large solve's bundles, takes seconds: the add-on's modal
    operator stays responsive between chunks)."""
    depth = np.empty(len(views))
    for start in range(0, len(views), chunk):
        stop = min(start + chunk, len(views))
        depth[start:stop] = np.asarray(probe(views.take(np.arange(start, stop))), dtype=np.float64)
        yield stop - 1
    return checked_depths(depth, probe, views, what, frames)


def measured_depths(probe: DepthProbe, values: np.ndarray) -> PerFrameDepth:
    """What `probe` measured at every frame of a clip, as a per-frame source named after it and carrying
    its statistic (so a transfer still checks that both sides reduce their depths the same way)."""
    measured = PerFrameDepth(values, name=probe.describe())
    statistic = getattr(probe, "statistic", None)
    if statistic is not None:
        measured.statistic = statistic
    return measured


def checked_depths(depth: np.ndarray, probe: DepthProbe, views: Views, what: str = "depth",
                   frames: np.ndarray | None = None) -> np.ndarray:
    """`depth` measured by `probe` at `views`, once checked: NoDepthError naming the frames where it is not
    finite, DepthError where it is not positive."""
    missing = np.flatnonzero(~np.isfinite(depth))
    if missing.size:
        index = views.indices[missing]
        named = [int(f) for f in (index if frames is None else np.asarray(frames)[index])]
        raise NoDepthError(f"nothing is in view of the {what} source ({probe.describe()}) at frame "
                           f"{frame_list(named)}", named)
    if np.any(depth <= 0):
        raise DepthError(f"the {what} source ({probe.describe()}) returned a non-positive depth")
    return depth


def as_probe(source: DepthProbe | float | np.ndarray) -> DepthProbe:
    """A probe from a probe, a number (fixed) or a per-frame array."""
    if isinstance(source, DepthProbe):
        return source
    arr = np.asarray(source, dtype=np.float64)
    if arr.ndim == 0:
        return FixedDepth(float(arr))
    return PerFrameDepth(arr)
