"""The Geometry depth source on Embree (core/geometry_embree.py) against the numpy z-buffer, its oracle:
the same statistic on occluded scenes, grazing views, geometry crossing the near plane and a scene far from
the origin; the choice of backend and the fallback when Embree is missing; a per-frame transfer on it."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from parascale.core.depth import FixedDepth, Views
from parascale.core.errors import DepthError
from parascale.core.geometry import GeometryDepth
from parascale.core.metrics import parallax_consistency
from parascale.core.parallax import transfer
from parascale.core.poses import Intrinsics, Trajectory, look_at
from test_geometry_probe import grid_mesh, make_views, quad

pytest.importorskip("embreex", reason="embreex ships wheels for x86-64 only; elsewhere numpy is the backend")
from parascale.core.geometry_embree import EmbreeGeometryDepth, embree_available, geometry_depth  # noqa: E402


def box(centre, size) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1), (2, 3, 7), (2, 7, 6),
             (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    return np.asarray(centre, float) + corners * np.asarray(size, float), np.array(faces)


def merged(*meshes):
    return GeometryDepth.concatenated(list(meshes))


def terrain(offset=(0.0, 0.0, 0.0)):
    return grid_mesh(120, 120, np.array([-20.0, -20.0, 0.0]) + offset, (40, 0, 0), (0, 40, 0),
                     height=lambda x, y: 0.8 * np.sin(0.5 * x) * np.cos(0.35 * y))


SCENES = {
    # name: (mesh, eyes, targets)
    "occluded boxes": (merged(box((0, 20, 2.5), (8, 4, 5)), box((-1.5, 8, 2), (2, 0.2, 3)),
                              quad((-30, -30, 0), (60, 0, 0), (0, 60, 0))),
                       [(0, -2, 2), (2, -1, 1.5), (-1, 2, 3)], [(0, 20, 2.5), (0, 20, 2), (1, 20, 2)]),
    "grazing terrain": (terrain(), [(0, -18, 1.2), (5, -15, 0.9), (-8, -5, 1.5)],
                        [(0, 10, 0.2), (0, 10, 0.0), (10, 10, 0.5)]),
    # The ground passes under and behind the camera: the near plane cuts its triangles.
    "near-plane crossing": (quad((-50, -50, 0), (100, 0, 0), (0, 100, 0)), [(0, 0, 0.3), (3, 2, 0.05)],
                            [(0, 10, 0), (3, 12, 0)]),
    "far from the origin": (terrain((1e4, -2e4, 500.0)), [(1e4, -2e4 - 18, 501.5)], [(1e4, -2e4 + 10, 500.0)]),
}


@pytest.mark.parametrize("name", list(SCENES))
def test_embree_measures_the_numpy_statistic(name):
    (vertices, triangles), eyes, targets = SCENES[name]
    views = make_views(np.array(eyes, float), np.array(targets, float))
    ours, oracle = EmbreeGeometryDepth(vertices, triangles), GeometryDepth(vertices, triangles)
    assert ours.near == oracle.near
    fast, exact = ours(views), oracle(views)
    assert np.all(np.isfinite(exact))
    # float32 rays relative to the mesh centre: a few 1e-7 of the depth.
    np.testing.assert_allclose(fast, exact, rtol=2e-6)
    for i in range(len(views)):
        a, b = ours.depth_map(views, i), oracle.depth_map(views, i)
        assert a.shape == b.shape
        # Pixel centres that graze an edge may fall either way in float32.
        assert np.mean(np.isfinite(a) != np.isfinite(b)) < 0.002
        both = np.isfinite(a) & np.isfinite(b)
        assert np.median(np.abs(a[both] / b[both] - 1)) < 1e-6


def test_nothing_in_view_is_nan_and_many_views_match_single_views():
    vertices, triangles = terrain()
    probe = EmbreeGeometryDepth(vertices, triangles)
    eyes = np.array([[0, -18, 1.2], [0, -18, 1.2], [3, -10, 2.0], [0, -30, 5]], float)
    targets = np.array([[0, 10, 0.2], [0, -40, 30.0], [3, 10, 0.0], [0, 0, 0]], float)
    views = make_views(eyes, targets)
    whole = probe(views)
    assert np.isnan(whole[1]) and np.all(np.isfinite(whole[[0, 2, 3]]))  # view 1 looks at the sky
    np.testing.assert_allclose([probe(views.take(i))[0] for i in range(4)], whole, rtol=1e-12, equal_nan=True)


def test_backend_choice_and_fallback_when_embree_is_missing(monkeypatch):
    vertices, triangles = quad((-5, 20, -5), (10, 0, 0), (0, 0, 10))
    assert embree_available()
    assert isinstance(geometry_depth(vertices, triangles), EmbreeGeometryDepth)
    assert type(geometry_depth(vertices, triangles, backend="numpy")) is GeometryDepth
    with pytest.raises(DepthError, match="unknown geometry backend 'gpu'"):
        geometry_depth(vertices, triangles, backend="gpu")
    # Blocked as on a platform without the wheel: "auto" measures with numpy, "embree" says why it cannot.
    for name in ("embreex", "embreex.rtcore_scene", "embreex.mesh_construction"):
        monkeypatch.setitem(sys.modules, name, None)
    assert not embree_available()
    probe = geometry_depth(vertices, triangles)
    assert type(probe) is GeometryDepth
    assert probe(make_views([[0, 0, 0]], [[0, 20, 0]]))[0] == pytest.approx(20.0)
    with pytest.raises(DepthError, match="the Embree backend is not available"):
        geometry_depth(vertices, triangles, backend="embree")


def test_bad_meshes_are_refused_as_by_numpy():
    with pytest.raises(DepthError, match="zero area"):
        EmbreeGeometryDepth(np.zeros((3, 3)), np.array([[0, 1, 2]]))
    with pytest.raises(DepthError, match="above the limit of 4096 px"):
        EmbreeGeometryDepth(*quad((0, 5, 0), (1, 0, 0), (0, 0, 1)), resolution=5000)


def orbit_onto_small_ground():
    """An orbit (40 frames) and, 50 times smaller, uneven ground with a start pose looking over it:
    (reference, (vertices, triangles) at full size, start rotation, start centre)."""
    n = 40
    a = np.linspace(0.0, 1.0, n)
    centres = np.c_[12 * np.cos(a), 12 * np.sin(a), 3 + 0.5 * a]
    reference = Trajectory(look_at(centres, np.zeros((n, 3))), centres, lens=35.0,
                           intrinsics=Intrinsics(width=1920, height=1080))
    start_centre = np.array([6.0, -1.0, 1.2]) / 50
    start_rotation = look_at(start_centre[None], np.array([[0.0, 3.0, 0.0]]) / 50)[0]
    return reference, terrain(), start_rotation, start_centre


def test_per_frame_transfer_on_embree_keeps_pi_and_agrees_with_numpy():
    """An orbit transferred onto uneven ground at 1/50 of the scale: the float32-suited tolerance the
    add-on uses (1e-6) keeps every frame's Pi within it, on either backend, and the two paths agree."""
    reference, (vertices, triangles), start_rotation, start_centre = orbit_onto_small_ground()
    small = vertices / 50
    results = {}
    for name, probe in (("embree", EmbreeGeometryDepth(small, triangles)), ("numpy", GeometryDepth(small, triangles))):
        result = transfer(reference, FixedDepth(20.0), probe, start_rotation, start_centre, tolerance=1e-6)
        assert np.all(result.converged)
        assert parallax_consistency(result.pi_reference, result.pi_realized).pce < 1e-6
        # The record is a measurement at the written poses: measuring again gives the same depths.
        # (float32 Embree against the float64 hit planes its solve certifies with: 1e-6.)
        np.testing.assert_allclose(probe(Views.of(result.trajectory)), result.depth_target, rtol=1e-6)
        results[name] = result
    np.testing.assert_allclose(results["embree"].trajectory.centres, results["numpy"].trajectory.centres,
                               rtol=0, atol=2e-5 * np.abs(np.diff(results["numpy"].trajectory.centres, axis=0)).sum())


def _moved(views: Views, centre: np.ndarray) -> Views:
    return views.take(0, centres=centre)


@pytest.mark.parametrize("name", list(SCENES))
def test_hit_planes_certify_only_what_a_full_cast_measures(name):
    """The solve's shortcut (HitPlanes): from one cast, the median depth at a nearby centre (same rotation)
    by following each ray's plane, certified by a partial occlusion cast. Whenever it certifies, a full cast
    at that centre measures the same median (float32 Embree against float64 planes: 1e-6); moves large
    enough to change what the rays see are refused (NaN) rather than guessed."""
    (vertices, triangles), eyes, targets = SCENES[name]
    probe = EmbreeGeometryDepth(vertices, triangles)
    rng = np.random.default_rng(7)
    certified = checked = 0
    for eye, target in zip(eyes, targets, strict=True):
        views = make_views(np.array(eye, float), np.array(target, float))
        planes = probe.local_model(views.take(0))
        assert planes.measured == pytest.approx(probe(views.take(0))[0], rel=1e-12)
        for size in (1e-7, 1e-5, 1e-3, 3e-2):
            for _ in range(6):
                direction = rng.normal(size=3)
                centre = views.centres[0] + size * planes.measured * direction / np.linalg.norm(direction)
                depth = planes.certified(centre, 5e-7)
                checked += 1
                if np.isfinite(depth):
                    certified += 1
                    assert depth == pytest.approx(probe(_moved(views, centre))[0], rel=1e-6)
    # The shortcut is not dead: small moves certify.
    assert certified >= checked // 3, (certified, checked)


def test_hit_planes_refuse_an_occluder_that_takes_the_median():
    """A pole in front of a wall covers just under half of the frame; a step sideways makes it cover more
    than half, so the median jumps from the wall to the pole. The planes alone (every ray keeps its
    triangle) would still say "wall"; the certificate sees the pole in front of the wall's rays and refuses."""
    wall = quad((-50, 20, -50), (100, 0, 0), (0, 0, 100))
    eye, target = np.array([0.0, 0.0, 0.0]), np.array([0.0, 20.0, 0.0])
    views = make_views(eye, target)
    half_width = 5.0 * np.tan(np.arctan(36.0 / 2 / 35.0))  # the frame's half-width at the pole's depth (5)
    pole = box((-half_width / 2 - 0.02 * half_width, 5.0, 0.0), (half_width * 0.96, 0.5, 40.0))
    probe = EmbreeGeometryDepth(*merged(wall, pole))
    before = probe(views.take(0))[0]
    assert before == pytest.approx(20.0, rel=1e-5)  # the wall's depth: the pole covers under half
    planes = probe.local_model(views.take(0))
    moved = eye - np.array([0.1 * half_width, 0.0, 0.0])  # the pole slides right in the image
    assert probe(_moved(views, moved))[0] < 6.0  # the pole now covers more than half
    assert np.isnan(planes.certified(moved, 5e-7))


def test_per_frame_solve_finishes_most_frames_with_one_cast_and_a_certificate(monkeypatch):
    """At the add-on's tolerance the Embree solve casts once per frame and certifies the planes' fixed point
    with a partial cast, and gives the same move as the solve that casts in full at every step."""
    import parascale.core.parallax as parallax

    reference, (vertices, triangles), start_rotation, start_centre = orbit_onto_small_ground()
    probe = EmbreeGeometryDepth(vertices / 50, triangles)
    results = {}
    for name, threshold in (("planes", parallax.PLANES_MIN_TOLERANCE), ("full casts", np.inf)):
        monkeypatch.setattr(parallax, "PLANES_MIN_TOLERANCE", threshold)
        results[name] = transfer(reference, FixedDepth(20.0), probe, start_rotation, start_centre, tolerance=1e-6)
        assert parallax_consistency(results[name].pi_reference, results[name].pi_realized).pce < 1e-6
    planes, full = results["planes"], results["full casts"]
    assert np.all(planes.converged)
    # One cast plus the certificate: two evaluations at most, on most frames (the first frames have no
    # history for their first guess, and a frame near a jump may need more).
    assert np.mean(planes.iterations <= 2) >= 0.8 and planes.iterations.mean() < full.iterations.mean()
    np.testing.assert_allclose(planes.trajectory.centres, full.trajectory.centres, rtol=0,
                               atol=4e-6 * np.abs(np.diff(full.trajectory.centres, axis=0)).sum())
    # The record: what a full cast measures at the written poses (float32 Embree against float64 planes).
    np.testing.assert_allclose(probe(Views.of(planes.trajectory)), planes.depth_target, rtol=1e-6)


@pytest.mark.parametrize("query", ["DISTANCE", "INTERSECT", "OCCLUDED"])
def test_a_cast_split_across_threads_gives_every_ray_what_one_thread_gives(query):
    """Large casts are split across the cores (embreex releases the GIL while Embree casts); each ray's
    answer does not depend on the split, whatever the query."""
    (vertices, triangles), eyes, targets = SCENES["occluded boxes"]
    probe = EmbreeGeometryDepth(vertices, triangles, resolution=256)
    views = make_views(np.array(eyes[0], float), np.array(targets[0], float))
    origins, directions, _, _ = probe._rays(views, 0)
    assert len(origins) >= 4 * 2048
    dists = np.full(len(origins), 10.0, dtype=np.float32) if query == "OCCLUDED" else None
    answers = {}
    for workers in (1, 3):
        probe.workers = workers
        answers[workers] = probe.run(origins, directions, dists=dists, query=query, output=query == "INTERSECT")
    one, split = answers[1], answers[3]
    if query == "INTERSECT":
        np.testing.assert_array_equal(one["primID"], split["primID"])
        np.testing.assert_allclose(one["tfar"], split["tfar"], rtol=1e-7)
        np.testing.assert_allclose(one["Ng"], split["Ng"], rtol=1e-7)
    else:
        np.testing.assert_allclose(one, split, rtol=1e-7)
    assert len(np.unique(np.asarray(one if query != "INTERSECT" else one["primID"]))) > 1  # not all alike
