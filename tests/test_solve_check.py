"""Suspect frames of a camera solve (core/solve_check.py), on arrays, and the command line's warning.
Against Blender's own partial solve: test_tracking.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parascale.core.errors import DepthError
from parascale.core.poses import Trajectory, rotation_angle
from parascale.core.solve_check import interpolate_poses, step_precision, suspect_frames, trusted_span
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation


def orbit(n: int = 40, noise: float = 0.002, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frame numbers and a noisy orbit path (radius 10, 1.5 degrees a frame: steps of 0.26)."""
    rng = np.random.default_rng(seed)
    angle = np.radians(1.5) * np.arange(n)
    centres = np.c_[10 * np.sin(angle), -10 * np.cos(angle), 0.02 * np.arange(n)]
    return np.arange(101, 101 + n), centres + rng.normal(scale=noise, size=centres.shape)


def test_a_clean_solve_has_no_suspects():
    frames, centres = orbit()
    suspects = suspect_frames(frames, centres, reobserved=np.full(40, 60), errors=np.full(40, 0.2))
    assert not suspects and suspects.frames.size == 0 and suspects.message() == "no suspect frames"


def test_a_displaced_frame_is_named_for_its_acceleration():
    frames, centres = orbit()
    centres[17] += [0.0, 0.4, 0.0]  # frame 118: 1.5 steps off the path
    suspects = suspect_frames(frames, centres)
    assert 118 in suspects.frames.tolist()
    assert all(abs(f - 118) <= 1 for f in suspects.frames.tolist())
    assert "path acceleration" in suspects.reasons[118][0]
    assert suspects.message().startswith("frame ") and "118 (path acceleration" in suspects.message()


def test_few_tracks_and_high_error_and_the_edge_of_the_solve():
    frames, centres = orbit()
    solved = np.ones(40, dtype=bool)
    solved[36:] = False  # the solve ends at frame 136
    centres[36:] = np.nan
    reobserved = np.full(40, 50)
    reobserved[33] = 6  # frame 134: few tracks, two frames before the end of the solve
    errors = np.full(40, 0.2)
    errors[10] = 1.5  # frame 111
    suspects = suspect_frames(frames, centres, solved, reobserved, errors)
    assert suspects.frames.tolist() == [111, 134, 135, 136]
    assert suspects.reasons[134] == ["6 tracks re-observed"]
    assert suspects.reasons[136] == ["between suspect frame 134 and the end of the solve"]
    assert suspects.reasons[111][0].startswith("reprojection error 1.50 px, 7.5x")
    # A suspect far from the edge does not spread; frames outside the solve are never named.
    reobserved[33], reobserved[20] = 50, 6
    assert suspect_frames(frames, centres, solved, reobserved).frames.tolist() == [121]
    # Within a transfer's range: the mask follows the range's frames.
    within = suspects.within(np.arange(130, 140))
    assert within.frames.tolist() == [134, 135, 136] and within.mask.tolist() == [f in (134, 135, 136) for f in
                                                                                 range(130, 140)]


def test_a_bent_step_where_the_solve_is_thin():
    """A step 12% longer than its neighbours' trend (the path jumps ahead by 0.12 of a step at frame 131 and
    carries on), in a path noisy enough that its acceleration stays within 4x its neighbours': named for the
    trend where the solve re-observes fewer tracks than usual, not where it is as well observed as the rest
    (there a bent step is taken for the camera's own motion)."""
    frames, centres = orbit(noise=0.004, seed=0)
    step = np.linalg.norm(centres[30] - centres[29])
    direction = (centres[31] - centres[29]) / np.linalg.norm(centres[31] - centres[29])
    centres[30:] += 0.12 * step * direction
    thin = np.full(40, 60)
    thin[26:] = 20  # the last frames re-observe a third of the tracks
    suspects = suspect_frames(frames, centres, reobserved=thin)
    assert 131 in suspects.frames.tolist(), suspects.message()
    reasons = " ".join(suspects.reasons[131])
    assert "off its neighbours' trend, 20 tracks re-observed" in reasons and "acceleration" not in reasons
    assert set(suspects.frames.tolist()) <= {130, 131, 132}
    assert 131 not in suspect_frames(frames, centres, reobserved=np.full(40, 60)).frames.tolist()
    # Without the jump nothing is named, thin or not.
    assert not suspect_frames(*orbit(noise=0.004, seed=0), reobserved=thin)


def test_a_shaky_camera_is_not_taken_for_a_thin_solve():
    """Hand-held shake bends every step by several percent (here ~6%): where the solve is thin, a bend is
    named only beyond 4x the camera's own roughness measured where the solve is well observed, so the shake
    alone names nothing (without the roughness term frames 127-128 would be named), and a jump of half a
    step is still named."""
    frames, centres = orbit(noise=0.012, seed=0)
    thin = np.full(40, 60)
    thin[26:] = 20
    assert not suspect_frames(frames, centres, reobserved=thin)
    step = np.linalg.norm(centres[30] - centres[29])
    direction = (centres[31] - centres[29]) / np.linalg.norm(centres[31] - centres[29])
    centres[30:] += 0.5 * step * direction
    suspects = suspect_frames(frames, centres, reobserved=thin)
    assert "off its neighbours' trend" in " ".join(suspects.reasons.get(131, [])), suspects.message()


def test_only_ratios_count():
    """Scaling and moving the solve (its gauge) names the same frames."""
    frames, centres = orbit(seed=3)
    centres[25] += [0.3, 0.0, 0.1]
    q = Rotation.from_euler("zyx", [40, -10, 5], degrees=True).as_matrix()
    moved = 0.013 * centres @ q.T + [5.0, -2.0, 1.0]
    assert suspect_frames(frames, moved).frames.tolist() == suspect_frames(frames, centres).frames.tolist()


def test_interpolate_and_stop_before():
    frames, centres = orbit(n=12, noise=0.0)
    rotations = Rotation.from_euler("z", np.linspace(0, 30, 12)[:, None], degrees=True).as_matrix()
    truth = Trajectory(rotations, centres, frames=frames)
    bad_centres, bad_rotations = centres.copy(), rotations.copy()
    bad_centres[[4, 11]] += 3.0
    bad_rotations[4] = np.eye(3)
    bad = truth.replace(centres=bad_centres, rotations=bad_rotations)
    suspect = np.zeros(12, dtype=bool)
    suspect[[4, 11]] = True
    repaired = interpolate_poses(bad, suspect)
    # Frame 4 lies between trusted frames 3 and 5: linear interpolation of an orbit's arc (chord error).
    chord = np.linalg.norm(centres[4] - (centres[3] + centres[5]) / 2)
    np.testing.assert_allclose(repaired.centres[4], (centres[3] + centres[5]) / 2, atol=1e-12)
    assert chord < 0.01
    assert np.degrees(rotation_angle(repaired.rotations[4].T @ rotations[4])) < 1e-6
    # The last frame has no trusted frame after it: the last trusted pose is held.
    np.testing.assert_allclose(repaired.centres[11], centres[10], atol=1e-12)
    np.testing.assert_array_equal(repaired.centres[~suspect], bad.centres[~suspect])
    assert trusted_span(frames, suspect).tolist() == frames[:4].tolist()
    lead = np.zeros(12, dtype=bool)
    lead[[0, 1, 9]] = True
    assert trusted_span(frames, lead).tolist() == frames[2:9].tolist()
    with pytest.raises(DepthError, match="leaves only frame"):
        trusted_span(frames, np.arange(12) % 2 == 1)
    with pytest.raises(DepthError, match="nothing to interpolate from"):
        interpolate_poses(bad, np.arange(12) > 0)


def test_command_line_names_suspect_reference_frames(tmp_path, capsys):
    """`parascale transfer` with a pose estimator's output whose frame 18 jumps off the path: one warning
    line names it (the transfer still runs); a clean path gets none."""
    from parascale.core.cli import main
    from parascale.core.formats import write_trajectory
    from parascale.core.poses import Intrinsics, look_at

    angle = np.radians(1.5) * np.arange(30)
    centres = np.c_[10 * np.sin(angle), -10 * np.cos(angle), np.full(30, 1.5)]
    for name, jump in (("clean", 0.0), ("jump", 0.5)):
        path = centres.copy()
        path[17, 1] += jump
        trajectory = Trajectory(look_at(path, np.zeros(3)), path, frames=np.arange(1, 31),
                                intrinsics=Intrinsics(width=640, height=360))
        write_trajectory(tmp_path / f"{name}.json", trajectory, "parascale")
        code = main(["transfer", str(tmp_path / f"{name}.json"), "--ref-depth", "10", "--target-depth", "1",
                     "-o", str(tmp_path / f"{name}_out.json")])
        err = capsys.readouterr().err
        assert code == 0 and (tmp_path / f"{name}_out.json").is_file()
        lines = [line for line in err.splitlines() if "suspect frames" in line]
        if jump:
            assert len(lines) == 1 and lines[0].startswith("parascale: warning: ")
            assert " 18 (path acceleration" in lines[0]
        else:
            assert lines == []


def _camera(rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, centre
    return matrix


def _pixels(rotation: np.ndarray, centre: np.ndarray, points: np.ndarray, focal: float) -> np.ndarray:
    """Image positions (P, 2) through a Blender camera (looking down -z) at `centre` turned by `rotation`."""
    p = (points - centre) @ rotation
    return focal * p[:, :2] / -p[:, 2:3]


def test_step_precision_is_the_spread_of_refitted_poses():
    """The precision a solve's geometry allows, against its definition by simulation: each of two cameras is
    fitted again (scipy least squares over rotation and centre) to its bundles' images with 0.5 px of noise,
    300 times; the spread of the refitted step's length, relative to the step, is the figure step_precision
    gives, within 15%. Eight bundles in one spot give a wider spread than forty over the view, and the figure
    follows."""
    rng = np.random.default_rng(11)
    focal, noise = 400.0, 0.5
    turn = Rotation.from_euler("x", 90, degrees=True).as_matrix()  # looking along +y
    centres = np.array([[0.0, 0.0, 0.0], [0.25, 0.05, 0.02]])
    spread = {"wide": (4.0, 3.0, 40), "few in one spot": (0.8, 0.6, 8)}
    for name, (across, up, n) in spread.items():
        points = np.c_[rng.uniform(-across, across, n), rng.uniform(4.0, 9.0, n), rng.uniform(-up, up, n)]
        cameras = np.stack([_camera(turn, c) for c in centres])
        predicted = step_precision(np.array([1, 2]), cameras, points, np.ones((2, n), dtype=bool), focal, noise)
        assert np.isnan(predicted[0])
        steps = []
        for _ in range(300):
            fitted = []
            for centre in centres:
                seen = _pixels(turn, centre, points, focal) + rng.normal(scale=noise, size=(n, 2))

                def residual(x, seen=seen, points=points):
                    rotation = turn @ Rotation.from_rotvec(x[:3]).as_matrix()
                    return (_pixels(rotation, x[3:], points, focal) - seen).ravel()

                fitted.append(least_squares(residual, np.r_[np.zeros(3), centre], xtol=1e-12, ftol=1e-12).x[3:])
            steps.append(np.linalg.norm(fitted[1] - fitted[0]))
        measured = np.std(steps) / np.linalg.norm(centres[1] - centres[0])
        print(f"{name}: predicted {predicted[1]:.4f}, measured {measured:.4f}")
        assert measured == pytest.approx(predicted[1], rel=0.15), name
        spread[name] = predicted[1]
    assert spread["few in one spot"] > 2 * spread["wide"]


def test_step_precision_undetermined_cameras_and_gaps():
    turn = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    rng = np.random.default_rng(2)
    points = np.c_[rng.uniform(-3, 3, 20), rng.uniform(4, 8, 20), rng.uniform(-2, 2, 20)]
    cameras = np.stack([_camera(turn, [0.1 * i, 0.0, 0.0]) for i in range(4)])
    observed = np.ones((4, 20), dtype=bool)
    observed[2, 2:] = False  # frame 12 sees two bundles: not determined
    precision = step_precision(np.array([10, 11, 12, 14]), cameras, points, observed, 300.0, 0.3)
    assert np.isnan(precision[0]) and np.isfinite(precision[1]) and precision[1] > 0
    assert np.isnan(precision[2])  # into the undetermined camera
    assert np.isnan(precision[3])  # across the gap 12 -> 14
    broken = cameras.copy()
    broken[1, 0, 3] = np.nan  # a camera that is not finite has no precision, and takes none from the others
    all_seen = np.ones((4, 20), dtype=bool)
    np.testing.assert_array_equal(np.isnan(step_precision(np.arange(4), broken, points, all_seen, 300.0, 0.3)),
                                  [True, True, True, False])
    # Gauge-free: the solve scaled and moved gives the same figures.
    q = Rotation.from_euler("zyx", [30, -20, 10], degrees=True).as_matrix()
    moved = cameras.copy()
    moved[:, :3, :3] = q @ cameras[:, :3, :3]
    moved[:, :3, 3] = 0.07 * cameras[:, :3, 3] @ q.T + [3.0, -1.0, 2.0]
    again = step_precision(np.array([10, 11, 12, 14]), moved, 0.07 * points @ q.T + [3.0, -1.0, 2.0], observed,
                           300.0, 0.3)
    np.testing.assert_allclose(again, precision, rtol=1e-9, equal_nan=True)


_magnitude = st.sampled_from([0.0, 1e-9, 1.0, 1e9, 1e30])
_special = st.sampled_from([None, np.nan, np.inf, -np.inf, 0.0])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 12), st.integers(0, 6), _magnitude, _magnitude, _special, _special, st.booleans(),
       st.integers(0, 2**32 - 1))
def test_any_solve_gives_figures_or_nan_without_a_warning(k, p, spread, size, camera_value, point_value, pair,
                                                            seed):
    """Hostile solves (cameras or bundles not finite, coincident, far beyond the scene, no observations, no
    pixel error): step_precision and suspect_frames give their figures or NaN, with no exception and no numpy
    warning (warnings are turned into errors here)."""
    rng = np.random.default_rng(seed)
    cameras = np.tile(np.eye(4), (k, 1, 1))
    cameras[:, :3, 3] = rng.normal(size=(k, 3)) * spread
    bundles = rng.normal(size=(p, 3)) * size
    if k and camera_value is not None:
        at = int(rng.integers(k))
        cameras[at:at + 1 + pair, rng.integers(3), 3] = camera_value  # one frame, or two in a row
    if p and point_value is not None:
        bundles[rng.integers(p), rng.integers(3)] = point_value
    frames = np.cumsum(rng.integers(1, 3, size=k))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        precision = step_precision(frames, cameras, bundles, rng.random((k, p)) < 0.7, 500.0,
                                   float(rng.choice([0.0, 0.3])))
        assert precision.shape == (k,) and not np.any(precision[np.isfinite(precision)] < 0)
        if k:
            suspects = suspect_frames(np.arange(k), cameras[:, :3, 3], rng.random(k) < 0.8,
                                      rng.integers(0, 50, size=k), rng.choice([np.nan, 0.1, 3.0], size=k))
            assert suspects.mask.shape == (k,) and isinstance(suspects.message(), str)
