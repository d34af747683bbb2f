"""The Geometry depth of a scene that moves (core/moving_geometry.py), numpy only: the static part built
once and the moving part read per frame give, at every frame, what one probe of the whole scene as it is at
that frame gives; the per-frame transfer measures each frame against that frame's scene."""

from __future__ import annotations

import numpy as np
import pytest
from parascale.core.depth import BoundsDepth, FixedDepth, Views
from parascale.core.geometry import GeometryDepth
from parascale.core.metrics import parallax_consistency
from parascale.core.moving_geometry import MovingGeometryDepth
from parascale.core.parallax import transfer
from parascale.core.poses import Intrinsics, Trajectory, look_at
from test_geometry_probe import grid_mesh, quad

N = 24


def ground():
    return grid_mesh(40, 40, (-20, -5, 0), (40, 0, 0), (0, 60, 0), height=lambda x, y: 0.2 * np.sin(0.4 * x))


def wall_at(k: int):
    """A wall that slides from y = 30 to y = 12 over the clip (frame index k)."""
    y = 30.0 - 18.0 * k / (N - 1)
    return quad((-8, y, 0), (16, 0, 0), (0, 0, 8))


def union(*meshes):
    return GeometryDepth.concatenated([m for m in meshes if m is not None])


def dolly(n: int = N) -> Trajectory:
    centres = np.c_[np.linspace(-1, 1, n), np.linspace(0, 3, n), np.full(n, 1.6)]
    return Trajectory(look_at(centres, centres + [0.0, 10.0, -0.3]), centres, lens=35.0,
                      intrinsics=Intrinsics(width=640, height=360))


@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_each_frame_sees_the_scene_as_it_is_then(backend):
    static = ground()
    probe = MovingGeometryDepth(static, wall_at, resolution=64, backend=backend)
    views = Views.of(dolly())
    depth = probe(views)
    for k in (0, 7, N - 1):
        oracle = GeometryDepth(*union(static, wall_at(k)), resolution=64, near=probe.near)
        np.testing.assert_allclose(depth[k], oracle(views.take(k))[0], rtol=2e-6 if backend == "auto" else 1e-12)
    # The wall comes closer: the median depth falls along the clip, which a first-frame reading cannot see.
    first_frame = GeometryDepth(*union(static, wall_at(0)), resolution=64, near=probe.near)(views)
    assert depth[-1] < 0.8 * first_frame[-1]
    # Read once per frame asked for, in order.
    assert probe.frames_read == N


def test_absent_moving_part_and_nothing_static():
    probe = MovingGeometryDepth(None, lambda k: wall_at(k) if k % 2 == 0 else None, resolution=32, extent=40.0)
    depth = probe(Views.of(dolly()))
    assert np.all(np.isfinite(depth[::2])) and np.all(np.isnan(depth[1::2]))


def test_per_frame_transfer_against_a_sliding_wall_keeps_pi_at_every_frame():
    """The reference dollies through a still corridor; the target's wall slides toward the camera. Pi
    measured afterwards against the scene as it is at each frame (an independent probe per frame) matches
    the reference's; measured against the first frame's scene, it does not."""
    reference = dolly()
    target_static = [m / 100 for m in ground()[:1]] + [ground()[1]]
    def wall_small(k):
        v, t = wall_at(k)
        return v / 100, t
    probe = MovingGeometryDepth(tuple(target_static), wall_small, resolution=64, backend="numpy")
    start_centre = np.array([0.0, 0.0, 0.016])
    start_rotation = look_at(start_centre[None], np.array([[0.0, 0.1, 0.013]]))[0]
    result = transfer(reference, FixedDepth(25.0), probe, start_rotation, start_centre)
    out = result.trajectory
    steps = np.linalg.norm(np.diff(out.centres, axis=0), axis=1)
    per_frame = np.array([GeometryDepth(*union(tuple(target_static), wall_small(k)), resolution=64,
                                        near=probe.near)(Views.of(out).take(k))[0] for k in range(N)])
    pce = parallax_consistency(result.pi_reference, steps / per_frame[1:]).pce
    assert pce < 1e-6
    still = GeometryDepth(*union(tuple(target_static), wall_small(0)), resolution=64, near=probe.near)
    assert parallax_consistency(result.pi_reference, steps / still(Views.of(out))[1:]).pce > 0.05


def test_bounds_at_every_frame():
    views = Views.of(dolly())
    centres = np.c_[np.zeros(N), np.linspace(30, 12, N), np.full(N, 4.0)]
    probe = BoundsDepth(centres)
    expected = np.einsum("ni,ni->n", centres - views.centres, views.forward())
    np.testing.assert_allclose(probe(views), expected, rtol=1e-12)
    g, h = probe.affine_form(views)
    np.testing.assert_allclose(np.einsum("ni,ni->n", g, views.centres) + h, expected, rtol=1e-12)
    assert probe.describe() == "bounds at every frame" and BoundsDepth(centres[0]).describe() == "bounds"
