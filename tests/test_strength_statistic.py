"""Issue 17, parts 1 and 2 in the core: the strength dial g (the written move realizes g x Pi_t) for every
depth source, and the depth statistics of core/statistics.py (the median and the smooth one) wherever
depths are reduced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from parascale.core.cli import main
from parascale.core.depth import BoundsDepth, FixedDepth, PerFrameDepth, PointsDepth, Views
from parascale.core.errors import DepthError, TrajectoryError
from parascale.core.footage import BundlesDepth
from parascale.core.formats import write_trajectory
from parascale.core.geometry import GeometryDepth
from parascale.core.metrics import log_ratios
from parascale.core.moving_geometry import MovingGeometryDepth
from parascale.core.parallax import realized_at_written_pose, transfer
from parascale.core.pointcloud import per_frame_median_depths
from parascale.core.poses import Intrinsics, Trajectory, look_at
from parascale.core.statistics import SMOOTH_HALF_WIDTH, representative_depth

STRENGTHS = (0.25, 0.5, 2.0, 3.0)


# ------------------------------------------------------------------------------------------ statistics

def smooth_by_the_definition(depths: np.ndarray, weights: np.ndarray | None = None) -> float:
    """docs/method.md's definition, written out with a loop (an independent implementation)."""
    depths = np.asarray(depths, dtype=float)
    weights = np.ones_like(depths) if weights is None else np.asarray(weights, dtype=float)
    keep = np.isfinite(depths) & (depths > 0)
    pairs = sorted(zip(depths[keep], weights[keep], strict=True))
    total = sum(w for _, w in pairs)
    numerator = denominator = 0.0
    before = 0.0
    for z, w in pairs:
        p = (before + w / 2) / total
        before += w
        x = (p - 0.5) / SMOOTH_HALF_WIDTH
        k = (1 - x * x) ** 2 if abs(x) < 1 else 0.0
        numerator += w * k * np.log(z)
        denominator += w * k
    return float(np.exp(numerator / denominator))


def test_the_median_is_numpys_median_over_what_is_seen():
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 10, 1000):
        values = rng.uniform(0.1, 9.0, n)
        assert representative_depth(values) == np.median(values)
        # Unit weights: the weighted median is the same number (the mean of the middle two for even n).
        assert representative_depth(values, np.ones(n)) == pytest.approx(np.median(values), rel=1e-15)
    masked = np.array([[3.0, np.inf, 1.0, np.nan, 2.0, -1.0], [np.nan] * 6])
    out = representative_depth(masked)
    assert out[0] == 2.0 and np.isnan(out[1])


def test_the_weighted_median_counts_integer_weights_as_repeats():
    rng = np.random.default_rng(2)
    for _ in range(20):
        values = rng.uniform(1, 5, 9)
        counts = rng.integers(0, 4, 9)
        counts[0] = max(counts[0], 1)
        expected = np.median(np.repeat(values, counts))
        assert representative_depth(values, counts.astype(float)) == pytest.approx(expected, rel=1e-15)


def test_the_smooth_statistic_follows_its_written_definition():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 10, 501):
        values = rng.lognormal(0.0, 1.0, n)
        weights = rng.uniform(0.0, 2.0, n)
        weights[0] = 1.0
        assert representative_depth(values, statistic="smooth") == pytest.approx(
            smooth_by_the_definition(values), rel=1e-12)
        assert representative_depth(values, weights, "smooth") == pytest.approx(
            smooth_by_the_definition(values, weights), rel=1e-12)
    rows = rng.lognormal(0.0, 1.0, (4, 50))
    rows[1, ::3] = np.inf  # pixels that see nothing
    per_row = representative_depth(rows, statistic="smooth")
    for row, value in zip(rows, per_row, strict=True):
        assert value == pytest.approx(smooth_by_the_definition(row), rel=1e-12)


def test_the_smooth_statistic_is_scale_equivariant_and_order_free():
    rng = np.random.default_rng(4)
    values = rng.lognormal(1.0, 0.5, 300)
    base = representative_depth(values, statistic="smooth")
    for k in (1e-6, 0.3, 7.0, 1e8):
        assert representative_depth(k * values, statistic="smooth") == pytest.approx(k * base, rel=1e-12)
    assert representative_depth(rng.permutation(values), statistic="smooth") == pytest.approx(base, rel=1e-14)
    assert representative_depth(np.full(40, 2.5), statistic="smooth") == pytest.approx(2.5, rel=1e-15)
    assert np.isnan(representative_depth(np.array([np.inf, np.nan]), statistic="smooth"))


def test_the_smooth_statistic_moves_little_where_the_median_jumps():
    """A near object (depth 2) covering more and more of a wall (depth 10), one pixel at a time: the
    median jumps by the whole gap once, the smooth statistic by a small fraction of it per pixel."""
    n = 1000
    medians, smooths = [], []
    for covered in range(300, 701):
        depths = np.full(n, 10.0) + np.linspace(0, 0.5, n)
        depths[:covered] = 2.0 + np.linspace(0, 0.2, covered)
        medians.append(representative_depth(depths))
        smooths.append(representative_depth(depths, statistic="smooth"))
    median_steps = np.abs(np.diff(np.log(medians)))
    smooth_steps = np.abs(np.diff(np.log(smooths)))
    assert median_steps.max() > 1.0  # ln(10 / 2): the whole gap at once
    assert smooth_steps.max() < 0.01  # one pixel of a thousand moves it by well under 1%
    assert np.log(smooths[0] / smooths[-1]) > 1.0  # and still follows the scene from wall to object


@pytest.mark.parametrize("bad", ["mean", "", "MEDIAN ish"])
def test_an_unknown_statistic_is_refused(bad):
    with pytest.raises(DepthError, match="the depth statistic must be one of median, smooth"):
        representative_depth(np.ones(3), statistic=bad)
    with pytest.raises(DepthError, match="the depth statistic must be one of"):
        PointsDepth(np.ones((3, 3)), statistic=bad)


def test_negative_or_non_finite_weights_are_refused():
    with pytest.raises(DepthError, match="weights must be finite and non-negative"):
        representative_depth(np.ones(3), np.array([1.0, -1.0, 1.0]), "smooth")
    with pytest.raises(DepthError, match="weights must be finite and non-negative"):
        representative_depth(np.ones(3), np.array([1.0, np.nan, 1.0]))


# ------------------------------------------------------------------------------------------ scenes

def ground_and_boxes(scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A tilted ground (a grid of quads) with two boxes standing on it, times `scale`."""
    nu = nv = 12
    a, b = np.meshgrid(np.linspace(-30, 30, nu + 1), np.linspace(-5, 80, nv + 1), indexing="ij")
    ground = np.stack([a.ravel(), b.ravel(), 0.05 * b.ravel()], axis=1)
    i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
    v00 = (i * (nv + 1) + j).ravel()
    tri = np.concatenate([np.stack([v00, v00 + nv + 1, v00 + nv + 2], 1), np.stack([v00, v00 + nv + 2, v00 + 1], 1)])
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    box_tri = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],
                        [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    vertices, triangles = [ground], [tri]
    for centre, size in (((-4.0, 30.0, 2.0), (3.0, 3.0, 4.0)), ((6.0, 45.0, 4.0), (4.0, 4.0, 8.0))):
        triangles.append(box_tri + sum(v.shape[0] for v in vertices))
        vertices.append(np.asarray(centre) + corners * np.asarray(size))
    return np.concatenate(vertices) * scale, np.concatenate(triangles)


def forward_move(n: int = 12, scale: float = 1.0) -> Trajectory:
    """A camera trucking and pushing in over the ground, looking ahead and a little down."""
    u = np.linspace(0.0, 1.0, n)
    centres = np.stack([4.0 * u, 10.0 * u + u**2, 3.0 + 0.5 * u], axis=1) * scale
    targets = centres + np.array([0.0, 20.0, -2.0]) * scale
    return Trajectory(look_at(centres, targets), centres, lens=30.0,
                      intrinsics=Intrinsics(width=96, height=54, sensor_width=36.0))


def check_strength(result, strength: float, rtol: float) -> None:
    assert result.strength == strength
    assert np.all(result.converged)
    np.testing.assert_allclose(result.pi_realized, strength * result.pi_reference, rtol=rtol)
    np.testing.assert_allclose(result.pi_target, strength * result.pi_reference, rtol=1e-15)
    summary = result.summary()
    assert summary["strength"] == strength
    assert summary["pi_total_target"] == pytest.approx(strength * summary["pi_total_reference"], rel=1e-12)
    assert summary["pi_total_realized"] == pytest.approx(summary["pi_total_target"], rel=rtol)
    assert summary["pce"] <= rtol  # against the aim g x Pi


def sources(statistic: str = "median") -> dict[str, tuple[object, object, Trajectory, tuple]]:
    """name -> (reference depth, target depth, reference move, (start rotation, start centre)), one per depth
    source; the target scene is the reference's at 1e-3 (start off to one side)."""
    reference = forward_move()
    start = (reference.rotations[0], np.array([0.8, -0.2, 3.1]) * 1e-3)
    mesh = ground_and_boxes()
    small = ground_and_boxes(1e-3)
    rng = np.random.default_rng(5)
    cloud = np.concatenate([mesh[0], rng.uniform([-20, 5, 0], [20, 70, 6], (800, 3))])
    frames = reference.frames
    mask = np.ones((len(reference), cloud.shape[0]), dtype=bool)
    geometry = GeometryDepth(*mesh, resolution=48, statistic=statistic)
    return {
        "fixed": (FixedDepth(30.0), FixedDepth(0.04), reference, start),
        "per-frame": (PerFrameDepth(np.linspace(30.0, 20.0, len(reference))), FixedDepth(0.04), reference, start),
        "bounds": (BoundsDepth(np.array([0.0, 35.0, 2.0])), BoundsDepth(np.array([0.0, 35.0, 2.0]) * 1e-3),
                   reference, start),
        "geometry": (geometry, GeometryDepth(*small, resolution=48, statistic=statistic), reference, start),
        "moving geometry": (geometry, MovingGeometryDepth(small, lambda k: None, resolution=48, backend="numpy",
                                                              statistic=statistic),
                            reference, start),
        "points": (PointsDepth(cloud, statistic=statistic), PointsDepth(cloud * 1e-3, statistic=statistic),
                   reference, start),
        "bundles": (BundlesDepth(cloud, mask, frames, statistic=statistic),
                    GeometryDepth(*small, resolution=48, statistic=statistic), reference, start),
    }


# ------------------------------------------------------------------------------------------ strength

# Sources of one value per frame (fixed, per-frame, bounds) have no statistic: they run once.
CASES = [(source, "median") for source in ("fixed", "per-frame", "bounds")] + [
    (source, statistic) for source in ("geometry", "moving geometry", "points", "bundles")
    for statistic in ("median", "smooth")]


@pytest.mark.parametrize("source, statistic", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_the_written_move_realizes_strength_times_the_reference(source, statistic):
    reference_depth, target_depth, reference, (rotation, centre) = sources(statistic)[source]
    plain = transfer(reference, reference_depth, target_depth, rotation, centre)
    assert plain.strength == 1.0
    check_strength(plain, 1.0, 1e-8)
    for g in STRENGTHS:
        result = transfer(reference, reference_depth, target_depth, rotation, centre, strength=g)
        check_strength(result, g, 1e-8)
        # Nothing else changes: the rotations, the first pose and the step directions are the same.
        np.testing.assert_allclose(result.trajectory.rotations, plain.trajectory.rotations, atol=1e-15)
        np.testing.assert_array_equal(result.trajectory.centres[0], plain.trajectory.centres[0])
        steps, plain_steps = np.diff(result.trajectory.centres, axis=0), np.diff(plain.trajectory.centres, axis=0)
        cosine = np.einsum("ni,ni->n", steps, plain_steps) / np.linalg.norm(steps, axis=1) / np.linalg.norm(
            plain_steps, axis=1)
        np.testing.assert_allclose(cosine, 1.0, atol=1e-12)


def test_strength_in_global_and_uncalibrated_modes():
    reference_depth, target_depth, reference, (rotation, centre) = sources()["geometry"]
    for mode in ("global", "uncalibrated"):
        plain = transfer(reference, reference_depth, target_depth, rotation, centre, mode=mode)
        for g in STRENGTHS:
            result = transfer(reference, reference_depth, target_depth, rotation, centre, mode=mode, strength=g)
            # One scale for the clip, g times the plain one (uncalibrated: g x the raw move).
            np.testing.assert_allclose(result.scale, g * plain.scale, rtol=1e-14)
            np.testing.assert_allclose(result.trajectory.centres - centre, g * (plain.trajectory.centres - centre),
                                       rtol=1e-12, atol=1e-18)
            assert result.summary()["pi_total_target"] == pytest.approx(g * plain.pi_total_reference, rel=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "strong", None, 1e-9, 1e9])
def test_a_bad_strength_is_refused(bad):
    reference_depth, target_depth, reference, (rotation, centre) = sources()["fixed"]
    with pytest.raises(TrajectoryError, match="the strength must"):
        transfer(reference, reference_depth, target_depth, rotation, centre, strength=bad)


# ------------------------------------------------------------------------------------------ statistics in probes

def test_both_sides_must_use_the_same_statistic():
    mesh = ground_and_boxes()
    reference = forward_move()
    with pytest.raises(DepthError, match="the reference depth uses the median statistic and the target depth the "
                                         "smooth"):
        transfer(reference, GeometryDepth(*mesh, resolution=32), GeometryDepth(*mesh, resolution=32,
                                                                               statistic="smooth"))
    # A source of one value per frame goes with either.
    transfer(reference, FixedDepth(30.0), GeometryDepth(*mesh, resolution=32, statistic="smooth"))


def test_every_reducing_probe_applies_its_statistic(tmp_path: Path):
    mesh = ground_and_boxes()
    views = Views.of(forward_move(4))
    geometry = GeometryDepth(*mesh, resolution=40, statistic="smooth")
    maps = [geometry.depth_map(views, i) for i in range(len(views))]
    expected = np.array([smooth_by_the_definition(m.ravel()) for m in maps])
    np.testing.assert_allclose(geometry(views), expected, rtol=1e-12)
    moving = MovingGeometryDepth(None, lambda k: mesh, resolution=40, extent=float(np.ptp(mesh[0], axis=0).max() *
                                 np.sqrt(3)), statistic="smooth")
    assert np.all(np.isfinite(moving(views)))
    assert "smooth statistic" in geometry.describe() and "smooth" in moving.describe()

    cloud = np.random.default_rng(6).uniform([-20, 5, 0], [20, 70, 6], (500, 3))
    points = PointsDepth(cloud, statistic="smooth")
    depth, inside = points.visible_depths(views)
    np.testing.assert_allclose(points(views), [smooth_by_the_definition(d[i]) for d, i in zip(depth, inside,
                                                                                             strict=True)],
                               rtol=1e-12)
    mask = np.ones((len(views), 500), bool)
    bundles = BundlesDepth(cloud, mask, np.arange(len(views)), statistic="smooth")
    median_bundles = BundlesDepth(cloud, mask, np.arange(len(views)))
    assert bundles.statistic == "smooth" and "smooth of at least" in bundles.describe()
    assert np.all(np.abs(np.log(bundles(views) / median_bundles(views))) > 1e-3)

    folder = tmp_path / "maps"
    folder.mkdir()
    for i, m in enumerate(maps):
        np.save(folder / f"frame_{i}.npy", np.where(np.isfinite(m), m, 0.0))
    np.testing.assert_allclose(per_frame_median_depths(folder, "smooth"), expected, rtol=1e-12)
    np.testing.assert_allclose(per_frame_median_depths(folder), [np.median(m[np.isfinite(m)]) for m in maps],
                               rtol=1e-15)


# ------------------------------------------------------------------------------------------ honest figures

def test_the_realized_parallax_is_measured_where_the_camera_is_written():
    """A depth that jumps at y = 0.3: the solve closes on the jump at frame 1. If the written (rounded)
    centre lands on the other side, the realized Pi is what that side gives, not the solve's figure."""
    n = 6
    centres = np.stack([np.zeros(n), np.arange(n) * 0.5, np.zeros(n)], axis=1)
    reference = Trajectory(look_at(centres, centres + [0, 1, 0]), centres)

    class Jump(FixedDepth):
        def __init__(self):
            super().__init__(1.0)

        def affine_form(self, views):
            return None

        def __call__(self, views):
            return np.where(views.centres[:, 1] < 0.3, 1.0, 0.5)

    result = transfer(reference, FixedDepth(1.0), Jump())
    assert not result.converged[0]
    written = result.trajectory.centres.copy()
    same_side = written[1, 1] < 0.3
    written[1, 1] = 0.3 + (1e-7 if same_side else -1e-7)  # a rounding across the jump
    pi, depth = realized_at_written_pose(result, Jump(), written)
    assert depth[1] == (0.5 if same_side else 1.0)
    np.testing.assert_allclose(pi, np.linalg.norm(np.diff(written, axis=0), axis=1) / depth[1:])
    # The two sides of the jump differ by ln 2 in what the frame realizes.
    shift = log_ratios(result.pi_reference, pi)[0] - log_ratios(result.pi_reference, result.pi_realized)[0]
    assert abs(shift) == pytest.approx(np.log(2.0), rel=1e-5)
    # Frames that converged keep the solve's measurement.
    np.testing.assert_array_equal(depth[2:], result.depth_target[2:])


# ------------------------------------------------------------------------------------------ command line

def test_command_line_strength_and_statistic(tmp_path: Path, capsys):
    reference = forward_move(8)
    write_trajectory(tmp_path / "ref.json", reference)
    cloud = np.random.default_rng(7).uniform([-20, 5, 0], [20, 70, 6], (600, 3))
    np.save(tmp_path / "cloud.npy", cloud)
    np.save(tmp_path / "small.npy", cloud * 1e-3)
    out = tmp_path / "out.json"
    code = main(["transfer", str(tmp_path / "ref.json"), "--ref-depth", str(tmp_path / "cloud.npy"),
                 "--target-depth", str(tmp_path / "small.npy"), "--start", "0.001,0,0.003", "--strength", "0.5",
                 "--statistic", "smooth", "-o", str(out), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and out.exists()
    chosen = printed["summaries"]["per_frame"]
    assert chosen["strength"] == 0.5 and chosen["pce"] < 1e-8
    assert chosen["pi_total_realized"] == pytest.approx(0.5 * chosen["pi_total_reference"], rel=1e-8)
    assert "smooth" in chosen["source_target"]
    # `measure` with the same statistic: the half-strength camera against the reference is off by ln 2.
    code = main(["measure", str(out), "--depth", str(tmp_path / "small.npy"), "--reference",
                 str(tmp_path / "ref.json"), "--ref-depth", str(tmp_path / "cloud.npy"), "--statistic", "smooth",
                 "--json"])
    measured = json.loads(capsys.readouterr().out)
    assert code == 0 and measured["pce"] == pytest.approx(np.log(2.0), rel=1e-6)

    code = main(["transfer", str(tmp_path / "ref.json"), "--ref-depth", "30", "--target-depth", "0.03",
                 "--strength", "2", "-o", str(tmp_path / "two.json")])
    text = capsys.readouterr().out
    assert code == 0 and "strength 2" in text and "2 x ref" in text


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "-inf", "fast", "1e9"])
def test_command_line_bad_strength_is_one_line_and_writes_nothing(tmp_path: Path, capsys, bad: str):
    write_trajectory(tmp_path / "ref.json", forward_move(4))
    out = tmp_path / "out.json"
    code = main(["transfer", str(tmp_path / "ref.json"), "--ref-depth", "30", "--target-depth", "0.03",
                 f"--strength={bad}", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and not out.exists()
    assert captured.err.startswith("parascale: error: --strength: the strength must") and \
        captured.err.count("\n") == 1


def test_manifest_strength_and_statistic_columns(tmp_path: Path, capsys):
    write_trajectory(tmp_path / "a.json", forward_move(6))
    write_trajectory(tmp_path / "b.json", forward_move(6))
    manifest = tmp_path / "m.csv"
    manifest.write_text("reference,strength,statistic\na.json,0.5,smooth\nb.json,,\n")
    code = main(["batch", str(manifest), str(tmp_path / "out"), "--ref-depth", "30", "--target-depth", "0.03",
                 "--strength", "3", "--jobs", "1"])
    capsys.readouterr()
    assert code == 0
    records = [json.loads(line) for line in (tmp_path / "out").glob("*.jsonl").__next__().read_text().splitlines()]
    by_clip = {r["clip"]: r["summary"] for r in records}
    assert by_clip["a"]["strength"] == 0.5 and by_clip["b"]["strength"] == 3.0
    for summary in by_clip.values():
        assert summary["pi_total_realized"] == pytest.approx(summary["strength"] * summary["pi_total_reference"],
                                                             rel=1e-9)
