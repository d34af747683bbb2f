"""The image area each tracked point stands for, so a statistic over a few points estimates the statistic
over the image's pixels (docs/method.md "The tracking statistic").

Bundles sit where features are (textured, often near, off the dominant surface), not where the pixels are:
the plain median of the bundles in view and the median over the image's pixels differ by several percent
to tens of percent on real footage. Weighting each point by the area of its Voronoi cell in the frame
(the pixels nearer to it than to any other point, clipped to the frame) makes the weighted median exactly
the pixel median of the nearest-point depth image: the piecewise-constant image the points define.

The cells are measured by rasterizing nearest-point labels on a grid of `AREA_GRID` cells along the longer
side of the frame (square cells, centres at (i + 1/2) times the cell size): each weight is its cell's
area at that grid's resolution, in grid cells. No scipy: a (cells x points) distance table per view,
views in chunks.
"""

from __future__ import annotations

import numpy as np

from .statistics import DEFAULT_STATISTIC, representative_depth

# Grid cells along the frame's longer side for the Voronoi areas: 64 x 36 for 16:9. Finer grids change the
# weighted median of the benchmark scenes by well under 1% (bench/footage_statistic.py).
AREA_GRID = 64
# A point not seen at a frame (its track has no marker there) is taken as hidden when a seen point projects
# within this fraction of the frame's longer side of it and is nearer by more than this ratio. Chosen on the
# first three scenes of bench/footage_statistic.py (radii 1/32-1/8, ratios 1.1-1.3) and checked on three more.
HIDDEN_RADIUS = 1.0 / 16.0
HIDDEN_RATIO = 1.3
# Distance-table entries computed at once (views x cells x points), about 32 MB of float64 pairs.
_TABLE_ENTRIES = 2_000_000


def grid_centres(width: float, height: float, grid: int = AREA_GRID) -> np.ndarray:
    """Pixel coordinates (C, 2) of the centres of a grid of square cells, `grid` along the longer side of a
    width x height frame (at least one cell along each side)."""
    if not (width > 0 and height > 0) or grid < 1:
        raise ValueError(f"a {width} x {height} frame with {grid} grid cells has no area")
    cell = max(width, height) / grid
    columns, rows = max(1, round(width / cell)), max(1, round(height / cell))
    x = (np.arange(columns) + 0.5) * (width / columns)
    y = (np.arange(rows) + 0.5) * (height / rows)
    return np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2)


def image_pixels(camera_points: np.ndarray, pixel_intrinsics: np.ndarray) -> np.ndarray:
    """Image coordinates (N, P, 2: x right, y down, as core.depth.frustum_depths) of points in camera axes
    (N, P, 3; Blender: depth is -z) through per-view pixel intrinsics (N, 4: fx, fy, cx, cy)."""
    cam = np.asarray(camera_points, dtype=np.float64)
    fx, fy, cx, cy = (np.asarray(pixel_intrinsics, dtype=np.float64)[:, k:k + 1] for k in range(4))
    depth = -cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([cx + fx * cam[..., 0] / depth, cy - fy * cam[..., 1] / depth], axis=-1)


def voronoi_areas(pixels: np.ndarray, selected: np.ndarray, width: float, height: float,
                  grid: int = AREA_GRID) -> np.ndarray:
    """For each view (row) and point: how many grid cells of the frame are nearer to that point than to
    any other selected point of the view (its Voronoi cell clipped to the frame, in grid cells; ties go to
    the lower point index). `pixels` (N, P, 2) are image coordinates (x right, y down; any origin shared
    with width and height), `selected` (N, P) which points count. Unselected points get 0; a view without
    a selected point gets all zeros. Returns (N, P) float64."""
    pixels = np.asarray(pixels, dtype=np.float64)
    selected = np.asarray(selected, dtype=bool) & np.all(np.isfinite(pixels), axis=-1)
    n, p = selected.shape
    centres = grid_centres(width, height, grid)
    cells = centres.shape[0]
    cx, cy = centres[None, :, 0, None], centres[None, :, 1, None]
    areas = np.zeros((n, p))
    if p == 0:
        return areas
    # Views in chunks, each against only the points some view of the chunk selects (tracks come and go:
    # a clip's bundles are many, those in view at once are few); chunks sized to bound the table.
    widest = max(1, int(selected.sum(axis=1).max()))
    start = 0
    while start < n:
        chunk = max(1, _TABLE_ENTRIES // (cells * widest))
        while True:
            stop = min(start + chunk, n)
            active = np.flatnonzero(selected[start:stop].any(axis=0))
            if chunk == 1 or (stop - start) * cells * active.size <= 2 * _TABLE_ENTRIES:
                break
            chunk //= 2
        if active.size:
            chosen = selected[start:stop][:, active]
            px = np.where(chosen, pixels[start:stop, active, 0], np.inf)[:, None, :]
            py = np.where(chosen, pixels[start:stop, active, 1], np.inf)[:, None, :]
            d2 = (cx - px) ** 2  # (views, cells, points); an unselected point is infinitely far
            d2 += (cy - py) ** 2
            nearest = np.argmin(d2, axis=2)
            rows = np.repeat(np.arange(stop - start), cells)
            counts = np.bincount(rows * active.size + nearest.ravel(),
                                 minlength=(stop - start) * active.size).reshape(-1, active.size)
            areas[start:stop, active] = np.where(chosen, counts, 0.0)
        start = stop
    return areas


def hidden_unseen(pixels: np.ndarray, depths: np.ndarray, inside: np.ndarray, seen: np.ndarray, width: float,
                  height: float, radius: float = HIDDEN_RADIUS, ratio: float = HIDDEN_RATIO) -> np.ndarray:
    """(N, P) True for the points inside a view that are not seen there (no tracked marker) and most likely
    hidden: a seen point projects within `radius` (a fraction of the frame's longer side) of it and is
    nearer by more than `ratio` (its depth times `ratio` is less than this point's). Such a point is behind
    the surface the pixels there see; counting it would put a far depth where the image is near."""
    pixels = np.asarray(pixels, dtype=np.float64)
    depths = np.asarray(depths, dtype=np.float64)
    inside = np.asarray(inside, dtype=bool)
    seen = np.asarray(seen, dtype=bool) & inside
    unseen = inside & ~seen
    hidden = np.zeros(inside.shape, dtype=bool)
    reach2 = (radius * max(width, height)) ** 2
    for view in np.flatnonzero(unseen.any(axis=1) & seen.any(axis=1)):
        candidates, witnesses = np.flatnonzero(unseen[view]), np.flatnonzero(seen[view])
        d2 = ((pixels[view][candidates][:, None, :] - pixels[view][witnesses][None, :, :]) ** 2).sum(axis=-1)
        nearer = ratio * depths[view, witnesses][None, :] < depths[view, candidates][:, None]
        hidden[view, candidates] = np.any((d2 <= reach2) & nearer, axis=1)
    return hidden


def bundle_statistic(depths: np.ndarray, pixels: np.ndarray, inside: np.ndarray, seen: np.ndarray | None,
                     width: float, height: float, statistic: str = DEFAULT_STATISTIC) -> np.ndarray:
    """The tracking source's statistic per view (N,) (docs/method.md "The tracking statistic"): of the points
    `inside` each view, those not `seen` there that `hidden_unseen` finds hidden are dropped (when `seen` is
    given), and the statistic of the rest is taken with each weighted by its Voronoi area in the frame."""
    inside = np.asarray(inside, dtype=bool)
    if seen is not None:
        inside = inside & ~hidden_unseen(pixels, depths, inside, seen, width, height)
    return area_weighted_depth(depths, pixels, inside, width, height, statistic)


def area_weighted_depth(depths: np.ndarray, pixels: np.ndarray, selected: np.ndarray, width: float,
                        height: float, statistic: str = DEFAULT_STATISTIC, grid: int = AREA_GRID) -> np.ndarray:
    """Per view (N,): the statistic (core.statistics, the weighted median by default) of the selected points'
    depths (N, P), each weighted by its Voronoi area in the frame (`voronoi_areas`): the statistic of the
    nearest-point depth image over the frame. NaN where a view selects nothing."""
    depths = np.asarray(depths, dtype=np.float64)
    chosen = np.asarray(selected, dtype=bool) & np.isfinite(depths) & (depths > 0)
    weights = voronoi_areas(pixels, chosen, width, height, grid)
    return np.asarray(representative_depth(np.where(chosen, depths, np.nan), weights, statistic=statistic),
                      dtype=np.float64).reshape(-1)
