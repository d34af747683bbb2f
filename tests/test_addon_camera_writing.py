"""camera_writing: Euler/quaternion baking (checked against mathutils), bulk keyframes that put the camera
exactly on its trajectory at every integer frame, and finding the written camera by its marker."""

from __future__ import annotations

import bpy
import mathutils
import numpy as np
import pytest
from parascale.core.poses import Intrinsics, Trajectory, look_at, quaternion_to_matrix
from parascale.parascale_blender import camera_writing, compat
from parascale.parascale_blender.camera_writing import (
    EULER_ORDERS,
    compatible_euler,
    find_written_camera,
    matrix_to_euler,
    write_camera,
)
from parascale.tools.blender_scenes import add_camera, world_matrices


def _random_rotations(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return quaternion_to_matrix(q)


@pytest.mark.parametrize("order", sorted(EULER_ORDERS))
def test_matrix_to_euler_matches_mathutils(order):
    rotations = _random_rotations(200, seed=len(order) + ord(order[0]))
    euler = matrix_to_euler(rotations, order)
    for r, e in zip(rotations, euler, strict=True):
        expected = mathutils.Matrix(r.tolist()).to_euler(order)
        back = np.array(mathutils.Euler(e.tolist(), order).to_matrix())
        np.testing.assert_allclose(back, r, atol=1e-6)  # mathutils is float32
        # Always the principal branch (middle angle within +-pi/2; Blender's to_euler may pick the other
        # when its angles are smaller), and then Blender's own angles (up to 2*pi on each axis).
        middle = EULER_ORDERS[order][0][1]
        assert abs(e[middle]) <= np.pi / 2 + 1e-12
        if abs(expected[middle]) <= np.pi / 2:
            diff = (np.array(expected) - e + np.pi) % (2 * np.pi) - np.pi
            np.testing.assert_allclose(diff, 0.0, atol=2e-5)


def test_gimbal_lock_still_gives_the_rotation():
    rotations = np.array([mathutils.Euler((0.3, np.pi / 2, -0.2), "XYZ").to_matrix()], dtype=float)
    back = np.array(mathutils.Euler(matrix_to_euler(rotations, "XYZ")[0].tolist(), "XYZ").to_matrix())
    np.testing.assert_allclose(back, rotations[0], atol=1e-6)


def test_compatible_euler_has_no_jumps_and_follows_mathutils_compat():
    # A camera panning three full turns: principal angles jump by 2*pi, the baked curve must not.
    angles = np.linspace(0.0, 6 * np.pi, 400)
    rotations = np.array([mathutils.Euler((1.2, 0.0, a), "XYZ").to_matrix() for a in angles], dtype=float)
    euler = compatible_euler(matrix_to_euler(rotations, "XYZ"), hint=np.array([1.2, 0.0, 0.0]))
    assert np.abs(np.diff(euler, axis=0)).max() < 0.1
    np.testing.assert_allclose(euler[:, 2], angles, atol=1e-9)
    # Independent oracle: Blender's own compatible conversion, frame by frame.
    previous = mathutils.Euler((1.2, 0.0, 0.0), "XYZ")
    for r, e in zip(rotations, euler, strict=True):
        previous = mathutils.Matrix(r.tolist()).to_euler("XYZ", previous)
        np.testing.assert_allclose(np.array(previous), e, atol=1e-5)
    shifted = compatible_euler(matrix_to_euler(rotations[:1], "XYZ"), hint=np.array([0.0, 0.0, 4 * np.pi + 0.1]))
    assert shifted[0, 2] == pytest.approx(4 * np.pi)


def _trajectory(n: int = 40, first: int = 7) -> Trajectory:
    t = np.linspace(0.0, 1.0, n)
    centres = np.stack([3 * np.cos(4 * t), 3 * np.sin(4 * t), 1 + t], axis=1)
    rotations = look_at(centres, np.zeros((n, 3)))
    return Trajectory(rotations, centres, frames=np.arange(first, first + n), lens=np.linspace(20, 80, n),
                      intrinsics=Intrinsics(sensor_width=24.0, shift_x=0.1), clip_start=0.01, clip_end=50.0)


@pytest.mark.parametrize("mode", ["XYZ", "ZXY", "QUATERNION"])
def test_written_camera_is_exact_at_every_integer_frame(empty_scene, mode):
    trajectory = _trajectory()
    empty_scene.frame_set(3)
    obj = write_camera(empty_scene, trajectory, "Out", rotation_mode=mode, marker="Ref")
    assert empty_scene.frame_current == 3
    assert obj.rotation_mode == mode and obj.get(camera_writing.OUTPUT_MARKER) == "Ref"
    matrices = world_matrices(empty_scene, obj, trajectory.frames)
    np.testing.assert_allclose(matrices[:, :3, 3], trajectory.centres, atol=1e-5)
    np.testing.assert_allclose(matrices[:, :3, :3], trajectory.rotations, atol=2e-6)
    lens = compat.find_fcurve(obj.data, "lens", 0)
    assert lens is not None
    np.testing.assert_allclose(compat.read_keyframes(lens)[1], trajectory.lens, rtol=1e-6)
    assert (obj.data.sensor_width, obj.data.shift_x) == pytest.approx((24.0, 0.1))
    for fcurve in compat.action_fcurves(obj):
        assert {k.interpolation for k in fcurve.keyframe_points} == {"LINEAR"}
        assert compat.read_keyframes(fcurve)[0][0] == 7
    if mode == "QUATERNION":
        q = np.array([compat.read_keyframes(compat.find_fcurve(obj, "rotation_quaternion", i))[1] for i in range(4)]).T
        assert np.all(np.einsum("ij,ij->i", q[1:], q[:-1]) > 0)  # no sign flips


def test_template_data_is_copied_with_scaled_clip(empty_scene):
    template = add_camera("Template", lens=35.0, clip_start=0.5, clip_end=200.0).data
    template.sensor_fit, template.sensor_height, template.shift_y = "VERTICAL", 18.0, -0.2
    trajectory = _trajectory().replace(lens=35.0)
    obj = write_camera(empty_scene, trajectory, "Out", template=template, clip_scale=(0.01, 0.02), size_scale=0.5)
    data = obj.data
    assert (data.lens, data.sensor_fit, data.sensor_height, data.shift_y) == pytest.approx((35.0, "VERTICAL", 18.0,
                                                                                            -0.2))
    assert (data.clip_start, data.clip_end) == pytest.approx((0.005, 4.0))
    assert data.display_size == pytest.approx(template.display_size * 0.5)
    assert compat.find_fcurve(data, "lens", 0) is None  # a constant lens is not keyed
    assert data != template and template.clip_start == pytest.approx(0.5)


def test_found_by_marker_not_by_name(empty_scene):
    impostor = add_camera("Ref.ParaScale")
    assert find_written_camera("Ref") is None
    written = write_camera(empty_scene, _trajectory(), "Ref.ParaScale", marker="Ref")
    assert written.name == "Ref.ParaScale.001" and impostor.name == "Ref.ParaScale"
    assert find_written_camera("Ref") == written
    assert find_written_camera("Other") is None
    again = write_camera(empty_scene, _trajectory(n=12), "Ref.ParaScale", replace=written, marker="Ref")
    assert again == written and len(world_matrices(empty_scene, again, [1])) == 1
    frames, _ = compat.read_keyframes(compat.find_fcurve(again, "location", 0))
    assert frames.size == 12
    assert sorted(o.name for o in bpy.data.objects) == ["Ref.ParaScale", "Ref.ParaScale.001"]
    assert len(bpy.data.cameras) == 2  # the replaced camera data was removed
