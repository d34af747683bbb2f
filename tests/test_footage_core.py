"""Real footage as the reference, the numpy side (core/footage.py): bundle bookkeeping, the bundles' depth
statistic, and a reference from an external pose estimator with its depths. No Blender: arrays only.
Against Blender's own solve: test_tracking.py."""

from __future__ import annotations

import numpy as np
import pytest
from parascale.core import footage
from parascale.core.depth import PointsDepth, Views
from parascale.core.errors import DepthError, NoDepthError
from parascale.core.formats import write_trajectory
from parascale.core.image_area import area_weighted_depth, image_pixels
from parascale.core.parallax import parallax_numbers
from parascale.core.poses import Intrinsics, Trajectory, look_at
from scipy.spatial.transform import Rotation


def test_solved_index_and_marker_mask():
    index = footage.solved_index(np.array([3, 1, 2, 7]), np.array([1.0, 2.0, 4.0, 7.0, 2.5]))
    assert index.tolist() == [1, 2, -1, 3, -1]
    mask = footage.marker_mask(np.array([0, 0, 1, 1, 2]), np.array([1, 2, 2, 9, 3]),
                                np.array([True, False, True, True, True]), np.array([3.0, 1.0, 2.0]), 3)
    assert mask.tolist() == [[False, False, True], [True, False, False], [False, True, False]]
    assert footage.marker_mask(np.array([0]), np.array([1]), np.array([True]), np.array([]), 1).shape == (0, 1)


def test_bundles_depth_matches_points_depth_and_is_gauge_invariant():
    rng = np.random.default_rng(1)
    points = rng.uniform([-5, 5, -2], [5, 25, 3], size=(300, 3))
    n = 12
    rotations = Rotation.from_euler("xyz", np.c_[np.full(n, 90.0), np.zeros(n), np.linspace(-5, 5, n)],
                                    degrees=True).as_matrix()
    centres = np.c_[np.linspace(-1, 1, n), np.linspace(0, 2, n), np.zeros(n)]
    trajectory = Trajectory(rotations, centres, lens=30.0, intrinsics=Intrinsics(width=320, height=180))
    views = Views.of(trajectory)
    everything = np.ones((n, points.shape[0]), dtype=bool)
    probe = footage.BundlesDepth(points, everything, trajectory.frames, min_points=1, weighting="none")
    np.testing.assert_allclose(probe(views), PointsDepth(points)(views), rtol=1e-12)
    # The default weighs each bundle by its Voronoi area in the frame.
    area = footage.BundlesDepth(points, everything, trajectory.frames, min_points=1)
    depth, inside = probe.visible_depths(views)
    pixels = image_pixels(probe.camera_points(views), views.pixel_intrinsics)
    np.testing.assert_allclose(area(views), area_weighted_depth(depth, pixels, inside, 320, 180), rtol=1e-12)
    assert np.all(np.abs(area(views) / probe(views) - 1) > 0) and "area-weighted median" in area.describe()
    # Scale and a rigid motion applied to the scene and the cameras together leave Pi unchanged.
    k, q, t = 0.013, Rotation.from_euler("zyx", [30, -20, 10], degrees=True).as_matrix(), np.array([4.0, -2, 9])
    moved = trajectory.replace(rotations=np.einsum("ij,njk->nik", q, rotations), centres=k * centres @ q.T + t)
    for weighting, reference in (("none", probe), ("area", area)):
        moved_probe = footage.BundlesDepth(k * points @ q.T + t, everything, trajectory.frames, min_points=1,
                                           weighting=weighting)
        pi = parallax_numbers(centres, reference(views))
        np.testing.assert_allclose(parallax_numbers(moved.centres, moved_probe(Views.of(moved))), pi, rtol=1e-9)
    # A per-frame mask drops points; fewer than min_points is NaN, never zero.
    mask = everything.copy()
    mask[4, :] = False
    mask[5, 3:] = False
    masked = footage.BundlesDepth(points, mask, trajectory.frames, min_points=3)
    depth = masked(views)
    assert np.isnan(depth[4]) and not np.isnan(depth[5]) and np.all(np.isfinite(np.delete(depth, 4)))
    assert masked.frames_without_depth(views).tolist() == [4.0]
    with pytest.raises(NoDepthError, match=r"no depth at frame 4: fewer than 3 bundles in view \(frame: count 4: 0\)$"):
        footage.require_depth(masked, trajectory)
    unsolved = footage.BundlesDepth(points, mask, trajectory.frames, 3, solved=np.arange(n) != 4)
    with pytest.raises(NoDepthError, match="no depth at frame 4: outside the solve$"):
        footage.require_depth(unsolved, trajectory)


def test_solve_space_and_world_points_invert_each_other():
    rng = np.random.default_rng(3)
    bundles = rng.normal(size=(20, 3))
    cams = np.tile(np.eye(4), (4, 1, 1))
    cams[:, :3, :3] = Rotation.random(4, random_state=4).as_matrix()
    cams[:, :3, 3] = rng.normal(size=(4, 3))
    local = footage.solve_space_points(bundles, cams, scale=2.0)
    # Placing the camera-space points with the cameras scaled by 1/2 gives the bundles back.
    scaled = cams.copy()
    scaled[:, :3, :3] /= 2.0
    np.testing.assert_allclose(footage.world_points(scaled, local), np.broadcast_to(bundles, (4, 20, 3)),
                               atol=1e-12)
    assert footage.frames_below(np.array([3, 9, 1]), np.array([10, 11, 12]), 4).tolist() == [10, 12]


def test_external_reference_reads_poses_and_depths(tmp_path):
    n = 8
    centres = np.c_[np.linspace(0, 2, n), np.zeros(n), np.full(n, 1.5)]
    rotations = look_at(centres, np.array([0.0, 10.0, 1.0]))
    trajectory = Trajectory(rotations, centres, intrinsics=Intrinsics(width=64, height=36))
    depth = np.linspace(9.0, 7.0, n)
    write_trajectory(tmp_path / "model", trajectory, "colmap", sidecar=False)
    np.savetxt(tmp_path / "depth.txt", depth)
    maps = tmp_path / "maps"
    maps.mkdir()
    for t in range(n):  # natural name order: depth_10 would come after depth_9
        np.save(maps / f"depth_{t}.npy", np.full((4, 6), depth[t], dtype=np.float32))
    for source in ("depth.txt", "maps"):
        reference, probe = footage.external_reference(tmp_path / "model", tmp_path / source)
        np.testing.assert_allclose(reference.centres, centres, atol=1e-9)
        np.testing.assert_allclose(probe(Views.of(reference)), depth, rtol=1e-6)
        np.testing.assert_allclose(parallax_numbers(reference.centres, probe(Views.of(reference))),
                                   parallax_numbers(centres, depth), rtol=1e-6)
    np.save(maps / "depth_3.npy", np.zeros((4, 6), dtype=np.float32))
    with pytest.raises(NoDepthError, match=f"frame {int(reference.frames[3])} holds no valid depth"):
        footage.external_reference(tmp_path / "model", maps)
    _, partial = footage.external_reference(tmp_path / "model", maps, require_all=False)
    assert np.isnan(partial(Views.of(reference))[3])
    np.savetxt(tmp_path / "short.txt", depth[:-1])
    with pytest.raises(DepthError, match="7 depth values for the 8 poses"):
        footage.external_reference(tmp_path / "model", tmp_path / "short.txt")


def test_bundle_drift_is_relative_to_each_bundles_distance():
    """A camera that follows the solve places every bundle at the same world point at every frame, up to
    float32 round-off of its distance: a near-degenerate bundle 5e4 times farther than the rest moves by more
    than 1e-3 of the median depth and still follows. A camera 1% off at one frame does not."""
    rng = np.random.default_rng(4)
    bundles = np.r_[rng.uniform([-3, 5, -1], [3, 12, 2], size=(40, 3)), [[1e3, 4e5, 10.0]]]
    centres = np.c_[np.linspace(0, 2, 10), np.zeros(10), np.zeros(10)]
    placed = np.repeat(bundles[None], 10, axis=0)
    placed = placed.astype(np.float32).astype(np.float64) + rng.normal(size=placed.shape) * np.abs(placed) * 6e-8
    anchor, drift = footage.bundle_drift(placed, centres)
    np.testing.assert_allclose(anchor, bundles, rtol=1e-6)
    assert drift.max() < 1e-6
    # The old measure (relative to the median distance) would have called this camera astray.
    assert np.linalg.norm(placed - anchor, axis=2).max() / np.median(np.linalg.norm(anchor, axis=1)) > 1e-3
    shifted = placed.copy()
    shifted[6] += [0.08, 0.0, 0.0]  # frame 6's camera 8 cm off: every bundle seen from it moves
    assert np.argmax(footage.bundle_drift(shifted, centres)[1]) == 6
    assert footage.bundle_drift(shifted, centres)[1][6] > 1e-3
