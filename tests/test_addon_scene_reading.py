"""scene_reading: what the add-on reads from Blender. Evaluated geometry (modifiers, instances, nested
collections, world transforms), bounds, per-frame camera samples (lens drivers, focus) and frame
restoration, checked against geometry the tests build with known extents."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from parascale.core.errors import DepthError, TrajectoryError
from parascale.parascale_blender import scene_reading
from parascale.tools.blender_scenes import add_box, add_camera, keyframe_locations, new_collection, world_matrices


def test_mesh_is_evaluated_in_world_space(empty_scene):
    collection = new_collection("Set")
    box = add_box("Box", (0.0, 0.0, 0.0), (2.0, 2.0, 2.0), collection)
    box.location, box.scale = (10.0, 0.0, 1.0), (1.0, 0.5, 1.0)
    array = box.modifiers.new("Array", "ARRAY")
    array.count, array.relative_offset_displace = 3, (1.0, 0.0, 0.0)
    child = new_collection("Nested")
    collection.children.link(child)
    empty_scene.collection.children.unlink(child)
    add_box("Inner", (-5.0, 0.0, 0.0), (1.0, 1.0, 1.0), child)
    # Things that hold no surface are skipped.
    add_camera("Cam", collection=collection)
    light = bpy.data.objects.new("Light", bpy.data.lights.new("Light", "POINT"))
    collection.objects.link(light)
    vertices, triangles = scene_reading.read_collection_mesh(empty_scene, collection)
    assert triangles.shape == (12 * 3 + 12, 3)  # three arrayed boxes and the nested one
    assert triangles.max() == len(vertices) - 1
    np.testing.assert_allclose(vertices.min(axis=0), (-5.5, -0.5, -0.5), atol=1e-6)
    np.testing.assert_allclose(vertices.max(axis=0), (15.0, 0.5, 2.0), atol=1e-6)
    low, high = scene_reading.read_collection_bounds(empty_scene, collection)
    np.testing.assert_allclose(low, (-5.5, -0.5, -0.5), atol=1e-6)
    np.testing.assert_allclose(high, (15.0, 0.5, 2.0), atol=1e-6)


def test_collection_instances_are_included(empty_scene):
    source = new_collection("Prop")
    add_box("PropBox", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), source)
    source.hide_viewport = False
    target = new_collection("Set")
    for i, x in enumerate((100.0, 200.0)):
        instance = bpy.data.objects.new(f"Instance{i}", None)
        instance.instance_type, instance.instance_collection = "COLLECTION", source
        instance.location = (x, 0.0, 0.0)
        target.objects.link(instance)
    vertices, triangles = scene_reading.read_collection_mesh(empty_scene, target)
    assert len(triangles) == 24
    np.testing.assert_allclose(sorted({round(float(v), 3) for v in vertices[:, 0]}), [99.5, 100.5, 199.5, 200.5])


def test_empty_or_missing_collection_is_a_depth_error(empty_scene):
    empty = new_collection("Nothing")
    add_camera("OnlyACamera", collection=empty)
    with pytest.raises(DepthError, match="'Nothing' holds no visible geometry"):
        scene_reading.read_collection_mesh(empty_scene, empty)
    with pytest.raises(DepthError, match="'Nothing' holds no visible geometry"):
        scene_reading.read_collection_bounds(empty_scene, empty)
    with pytest.raises(DepthError, match="no collection chosen"):
        scene_reading.read_collection_mesh(empty_scene, None)


def test_samples_follow_drivers_and_focus_and_restore_the_frame(empty_scene):
    camera = add_camera("Cam", (0.0, -10.0, 0.0), (0.0, 0.0, 0.0))
    keyframe_locations(camera, [1, 11], [(0.0, -10.0, 0.0), (0.0, -5.0, 0.0)])
    driver = camera.data.driver_add("lens").driver
    driver.type, driver.expression = "SCRIPTED", "20 + frame"
    focus = bpy.data.objects.new("Focus", None)
    empty_scene.collection.objects.link(focus)
    focus.location = (3.0, 0.0, 0.0)  # off axis: its depth along the view, not its distance
    camera.data.dof.focus_object = focus
    frames = np.arange(1, 12)
    seen = []
    empty_scene.frame_set(4, subframe=0.25)
    samples = scene_reading.sample_cameras(empty_scene, [camera], frames, progress=seen.append)[0]
    assert (empty_scene.frame_current, empty_scene.frame_subframe) == (4, pytest.approx(0.25))
    assert seen == list(range(11))
    np.testing.assert_allclose(samples.lens, 20.0 + frames)
    np.testing.assert_allclose(samples.matrices, world_matrices(empty_scene, camera, frames), atol=1e-6)
    np.testing.assert_allclose(samples.focus_depth, -samples.matrices[:, 1, 3], atol=1e-5)
    trajectory = scene_reading.read_camera_trajectory(empty_scene, camera, frames)
    np.testing.assert_allclose(trajectory.lens, 20.0 + frames)
    assert trajectory.frames.tolist() == frames.tolist()


def test_the_frame_is_restored_on_error(empty_scene):
    camera = add_camera("Cam")
    empty_scene.frame_set(7)

    def fail(i: int) -> None:
        if i == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        scene_reading.sample_cameras(empty_scene, [camera], np.arange(1, 10), progress=fail)
    assert empty_scene.frame_current == 7


def test_frame_range_intrinsics_and_scale(empty_scene):
    empty_scene.frame_start, empty_scene.frame_end = 5, 5
    with pytest.raises(TrajectoryError, match="5-5 needs at least two frames"):
        scene_reading.scene_frame_range(empty_scene)
    render = empty_scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = 1000, 500, 30
    camera = add_camera("Cam")
    camera.data.shift_x, camera.data.sensor_fit = 0.1, "VERTICAL"
    intrinsics = scene_reading.scene_intrinsics(empty_scene, camera.data)
    assert (intrinsics.width, intrinsics.height, intrinsics.sensor_fit) == (300, 150, "VERTICAL")
    assert intrinsics.shift_x == pytest.approx(0.1)
    matrix = np.diag([2.0, 2.0, 2.0, 1.0])[None]
    np.testing.assert_allclose(scene_reading.pose_rotations(matrix)[0], np.eye(3))
    with pytest.raises(TrajectoryError, match="scaled to zero"):
        scene_reading.pose_rotations(np.diag([0.0, 1.0, 1.0, 1.0])[None])


def test_collection_of_another_scene_is_read_there(empty_scene):
    other = bpy.data.scenes.new("Other")
    collection = bpy.data.collections.new("Elsewhere")
    other.collection.children.link(collection)
    box = add_box("Moving", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), collection)
    keyframe_locations(box, [1, 11], [(0.0, 0.0, 0.0), (10.0, 0.0, 0.0)])
    other.frame_set(2)
    empty_scene.frame_set(11)  # read at the caller's frame, in the collection's own scene
    vertices, _ = scene_reading.read_collection_mesh(empty_scene, collection)
    assert vertices[:, 0].min() == pytest.approx(9.5)
    low, high = scene_reading.read_collection_bounds(empty_scene, collection)
    assert (low[0], high[0]) == (pytest.approx(9.5), pytest.approx(10.5))
    assert other.frame_current == 2 and empty_scene.frame_current == 11
    orphan = bpy.data.collections.new("Orphan")
    with pytest.raises(DepthError, match="'Orphan' is in no scene"):
        scene_reading.read_collection_mesh(empty_scene, orphan)
