"""Pose files of the reconstruction tools (FORMATS.md): nerfstudio camera_path.json, NeRF / instant-ngp
transforms.json and the COLMAP text model (a folder with cameras.txt, images.txt, points3D.txt)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import PoseFileError, quote
from ..fileio import atomic_write_files
from ..poses import BLENDER_TO_OPENCV, Trajectory, matrix_to_quaternion, quaternion_to_matrix, w2c_to_c2w
from .common import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    build_trajectory,
    check_keys,
    check_rotations,
    checked_numbers,
    intrinsics_from_pixels,
    load_json,
    number,
    number_array,
    numbers,
    read_text,
    require_mapping,
    trailing_numbers,
)


def _warn_if_shifted(trajectory: Trajectory, format_name: str) -> None:
    """The format has no principal point: a consumer centres it, so say by how many pixels that moves it."""
    intrinsics = trajectory.intrinsics
    if intrinsics.shift_x or intrinsics.shift_y:
        _, _, cx, cy = trajectory.pixel_intrinsics()[0]
        dx, dy = cx - intrinsics.width / 2.0, cy - intrinsics.height / 2.0
        warnings.warn(f"{format_name} has no principal point: the lens shift is not written (x "
                      f"{intrinsics.shift_x:g}, y {intrinsics.shift_y:g}); consumers centre the principal point, "
                      f"{abs(dx):.1f} px in x and {abs(dy):.1f} px in y from the render's "
                      f"({cx:.1f}, {cy:.1f}) at {intrinsics.width}x{intrinsics.height}", stacklevel=4)


def _frame_names(trajectory: Trajectory, pattern: str) -> list[str]:
    frames = trajectory.frames
    labels = frames if np.all(frames == np.round(frames)) and np.all(frames >= 0) else np.arange(len(frames))
    return [pattern.format(int(f)) for f in labels]


def _c2w_matrices(data: list, path: Path, key: str, shape: tuple[int, ...]) -> np.ndarray:
    matrices = np.stack([number_array(entry, path, f"{key}[{i}]", shape) for i, entry in enumerate(data)])
    return matrices.reshape(-1, 4, 4)


def _rotations_from_c2w(path: Path, matrices: np.ndarray, where: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Camera-to-world 4x4 (Blender/OpenGL axes) -> rotations, centres; a uniform scale per matrix is
    removed (some exporters scale the scene), anything else must be a rotation."""
    bottom = np.abs(matrices[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
    if np.any(bottom > 1e-9):
        raise PoseFileError(path, where[int(np.flatnonzero(bottom > 1e-9)[0])], "last row must be 0 0 0 1")
    linear = matrices[:, :3, :3]
    scale = np.cbrt(np.linalg.det(linear))
    if np.any(~(np.abs(scale) > 1e-12)):
        raise PoseFileError(path, where[int(np.flatnonzero(~(np.abs(scale) > 1e-12))[0])], "singular matrix")
    rotations = linear / scale[:, None, None]
    check_rotations(rotations, path, where)
    return rotations, matrices[:, :3, 3]


# -------------------------------------------------------------------------------- nerfstudio camera path

NERFSTUDIO_KEYS = {"camera_type", "render_height", "render_width", "fps", "seconds", "camera_path"}
# What nerfstudio's own viewer adds to an exported path: accepted and ignored.
NERFSTUDIO_OPTIONAL = {"keyframes", "smoothness_value", "is_cycle", "crop", "default_fov",
                       "default_transition_sec", "camera_path_name", "data_path"}
NERFSTUDIO_ENTRY_KEYS = {"camera_to_world", "fov", "aspect"}


def render_nerfstudio(path: str | Path, trajectory: Trajectory) -> dict[Path, str]:
    """camera_path.json: c2w row-major in Blender/OpenGL axes (no flip), vertical fov in degrees."""
    path = Path(path)
    _warn_if_shifted(trajectory, "nerfstudio camera_path")
    width, height = trajectory.intrinsics.width, trajectory.intrinsics.height
    fov = np.degrees(trajectory.intrinsics.vertical_fov(trajectory.lens))
    matrices = trajectory.matrices().reshape(-1, 16)
    data = {
        "camera_type": "perspective", "render_height": height, "render_width": width,
        "fps": trajectory.fps, "seconds": len(trajectory) / trajectory.fps,
        "camera_path": [{"camera_to_world": m.tolist(), "fov": float(f), "aspect": width / height}
                        for m, f in zip(matrices, fov, strict=True)],
    }
    return {path: json.dumps(data, indent=1) + "\n"}


def write_nerfstudio(path: str | Path, trajectory: Trajectory) -> list[Path]:
    return atomic_write_files(render_nerfstudio(path, trajectory))


def read_nerfstudio(path: str | Path) -> Trajectory:
    """Square pixels and a centred principal point (what nerfstudio renders); frames 0..N-1."""
    path = Path(path)
    data = require_mapping(load_json(path), path, "")
    check_keys(data, path, "", NERFSTUDIO_KEYS, NERFSTUDIO_OPTIONAL)
    if data["camera_type"] != "perspective":
        raise PoseFileError(path, "camera_type", f"only 'perspective' is supported, got {quote(data['camera_type'])}")
    width = int(number(data["render_width"], path, "render_width", positive=True, integer=True))
    height = int(number(data["render_height"], path, "render_height", positive=True, integer=True))
    fps = number(data["fps"], path, "fps", positive=True)
    entries = data["camera_path"]
    if not isinstance(entries, list) or not entries:
        raise PoseFileError(path, "camera_path", "expected a non-empty list")
    for i, entry in enumerate(entries):
        check_keys(require_mapping(entry, path, f"camera_path[{i}]"), path, f"camera_path[{i}]",
                   NERFSTUDIO_ENTRY_KEYS, {"render_time"})
    where = [f"camera_path[{i}].camera_to_world" for i in range(len(entries))]
    matrices = _c2w_matrices([e["camera_to_world"] for e in entries], path, "camera_path", (16,))
    rotations, centres = _rotations_from_c2w(path, matrices, where)
    fov = np.array([number(e["fov"], path, f"camera_path[{i}].fov", positive=True) for i, e in enumerate(entries)])
    if np.any(fov >= 180.0):
        raise PoseFileError(path, f"camera_path[{int(np.flatnonzero(fov >= 180)[0])}].fov",
                            "vertical fov must be below 180 degrees")
    focal = height / (2.0 * np.tan(np.radians(fov) / 2.0))
    intrinsics, lens = intrinsics_from_pixels(path, "camera_path", focal, focal, np.full_like(focal, width / 2.0),
                                              np.full_like(focal, height / 2.0), width, height)
    return build_trajectory(path, rotations, centres, fps=fps, lens=lens, intrinsics=intrinsics)


# --------------------------------------------------------------------------- NeRF / instant-ngp transforms

TRANSFORMS_OPTIONAL = {
    "camera_angle_x", "camera_angle_y", "fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "k3", "k4", "p1",
    "p2", "camera_model", "aabb_scale", "scale", "offset", "ply_file_path", "applied_transform",
    "applied_scale", "is_fisheye", "sharpen", "integer_depth_scale", "enable_depth_loading", "aabb",
    "render_aabb", "render_aabb_rotation", "n_extra_learnable_dims", "orientation_override",
}
TRANSFORMS_FRAME_OPTIONAL = {"fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y",
                             "sharpness", "depth_file_path", "mask_path", "colmap_im_id", "rotation", "time",
                             "k1", "k2", "k3", "k4", "p1", "p2"}
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")


def render_transforms(path: str | Path, trajectory: Trajectory) -> dict[Path, str]:
    """transforms.json with camera_angle_x (horizontal fov, radians) and instant-ngp's fl_x fl_y cx cy w h;
    an animated focal length is also written per frame (fl_x, fl_y)."""
    path = Path(path)
    pixel = trajectory.pixel_intrinsics()
    fx, fy, cx, cy = pixel[0]
    width, height = trajectory.intrinsics.width, trajectory.intrinsics.height
    animated = bool(np.ptp(trajectory.lens) > 0)
    frames = []
    for name, matrix, k in zip(_frame_names(trajectory, "images/frame_{:06d}.png"),
                               trajectory.matrices(), pixel, strict=True):
        entry: dict[str, object] = {"file_path": name, "transform_matrix": matrix.tolist()}
        if animated:
            entry.update(fl_x=float(k[0]), fl_y=float(k[1]))
        frames.append(entry)
    data = {
        "camera_angle_x": float(2.0 * np.arctan(width / (2.0 * fx))),
        "camera_angle_y": float(2.0 * np.arctan(height / (2.0 * fy))),
        "fl_x": float(fx), "fl_y": float(fy), "cx": float(cx), "cy": float(cy), "w": width, "h": height,
        "frames": frames,
    }
    return {path: json.dumps(data, indent=1) + "\n"}


def write_transforms(path: str | Path, trajectory: Trajectory) -> list[Path]:
    return atomic_write_files(render_transforms(path, trajectory))


def read_transforms(path: str | Path, fps: float = DEFAULT_FPS) -> Trajectory:
    """Focal from fl_x/fl_y (per frame when present), else camera_angle_x/_y; frame size from w/h, else
    1280 x 720; principal point from cx/cy, else centred; frame numbers from the file names when they all
    end in increasing numbers."""
    path = Path(path)
    data = require_mapping(load_json(path), path, "")
    check_keys(data, path, "", {"frames"}, TRANSFORMS_OPTIONAL)
    for key in DISTORTION_KEYS:
        if key in data and number(data[key], path, key) != 0.0:
            raise PoseFileError(path, key, "lens distortion is not supported")
    entries = data["frames"]
    if not isinstance(entries, list) or not entries:
        raise PoseFileError(path, "frames", "expected a non-empty list")
    for i, entry in enumerate(entries):
        check_keys(require_mapping(entry, path, f"frames[{i}]"), path, f"frames[{i}]",
                   {"file_path", "transform_matrix"}, TRANSFORMS_FRAME_OPTIONAL)
        for key in DISTORTION_KEYS:
            if key in entry and number(entry[key], path, f"frames[{i}].{key}") != 0.0:
                raise PoseFileError(path, f"frames[{i}].{key}", "lens distortion is not supported")
    matrices = _c2w_matrices([e["transform_matrix"] for e in entries], path, "frames", (4, 4))
    where = [f"frames[{i}].transform_matrix" for i in range(len(entries))]
    rotations, centres = _rotations_from_c2w(path, matrices, where)

    def value(entry: dict, key: str, i: int) -> float | None:
        positive = key not in ("cx", "cy")  # a shifted lens may put the principal point off the frame
        if key in entry:
            return number(entry[key], path, f"frames[{i}].{key}", positive=positive)
        if key in data:
            return number(data[key], path, key, positive=positive)
        return None

    width = int(number(data["w"], path, "w", positive=True, integer=True)) if "w" in data else DEFAULT_WIDTH
    height = int(number(data["h"], path, "h", positive=True, integer=True)) if "h" in data else DEFAULT_HEIGHT
    k = np.empty((len(entries), 4))
    for i, entry in enumerate(entries):
        fx, fy = value(entry, "fl_x", i), value(entry, "fl_y", i)
        angle_x, angle_y = value(entry, "camera_angle_x", i), value(entry, "camera_angle_y", i)
        if fx is None and angle_x is not None:
            fx = width / (2.0 * np.tan(angle_x / 2.0))
        if fy is None and angle_y is not None:
            fy = height / (2.0 * np.tan(angle_y / 2.0))
        if fx is None and fy is None:
            raise PoseFileError(path, f"frames[{i}]", "no focal length (fl_x or camera_angle_x)")
        fx = fy if fx is None else fx
        fy = fx if fy is None else fy
        cx, cy = value(entry, "cx", i), value(entry, "cy", i)
        k[i] = [fx, fy, width / 2.0 if cx is None else cx, height / 2.0 if cy is None else cy]
    intrinsics, lens = intrinsics_from_pixels(path, "fl_x", *k.T, width, height)
    names = [e["file_path"] if isinstance(e["file_path"], str) else "" for e in entries]
    frames = trailing_numbers(names)
    return build_trajectory(path, rotations, centres, frames=frames, fps=fps, lens=lens, intrinsics=intrinsics)


# ------------------------------------------------------------------------------------- COLMAP text model

COLMAP_FILES = ("cameras.txt", "images.txt", "points3D.txt")
# Parameter layout of the camera models we read: where fx, fy, cx, cy sit and which entries are
# distortion (which must be zero: ParaScale cameras are pinhole).
COLMAP_MODELS = {
    "SIMPLE_PINHOLE": (3, (0, 0, 1, 2)), "PINHOLE": (4, (0, 1, 2, 3)),
    "SIMPLE_RADIAL": (4, (0, 0, 1, 2)), "RADIAL": (5, (0, 0, 1, 2)), "OPENCV": (8, (0, 1, 2, 3)),
}


def render_colmap(folder: str | Path, trajectory: Trajectory, points: np.ndarray | None = None) -> dict[Path, str]:
    """cameras.txt (one PINHOLE camera per distinct focal length), images.txt (w2c OpenCV, quaternion w
    first), points3D.txt (empty, or `points` with grey colour and no track)."""
    folder = Path(folder)
    width, height = trajectory.intrinsics.width, trajectory.intrinsics.height
    unique_lens, camera_index = np.unique(trajectory.lens, return_inverse=True)
    camera_rows = [f"{i + 1} PINHOLE {width} {height} {numbers(trajectory.intrinsics.pixel_intrinsics(lens))}"
                   for i, lens in enumerate(unique_lens)]
    cameras = ["# Camera list with one line of data per camera:",
               "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]", f"# Number of cameras: {len(camera_rows)}"]
    rotation, translation = trajectory.w2c_opencv()
    quaternion = matrix_to_quaternion(rotation, continuous=False)
    images = ["# Image list with two lines of data per image:",
              "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
              "#   POINTS2D[] as (X, Y, POINT3D_ID)",
              f"# Number of images: {len(trajectory)}, mean observations per image: 0"]
    for i, (q, t, cam, name) in enumerate(zip(quaternion, translation, camera_index,
                                              _frame_names(trajectory, "frame_{:06d}.png"), strict=True)):
        images += [f"{i + 1} {numbers(q)} {numbers(t)} {int(cam) + 1} {name}", ""]
    point_rows = []
    if points is not None:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        point_rows = [f"{i + 1} {numbers(p)} 128 128 128 0" for i, p in enumerate(points)]
    header = ["# 3D point list with one line of data per point:",
              "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
              f"# Number of points: {len(point_rows)}, mean track length: 0"]
    return {folder / "cameras.txt": "\n".join(cameras + camera_rows) + "\n",
            folder / "images.txt": "\n".join(images) + "\n",
            folder / "points3D.txt": "\n".join(header + point_rows) + "\n"}


def write_colmap(folder: str | Path, trajectory: Trajectory, points: np.ndarray | None = None) -> list[Path]:
    return atomic_write_files(render_colmap(folder, trajectory, points))


def colmap_folder(path: str | Path) -> Path:
    """The model folder of a path that is the folder or one of its three files."""
    path = Path(path)
    return path.parent if path.name in COLMAP_FILES else path


def _data_lines(path: Path) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(read_text(path).splitlines(), start=1)]


def read_colmap_cameras(path: Path) -> dict[int, tuple[int, int, np.ndarray]]:
    """camera id -> (width, height, [fx, fy, cx, cy])."""
    cameras = {}
    for n, line in _data_lines(path):
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        where = f"line {n}"
        if len(fields) < 4:
            raise PoseFileError(path, where, f"expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS, got {len(fields)} fields")
        model = fields[1]
        if model not in COLMAP_MODELS:
            raise PoseFileError(path, where, f"camera model {model} is not supported "
                                f"({', '.join(COLMAP_MODELS)})")
        count, layout = COLMAP_MODELS[model]
        if len(fields) != 4 + count:
            raise PoseFileError(path, where, f"{model} needs {count} parameters, got {len(fields) - 4}")
        try:
            camera_id, width, height = int(fields[0]), int(fields[2]), int(fields[3])
            params = np.array([float(v) for v in fields[4:]])
        except ValueError:
            raise PoseFileError(path, where, "not a number") from None
        params = checked_numbers(params, path, where)
        distortion = np.delete(params, sorted(set(layout)))
        if np.any(distortion != 0):
            raise PoseFileError(path, where, "lens distortion is not supported (ParaScale cameras are pinhole)")
        if camera_id in cameras:
            raise PoseFileError(path, where, f"camera {camera_id} defined twice")
        cameras[camera_id] = (width, height, params[list(layout)])
    if not cameras:
        raise PoseFileError(path, "", "no cameras")
    return cameras


def read_colmap(path: str | Path, fps: float = DEFAULT_FPS) -> Trajectory:
    """Read a COLMAP text model folder; images are ordered by name (frame numbers from the names when
    they all end in increasing numbers). All cameras must share one frame size and principal point."""
    folder = colmap_folder(path)
    if not folder.is_dir():
        raise PoseFileError(folder, "", "no such folder (a COLMAP text model is a folder)")
    cameras = read_colmap_cameras(folder / "cameras.txt")
    images_path = folder / "images.txt"
    lines = _data_lines(images_path)
    records = []
    index = 0
    while index < len(lines):
        n, line = lines[index]
        index += 1
        if not line or line.startswith("#"):
            continue
        index += 1  # the POINTS2D line that follows every image line (may be empty)
        fields = line.split()
        where = f"line {n}"
        if len(fields) != 10:
            raise PoseFileError(images_path, where, f"expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME "
                                f"(10 fields), got {len(fields)}")
        try:
            values = np.array([float(v) for v in fields[1:8]])
            camera_id = int(fields[8])
        except ValueError:
            raise PoseFileError(images_path, where, "not a number") from None
        values = checked_numbers(values, images_path, where)
        norm = np.linalg.norm(values[:4])
        if abs(norm - 1.0) > 1e-4:
            raise PoseFileError(images_path, where, f"quaternion is not unit length (norm {norm:.6g})")
        if camera_id not in cameras:
            raise PoseFileError(images_path, where, f"camera {camera_id} is not in cameras.txt")
        records.append((fields[9], values, camera_id))
    if not records:
        raise PoseFileError(images_path, "", "no images")
    names = [r[0] for r in records]
    # Up to 15 digits: a longer run is not a frame number (and int() of thousands of digits is refused).
    labels = [re.search(r"(?<!\d)(\d{1,15})(?=\D*$)", Path(name).name) for name in names]
    if all(labels) and len({int(m.group(1)) for m in labels}) == len(labels):  # type: ignore[union-attr]
        order = np.argsort([int(m.group(1)) for m in labels], kind="stable")  # type: ignore[union-attr]
    else:
        order = np.array(sorted(range(len(records)), key=lambda i: names[i]))
    frames = trailing_numbers([names[i] for i in order])
    records = [records[i] for i in order]
    sizes = {cameras[r[2]][:2] for r in records}
    if len(sizes) > 1:
        raise PoseFileError(folder / "cameras.txt", "", f"cameras of different frame sizes {sorted(sizes)}")
    width, height = sizes.pop()
    k = np.array([cameras[r[2]][2] for r in records])
    values = np.array([r[1] for r in records])
    rotation_w2c = quaternion_to_matrix(values[:, :4])
    rotations, centres = w2c_to_c2w(rotation_w2c, values[:, 4:])
    intrinsics, lens = intrinsics_from_pixels(folder / "cameras.txt", "", *k.T, width, height)
    return build_trajectory(folder, rotations @ BLENDER_TO_OPENCV, centres, frames=frames, fps=fps, lens=lens,
                            intrinsics=intrinsics)


__all__ = ["read_nerfstudio", "write_nerfstudio", "render_nerfstudio", "read_transforms", "write_transforms",
           "render_transforms", "read_colmap", "write_colmap", "render_colmap", "colmap_folder"]
