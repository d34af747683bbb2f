"""The geometry depth source (core/geometry.py), numpy only: against PointsDepth where the two must agree,
against a ray-casting oracle, chunking, analytic occlusion and near-plane cases, the per-frame transfer
against targets whose depth varies along the path, and bad input. Against real Cycles depth passes:
test_geometry_cycles.py."""

from __future__ import annotations

import numpy as np
import pytest
from parascale.core.depth import PointsDepth, Views
from parascale.core.errors import DepthError
from parascale.core.geometry import DEFAULT_RESOLUTION, GeometryDepth
from parascale.core.parallax import trajectory_parallax, transfer
from parascale.core.poses import Intrinsics, Trajectory, look_at

# ---------------------------------------------------------------------------------------------- helpers


def make_views(eyes: np.ndarray, targets: np.ndarray, width: int = 1920, height: int = 1080,
               lens: float = 35.0) -> Views:
    eyes = np.asarray(eyes, float).reshape(-1, 3)
    targets = np.broadcast_to(np.asarray(targets, float), eyes.shape)
    rotations = look_at(eyes, targets)
    if len(eyes) == 1:  # a trajectory needs two frames: view 0 is the one asked for
        rotations, eyes = np.repeat(rotations, 2, axis=0), np.repeat(eyes, 2, axis=0)
    return Views.of(Trajectory(rotations, eyes, lens=lens, intrinsics=Intrinsics(width=width, height=height)))


def grid_mesh(nx: int, ny: int, corner: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray,
              height=None) -> tuple[np.ndarray, np.ndarray]:
    """A (nx x ny quads) tessellated parallelogram corner + s edge_u + t edge_v, optionally displaced
    along z by height(x, y)."""
    s, t = np.meshgrid(np.linspace(0, 1, nx + 1), np.linspace(0, 1, ny + 1))
    vertices = (np.asarray(corner, float) + s.reshape(-1, 1) * np.asarray(edge_u, float)
                + t.reshape(-1, 1) * np.asarray(edge_v, float))
    if height is not None:
        vertices[:, 2] += height(vertices[:, 0], vertices[:, 1])
    first = (np.arange(ny)[:, None] * (nx + 1) + np.arange(nx)[None, :]).reshape(-1)
    triangles = np.concatenate([np.stack([first, first + 1, first + nx + 2], axis=1),
                                np.stack([first, first + nx + 2, first + nx + 1], axis=1)])
    return vertices, triangles


def quad(corner, edge_u, edge_v) -> tuple[np.ndarray, np.ndarray]:
    return grid_mesh(1, 1, corner, edge_u, edge_v)


# --------------------------------------------------------------------------- (b) against PointsDepth


def test_fronto_parallel_plane_matches_points_depth():
    """A dense plane that overfills the frame, its vertices as the point set: both are its distance."""
    vertices, triangles = grid_mesh(120, 120, (-40, 30, -40), (80, 0, 0), (0, 0, 80))
    probe = GeometryDepth(vertices, triangles)
    points = PointsDepth(vertices)
    eyes = np.array([[0, 0, 0], [1.5, 10, -2], [-3, 20, 1], [0.5, -12, 0.3]], float)
    views = make_views(eyes, eyes + [0, 1, 0])
    expected = 30.0 - eyes[:, 1]
    np.testing.assert_allclose(probe(views), expected, rtol=1e-12)
    np.testing.assert_allclose(points(views), expected, rtol=1e-12)


@pytest.mark.parametrize("resolution", [32, DEFAULT_RESOLUTION])
def test_tilted_plane_depth_map_unprojected_matches_points_depth(resolution):
    """The probe's depth map unprojected through the probe intrinsics is a point set (METHOD.md: "a depth
    map ... unprojected with its intrinsics") whose PointsDepth median from the same pose is the probe's."""
    vertices, triangles = grid_mesh(60, 60, (-30, 5, -10), (60, 0, 0), (0, 40, 30))
    probe = GeometryDepth(vertices, triangles, resolution=resolution)
    views = make_views([[0.3, -2, 1.0]], [[0, 20, 3]], width=1920, height=1080)
    depth = probe.depth_map(views)
    h, w = depth.shape
    fx, fy, cx, cy = views.pixel_intrinsics[0] * [w / 1920, h / 1080, w / 1920, h / 1080]
    rows, cols = np.nonzero(np.isfinite(depth))
    z = depth[rows, cols]
    cam = np.stack([(cols + 0.5 - cx) / fx * z, -(rows + 0.5 - cy) / fy * z, -z], axis=1)
    world = cam @ views.rotations[0].T + views.centres[0]
    assert rows.size > 0.5 * depth.size and np.ptp(z) > 5.0  # a real spread of depths
    assert PointsDepth(world)(views)[0] == pytest.approx(probe(views)[0], rel=1e-9)
    # and each pixel's depth is the analytic ray-plane depth of its centre
    normal = np.cross([60, 0, 0], [0, 40, 30])
    rays = np.stack([(cols + 0.5 - cx) / fx, -(rows + 0.5 - cy) / fy, -np.ones_like(z)], axis=1)
    rays_world = rays @ views.rotations[0].T
    expected = normal @ (np.array([-30, 5, -10]) - views.centres[0]) / (rays_world @ normal)
    np.testing.assert_allclose(z, expected, rtol=1e-10)


# ------------------------------------------------------------- the culling never drops a visible surface


def ray_cast_depth_map(vertices: np.ndarray, triangles: np.ndarray, views: Views, width: int, height: int,
                       near: float) -> np.ndarray:
    """Independent oracle: per pixel-centre ray, Moller-Trumbore against every triangle (camera axes),
    nearest hit deeper than `near`; inf where none."""
    fx, fy, cx, cy = views.pixel_intrinsics[0] * [width / views.width, height / views.height,
                                                  width / views.width, height / views.height]
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays = np.stack([(cols.ravel() - cx) / fx, -(rows.ravel() - cy) / fy, -np.ones(cols.size)], axis=1)
    corners = (vertices[triangles] - views.centres[0]) @ views.rotations[0]
    best = np.full(rays.shape[0], np.inf)
    for start in range(0, corners.shape[0], 256):
        p0, p1, p2 = (corners[start:start + 256, k][None] for k in range(3))
        e1, e2 = p1 - p0, p2 - p0
        pvec = np.cross(rays[:, None], e2)
        det = np.einsum("rtk,rtk->rt", e1, pvec)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            tvec = -p0
            bu = np.einsum("rtk,rtk->rt", np.broadcast_to(tvec, pvec.shape), pvec) * inv
            qvec = np.cross(np.broadcast_to(tvec, pvec.shape), e1)
            bv = np.einsum("rk,rtk->rt", rays, qvec) * inv
            depth = np.einsum("rtk,rtk->rt", np.broadcast_to(e2, qvec.shape), qvec) * inv
        hit = (det != 0) & (bu >= 0) & (bv >= 0) & (bu + bv <= 1) & (depth > near)
        best = np.minimum(best, np.where(hit, depth, np.inf).min(axis=1))
    return best.reshape(height, width)


@pytest.mark.parametrize("case", ["dense heightfield", "triangle soup"])
def test_depth_map_equals_ray_casting(case):
    """Every pose's depth map equals brute-force ray casting: the sphere, box and float32 screens drop
    nothing visible, sub-pixel triangles included, and clipping at the near plane is exact."""
    rng = np.random.default_rng(7)
    if case == "dense heightfield":  # ~20 triangles per pixel at 48 px: the culling does the work
        vertices, triangles = grid_mesh(100, 100, (-10, -10, 0), (20, 0, 0), (0, 20, 0),
                                        height=lambda x, y: 0.6 * np.sin(x) * np.cos(0.7 * y))
        eyes = np.array([[12, 3, 6], [0, -14, 3], [2, 1, 1.2], [-6, 5, 0.9]], float)
        targets = np.array([[0, 0, 0], [0, 0, 0], [6, 8, 0], [0, 0, -0.5]], float)
    else:  # triangles of every size, some passing behind the camera, some edge-on
        vertices = rng.normal(scale=4.0, size=(900, 3))
        vertices[600:] *= 0.02
        vertices[600:] += np.repeat(rng.normal(scale=3.0, size=(100, 3)), 3, axis=0)
        triangles = rng.permutation(900).reshape(-1, 3)
        eyes = rng.normal(scale=2.0, size=(4, 3))
        targets = rng.normal(scale=1.0, size=(4, 3))
    probe = GeometryDepth(vertices, triangles, resolution=48)
    for eye, target in zip(eyes, targets, strict=True):
        views = make_views([eye], [target], width=1920, height=1080)
        ours = probe.depth_map(views)
        oracle = ray_cast_depth_map(vertices, triangles, views, *ours.shape[::-1], probe.near)
        assert np.isfinite(oracle).any()
        np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(oracle))
        np.testing.assert_allclose(ours[np.isfinite(ours)], oracle[np.isfinite(oracle)], rtol=1e-9)


def test_chunked_screening_and_candidates_give_the_same_map(monkeypatch):
    """The memory bounds (slices of groups, slices of pixel candidates, build slices) change nothing: the
    same pixels see geometry, at the same depth to a few ulps. Not bit for bit: the camera transforms are
    BLAS products, whose rounding depends on the CPU's kernel and on how many triangles share a call."""
    from parascale.core import geometry

    vertices, triangles = grid_mesh(60, 60, (-10, -10, 0), (20, 0, 0), (0, 20, 0),
                                    height=lambda x, y: 0.6 * np.sin(x) * np.cos(0.7 * y))
    views = make_views([[12, 3, 6], [2, 1, 1.2]], [[0, 0, 0], [6, 8, 0]])
    probe = GeometryDepth(vertices, triangles, resolution=64)
    whole = [probe.depth_map(views, i) for i in range(2)]
    monkeypatch.setattr(geometry, "SCREEN_CHUNK", 64)
    monkeypatch.setattr(geometry, "CANDIDATE_CHUNK", 37)
    monkeypatch.setattr(geometry, "BUILD_CHUNK", 100)
    chunked = GeometryDepth(vertices, triangles, resolution=64)
    for i in range(2):
        chunked_map = chunked.depth_map(views, i)
        np.testing.assert_array_equal(np.isfinite(chunked_map), np.isfinite(whole[i]))
        np.testing.assert_allclose(chunked_map, whole[i], rtol=1e-13, atol=0)


# -------------------------------------------------------------------- (c) nothing seen, occlusion, near


def test_nan_when_nothing_in_view_or_behind_camera():
    vertices, triangles = grid_mesh(10, 10, (-5, 20, -5), (10, 0, 0), (0, 0, 10))
    probe = GeometryDepth(vertices, triangles)
    eyes = np.zeros((3, 3))
    targets = np.array([[0, -1, 0], [1, 0, 0], [0, 1, 0]], float)  # behind, beside, in front
    depth = probe(make_views(eyes, targets))
    assert np.isnan(depth[0]) and np.isnan(depth[1])
    assert depth[2] == pytest.approx(20.0, rel=1e-12)
    assert np.all(np.isinf(probe.depth_map(make_views(eyes, targets), 0)))


def test_occlusion_analytic():
    """A wall at depth 2 covering the image left of column 96.25 of 128, a backdrop at depth 10:
    96 columns see the wall, 32 the backdrop, so the median is 2 (without occlusion it would be 10)."""
    width, height = 128, 72
    views = make_views([[0, 0, 0]], [[0, 1, 0]], width=width, height=height)
    fx, _, cx, _ = views.pixel_intrinsics[0]
    edge = (96.25 - cx) / fx * 2.0  # x of the wall's right edge at depth 2
    wall = quad((-50, 2, -50), (50 + edge, 0, 0), (0, 0, 100))
    backdrop = quad((-100, 10, -100), (200, 0, 0), (0, 0, 200))
    probe = GeometryDepth.from_meshes([backdrop, wall], resolution=width)
    depth_map = probe.depth_map(views)
    assert np.all(depth_map[:, :96] == pytest.approx(2.0, rel=1e-12))
    assert np.all(depth_map[:, 96:] == pytest.approx(10.0, rel=1e-12))
    assert probe(views)[0] == pytest.approx(2.0, rel=1e-12)
    # The same wall behind the backdrop is hidden entirely.
    hidden = quad((-50, 20, -50), (50 + edge * 10, 0, 0), (0, 0, 100))
    assert GeometryDepth.from_meshes([backdrop, hidden], resolution=width)(views)[0] == pytest.approx(10.0)


def test_ground_crossing_the_camera_plane_is_clipped_not_dropped():
    """Two huge ground triangles that reach behind the camera: every pixel below the horizon sees the
    ground at the analytic depth h fy / (v - cy); the sky is empty; row 0 is the top."""
    h = 1.7
    ground = quad((-1000, -1000, -h), (2000, 0, 0), (0, 2000, 0))
    probe = GeometryDepth(*ground, resolution=96)
    views = make_views([[0, 0, 0]], [[0, 1, 0]], width=96, height=54)
    depth_map = probe.depth_map(views)
    _, fy, _, cy = views.pixel_intrinsics[0]
    rows = np.arange(54) + 0.5
    below = rows > cy + fy * h / 1000 * 1.01  # far enough below the horizon to hit inside the square
    expected = h * fy / (rows - cy)
    assert np.all(np.isinf(depth_map[rows < cy]))
    np.testing.assert_allclose(depth_map[below], np.broadcast_to(expected[below, None], depth_map[below].shape),
                               rtol=1e-10)


def test_from_meshes_equals_one_concatenated_mesh():
    a = grid_mesh(8, 8, (-5, 10, -5), (10, 0, 0), (0, 0, 10))
    b = grid_mesh(5, 5, (-1, 6, -1), (2, 0, 0), (0, 1, 2))
    views = make_views([[0, 0, 0], [1, 1, 1]], [[0, 10, 0], [0, 10, 0]])
    combined = GeometryDepth(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1] + len(a[0])]))
    np.testing.assert_array_equal(GeometryDepth.from_meshes([a, b])(views), combined(views))


# ------------------------------------------------------------------ (d) per-frame transfer on geometry


def heightfield(scale: float) -> tuple[np.ndarray, np.ndarray]:
    return grid_mesh(150, 150, (-60 * scale, -60 * scale, 0), (120 * scale, 0, 0), (0, 120 * scale, 0),
                     height=lambda x, y: scale * (0.8 * np.sin(x / scale * 0.4) * np.cos(y / scale * 0.3)
                                                  + 0.3 * np.sin((x + 2 * y) / scale * 0.9)))


def assert_transfer_realizes_reference(reference: Trajectory, reference_probe: GeometryDepth,
                                       target_probe: GeometryDepth, start_centre: np.ndarray) -> None:
    result = transfer(reference, reference_probe, target_probe, start_centre=start_centre, mode="per_frame")
    assert result.converged.all(), result.unconverged_frames
    pi_reference, ref_depth = trajectory_parallax(reference, reference_probe)
    assert np.ptp(ref_depth) > 0.1 * ref_depth.mean()  # the depth really varies along the path
    pi_realized, target_depth = trajectory_parallax(result.trajectory, target_probe)  # measured afresh
    seen = [np.isfinite(target_probe.depth_map(Views.of(result.trajectory), i)).mean() for i in (0, -1)]
    assert min(seen) == 1.0  # the surface fills the frame: no pixel count changes along the path
    assert np.ptp(target_depth / target_depth.mean()) > 0.05
    np.testing.assert_allclose(pi_realized, pi_reference, rtol=1e-9)
    np.testing.assert_allclose(result.trajectory.relative_rotations(), reference.relative_rotations(),
                               rtol=0, atol=1e-12)


def test_per_frame_transfer_dolly_toward_a_wall():
    """Reference: a 40-frame dolly toward a tilted wall 100 m away (depth shrinks along the path);
    target: a wall at 3 m tilted the other way and folded in two (a box in front of it would make the
    median jump between box and wall where the box covers half the frame: no fixed point there)."""
    ref_wall = grid_mesh(40, 40, (-400, 100, -300), (800, 0, 0), (0, 60, 600))
    eyes = np.stack([np.zeros(40), np.linspace(0, 40, 40) ** 1.1, 0.5 * np.sin(np.linspace(0, 3, 40))], axis=1)
    i = np.arange(len(eyes))[:, None]
    rotations = look_at(eyes, eyes + np.hstack([0.05 * np.sin(0.1 * i), np.ones_like(i), 0.02 * i / 40]))
    reference = Trajectory(rotations, eyes, lens=35, intrinsics=Intrinsics(width=1920, height=1080))
    lower_wall = grid_mesh(30, 15, (-12, 4, -9), (24, 0, 0), (0, -1, 9))
    upper_wall = grid_mesh(30, 15, (-12, 3, 0), (24, 0, 0), (0, 1.5, 9))
    assert_transfer_realizes_reference(reference, GeometryDepth(*ref_wall),
                                       GeometryDepth.from_meshes([lower_wall, upper_wall]),
                                       start_centre=np.array([0.1, -0.2, 0.0]))


def test_per_frame_transfer_orbit_over_uneven_ground():
    """Reference: a descending orbit over a 50x larger heightfield; target: the small heightfield, seen
    from a start pose of its own; the ground fills the frame and the depth varies around the orbit.
    (Steep hills seen at grazing angles split the depth histogram in two: the median then jumps across
    the gap and the per-frame fixed point may not exist, a property of the statistic, not of the probe.)"""
    n = 36
    angle = np.linspace(0, 1.5 * np.pi, n)
    radius = 24 * (1 - 0.4 * np.linspace(0, 1, n))
    eyes = np.stack([radius * np.cos(angle), radius * np.sin(angle), 20 - 8 * np.linspace(0, 1, n)], axis=1) * 50
    rotations = look_at(eyes, np.zeros(3))
    reference = Trajectory(rotations, eyes, lens=28, intrinsics=Intrinsics(width=1920, height=1080))
    assert_transfer_realizes_reference(reference, GeometryDepth(*heightfield(50.0)),
                                       GeometryDepth(*heightfield(1.0)), start_centre=np.array([20.0, 2.0, 14.0]))


# ------------------------------------------------------------------------------------------ (e) bad input


@pytest.mark.parametrize(("vertices", "triangles", "message"), [
    ([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], [[0, 1, 2]], "vertex 1 is not finite"),
    ([[0, 0, 0], [1, 0, np.inf], [0, 1, 0]], [[0, 1, 2]], "vertex 1 is not finite"),
    ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 3]], "index 3 is out of range for 3 vertices"),
    ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, -1, 2]], "index -1 is out of range"),
    (np.zeros((0, 3)), np.zeros((0, 3), dtype=int), "mesh is empty"),
    ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.zeros((0, 3), dtype=int), "mesh is empty"),
    ([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]], "shape (V, 3)"),
    ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1]], "shape (F, 3)"),
    ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0.0, 1.0, 2.0]], "must be integers"),
    ([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], "zero area"),
])
def test_bad_mesh_raises_depth_error(vertices, triangles, message):
    with pytest.raises(DepthError) as error:
        GeometryDepth(np.asarray(vertices, dtype=float), np.asarray(triangles))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_meshes_and_settings_raise_depth_error():
    with pytest.raises(DepthError, match="no mesh has any"):
        GeometryDepth.from_meshes([])
    with pytest.raises(DepthError, match="not finite"):
        GeometryDepth.from_meshes([quad((0, 0, 0), (1, 0, 0), (0, 1, 0)),
                                   (np.array([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]]), np.array([[0, 1, 2]]))])
    with pytest.raises(DepthError, match="resolution"):
        GeometryDepth(*quad((0, 0, 0), (1, 0, 0), (0, 1, 0)), resolution=0)
    with pytest.raises(DepthError, match="near plane"):
        GeometryDepth(*quad((0, 0, 0), (1, 0, 0), (0, 1, 0)), near=-1.0)
