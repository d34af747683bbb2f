"""Pose conventions, checked against scipy's Rotation as an independent oracle."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parascale.core.errors import TrajectoryError
from parascale.core.poses import (
    Intrinsics,
    Trajectory,
    blender_to_opencv,
    c2w_to_w2c,
    look_at,
    make_quaternions_continuous,
    matrix_to_quaternion,
    quaternion_to_matrix,
    reanchor,
    resample,
    w2c_to_c2w,
)
from scipy.spatial.transform import Rotation, Slerp

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def random_rotations(n: int, seed: int) -> np.ndarray:
    return Rotation.random(n, random_state=seed).as_matrix()


@given(seeds)
@settings(max_examples=50, deadline=None)
def test_matrix_to_quaternion_matches_scipy(seed):
    r = random_rotations(64, seed)
    ours = matrix_to_quaternion(r, continuous=False)
    x, y, z, w = Rotation.from_matrix(r).as_quat().T
    theirs = np.stack([w, x, y, z], axis=1)
    theirs *= np.where(theirs[:, :1] < 0, -1.0, 1.0)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert np.all(ours[:, 0] >= 0)


@given(seeds)
@settings(max_examples=50, deadline=None)
def test_quaternion_to_matrix_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(32, 4))
    ours = quaternion_to_matrix(q)
    theirs = Rotation.from_quat(np.roll(q, -1, axis=1)).as_matrix()  # scipy wants (x, y, z, w)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_quaternion_round_trip_on_special_rotations():
    # Rotations by pi about each axis and the identity exercise every branch of Shepperd's method.
    r = Rotation.from_rotvec(np.array([[0, 0, 0], [np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi],
                                       [np.pi / np.sqrt(2), np.pi / np.sqrt(2), 0]])).as_matrix()
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(r)), r, atol=1e-12)


def test_continuous_quaternions_never_flip():
    angles = np.linspace(0, 6 * np.pi, 400)
    r = Rotation.from_rotvec(np.outer(angles, [0.3, 0.4, np.sqrt(0.75)])).as_matrix()
    q = matrix_to_quaternion(r, continuous=True)
    assert np.all(np.einsum("ij,ij->i", q[1:], q[:-1]) > 0)
    np.testing.assert_allclose(quaternion_to_matrix(q), r, atol=1e-12)
    flipped = q * np.where(np.arange(len(q)) % 3 == 0, -1.0, 1.0)[:, None]
    np.testing.assert_allclose(make_quaternions_continuous(flipped), q * np.sign(flipped[0, 0] * q[0, 0]), atol=1e-15)


@given(seeds)
@settings(max_examples=30, deadline=None)
def test_blender_to_opencv_is_a_half_turn_about_camera_x(seed):
    r = random_rotations(16, seed)
    theirs = (Rotation.from_matrix(r) * Rotation.from_euler("x", np.pi)).as_matrix()
    np.testing.assert_allclose(blender_to_opencv(r), theirs, atol=1e-12)
    np.testing.assert_allclose(blender_to_opencv(blender_to_opencv(r)), r, atol=1e-15)


@given(seeds)
@settings(max_examples=30, deadline=None)
def test_c2w_w2c_round_trip_and_inverse(seed):
    rng = np.random.default_rng(seed)
    r = random_rotations(8, seed)
    c = rng.normal(size=(8, 3)) * 100
    rw, t = c2w_to_w2c(r, c)
    m_c2w = np.tile(np.eye(4), (8, 1, 1))
    m_c2w[:, :3, :3], m_c2w[:, :3, 3] = r, c
    m_w2c = np.tile(np.eye(4), (8, 1, 1))
    m_w2c[:, :3, :3], m_w2c[:, :3, 3] = rw, t
    np.testing.assert_allclose(m_w2c @ m_c2w, np.tile(np.eye(4), (8, 1, 1)), atol=1e-9)
    r2, c2 = w2c_to_c2w(rw, t)
    np.testing.assert_allclose(r2, r, atol=1e-15)
    np.testing.assert_allclose(c2, c, atol=1e-12)


def test_camera_looks_down_minus_z_in_blender_and_plus_z_in_opencv():
    eye, target = np.array([0.0, -10.0, 0.0]), np.zeros(3)
    r = look_at(eye, target)[0]
    point_cam_blender = r.T @ (target - eye)
    assert point_cam_blender[2] == pytest.approx(-10.0)
    rw, t = c2w_to_w2c(blender_to_opencv(r[None]), eye[None])
    assert (rw[0] @ target + t[0])[2] == pytest.approx(10.0)


def test_resample_matches_scipy_slerp_and_keeps_endpoints():
    rng = np.random.default_rng(3)
    r = random_rotations(10, 11)
    c = np.cumsum(rng.normal(size=(10, 3)), axis=0)
    traj = Trajectory(r, c, frames=np.arange(10) * 2.0 + 5, fps=24.0, lens=np.linspace(30, 60, 10))
    out = resample(traj, 81)
    assert len(out) == 81 and out.frames[0] == 5
    np.testing.assert_allclose(out.rotations[[0, -1]], r[[0, -1]], atol=1e-12)
    np.testing.assert_allclose(out.centres[[0, -1]], c[[0, -1]], atol=1e-12)
    times = np.linspace(5, 23, 81)
    oracle = Slerp(traj.frames, Rotation.from_matrix(r))(times).as_matrix()
    np.testing.assert_allclose(out.rotations, oracle, atol=1e-9)
    np.testing.assert_allclose(out.lens, np.interp(times, traj.frames, traj.lens))
    # The clip keeps its duration: 18 frames at 24 fps = 80 frames at fps'.
    assert (len(out) - 1) / out.fps == pytest.approx(18 / 24)


def test_reanchor_keeps_relative_rotations_and_shape():
    rng = np.random.default_rng(5)
    traj = Trajectory(random_rotations(12, 2), rng.normal(size=(12, 3)))
    r0 = random_rotations(1, 9)[0]
    out = reanchor(traj, r0, [1, 2, 3], scale=0.5)
    np.testing.assert_allclose(out.rotations[0], r0, atol=1e-12)
    np.testing.assert_allclose(out.relative_rotations(), traj.relative_rotations(), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out.steps(), axis=1), 0.5 * np.linalg.norm(traj.steps(), axis=1))


def test_intrinsics_focal_and_principal_point():
    wide = Intrinsics(sensor_width=36, sensor_height=24, width=1920, height=1080, shift_x=0.1, shift_y=-0.05)
    fx, fy, cx, cy = wide.pixel_intrinsics(50.0)
    assert fx == pytest.approx(50 / 36 * 1920) and fy == pytest.approx(fx)
    assert cx == pytest.approx(960 - 0.1 * 1920) and cy == pytest.approx(540 - 0.05 * 1920)
    portrait = Intrinsics(sensor_width=36, width=1080, height=1920)  # AUTO fits the larger side
    assert portrait.pixel_intrinsics(50.0)[0] == pytest.approx(50 / 36 * 1920)
    vertical = Intrinsics(sensor_height=24, sensor_fit="VERTICAL", width=1920, height=1080)
    assert vertical.pixel_intrinsics(50.0)[1] == pytest.approx(50 / 24 * 1080)
    assert np.degrees(vertical.vertical_fov(50.0)) == pytest.approx(np.degrees(2 * np.arctan(12 / 50)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(centres=np.full((3, 3), np.nan)), "non-finite"),
        (dict(rotations=np.tile(np.diag([1.0, 1.0, 1.1]), (3, 1, 1))), "not a rotation"),
        (dict(rotations=np.tile(np.diag([1.0, 1.0, -1.0]), (3, 1, 1))), "not a rotation"),
        (dict(rotations=np.tile(np.eye(3), (1, 1, 1)), centres=np.zeros((1, 3))), "at least two frames"),
        (dict(centres=np.zeros((4, 3))), "to match the rotations"),
        (dict(frames=[0, 2, 1]), "strictly increasing"),
        (dict(lens=[50, 0, 50]), "focal lengths"),
    ],
)
def test_bad_trajectories_raise_one_clear_error(change, message):
    args = dict(rotations=np.tile(np.eye(3), (3, 1, 1)), centres=np.zeros((3, 3)))
    args.update(change)
    with pytest.raises(TrajectoryError, match=message):
        Trajectory(**args)


def test_float32_rotations_are_accepted_and_projected():
    r = random_rotations(4, 1).astype(np.float32)
    traj = Trajectory(r, np.zeros((4, 3)))
    np.testing.assert_allclose(np.einsum("nji,njk->nik", traj.rotations, traj.rotations),
                               np.tile(np.eye(3), (4, 1, 1)), atol=1e-14)


def test_from_matrices_takes_the_nearest_rotation_of_scaled_and_sheared_matrices():
    rotation = Rotation.random(random_state=7).as_matrix()
    shear = np.array([[2.0, 0.3, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.5]])  # a sheared parent's scale
    matrices = np.tile(np.eye(4), (2, 1, 1))
    matrices[:, :3, :3] = rotation @ shear
    matrices[1, :3, 3] = [1.0, 2.0, 3.0]
    traj = Trajectory.from_matrices(matrices)
    u, _, vt = np.linalg.svd(rotation @ shear)
    np.testing.assert_allclose(traj.rotations[0], u @ vt, atol=1e-12)
    np.testing.assert_allclose(traj.centres[1], [1.0, 2.0, 3.0])
    matrices[0, :3, 0] = 0.0
    with pytest.raises(TrajectoryError, match="scaled to zero"):
        Trajectory.from_matrices(matrices)
