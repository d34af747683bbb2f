"""Read what a transfer needs from Blender: camera trajectories (evaluated: parents, constraints,
drivers, animated lens) and the geometry or bounds of a collection (evaluated: modifiers, instances).

Every reader that changes the current frame restores it (frame and subframe) before it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import bpy
import numpy as np

from ..core.errors import DepthError, TrajectoryError, frame_list
from ..core.parallax import run_steps
from ..core.poses import MAX_COORDINATE, Intrinsics, Trajectory, in_range, pose_rotations
from . import compat

# Object types whose evaluated geometry becomes a mesh (to_mesh) and so can be seen by a depth probe.
GEOMETRY_TYPES = frozenset({"MESH", "CURVE", "SURFACE", "META", "FONT"})


@dataclass(frozen=True, eq=False)
class CameraSamples:
    """One camera read at every frame of a range: world matrices (scale kept, as Blender has them), focal
    length (mm) and focus depth (along the view axis; NaN when the focus sits at or behind the camera)."""

    frames: np.ndarray
    matrices: np.ndarray
    lens: np.ndarray
    focus_depth: np.ndarray

    def trajectory(self, intrinsics: Intrinsics, fps: float, clip_start: float, clip_end: float) -> Trajectory:
        """The trajectory of these samples, scale removed (polar decomposition of each matrix)."""
        return Trajectory(rotations=pose_rotations(self.matrices), centres=self.matrices[:, :3, 3],
                          frames=self.frames.astype(np.float64), fps=fps, lens=self.lens,
                          intrinsics=intrinsics, clip_start=clip_start, clip_end=clip_end)


@contextmanager
def preserved_frame(scene: bpy.types.Scene) -> Iterator[None]:
    """Restore the scene's current frame and subframe on exit (even on error)."""
    frame, subframe = scene.frame_current, scene.frame_subframe
    try:
        yield
    finally:
        scene.frame_set(frame, subframe=subframe)


class MovingObjects(frozenset):
    """Names of the objects that move, and `deforming`: those whose geometry changes too (the others only
    move, and can be measured without being rebuilt: core.moving_geometry)."""

    deforming: frozenset[str]

    def __new__(cls, names: Iterable[str] = (), deforming: Iterable[str] = ()) -> MovingObjects:
        moving = super().__new__(cls, names)
        moving.deforming = frozenset(deforming)
        return moving


class _Recorded(set):
    deforming: set[str]


@contextmanager
def recording_moving_objects() -> Iterator[set[str]]:
    """The names of the objects Blender re-evaluates when a frame is set while the block runs (depsgraph
    updates of transform or geometry, from keyframes, drivers, constraints, parents, armatures, shape keys,
    time-dependent modifiers and geometry nodes): what moves over the frames the block visits. Its
    `deforming` set names those whose geometry is re-evaluated on a frame change after the first one the
    block sees (the first evaluation of a fresh depsgraph updates every object's geometry)."""
    names = _Recorded()
    names.deforming = set()
    calls = [0]

    def record(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
        calls[0] += 1
        for update in depsgraph.updates:
            if isinstance(update.id, bpy.types.Object) and (update.is_updated_transform
                                                            or update.is_updated_geometry):
                names.add(update.id.original.name_full)
                if update.is_updated_geometry and calls[0] > 1:
                    names.deforming.add(update.id.original.name_full)

    bpy.app.handlers.frame_change_post.append(record)
    try:
        yield names
    finally:
        bpy.app.handlers.frame_change_post.remove(record)
    # An object that shows or hides over the frames is not among the updates while it is hidden (nor when it
    # comes back): whatever animates or drives its viewport visibility makes it part of what moves, read at
    # every frame.
    shown_or_hidden = visibility_animated_objects()
    names |= shown_or_hidden
    names.deforming |= shown_or_hidden


def visibility_animated_objects() -> set[str]:
    """Names of the objects whose viewport visibility (hide_viewport) is keyframed or driven."""
    found = set()
    for obj in bpy.data.objects:
        anim = obj.animation_data
        if anim is None:
            continue
        paths = [fcurve.data_path for fcurve in compat.action_fcurves(obj)]
        paths += [driver.data_path for driver in anim.drivers]
        if "hide_viewport" in paths:
            found.add(obj.name_full)
    return found


def scene_frame_range(scene: bpy.types.Scene, settings: object | None = None) -> np.ndarray:
    """The frames to transfer: the scene's range, or the settings' own when `use_scene_range` is off."""
    if settings is None or settings.use_scene_range:
        start, end = scene.frame_start, scene.frame_end
    else:
        start, end = settings.frame_start, settings.frame_end
    if end <= start:
        raise TrajectoryError(f"the frame range {start}-{end} needs at least two frames")
    return np.arange(start, end + 1, dtype=np.int64)


def scene_intrinsics(scene: bpy.types.Scene, camera_data: bpy.types.Camera) -> Intrinsics:
    """Sensor, shift and the effective render frame (resolution percentage applied) of a camera."""
    render = scene.render
    scale = render.resolution_percentage / 100.0
    return Intrinsics(
        sensor_width=camera_data.sensor_width, sensor_height=camera_data.sensor_height,
        sensor_fit=camera_data.sensor_fit, shift_x=camera_data.shift_x, shift_y=camera_data.shift_y,
        width=max(1, int(render.resolution_x * scale)), height=max(1, int(render.resolution_y * scale)),
        pixel_aspect_x=render.pixel_aspect_x, pixel_aspect_y=render.pixel_aspect_y)


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def view_layer_of(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """The view layer whose depsgraph a reader evaluates: the context's when `scene` is the context
    scene, else the scene's first (only the window's scene is the active depsgraph, BLENDER-NOTES)."""
    context = bpy.context
    if getattr(context, "scene", None) == scene and getattr(context, "view_layer", None) is not None:
        return context.view_layer
    return scene.view_layers[0]


def evaluated_depsgraph(scene: bpy.types.Scene) -> bpy.types.Depsgraph:
    """The scene's evaluated depsgraph, created when the scene was never evaluated (another scene than
    the window's) and brought up to date (objects added since the last evaluation included)."""
    context = bpy.context
    view_layer = view_layer_of(scene)
    if getattr(context, "scene", None) == scene and getattr(context, "view_layer", None) == view_layer:
        return context.evaluated_depsgraph_get()
    with context.temp_override(scene=scene, view_layer=view_layer):
        return bpy.context.evaluated_depsgraph_get()


def scene_of(obj: bpy.types.Object, preferred: bpy.types.Scene) -> bpy.types.Scene:
    """The scene to evaluate `obj` in: `preferred` when the object is in it, else the first scene that
    holds it (a reference may live in a scene of its own)."""
    if preferred.objects.get(obj.name) == obj:
        return preferred
    for scene in obj.users_scene:
        return scene
    raise TrajectoryError(f"'{obj.name}' is in no scene")


def scene_of_collection(collection: bpy.types.Collection, preferred: bpy.types.Scene) -> bpy.types.Scene:
    """The scene whose collection tree holds `collection`: `preferred` first."""
    for scene in (preferred, *(s for s in bpy.data.scenes if s != preferred)):
        if collection == scene.collection or collection in scene.collection.children_recursive:
            return scene
    raise DepthError(f"the collection '{collection.name}' is in no scene")


def _focus_depths(camera_eval: bpy.types.Object, matrix: np.ndarray) -> float:
    """Focus depth along the view axis of an evaluated camera object at its world matrix (Blender measures
    the distance to a focus object along the view axis too)."""
    dof = camera_eval.data.dof
    if dof.focus_object is not None:
        focus_obj = dof.focus_object
        if dof.focus_subtarget and focus_obj.type == "ARMATURE" and focus_obj.pose is not None:
            bone = focus_obj.pose.bones.get(dof.focus_subtarget)
            location = focus_obj.matrix_world @ bone.head if bone else focus_obj.matrix_world.translation
        else:
            location = focus_obj.matrix_world.translation
        point = np.array(location, dtype=np.float64)
        forward = -matrix[:3, 2] / max(np.linalg.norm(matrix[:3, 2]), 1e-300)
        depth = float(np.dot(point - matrix[:3, 3], forward))
        return depth if depth > 0 else float("nan")
    return float(dof.focus_distance) if dof.focus_distance > 0 else float("nan")


def sample_cameras(scene: bpy.types.Scene, cameras: list[bpy.types.Object], frames: np.ndarray,
                   progress: Callable[[int], None] | None = None) -> list[CameraSamples]:
    """Evaluate each camera at every frame (frame_set + the evaluated depsgraph: parents, constraints,
    drivers, animated lens and focus all honoured), calling `progress` with each frame index. The current
    frame is restored afterwards."""
    return run_steps(sample_cameras_steps(scene, cameras, frames), progress)


def sample_cameras_steps(scene: bpy.types.Scene, cameras: list[bpy.types.Object], frames: np.ndarray
                         ) -> Generator[int, None, list[CameraSamples]]:
    """`sample_cameras` one frame at a time: yields each frame index once that frame is read."""
    frames = np.asarray(frames, dtype=np.int64)
    n = frames.size
    matrices = [np.empty((n, 4, 4)) for _ in cameras]
    lens = [np.empty(n) for _ in cameras]
    focus = [np.empty(n) for _ in cameras]
    channels = [np.empty((n, 17)) for _ in cameras]  # location, Euler, quaternion, axis-angle, scale
    for camera in cameras:
        if camera is None or camera.type != "CAMERA":
            raise TrajectoryError(f"'{getattr(camera, 'name', None)}' is not a camera")
    view_layer = view_layer_of(scene)
    evaluated_depsgraph(scene)  # make sure the scene has one: frame_set then keeps it up to date
    with preserved_frame(scene):
        for i, frame in enumerate(frames):
            scene.frame_set(int(frame))
            depsgraph = view_layer.depsgraph
            for k, camera in enumerate(cameras):
                evaluated = camera.evaluated_get(depsgraph)
                matrices[k][i] = evaluated.matrix_world  # a mathutils Matrix is a sequence of rows
                channels[k][i] = (*evaluated.location, *evaluated.rotation_euler, *evaluated.rotation_quaternion,
                                  *evaluated.rotation_axis_angle, *evaluated.scale)
                lens[k][i] = evaluated.data.lens
                focus[k][i] = _focus_depths(evaluated, matrices[k][i])
            yield i
    for k, camera in enumerate(cameras):
        _require_finite(camera, frames, matrices[k], channels[k], lens[k])
    return [CameraSamples(frames.copy(), matrices[k], lens[k], focus[k]) for k in range(len(cameras))]


def _require_finite(camera: bpy.types.Object, frames: np.ndarray, matrices: np.ndarray, channels: np.ndarray,
                    lens: np.ndarray) -> None:
    """A NaN or infinity in a camera's animation (a keyframe, a driver, a parent) names the camera and the
    frames. Blender evaluates an infinite keyframe to float32's largest value (3.4e38), so magnitudes past
    core's MAX_COORDINATE count too; the transform channels are checked as well as the world matrix, since
    an infinite quaternion normalizes to a finite rotation, and the SVD of a NaN matrix fails unnamed."""
    usable = (in_range(matrices, 0.0, MAX_COORDINATE).all(axis=(1, 2))
              & in_range(channels, 0.0, MAX_COORDINATE).all(axis=1) & in_range(lens, 0.0, MAX_COORDINATE))
    if not np.all(usable):
        raise TrajectoryError(f"'{camera.name}' has a non-finite transform or lens at frame "
                              f"{frame_list(frames[~usable])} (a NaN, infinite or beyond-{MAX_COORDINATE:g} value "
                              "in its keyframes, drivers, constraints or parents)")


def read_camera_trajectory(scene: bpy.types.Scene, camera: bpy.types.Object, frames: np.ndarray | None = None
                           ) -> Trajectory:
    """The camera's evaluated trajectory over `frames` (default: the scene's range), with its per-frame
    lens, its sensor and the scene's render frame and fps."""
    return run_steps(read_camera_trajectory_steps(scene, camera, frames))


def read_camera_trajectory_steps(scene: bpy.types.Scene, camera: bpy.types.Object, frames: np.ndarray | None = None
                                 ) -> Generator[int, None, Trajectory]:
    """`read_camera_trajectory` one frame at a time: yields each frame index once that frame is read."""
    if camera is None or camera.type != "CAMERA":
        raise TrajectoryError("the object to read is not a camera")
    frames = scene_frame_range(scene) if frames is None else np.asarray(frames, dtype=np.int64)
    samples = (yield from sample_cameras_steps(scene, [camera], frames))[0]
    data = camera.data
    return samples.trajectory(scene_intrinsics(scene, data), scene_fps(scene), data.clip_start, data.clip_end)


@contextmanager
def _collection_depsgraph(scene: bpy.types.Scene, collection: bpy.types.Collection
                          ) -> Iterator[bpy.types.Depsgraph]:
    """The evaluated depsgraph of the scene holding `collection`, at `scene`'s current frame. A collection
    of another scene is evaluated in its own scene, whose frame is set for the read and then restored."""
    owner = scene_of_collection(collection, scene)
    if owner == scene or owner.frame_current == scene.frame_current:
        yield evaluated_depsgraph(owner)
        return
    with preserved_frame(owner):
        depsgraph = evaluated_depsgraph(owner)
        owner.frame_set(scene.frame_current)
        yield depsgraph


def _collection_instances(depsgraph: bpy.types.Depsgraph, collection: bpy.types.Collection,
                          moving: frozenset[str] | None = None, part: str = "all"
                          ) -> Iterator[tuple[bpy.types.Object, np.ndarray]]:
    """(evaluated object, world matrix) of everything the collection contributes to the evaluated scene,
    instances (collection instances, geometry-node instances, particles) included. With `moving` (object
    names) and `part` "static" or "moving": only the instances whose object or owner is (not) among them."""
    members = {obj.name_full for obj in collection.all_objects}
    for instance in depsgraph.object_instances:
        owner = instance.parent if instance.is_instance else instance.object
        if owner is None or owner.original.name_full not in members:
            continue
        obj = instance.object
        if obj.type not in GEOMETRY_TYPES:
            continue
        if part != "all":
            moves = obj.original.name_full in moving or owner.original.name_full in moving
            # Rigid: a plain object (not an instance) that moves without deforming.
            rigid = (moves and not instance.is_instance
                     and obj.original.name_full not in getattr(moving, "deforming", moving))
            wanted = {"static": not moves, "moving": moves, "rigid": rigid, "deforming": moves and not rigid}
            if not wanted[part]:
                continue
        yield obj, np.array(instance.matrix_world, dtype=np.float64)


def collection_moves(scene: bpy.types.Scene, collection: bpy.types.Collection, moving: frozenset[str]) -> bool:
    """Whether anything the collection contributes (instances included) is among the moving objects."""
    if not moving:
        return False
    if any(obj.name_full in moving for obj in collection.all_objects):  # hidden now, perhaps
        return True
    with _collection_depsgraph(scene, collection) as depsgraph:
        return any(True for _ in _collection_instances(depsgraph, collection, moving, "moving"))


def read_rigid_parts(scene: bpy.types.Scene, collection: bpy.types.Collection, moving: frozenset[str]
                     ) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray]]]:
    """The collection's objects that move without deforming (`moving` a MovingObjects), each as its name
    and its evaluated triangles in its own axes (modifiers applied), at the current frame."""
    names: list[str] = []
    meshes: list[tuple[np.ndarray, np.ndarray]] = []
    with _collection_depsgraph(scene, collection) as depsgraph:
        for obj, _ in _collection_instances(depsgraph, collection, moving, "rigid"):
            mesh = _local_triangles(obj)
            if mesh is not None:
                names.append(obj.original.name_full)
                meshes.append(mesh)
    return names, meshes


def rigid_world_matrices(scene: bpy.types.Scene, collection: bpy.types.Collection, names: list[str]
                         ) -> np.ndarray:
    """The evaluated world matrices (R, 4, 4) of the named objects at the current frame, NaN for one that
    is not in the evaluated scene then (hidden)."""
    matrices = np.full((len(names), 4, 4), np.nan)
    where = {name: i for i, name in enumerate(names)}
    with _collection_depsgraph(scene, collection) as depsgraph:
        for instance in depsgraph.object_instances:
            if not instance.is_instance and instance.object.original.name_full in where:
                matrices[where[instance.object.original.name_full]] = np.array(instance.matrix_world)
    return matrices


def _local_triangles(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray] | None:
    """An evaluated object's triangles in its own axes: vertices (V, 3) float64, triangles (T, 3) int64;
    None when it has none."""
    mesh = obj.to_mesh()
    try:
        mesh.calc_loop_triangles()
        n_vertices, n_triangles = len(mesh.vertices), len(mesh.loop_triangles)
        if n_vertices == 0 or n_triangles == 0:
            return None
        co = np.empty(3 * n_vertices, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        tris = np.empty(3 * n_triangles, dtype=np.int32)
        mesh.loop_triangles.foreach_get("vertices", tris)
    finally:
        obj.to_mesh_clear()
    return co.reshape(-1, 3).astype(np.float64), tris.reshape(-1, 3).astype(np.int64)


def _world_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def read_collection_mesh(scene: bpy.types.Scene, collection: bpy.types.Collection,
                         moving: frozenset[str] | None = None, part: str = "all", required: bool = True
                         ) -> tuple[np.ndarray, np.ndarray] | None:
    """World-space triangles of the collection's evaluated geometry (modifiers applied), at the scene's
    current frame: vertices (V, 3) float64 and triangles (T, 3) int64 indices; with `moving` and `part`,
    only its static or its moving part ("static", "moving"; or "deforming": the moving part less the
    objects that only move, see read_rigid_parts). Raises DepthError when there is no visible geometry and
    `required`, else returns None."""
    if collection is None:
        raise DepthError("no collection chosen for the geometry depth")
    vertex_blocks: list[np.ndarray] = []
    triangle_blocks: list[np.ndarray] = []
    offset = 0
    with _collection_depsgraph(scene, collection) as depsgraph:
        for obj, matrix in _collection_instances(depsgraph, collection, moving, part):
            local = _local_triangles(obj)
            if local is None:
                continue
            vertex_blocks.append(_world_points(local[0], matrix))
            triangle_blocks.append(local[1] + offset)
            offset += local[0].shape[0]
    if not triangle_blocks:
        if not required:
            return None
        raise DepthError(f"the collection '{collection.name}' holds no visible geometry")
    return np.concatenate(vertex_blocks), np.concatenate(triangle_blocks)


def read_collection_bounds(scene: bpy.types.Scene, collection: bpy.types.Collection
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corners of the world-space bounding box of the collection's evaluated geometry, from
    each object's bounding box (what Blender draws). Raises DepthError when the collection is empty."""
    if collection is None:
        raise DepthError("no collection chosen for the bounds depth")
    corners: list[np.ndarray] = []
    with _collection_depsgraph(scene, collection) as depsgraph:
        for obj, matrix in _collection_instances(depsgraph, collection):
            if obj.type == "MESH" and len(obj.data.vertices) == 0:
                continue
            corners.append(_world_points(np.array([tuple(c) for c in obj.bound_box], dtype=np.float64), matrix))
    if not corners:
        raise DepthError(f"the collection '{collection.name}' holds no visible geometry")
    points = np.concatenate(corners)
    return points.min(axis=0), points.max(axis=0)


def sample_object_positions(scene: bpy.types.Scene, obj: bpy.types.Object, frames: np.ndarray) -> np.ndarray:
    """An object's evaluated world position (its origin: parents, constraints, drivers honoured) at every
    frame, (N, 3); the current frame is restored. A NaN, infinite or out-of-range position names the object
    and the frames."""
    frames = np.asarray(frames, dtype=np.int64)
    positions = np.empty((frames.size, 3))
    view_layer = view_layer_of(scene)
    evaluated_depsgraph(scene)
    with preserved_frame(scene):
        for i, frame in enumerate(frames):
            scene.frame_set(int(frame))
            positions[i] = obj.evaluated_get(view_layer.depsgraph).matrix_world.translation
    usable = in_range(positions, 0.0, MAX_COORDINATE).all(axis=1)
    if not np.all(usable):
        raise TrajectoryError(f"'{obj.name}' has a non-finite position at frame {frame_list(frames[~usable])} (a NaN, "
                              f"infinite or beyond-{MAX_COORDINATE:g} value in its keyframes, drivers or parents)")
    return positions
