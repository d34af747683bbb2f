"""The geometry depth source against real Cycles depth passes (tools/cycles_depth.py) on occluded scenes:
the independent oracle for the probe's median and its per-pixel map."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from mathutils import Vector
from parascale.core.depth import Views
from parascale.core.geometry import DEFAULT_RESOLUTION, GeometryDepth, probe_size
from parascale.core.poses import Intrinsics, Trajectory
from parascale.tools.cycles_depth import median_depth, render_depth

# ------------------------------------------------------------------------------- Blender scene helpers


def add_box(size, location) -> None:
    bpy.ops.mesh.primitive_cube_add(size=1, location=location)
    bpy.context.active_object.scale = size


def add_plane(size, location, rotation=(0.0, 0.0, 0.0)) -> None:
    bpy.ops.mesh.primitive_plane_add(size=size, location=location, rotation=rotation)


def scene_meshes(scene: bpy.types.Scene) -> list[tuple[np.ndarray, np.ndarray]]:
    """World-space triangles of every mesh object of the scene (evaluated)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    meshes = []
    for obj in scene.objects:
        if obj.type != "MESH":
            continue
        evaluated = obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        mesh.calc_loop_triangles()
        co = np.empty(len(mesh.vertices) * 3)
        mesh.vertices.foreach_get("co", co)
        tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
        mesh.loop_triangles.foreach_get("vertices", tris)
        matrix = np.array(evaluated.matrix_world)
        meshes.append((co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3], tris.reshape(-1, 3)))
        evaluated.to_mesh_clear()
    return meshes


def add_camera(scene: bpy.types.Scene) -> bpy.types.Object:
    data = bpy.data.cameras.new("probe camera")
    data.clip_start, data.clip_end = 0.01, 10000.0
    cam = bpy.data.objects.new("probe camera", data)
    scene.collection.objects.link(cam)
    return cam


def place(cam: bpy.types.Object, eye, target) -> None:
    cam.location = Vector(eye)
    cam.rotation_euler = (Vector(target) - Vector(eye)).to_track_quat("-Z", "Y").to_euler()
    bpy.context.view_layer.update()


def camera_views(cam: bpy.types.Object, width: int, height: int) -> Views:
    """The Blender camera as a one-view batch (read from matrix_world, lens and sensor)."""
    matrix = np.array(cam.matrix_world)
    rotation = matrix[:3, :3] / np.linalg.norm(matrix[:3, :3], axis=0)
    intrinsics = Intrinsics(sensor_width=cam.data.sensor_width, sensor_height=cam.data.sensor_height,
                            sensor_fit=cam.data.sensor_fit, width=width, height=height)
    return Views.of(Trajectory(np.stack([rotation, rotation]), np.stack([matrix[:3, 3]] * 2),
                               lens=cam.data.lens, intrinsics=intrinsics))


def build_wall_and_box() -> list:
    add_box((8, 4, 5), (0, 20, 2.5))  # far box
    add_plane(4, (-1.5, 8, 2), (np.pi / 2, 0, 0))  # a wall hiding its left part
    return [((0, -2, 2), (0, 20, 2.5)), ((2, -1, 1.5), (0, 20, 2)), ((-1, 2, 3), (1, 20, 2))]


def build_objects_on_ground() -> list:
    add_plane(80, (0, 0, 0))  # two triangles passing under (and behind) the camera: near-plane clipping
    add_box((1, 1, 1), (0, 5, 0.5))
    add_box((2, 1, 3), (-2, 9, 1.5))
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1, location=(1.5, 7, 1))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.5, depth=4, location=(3, 12, 2))
    return [((0, 0, 1.7), (0, 10, 0.5)), ((2, 1, 1.2), (-1, 8, 1)), ((-3, -1, 2.5), (1, 9, 0))]


def build_corridor() -> list:
    add_box((3, 40, 3), (0, 15, 1.5))  # the hall, seen from inside
    add_box((0.6, 0.6, 3), (0.6, 8, 1.5))  # a pillar
    add_box((1, 1, 1), (-0.8, 14, 0.5))  # a crate
    return [((0, 0, 1.6), (0, 30, 1.6)), ((0.8, 3, 1.2), (-0.5, 20, 1.5)), ((-1, -3, 2.2), (0.5, 10, 1))]


SCENES = {"wall and box": build_wall_and_box, "objects on ground": build_objects_on_ground,
          "corridor": build_corridor}

# ------------------------------------------------------------------------------------ (a) against Cycles


@pytest.mark.slow
@pytest.mark.parametrize("scene_name", list(SCENES))
def test_median_agrees_with_cycles_depth_pass(empty_scene, scene_name):
    """The probe at its default resolution against the median of a Cycles Z pass, at three poses per
    occluded scene: rendered at the probe's own size (same pixel centres) and at a larger frame."""
    poses = SCENES[scene_name]()
    cam = add_camera(empty_scene)
    probe = GeometryDepth.from_meshes(scene_meshes(empty_scene))
    assert probe.resolution == DEFAULT_RESOLUTION
    frame_width, frame_height = 160, 90
    probe_width, probe_height = probe_size(frame_width, frame_height, DEFAULT_RESOLUTION)
    for eye, target in poses:
        place(cam, eye, target)
        views = camera_views(cam, frame_width, frame_height)
        ours = probe(views)[0]
        theirs_map = render_depth(empty_scene, cam, 1, probe_width, probe_height)
        same_size = median_depth(theirs_map)
        larger = median_depth(render_depth(empty_scene, cam, 1, frame_width, frame_height))
        assert abs(ours / same_size - 1) < 0.02, (scene_name, eye, ours, same_size)
        assert abs(ours / larger - 1) < 0.02, (scene_name, eye, ours, larger)
        # Same pixel centres: the maps agree pixel by pixel, up to Cycles' float32 and its 0.01 px filter.
        ours_map = probe.depth_map(views)
        assert np.mean(np.isfinite(ours_map) != np.isfinite(theirs_map)) < 0.005
        both = np.isfinite(ours_map) & np.isfinite(theirs_map)
        assert np.median(np.abs(ours_map[both] / theirs_map[both] - 1)) < 1e-5
        assert abs(ours / same_size - 1) < 1e-5, (scene_name, eye, ours, same_size)
