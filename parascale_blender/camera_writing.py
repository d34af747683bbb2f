"""Write cameras into Blender: a new camera object with baked location/rotation (and lens) keyframes,
bulk-written through compat (keyframe_points.add + foreach_set), LINEAR so the camera is exact at every
integer frame.

A camera written for a reference carries the marker `parascale_output` = the reference's name; running
again finds it by that marker (never by its name) and replaces its animation and camera data in place.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.poses import Trajectory, make_quaternions_continuous, matrix_to_quaternion
from . import compat

OUTPUT_MARKER = "parascale_output"
OUTPUT_SUFFIX = ".ParaScale"
TRANSFORM_GROUP = "Object Transforms"

# Blender's rotation orders: the axes in the order they are applied, and the parity of that permutation
# (BLI rotation code, `rotOrders`).
EULER_ORDERS: dict[str, tuple[tuple[int, int, int], bool]] = {
    "XYZ": ((0, 1, 2), False), "XZY": ((0, 2, 1), True), "YXZ": ((1, 0, 2), True),
    "YZX": ((1, 2, 0), False), "ZXY": ((2, 0, 1), False), "ZYX": ((2, 1, 0), True),
}


def matrix_to_euler(rotations: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """Euler angles (radians, per axis X, Y, Z) of rotation matrices (N,3,3) in Blender's `order`: the
    branch with the middle angle in [-pi/2, pi/2] (Blender's first solution), vectorized."""
    (i, j, k), parity = EULER_ORDERS[order]
    m = np.swapaxes(np.asarray(rotations, dtype=np.float64), -1, -2)  # Blender's mat[col][row]
    cy = np.hypot(m[:, i, i], m[:, i, j])
    regular = cy > 16.0 * np.finfo(np.float32).eps
    euler = np.empty((m.shape[0], 3))
    euler[:, i] = np.where(regular, np.arctan2(m[:, j, k], m[:, k, k]), np.arctan2(-m[:, k, j], m[:, j, j]))
    euler[:, j] = np.arctan2(-m[:, i, k], cy)
    euler[:, k] = np.where(regular, np.arctan2(m[:, i, j], m[:, i, i]), 0.0)
    return -euler if parity else euler


def compatible_euler(euler: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """Euler curves without 2*pi jumps: each axis unwrapped over time, and the whole clip shifted by whole
    turns so the first frame is nearest `hint` (e.g. the start camera's own Euler angles)."""
    out = np.unwrap(np.asarray(euler, dtype=np.float64), axis=0)
    if hint is not None:
        turns = np.round((np.asarray(hint, dtype=np.float64) - out[0]) / (2.0 * np.pi))
        out = out + 2.0 * np.pi * turns
    return out


def find_written_camera(reference_name: str) -> bpy.types.Object | None:
    """The camera ParaScale wrote for the reference named `reference_name` (by its marker), or None.
    When the marker was duplicated along with the object, the one named `<reference>.ParaScale` wins."""
    marked = [obj for obj in bpy.data.objects if obj.type == "CAMERA" and obj.get(OUTPUT_MARKER) == reference_name]
    if not marked:
        return None
    marked.sort(key=lambda obj: (obj.name != reference_name + OUTPUT_SUFFIX, obj.name))
    return marked[0]


def copy_camera_settings(source: bpy.types.Camera, target: bpy.types.Camera, clip_scale: tuple[float, float]
                         = (1.0, 1.0), size_scale: float = 1.0) -> None:
    """Copy lens, sensor, shift and projection from `source`; its clip range scaled by `clip_scale`
    (start, end factors) and the viewport display size by `size_scale`."""
    for name in ("type", "lens_unit", "lens", "sensor_fit", "sensor_width", "sensor_height", "shift_x",
                 "shift_y", "ortho_scale", "show_passepartout", "passepartout_alpha"):
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))
    start, end = source.clip_start * clip_scale[0], source.clip_end * clip_scale[1]
    target.clip_start = start
    target.clip_end = max(end, start * 1.0001)
    target.display_size = max(source.display_size * size_scale, 1e-6)


def write_transform_keyframes(obj: bpy.types.Object, trajectory: Trajectory, rotation_mode: str = "XYZ",
                              euler_hint: np.ndarray | None = None) -> None:
    """Baked world location and rotation keyframes of `trajectory` on `obj` (which should have no parent
    or constraints), at its frame numbers, LINEAR. Quaternions get continuous signs; Eulers are unwrapped
    (compatible). The object's scale is set to 1."""
    frames = trajectory.frames
    obj.rotation_mode = rotation_mode
    obj.scale = (1.0, 1.0, 1.0)
    for axis in range(3):
        compat.write_keyframes(compat.ensure_fcurve(obj, "location", axis, TRANSFORM_GROUP), frames,
                               trajectory.centres[:, axis])
    if rotation_mode == "QUATERNION":
        q = make_quaternions_continuous(matrix_to_quaternion(trajectory.rotations))
        for axis in range(4):
            compat.write_keyframes(compat.ensure_fcurve(obj, "rotation_quaternion", axis, TRANSFORM_GROUP),
                                   frames, q[:, axis])
    else:
        euler = compatible_euler(matrix_to_euler(trajectory.rotations, rotation_mode), euler_hint)
        for axis in range(3):
            compat.write_keyframes(compat.ensure_fcurve(obj, "rotation_euler", axis, TRANSFORM_GROUP),
                                   frames, euler[:, axis])


def write_lens_keyframes(camera_data: bpy.types.Camera, frames: np.ndarray, lens: np.ndarray) -> None:
    """Focal-length keyframes on the camera data (LINEAR)."""
    compat.write_keyframes(compat.ensure_fcurve(camera_data, "lens", 0), frames, lens)


def write_camera(scene: bpy.types.Scene, trajectory: Trajectory, name: str, template: bpy.types.Camera | None = None,
                 rotation_mode: str = "XYZ", animate_lens: bool | None = None, replace: bpy.types.Object | None = None,
                 marker: str | None = None, clip_scale: tuple[float, float] = (1.0, 1.0), size_scale: float = 1.0,
                 euler_hint: np.ndarray | None = None) -> bpy.types.Object:
    """A camera object animated along `trajectory`. Camera data copied from `template` (default: the
    trajectory's sensor and clip range), lens keyframed when `animate_lens` (default: when the
    trajectory's lens varies). `replace`: an object to reuse (its animation, parent, constraints and
    camera data are replaced; its name and collections kept); otherwise a new object linked to the scene's
    collection. `marker`: stored as the object's `parascale_output` property."""
    data = bpy.data.cameras.new(name)
    if template is not None:
        copy_camera_settings(template, data, clip_scale, size_scale)
    else:
        intrinsics = trajectory.intrinsics
        data.sensor_fit = intrinsics.sensor_fit
        data.sensor_width, data.sensor_height = intrinsics.sensor_width, intrinsics.sensor_height
        data.shift_x, data.shift_y = intrinsics.shift_x, intrinsics.shift_y
        data.clip_start, data.clip_end = trajectory.clip_start, trajectory.clip_end
    lens = trajectory.lens
    data.lens = float(lens[0])
    if animate_lens is None:
        animate_lens = bool(np.ptp(lens) > 0)
    if animate_lens:
        write_lens_keyframes(data, trajectory.frames, lens)

    if replace is not None:
        obj = replace
        old_data = obj.data
        compat.remove_animation(obj)
        obj.parent = None
        obj.constraints.clear()
        obj.data = data
        if old_data is not None and old_data.users == 0:
            compat.remove_animation(old_data)
            bpy.data.cameras.remove(old_data)
        data.name = obj.name
    else:
        obj = bpy.data.objects.new(name, data)
        scene.collection.objects.link(obj)
        data.name = obj.name
    obj.matrix_parent_inverse.identity()
    obj.delta_location = (0.0, 0.0, 0.0)
    obj.delta_rotation_euler = (0.0, 0.0, 0.0)
    obj.delta_rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
    obj.delta_scale = (1.0, 1.0, 1.0)
    write_transform_keyframes(obj, trajectory, rotation_mode, euler_hint)
    if marker is not None:
        obj[OUTPUT_MARKER] = marker
    return obj


def select_only(context: bpy.types.Context, obj: bpy.types.Object) -> None:
    """Make `obj` the only selected object and the active one (when it is in the view layer)."""
    view_layer = context.view_layer
    try:
        obj.select_set(True, view_layer=view_layer)  # also brings the view layer's object list up to date
    except RuntimeError:  # not in this view layer
        return
    for other in view_layer.objects:
        if other != obj and other.select_get(view_layer=view_layer):
            other.select_set(False, view_layer=view_layer)
    view_layer.objects.active = obj
