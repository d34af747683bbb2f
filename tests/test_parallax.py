"""The Parallax Number and the transfer, as METHOD.md defines them."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parascale.core.depth import BoundsDepth, DepthProbe, FixedDepth, PerFrameDepth, PointsDepth, Views
from parascale.core.errors import DepthError, NoDepthError, NoMotionError
from parascale.core.metrics import parallax_consistency, rotation_error, translation_error
from parascale.core.parallax import parallax_numbers, trajectory_parallax, transfer
from parascale.core.poses import Trajectory, look_at
from scipy.spatial.transform import Rotation


def wobbly_path(n: int = 60, seed: int = 0, radius: float = 10.0) -> Trajectory:
    """A camera sweeping round the origin with height and look-at wobble, looking at the origin."""
    rng = np.random.default_rng(seed)
    angle = np.linspace(0, 1.2, n) + 0.05 * np.sin(np.arange(n) * 0.7)
    centres = np.stack([radius * np.cos(angle), radius * np.sin(angle), 2 + 0.5 * np.sin(angle * 3)], axis=1)
    aim = rng.normal(scale=0.3, size=3)
    return Trajectory(look_at(centres, aim), centres, lens=35.0)


class WallDepth(DepthProbe):
    """Depth along the central ray to the plane n . X = d (a wall the camera dollies toward); hides its
    affine form so the iterative solve is exercised."""

    name = "wall"

    def __init__(self, normal, offset):
        self.normal = np.asarray(normal, float) / np.linalg.norm(normal)
        self.offset = offset

    def __call__(self, views: Views) -> np.ndarray:
        f = views.forward()
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = (self.offset - views.centres @ self.normal) / (f @ self.normal)
        return np.where(lam > 0, lam, np.nan)


class HeightfieldDepth(DepthProbe):
    """Depth along the central ray to uneven ground z = h(x, y) (bisection on the ray): smooth but not
    affine in the centre."""

    name = "heightfield"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def height(self, x, y):
        s = self.scale
        return s * (0.6 * np.sin(x / s * 0.8) * np.cos(y / s * 0.5) + 0.3 * np.sin(y / s * 1.3))

    def __call__(self, views: Views) -> np.ndarray:
        c, f = views.centres, views.forward()
        lo, hi = np.zeros(len(c)), np.full(len(c), 100.0 * self.scale)
        for _ in range(200):
            mid = (lo + hi) / 2
            p = c + mid[:, None] * f
            above = p[:, 2] > self.height(p[:, 0], p[:, 1])
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return (lo + hi) / 2


def test_parallax_numbers_definition():
    centres = np.array([[0, 0, 0], [3, 4, 0], [3, 4, 1.0]])
    np.testing.assert_allclose(parallax_numbers(centres, np.array([1.0, 10.0, 2.0])), [0.5, 0.5])


log_scales = st.floats(min_value=-6, max_value=6)


@given(st.integers(0, 2**31), log_scales)
@settings(max_examples=60, deadline=None)
def test_gauge_invariance_scale_and_rigid_motion(seed, log_k):
    """Scaling scene and trajectory together by k and moving both rigidly leaves every Pi_t unchanged,
    for every depth source."""
    k = 10.0 ** log_k
    rng = np.random.default_rng(seed)
    traj = wobbly_path(30, seed)
    points = rng.normal(scale=2.0, size=(400, 3))
    q = Rotation.random(random_state=seed).as_matrix()
    shift = rng.normal(scale=1e3 * k, size=3)

    def moved(x):
        return k * x @ q.T + shift

    moved_traj = Trajectory(np.einsum("ij,njk->nik", q, traj.rotations), moved(traj.centres), lens=35.0)
    for make in (lambda f: PointsDepth(f(points)), lambda f: BoundsDepth(f(np.array([0.3, -0.2, 0.1])))):
        pi, _ = trajectory_parallax(traj, make(lambda x: x))
        pi_moved, _ = trajectory_parallax(moved_traj, make(moved))
        np.testing.assert_allclose(pi_moved, pi, rtol=1e-9)


def check_faithful(result, reference, rtol=1e-9):
    np.testing.assert_allclose(result.pi_realized, result.pi_reference, rtol=rtol)
    assert result.converged.all()
    rel_ref = reference.relative_rotations()
    np.testing.assert_allclose(result.trajectory.relative_rotations(), rel_ref, atol=1e-12)


def test_per_frame_transfer_dolly_toward_a_wall():
    """The reference pushes in on a wall 20 units away; the target wall is 0.05 away and tilted. The
    per-frame solve holds Pi exactly while the depth shrinks to a fiftieth."""
    n = 40
    centres = np.stack([np.zeros(n), np.linspace(0, 15, n) ** 1.1, np.ones(n)], axis=1)
    rot = look_at(centres, centres + [0, 1, 0])
    reference = Trajectory(rot, centres)
    ref_wall = WallDepth([0, -1, 0], -20.0)
    target_wall = WallDepth([0.2, -1, 0.1], -0.05)
    start_c = np.array([0.0, 0.0, 0.0])
    result = transfer(reference, ref_wall, target_wall, rot[0], start_c, mode="per_frame")
    check_faithful(result, reference)
    assert result.depth_target[-1] < result.depth_target[0] / 20
    # Shot against distant scenery (constant depth) and pushed in on a wall: one scale cannot hold Pi,
    # the per-frame solve still does.
    distant = PerFrameDepth(np.full(n, 20.0))
    per_frame = transfer(reference, distant, target_wall, rot[0], start_c, mode="per_frame")
    check_faithful(per_frame, reference)
    global_result = transfer(reference, distant, target_wall, rot[0], start_c, mode="global")
    assert parallax_consistency(global_result.pi_reference, global_result.pi_realized).pce > 0.3


def test_per_frame_transfer_orbit_over_uneven_ground():
    n = 50
    angle = np.linspace(0, 2.0, n)
    centres = np.stack([30 * np.cos(angle), 30 * np.sin(angle), np.full(n, 12.0)], axis=1)
    rot = look_at(centres, centres * [0.5, 0.5, 0])
    reference = Trajectory(rot, centres, lens=28.0)
    ref_ground = HeightfieldDepth(scale=10.0)
    target_ground = HeightfieldDepth(scale=0.002)
    # Start over other terrain than a scaled copy of the reference's, so the depth ratio varies.
    start_c = np.array([0.0, 0.005, 0.0028])
    result = transfer(reference, ref_ground, target_ground, rot[0], start_c, mode="per_frame")
    check_faithful(result, reference)
    ratio = result.depth_target / result.depth_reference
    assert np.ptp(ratio) > 0.1 * np.mean(ratio)


@pytest.mark.parametrize("n", [2, 3, 80, 4097])
def test_affine_closed_form_equals_the_iterative_solve(n):
    reference = wobbly_path(n, 4)

    class Opaque(BoundsDepth):
        def affine_form(self, views):
            return None

    target = [0.01, 0.02, 0.0]
    start = [0.2, 0.02, 0.04]  # the target point is in front of the start pose
    fast = transfer(reference, FixedDepth(10), BoundsDepth(target), reference.rotations[0], start)
    slow = transfer(reference, FixedDepth(10), Opaque(target), reference.rotations[0], start)
    # Both reach the same fixed point by different float64 operations (a scan of affine maps; one
    # evaluation per frame from an exact first guess): an ulp or so per step, summed along the path.
    drift = 16 * n * np.finfo(float).eps * np.abs(fast.trajectory.centres).max()
    np.testing.assert_allclose(fast.trajectory.centres, slow.trajectory.centres, rtol=0, atol=drift)
    # A point depth moves exactly as the model says: the second evaluation confirms the first Newton step.
    assert np.all(slow.iterations <= 2)
    check_faithful(fast, reference)


def test_same_scene_same_start_is_the_identity():
    reference = wobbly_path(30, 1)
    probe = PointsDepth(np.random.default_rng(0).normal(size=(500, 3)))
    for mode in ("per_frame", "global", "uncalibrated"):
        result = transfer(reference, probe, probe, mode=mode)
        np.testing.assert_allclose(result.trajectory.centres, reference.centres, atol=1e-12)
        np.testing.assert_allclose(result.trajectory.rotations, reference.rotations, atol=1e-15)


@pytest.mark.parametrize("k", [1e-4, 1e-2, 3.0, 1e3])
def test_uncalibrated_transfer_to_a_scaled_scene_costs_ln_k_and_transerr_is_blind(k):
    """The target is the reference scene scaled by k: its depth along the move is k times the reference's.
    Reusing the raw move is off by exactly k in every frame (PCE = |ln k|) while TransErr, which aligns
    scale away, sees nothing wrong."""
    reference = wobbly_path(40, 2)
    points = np.random.default_rng(1).normal(size=(300, 3))
    _, depths = trajectory_parallax(reference, PointsDepth(points))
    raw = transfer(reference, depths, PerFrameDepth(k * depths), mode="uncalibrated")
    report = parallax_consistency(raw.pi_reference, raw.pi_realized)
    # PCE's eps (1e-12) shifts the ratio by ~eps / Pi' (1e-7 for k = 1e3): hence 1e-6, not 1e-9.
    assert report.pce == pytest.approx(abs(np.log(k)), rel=1e-6)
    assert report.bias == pytest.approx(1 / k, rel=1e-6)
    assert translation_error(raw.trajectory.centres, reference.centres) < 1e-12
    calibrated = transfer(reference, depths, PerFrameDepth(k * depths), mode="per_frame")
    assert parallax_consistency(calibrated.pi_reference, calibrated.pi_realized).pce < 1e-9
    # The calibrated path is k times the size of the reference but keeps its start's coordinates (~10), so
    # the float64 rounding of its centres (eps * 10) grows by 1/k when the similarity scales it back; the
    # rounding itself differs between BLAS kernels (1.4e-12 for k = 1e-4 under Sandybridge).
    rounding = 64 * np.finfo(float).eps * np.abs(reference.centres).max() * max(1.0, 1.0 / k)
    assert translation_error(calibrated.trajectory.centres, reference.centres) < max(1e-12, rounding)


@pytest.mark.parametrize("k", [1e-4, 1e3])
def test_per_frame_transfer_to_a_scaled_point_cloud_scales_the_path(k):
    reference = wobbly_path(40, 2)
    points = np.random.default_rng(1).normal(size=(300, 3))
    start = k * reference.centres[0]
    result = transfer(reference, PointsDepth(points), PointsDepth(k * points), reference.rotations[0], start)
    np.testing.assert_allclose(result.trajectory.centres, k * reference.centres, rtol=1e-9)
    assert rotation_error(reference.rotations, result.trajectory.rotations) < 1e-7


def test_global_mode_is_one_scale_from_the_first_frame():
    reference = wobbly_path(20, 3)
    result = transfer(reference, FixedDepth(8.0), FixedDepth(0.02), mode="global")
    np.testing.assert_allclose(result.scale, 0.02 / 8.0)
    assert result.trajectory.clip_start == pytest.approx(reference.clip_start * 0.02 / 8.0)


def test_per_frame_reference_depths_and_lens_are_kept():
    reference = wobbly_path(20, 3).replace(lens=np.linspace(20, 80, 20))
    depths = np.linspace(5, 9, 20)
    result = transfer(reference, PerFrameDepth(depths), FixedDepth(1.0))
    np.testing.assert_allclose(result.depth_reference, depths)
    np.testing.assert_allclose(result.trajectory.lens, reference.lens)
    np.testing.assert_allclose(result.scale, 1.0 / depths[1:])


def test_a_reference_without_motion_is_refused():
    still = Trajectory(Rotation.random(5, random_state=1).as_matrix(), np.ones((5, 3)))
    with pytest.raises(NoMotionError, match="does not move"):
        transfer(still, FixedDepth(1), FixedDepth(1))


@pytest.mark.parametrize("probe", [BoundsDepth([0.0, 5.0, 0.0]), PointsDepth([[0.0, 5.0, 0.0]])])
def test_frames_where_the_target_sees_nothing_are_named(probe):
    """The camera trucks along x while turning from +y to -y: the target subject ends up behind it."""
    n = 30
    centres = np.stack([np.linspace(0, 1, n), np.zeros(n), np.zeros(n)], axis=1)
    heading = np.linspace(np.pi / 2, 3 * np.pi / 2, n)
    rot = look_at(centres, centres + np.stack([np.cos(heading), np.sin(heading), np.zeros(n)], axis=1))
    reference = Trajectory(rot, centres, frames=np.arange(n) + 101.0)
    with pytest.raises(NoDepthError) as info:
        transfer(reference, FixedDepth(10), probe, rot[0], [0, 0, 0])
    assert info.value.frames and min(info.value.frames) > 101 and max(info.value.frames) == 130
    assert "sees nothing" in str(info.value) and str(info.value.frames[0]) in str(info.value)


def test_reference_depth_missing_is_reported():
    reference = wobbly_path(10, 6)
    with pytest.raises(NoDepthError, match="reference depth"):
        transfer(reference, PerFrameDepth([np.nan] + [1.0] * 9), FixedDepth(1))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_non_positive_or_non_finite_fixed_depth_is_refused(bad):
    with pytest.raises(DepthError):
        FixedDepth(bad)


def test_mismatched_lengths_are_refused():
    with pytest.raises(DepthError, match="as many depths"):
        parallax_numbers(np.zeros((4, 3)), np.ones(3))
    with pytest.raises(DepthError, match="per-frame depths"):
        transfer(wobbly_path(10), PerFrameDepth(np.ones(5)), FixedDepth(1))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        transfer(wobbly_path(10), 1.0, 1.0, mode="sideways")


class JumpingDepth(DepthProbe):
    """A depth that jumps from 1.0 to 0.5 once the camera passes y = 0.3: between the two there is no
    exact fixed point (the median of a view switching between two groups of surfaces does this)."""

    name = "jumping"

    def __call__(self, views: Views) -> np.ndarray:
        return np.where(views.centres[:, 1] < 0.3, 1.0, 0.5)


def test_a_depth_jump_is_reported_as_unconverged_and_closed_on():
    n = 6
    centres = np.stack([np.zeros(n), np.arange(n) * 0.5, np.zeros(n)], axis=1)
    reference = Trajectory(look_at(centres, centres + [0, 1, 0]), centres)
    # Step 1 asks for 0.5 * D: 0.5 at depth 1 lands past the jump (depth 0.5 wants 0.25, which is before
    # it): the fixed point does not exist and the bracket closes on y = 0.3.
    result = transfer(reference, FixedDepth(1.0), JumpingDepth(), mode="per_frame")
    assert not result.converged[0] and result.converged[1:].all()
    assert result.trajectory.centres[1, 1] == pytest.approx(0.3, rel=1e-6)
    assert result.iterations[0] < 64
    assert int(result.trajectory.frames[1]) in result.summary()["unconverged_frames"]


def test_a_missing_reference_depth_names_the_clips_frame_numbers():
    reference = wobbly_path(10, 6).replace(frames=np.arange(10) + 101.0)
    with pytest.raises(NoDepthError, match="nothing is in view of the reference depth source") as info:
        transfer(reference, PerFrameDepth([1.0, np.nan] + [1.0] * 8), FixedDepth(1))
    assert info.value.frames == [102] and "frame 102" in str(info.value)


def test_depths_measured_a_chunk_at_a_time_are_the_depths_measured_at_once():
    """probe_depths_steps (the add-on measures the reference a chunk of frames a step) gives what
    probe_depths gives, reports the last view measured after each chunk, and names the frames that see
    nothing in the same error; measured_depths keeps the probe's name and statistic."""
    from parascale.core.depth import measured_depths, probe_depths, probe_depths_steps
    from parascale.core.parallax import run_steps

    n = 150
    centres = np.c_[np.linspace(0, 10, n), np.zeros(n), np.zeros(n)]
    trajectory = Trajectory(look_at(centres, centres + [0.0, 1.0, 0.0]), centres, lens=35.0)
    points = np.array([[x, 20.0 + x, 0.0] for x in np.linspace(-5, 15, 40)])
    probe = PointsDepth(points, statistic="smooth")
    views = Views.of(trajectory)
    yielded = []
    chunked = run_steps(probe_depths_steps(probe, views, "reference depth", chunk=64), yielded.append)
    assert yielded == [63, 127, 149]
    np.testing.assert_allclose(chunked, probe_depths(probe, views), rtol=1e-12)
    measured = measured_depths(probe, chunked)
    assert measured.statistic == "smooth" and measured.describe() == probe.describe()
    np.testing.assert_array_equal(measured(views), chunked)
    blind = PerFrameDepth(np.where(np.arange(n) % 70 == 5, np.nan, 2.0))
    with pytest.raises(NoDepthError, match="at frame 5, 75, 145"):
        for _ in probe_depths_steps(blind, views, "reference depth", chunk=64):
            pass
