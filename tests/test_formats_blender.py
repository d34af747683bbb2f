"""Pose files against real Blender cameras: the intrinsics ParaScale computes (core.poses.Intrinsics) and
the poses it writes must reproduce Blender's own projection (`Object.calc_matrix_camera`) and view frame
(`Camera.view_frame`), for landscape and portrait frames, every sensor fit, lens shift, resolution
percentage and pixel aspect. Runs on Blender 4.2, 4.5 and 5.0."""

from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np
import pytest
from mathutils import Vector
from parascale.core.formats import read_trajectory, write_trajectory
from parascale.core.poses import Intrinsics, Trajectory

FORMATS_WITH_INTRINSICS = ("realestate10k", "uni3c", "transforms", "colmap", "parascale")


def make_camera(scene: bpy.types.Scene, width: int, height: int, fit: str, lens: float = 35.0,
                shift: tuple[float, float] = (0.0, 0.0), sensor: tuple[float, float] = (36.0, 24.0),
                percentage: int = 100, aspect: tuple[float, float] = (1.0, 1.0)) -> bpy.types.Object:
    data = bpy.data.cameras.new("Cam")
    data.lens = lens
    data.sensor_width, data.sensor_height = sensor
    data.sensor_fit = fit
    data.shift_x, data.shift_y = shift
    camera = bpy.data.objects.new("Cam", data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = percentage
    scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = aspect
    return camera


def intrinsics_of(scene: bpy.types.Scene, camera: bpy.types.Object) -> Intrinsics:
    """ParaScale's description of a Blender camera (what the add-on reads)."""
    render = scene.render
    scale = render.resolution_percentage / 100.0
    return Intrinsics(sensor_width=camera.data.sensor_width, sensor_height=camera.data.sensor_height,
                      sensor_fit=camera.data.sensor_fit, shift_x=camera.data.shift_x, shift_y=camera.data.shift_y,
                      width=int(render.resolution_x * scale), height=int(render.resolution_y * scale),
                      pixel_aspect_x=render.pixel_aspect_x, pixel_aspect_y=render.pixel_aspect_y)


def blender_trajectory(scene: bpy.types.Scene, camera: bpy.types.Object, frames: range) -> Trajectory:
    matrices, lens = [], []
    for frame in frames:
        scene.frame_set(frame)
        matrices.append(np.array(camera.matrix_world))
        lens.append(camera.data.lens)
    return Trajectory.from_matrices(np.array(matrices), frames=np.array(list(frames), float), fps=scene.render.fps,
                                    lens=np.array(lens), intrinsics=intrinsics_of(scene, camera))


def blender_pixels(scene: bpy.types.Scene, camera: bpy.types.Object, points: np.ndarray) -> np.ndarray:
    """Blender's own projection of world points to pixel (column, row-from-top) coordinates."""
    intrinsics = intrinsics_of(scene, camera)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    projection = np.array(camera.calc_matrix_camera(depsgraph, x=intrinsics.width, y=intrinsics.height,
                                                    scale_x=scene.render.pixel_aspect_x,
                                                    scale_y=scene.render.pixel_aspect_y))
    view = np.linalg.inv(np.array(camera.matrix_world))
    clip = (projection @ view @ np.c_[points, np.ones(len(points))].T).T
    ndc = clip[:, :2] / clip[:, 3:4]
    return np.c_[(ndc[:, 0] + 1) / 2 * intrinsics.width, (1 - ndc[:, 1]) / 2 * intrinsics.height]


def file_pixels(path: Path, fmt: str, points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Project world points with K and w2c parsed straight from the file, as the consumer reads them."""
    if fmt == "realestate10k":
        row = np.array([float(v) for v in path.read_text().split("\n")[1].split(" ")])
        fx, fy, cx, cy = row[1:5] * [width, height, width, height]
        w2c = np.vstack([row[7:].reshape(3, 4), [0, 0, 0, 1]])
    elif fmt == "uni3c":
        data = json.loads(path.read_text())
        k = np.array(data["intrinsic"])
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
        w2c = np.array(data["extrinsic"][0])
    elif fmt == "transforms":
        data = json.loads(path.read_text())
        fx, fy, cx, cy = data["fl_x"], data["fl_y"], data["cx"], data["cy"]
        c2w = np.array(data["frames"][0]["transform_matrix"]) @ np.diag([1.0, -1.0, -1.0, 1.0])  # OpenGL->OpenCV
        w2c = np.linalg.inv(c2w)
    else:
        trajectory = read_trajectory(path, fmt)
        fx, fy, cx, cy = trajectory.pixel_intrinsics()[0]
        rotation, translation = trajectory.w2c_opencv()
        w2c = np.vstack([np.c_[rotation[0], translation[0]], [0, 0, 0, 1]])
    cam = (w2c @ np.c_[points, np.ones(len(points))].T).T[:, :3]
    return np.c_[fx * cam[:, 0] / cam[:, 2] + cx, fy * cam[:, 1] / cam[:, 2] + cy]


CASES = [
    # (width, height, fit, shift, sensor, percentage, pixel aspect)
    (160, 90, "AUTO", (0.0, 0.0), (36.0, 24.0), 100, (1.0, 1.0)),
    (90, 160, "AUTO", (0.1, -0.2), (36.0, 24.0), 100, (1.0, 1.0)),
    (160, 90, "HORIZONTAL", (-0.15, 0.1), (30.0, 40.0), 100, (1.0, 1.0)),
    (90, 160, "HORIZONTAL", (0.05, 0.0), (36.0, 24.0), 100, (1.0, 1.0)),
    (160, 90, "VERTICAL", (0.2, 0.2), (36.0, 20.0), 100, (1.0, 1.0)),
    (90, 160, "VERTICAL", (-0.1, -0.1), (23.0, 15.6), 100, (1.0, 1.0)),
    (320, 180, "AUTO", (0.1, 0.05), (36.0, 24.0), 50, (1.0, 1.0)),
    (160, 120, "AUTO", (0.1, -0.05), (36.0, 24.0), 100, (2.0, 1.0)),
    (120, 160, "VERTICAL", (0.0, 0.1), (36.0, 24.0), 100, (1.0, 1.5)),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}x{c[1]}-{c[2]}-{c[5]}%-aspect{c[6][0]}:{c[6][1]}"
                                             for c in CASES])
def test_pixel_intrinsics_match_blender_projection_and_view_frame(empty_scene, case) -> None:
    width, height, fit, shift, sensor, percentage, aspect = case
    scene = empty_scene
    camera = make_camera(scene, width, height, fit, 42.0, shift, sensor, percentage, aspect)
    camera.location = (0.3, -4.0, 1.2)
    camera.rotation_euler = (1.3, 0.1, 0.4)
    bpy.context.view_layer.update()
    intrinsics = intrinsics_of(scene, camera)
    fx, fy, cx, cy = intrinsics.pixel_intrinsics(camera.data.lens)

    # Blender's view frame: the four corners of the frame in camera space (x right, y up, z = -distance).
    corners = np.array([tuple(v) for v in camera.data.view_frame(scene=scene)])
    distance = -corners[0, 2]
    left, right = corners[:, 0].min(), corners[:, 0].max()
    bottom, top = corners[:, 1].min(), corners[:, 1].max()
    w, h = intrinsics.width, intrinsics.height
    assert fx == pytest.approx(w * distance / (right - left), rel=1e-5)
    assert fy == pytest.approx(h * distance / (top - bottom), rel=1e-5)
    assert cx == pytest.approx(-left / (right - left) * w, rel=1e-5, abs=1e-4)
    assert cy == pytest.approx(top / (top - bottom) * h, rel=1e-5, abs=1e-4)
    if shift[1] == 0.0:  # a symmetric frame: the vertical fov is the view frame's opening angle
        assert float(intrinsics.vertical_fov(camera.data.lens)) == pytest.approx(
            np.arctan(top / distance) - np.arctan(bottom / distance), rel=1e-5)

    # Blender's projection matrix against every format that carries intrinsics, read as its consumer reads it.
    rng = np.random.default_rng(0)
    local = np.c_[rng.uniform(-1, 1, (40, 2)) * 2, -rng.uniform(2, 20, 40)]
    world = (np.array(camera.matrix_world) @ np.c_[local, np.ones(40)].T).T[:, :3]
    expected = blender_pixels(scene, camera, world)
    trajectory = blender_trajectory(scene, camera, range(1, 3))
    for fmt in FORMATS_WITH_INTRINSICS:
        path = Path(bpy.app.tempdir or "/tmp") / f"parascale-test-{fmt}-{w}x{h}"
        path = path.with_suffix(".txt") if fmt == "realestate10k" else (
            path if fmt == "colmap" else path.with_suffix(".json"))
        write_trajectory(path, trajectory, format=fmt)
        got = file_pixels(path, fmt, world, w, h)
        np.testing.assert_allclose(got, expected, atol=2e-3 * max(w, h) / 100, err_msg=fmt)


def test_truck_rise_push_from_a_keyframed_blender_camera(empty_scene, tmp_path: Path) -> None:
    scene = empty_scene
    camera = make_camera(scene, 160, 90, "AUTO")
    camera.rotation_euler = (np.pi / 2, 0.0, 0.0)  # level, looking along +Y
    start, moves = Vector((1.0, -6.0, 1.5)), {"truck": (2, 0, 0), "rise": (0, 0, 2), "push": (0, 2, 0)}
    expected_signs = {"truck": (0, -1), "rise": (1, +1), "push": (2, -1)}
    for name, move in moves.items():
        camera.animation_data_clear()
        camera.location = start
        camera.keyframe_insert("location", frame=1)
        camera.location = start + Vector(move)
        camera.keyframe_insert("location", frame=9)
        trajectory = blender_trajectory(scene, camera, range(1, 10))
        locations = []
        for frame in range(1, 10):
            scene.frame_set(frame)
            locations.append(tuple(camera.matrix_world.translation))
        path = tmp_path / f"{name}.txt"
        write_trajectory(path, trajectory, preset="cameractrl-animatediff", frames=9)
        rows = [line.split(" ") for line in path.read_text().split("\n")[1:]]
        assert all(len(row) == 19 for row in rows)
        w2c = np.array([np.vstack([np.array(row[7:], float).reshape(3, 4), [0, 0, 0, 1]]) for row in rows])
        relative = w2c @ np.linalg.inv(w2c[0])
        axis, sign = expected_signs[name]
        assert np.sign(relative[-1, axis, 3]) == sign, (name, relative[-1, :3, 3])
        # The centre each file gives back is Blender's location at every frame.
        centres = -np.einsum("nji,nj->ni", w2c[:, :3, :3], w2c[:, :3, 3])
        np.testing.assert_allclose(centres, np.array(locations), atol=1e-5)
        for fmt in ("motionctrl", "recammaster", "uni3c", "nerfstudio", "transforms", "colmap", "parascale"):
            out = tmp_path / f"{name}-{fmt}"
            out = out if fmt == "colmap" else out.with_suffix(".json")
            write_trajectory(out, trajectory, format=fmt)
            back = read_trajectory(out, fmt)
            np.testing.assert_allclose(back.centres, np.array(locations), atol=1e-5, err_msg=fmt)
            np.testing.assert_allclose(back.rotations, trajectory.rotations, atol=1e-6, err_msg=fmt)
