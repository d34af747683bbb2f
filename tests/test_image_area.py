"""The tracking statistic's image areas (core/image_area.py): Voronoi cells of the bundles in the frame,
the area-weighted statistic, and the bundles left out as hidden. Measured against rendered depth:
bench/footage_statistic.py."""

from __future__ import annotations

import numpy as np
import pytest
from parascale.core.image_area import (
    area_weighted_depth,
    bundle_statistic,
    grid_centres,
    hidden_unseen,
    voronoi_areas,
)
from parascale.core.statistics import representative_depth


def test_voronoi_areas_are_the_nearest_point_cells():
    centres = grid_centres(320, 180, 64)
    assert centres.shape == (64 * 36, 2)
    # Two points splitting the frame at x = 160: half the cells each; a third unselected point gets none.
    pixels = np.array([[[80.0, 90.0], [240.0, 90.0], [160.0, 10.0]]])
    areas = voronoi_areas(pixels, np.array([[True, True, False]]), 320, 180, 64)
    assert areas.tolist() == [[32 * 36, 32 * 36, 0.0]]
    # Brute force on random points: each cell's nearest point, counted.
    rng = np.random.default_rng(5)
    pts = rng.uniform([0, 0], [320, 180], size=(3, 25, 2))
    selected = rng.uniform(size=(3, 25)) < 0.7
    areas = voronoi_areas(pts, selected, 320, 180, 64)
    for view in range(3):
        idx = np.flatnonzero(selected[view])
        nearest = idx[np.argmin(((centres[:, None] - pts[view, idx][None]) ** 2).sum(-1), axis=1)]
        np.testing.assert_array_equal(areas[view], np.bincount(nearest, minlength=25))
    assert areas.sum(axis=1).tolist() == [64 * 36] * 3
    assert voronoi_areas(pts[:1], np.zeros((1, 25), bool), 320, 180).sum() == 0


def test_area_weighted_median_is_the_pixel_median_of_the_nearest_point_image():
    """A frame half near ground (depth 2, many features) and half far wall (depth 10, few features): the
    plain median of the points says 2, the pixels say about 10 for most of the frame."""
    rng = np.random.default_rng(2)
    near = np.c_[rng.uniform(0, 100, 40), rng.uniform(0, 180, 40)]  # the left 100 px: 40 features
    far = np.c_[rng.uniform(100, 320, 5), rng.uniform(0, 180, 5)]  # the right 220 px: 5 features
    pixels = np.concatenate([near, far])[None]
    depth = np.r_[np.full(40, 2.0), np.full(5, 10.0)][None]
    selected = np.ones((1, 45), dtype=bool)
    assert representative_depth(depth[0]) == 2.0
    assert area_weighted_depth(depth, pixels, selected, 320, 180)[0] == 10.0
    # The weighted median of the depths with the Voronoi areas as weights is the median of the labelled grid.
    depth = rng.uniform(1, 20, size=(1, 45))
    centres = grid_centres(320, 180)
    label = np.argmin(((centres[:, None] - pixels[0][None]) ** 2).sum(-1), axis=1)
    assert area_weighted_depth(depth, pixels, selected, 320, 180)[0] == np.median(depth[0, label])
    # Scale-equivariant (Pi stays gauge-invariant); nothing selected is NaN.
    np.testing.assert_allclose(area_weighted_depth(3.5 * depth, pixels, selected, 320, 180),
                               3.5 * area_weighted_depth(depth, pixels, selected, 320, 180), rtol=1e-12)
    assert np.isnan(area_weighted_depth(depth, pixels, ~selected, 320, 180)[0])


def test_unseen_points_just_behind_a_seen_nearer_one_are_left_out():
    """A near box (depth 3) fills the left half with one tracked feature; behind it, three bundles of the far
    wall (depth 12) whose tracks have no marker at this frame (hidden) would claim the box's pixels. The right
    half is the wall, seen."""
    pixels = np.array([[[80.0, 90.0], [85.0, 95.0], [75.0, 80.0], [90.0, 88.0],  # box feature + 3 hidden
                        [240.0, 90.0], [260.0, 40.0], [230.0, 150.0], [300.0, 100.0]]])  # wall, seen
    depth = np.array([[3.0, 12.0, 12.5, 11.8, 12.0, 12.2, 11.9, 12.1]])
    inside = np.ones((1, 8), dtype=bool)
    seen = np.array([[True, False, False, False, True, True, True, True]])
    hidden = hidden_unseen(pixels, depth, inside, seen, 320, 180)
    assert hidden.tolist() == [[False, True, True, True, False, False, False, False]]
    # An unseen point far from any seen one in the image, or not farther than them, is kept.
    assert not hidden_unseen(pixels + [[[0, 0]] * 4 + [[0, 0]] * 4], depth * [[1, 0.25, 0.25, 0.25, 1, 1, 1, 1]],
                             inside, seen, 320, 180).any()
    far = pixels.copy()
    far[0, 1:4] += [0.0, 60.0]  # 60 px > 320 / 16 from the box feature, still nearer to it than to the wall
    assert not hidden_unseen(far, depth, inside, seen, 320, 180)[0, 1:4].any()
    # The statistic: without the filter the wall's hidden points take the box's half, with it the box's
    # feature keeps it.
    assert area_weighted_depth(depth, pixels, inside, 320, 180)[0] == pytest.approx(12.0, abs=0.2)
    assert bundle_statistic(depth, pixels, inside, seen, 320, 180)[0] < 12.0
    assert bundle_statistic(depth, pixels, inside, None, 320, 180)[0] == area_weighted_depth(
        depth, pixels, inside, 320, 180)[0]
