"""Small Blender scenes for tests and benchmarks: collections, meshes, boxes, a reference/target set,
cameras that look at a point, keyframed locations, and an independent reader of evaluated world matrices."""

from __future__ import annotations


def new_collection(name: str, scene=None):
    import bpy

    scene = scene or bpy.context.scene
    collection = bpy.data.collections.new(name)
    scene.collection.children.link(collection)
    return collection


def add_mesh(name: str, vertices, faces, collection=None, location=(0.0, 0.0, 0.0)):
    """A mesh object from vertex and face lists, linked to `collection` (default: the scene's)."""
    import bpy

    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(map(float, v)) for v in vertices], [], [tuple(map(int, f)) for f in faces])
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


BOX_FACES = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


def box_vertices(centre, size):
    import numpy as np

    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    return np.asarray(centre, dtype=float) + corners * np.asarray(size, dtype=float)


def add_box(name: str, centre, size, collection=None):
    return add_mesh(name, box_vertices(centre, size), BOX_FACES, collection)


def add_quad(name: str, corners, collection=None):
    return add_mesh(name, corners, [(0, 1, 2, 3)], collection)


def build_set(name: str, scale: float, layout: str = "reference", collection_name: str | None = None):
    """A small set `1000 * scale` units wide: a ground, a back wall and three boxes; `layout` "reference"
    or "target" arranges the boxes differently (so the two scenes' depth profiles differ). Returns the
    collection."""
    collection = new_collection(collection_name or name)
    s = scale
    add_quad(f"{name}.Ground", [(-500 * s, -500 * s, 0), (500 * s, -500 * s, 0), (500 * s, 500 * s, 0),
                                (-500 * s, 500 * s, 0)], collection)
    add_quad(f"{name}.Wall", [(-500 * s, 400 * s, 0), (500 * s, 400 * s, 0), (500 * s, 400 * s, 400 * s),
                              (-500 * s, 400 * s, 400 * s)], collection)
    boxes = {"reference": [((0, 100, 50), (100, 100, 100)), ((-150, 0, 30), (60, 60, 60)),
                           ((180, 250, 40), (80, 80, 80))],
             "target": [((60, -50, 80), (120, 90, 160)), ((-120, 150, 60), (140, 100, 120)),
                        ((0, 300, 30), (300, 40, 60))]}[layout]
    for i, (centre, size) in enumerate(boxes):
        add_box(f"{name}.Box{i}", [c * s for c in centre], [v * s for v in size], collection)
    return collection


def look_at_euler(eye, target):
    """Blender Euler XYZ of a camera at `eye` looking at `target` (z up)."""
    import mathutils

    direction = mathutils.Vector(target) - mathutils.Vector(eye)
    return direction.to_track_quat("-Z", "Y").to_euler("XYZ")


def add_camera(name: str, location=(0.0, 0.0, 0.0), target=None, lens: float = 50.0, collection=None,
               clip_start: float = 0.1, clip_end: float = 1000.0):
    import bpy

    data = bpy.data.cameras.new(name)
    data.lens = lens
    data.clip_start, data.clip_end = clip_start, clip_end
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    if target is not None:
        obj.rotation_euler = look_at_euler(location, target)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def keyframe_locations(obj, frames, locations, target=None) -> None:
    """Key `obj`'s location (and, with `target`, a look-at rotation) at each frame (test set-up only)."""
    for frame, location in zip(frames, locations, strict=True):
        obj.location = tuple(map(float, location))
        obj.keyframe_insert("location", frame=int(frame))
        if target is not None:
            obj.rotation_euler = look_at_euler(location, target)
            obj.keyframe_insert("rotation_euler", frame=int(frame))


def world_matrices(scene, obj, frames):
    """obj's evaluated world matrix at each frame (frame_set + the scene's own depsgraph, created when the
    scene is not the window's): an independent reader for tests, (N, 4, 4). The frame is restored."""
    import bpy
    import numpy as np

    if scene == bpy.context.scene:
        depsgraph = bpy.context.evaluated_depsgraph_get()
    else:
        with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
            depsgraph = bpy.context.evaluated_depsgraph_get()
    current = scene.frame_current
    out = []
    for frame in frames:
        scene.frame_set(int(frame))
        out.append(np.array(obj.evaluated_get(depsgraph).matrix_world, dtype=np.float64))
    scene.frame_set(current)
    return np.array(out)
