"""A transferred camera for the preview tests, made the way users make it: a reference set and camera
move, a target that is the same set under a similarity (scale k, a turn about z, an offset), and the
add-on's own operator `bpy.ops.parascale.transfer_camera_move` (Bounds depth on both sides). The tests
here check the scene itself, so that the preview tests stand on known ground."""

from __future__ import annotations

import math
from dataclasses import dataclass

import bpy
import mathutils
import numpy as np
from parascale.tools.blender_scenes import (
    BOX_FACES,
    add_camera,
    box_vertices,
    keyframe_locations,
    new_collection,
    world_matrices,
)

FRAMES = np.arange(1, 9)
LOOK_AT = np.array([0.0, 1.0, 0.4])


def reference_centres(frames: np.ndarray = FRAMES) -> np.ndarray:
    """An accelerating truck-and-dolly: Pi differs from frame to frame."""
    t = np.asarray(frames, dtype=np.float64) - frames[0]
    return np.stack([-1.5 + 0.25 * t + 0.03 * t**2, -4.5 + 0.2 * t, 1.2 + 0.04 * t], axis=-1)


def similarity(k: float, yaw_degrees: float, offset: np.ndarray) -> np.ndarray:
    c, s = math.cos(math.radians(yaw_degrees)), math.sin(math.radians(yaw_degrees))
    m = np.eye(4)
    m[:3, :3] = k * np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    m[:3, 3] = offset
    return m


def _material(name: str, rgb: tuple[float, float, float]) -> bpy.types.Material:
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*rgb, 1.0)
    return material


def _add_box(name: str, centre, size, material, collection) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(map(float, v)) for v in box_vertices(centre, size)], [], BOX_FACES)
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    return obj


def build_reference_set(collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """A ground, a back wall and three coloured boxes, about 10 units wide."""
    parts = [("Ground", (0, 0, -0.05), (10, 10, 0.1), (0.45, 0.45, 0.42)),
             ("Wall", (0, 4.05, 2), (10, 0.1, 4), (0.3, 0.35, 0.6)),
             ("BoxA", (0, 1, 0.5), (1, 1, 1), (0.85, 0.25, 0.2)),
             ("BoxB", (-1.5, 0, 0.3), (0.6, 0.6, 0.6), (0.2, 0.75, 0.3)),
             ("BoxC", (1.8, 2.5, 0.4), (0.8, 0.8, 0.8), (0.9, 0.8, 0.2))]
    return [_add_box(f"Ref.{name}", centre, size, _material(name, rgb), collection)
            for name, centre, size, rgb in parts]


@dataclass
class TransferredScene:
    scene: bpy.types.Scene
    reference: bpy.types.Object
    target_start: bpy.types.Object
    camera: bpy.types.Object
    reference_collection: bpy.types.Collection
    target_collection: bpy.types.Collection
    transform: np.ndarray
    k: float


def build_transferred_scene(k: float = 1e-3, yaw_degrees: float = 0.0, offset=(12.0, 0.0, 0.0),
                            mode: str = "PER_FRAME", strength: float = 1.0) -> TransferredScene:
    """Reference set + keyed reference camera; target = similarity(k, yaw, offset) of the set, with a
    start camera at the image of the reference's first pose; then the add-on's transfer operator."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = int(FRAMES[0]), int(FRAMES[-1])
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    reference_collection = new_collection("Reference")
    target_collection = new_collection("Target")
    transform = similarity(k, yaw_degrees, np.asarray(offset, dtype=np.float64))
    for obj in build_reference_set(reference_collection):
        copy = obj.copy()  # shares the mesh and its material
        copy.name = obj.name.replace("Ref.", "Target.")
        copy.matrix_world = mathutils.Matrix((transform @ np.array(obj.matrix_world)).tolist())
        target_collection.objects.link(copy)
    reference = add_camera("RefCam", location=tuple(reference_centres()[0]), target=tuple(LOOK_AT))
    keyframe_locations(reference, FRAMES, reference_centres(), target=tuple(LOOK_AT))
    start = transform @ np.array(world_matrices(scene, reference, FRAMES[:1])[0])
    start[:3, :3] /= k  # a pose: rotation without the scale
    target_start = add_camera("TargetStart")
    target_start.matrix_world = mathutils.Matrix(start.tolist())
    scene.camera = target_start

    settings = scene.parascale
    settings.reference_camera = reference
    settings.reference_source = "BOUNDS"
    settings.reference_collection = reference_collection
    settings.target_start = target_start
    settings.target_source = "BOUNDS"
    settings.target_collection = target_collection
    settings.mode = mode
    settings.strength = strength
    settings.use_scene_range = True
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    camera = bpy.data.objects[f"{reference.name}.ParaScale"]
    scene.frame_set(int(FRAMES[0]))
    return TransferredScene(scene, reference, target_start, camera, reference_collection, target_collection,
                            transform, k)


def test_calibrated_path_is_the_scaled_reference_path(addon_scene):
    built = build_transferred_scene(k=1e-3)
    ref = world_matrices(built.scene, built.reference, FRAMES)
    out = world_matrices(built.scene, built.camera, FRAMES)
    expected = (built.transform @ ref)[:, :3, 3]
    extent = np.ptp(expected, axis=0).max()
    # Bounds depth of a similar set is k times the reference's: the calibrated move is the image of the
    # reference move (float32 keyframes near |offset| = 12 limit the agreement).
    assert np.abs(out[:, :3, 3] - expected).max() < 1e-4 * max(extent, 12.0)
    assert np.allclose(out[:, :3, :3], (built.transform[:3, :3] / built.k) @ ref[:, :3, :3], atol=1e-5)
    assert "parascale" in built.camera.keys()
