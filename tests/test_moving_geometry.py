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


def _box(size=(6.0, 2.0, 4.0)):
    """A box in its own axes (centred on the origin)."""
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]) * size
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1), (2, 3, 7), (2, 7, 6),
             (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    return corners, np.array(faces)


def car_matrix(k: int) -> np.ndarray:
    """The box's world matrix at frame index k: it drives across the view, turning, slightly sheared and
    scaled unevenly (any invertible affine map must do), far from the world origin's float32 comfort."""
    angle = 0.6 * k / (N - 1)
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.eye(4)
    matrix[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1.2, 0.1, 0.0], [0.0, 0.9, 0.0], [0.0, 0.0, 1.1]])
    matrix[:3, 3] = [-6.0 + 12.0 * k / (N - 1), 14.0, 1.0]
    return matrix


def test_a_rigidly_moving_part_built_once_measures_what_a_rebuilt_one_does(monkeypatch):
    """A part that only moves (its geometry fixed, its world matrix animated) is built once in its own axes
    and measured by taking the rays into them; at every frame it gives what rebuilding it in the world
    gives (float32 Embree: 1e-6), and it is built once, not once per frame."""
    pytest.importorskip("embreex", reason="rays in a part's own axes need the Embree backend")
    import parascale.core.moving_geometry as moving_geometry

    static = ground()
    local = _box()
    rebuilt = MovingGeometryDepth(static, lambda k: (local[0] @ car_matrix(k)[:3, :3].T + car_matrix(k)[:3, 3],
                                                     local[1]), resolution=64, backend="embree")
    builds = []
    real = moving_geometry.geometry_depth
    monkeypatch.setattr(moving_geometry, "geometry_depth", lambda *a, **k: builds.append(1) or real(*a, **k))
    rigid = MovingGeometryDepth(static, lambda k: None, resolution=64, backend="embree", extent=rebuilt.near / 1e-6,
                                rigid=[local], rigid_at=lambda k: car_matrix(k)[None])
    assert rigid.near == rebuilt.near and "1 moving rigidly" in rigid.describe()
    views = Views.of(dolly())
    depth_rigid = rigid(views)
    maps_rigid = {k: rigid.depth_map(views, k) for k in (0, N // 2, N - 1)}
    # Built once: the static part and the box, nothing per frame.
    assert len(builds) == 2
    monkeypatch.undo()
    depth_rebuilt = rebuilt(views)
    np.testing.assert_allclose(depth_rigid, depth_rebuilt, rtol=1e-6)
    for k, depth_map in maps_rigid.items():  # the maps themselves, pixel by pixel
        np.testing.assert_allclose(depth_map, rebuilt.depth_map(views, k), rtol=1e-5)
    # The box matters to the statistic (it crosses the view).
    static_only = GeometryDepth(*static, resolution=64, near=rigid.near)(views)
    assert np.max(np.abs(np.log(depth_rebuilt / static_only))) > 0.05


def test_rigid_parts_on_the_numpy_backend_are_placed_and_rebuilt_per_frame():
    static = ground()
    local = _box()
    rigid = MovingGeometryDepth(static, lambda k: None, resolution=32, backend="numpy",
                                rigid=[local], rigid_at=lambda k: car_matrix(k)[None])
    assert not rigid.rigid  # nothing built once: no rays in local axes on this backend
    views = Views.of(dolly())
    for k in (0, N - 1):
        placed = (local[0] @ car_matrix(k)[:3, :3].T + car_matrix(k)[:3, 3], local[1])
        oracle = GeometryDepth(*union(static, placed), resolution=32, near=rigid.near)
        np.testing.assert_allclose(rigid(views.take(k)), oracle(views.take(k)), rtol=1e-12)


def test_a_rigid_part_hidden_or_scaled_to_nothing_is_absent_at_that_frame():
    """NaN matrices (the object is not in the evaluated scene then) and a scale of 0 (animated to hide it)
    both leave the part out of that frame: what the static part alone sees."""
    pytest.importorskip("embreex", reason="rays in a part's own axes need the Embree backend")
    static = ground()
    local = _box()
    vanished = np.zeros((4, 4))
    vanished[3, 3] = 1.0
    at = {0: car_matrix(N // 2), 1: np.full((4, 4), np.nan), 2: vanished}
    probe = MovingGeometryDepth(static, lambda k: None, resolution=64, backend="embree",
                                rigid=[local], rigid_at=lambda k: at[k % 3][None])
    views = Views.of(dolly())
    static_only = GeometryDepth(*static, resolution=64, near=probe.near)(views)
    depth = probe(views)
    for k in range(N):
        if k % 3:
            assert depth[k] == pytest.approx(static_only[k], rel=1e-6)
    placed = (local[0] @ car_matrix(N // 2)[:3, :3].T + car_matrix(N // 2)[:3, 3], local[1])
    present = GeometryDepth(*union(static, placed), resolution=64, near=probe.near)(views.take(N // 2 - N // 2 % 3))
    k = N // 2 - N // 2 % 3
    assert depth[k] == pytest.approx(present[0], rel=1e-6)
    assert abs(np.log(present[0] / static_only[k])) > 1e-3  # where it is present, the box counts
