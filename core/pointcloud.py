"""Depth inputs from files, for core.depth.PointsDepth / PerFrameDepth / FixedDepth.

- Point clouds (P, 3) in world coordinates: .ply (ascii, binary little or big endian; the vertex x y z are
  read, every other property and element is ignored), .npy (P, 3), .xyz text (x y z per line, further
  columns ignored, '#' comments), COLMAP points3D.txt.
- A first-frame depth map .npy (H, W) unprojected to world points through a pose (`unproject_depth_map`).
- Per-frame depths: a .txt / .npy with one value per frame, or a folder of per-frame depth maps (.npy),
  reduced to the median depth of each map.

Depth maps hold z-depth along the view axis (what Blender's Z pass holds), not the distance along the ray;
pixels that are non-finite, <= 0 or >= `NO_HIT_DEPTH` (Blender writes about 1e10 where nothing is hit)
are left out. File faults raise PoseFileError naming the file, line or field.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import PoseFileError
from .formats.common import read_text
from .poses import BLENDER_TO_OPENCV

NO_HIT_DEPTH = 1e9
POINT_CLOUD_SUFFIXES = (".ply", ".npy", ".xyz")

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}


def _finite_points(points: np.ndarray, path: Path, where: str = "") -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise PoseFileError(path, where, f"expected points of shape (P, 3), got {points.shape}")
    if points.shape[0] == 0:
        raise PoseFileError(path, where, "no points")
    bad = ~np.all(np.isfinite(points), axis=1)
    if np.any(bad):
        raise PoseFileError(path, f"point {int(np.flatnonzero(bad)[0])}", "NaN or infinite coordinate")
    return points


def read_ply(path: str | Path) -> np.ndarray:
    """Vertex positions (P, 3) of a PLY file, ascii or binary of either byte order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PoseFileError(path, "", "no such file") from None
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise PoseFileError(path, "line 1", "not a PLY file (no 'ply' magic or no end_header)")
    newline = raw.find(b"\n", end)
    body_start = len(raw) if newline < 0 else newline + 1
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    encoding = None
    elements: list[tuple[str, int, list[tuple[str, str]], int]] = []  # name, count, properties, header line
    for number, line in enumerate(header, start=1):
        words = line.split()
        if not words or words[0] in ("ply", "comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) < 2 or words[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise PoseFileError(path, f"line {number}", f"unknown PLY format {' '.join(words[1:])!r}")
            encoding = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise PoseFileError(path, f"line {number}", "expected 'element NAME COUNT'")
            elements.append((words[1], int(words[2]), [], number))
        elif words[0] == "property":
            if not elements:
                raise PoseFileError(path, f"line {number}", "property before any element")
            if len(words) == 5 and words[1] == "list":
                elements[-1][2].append(("list", f"{words[2]} {words[3]} {words[4]}"))
            elif len(words) == 3 and words[1] in _PLY_TYPES:
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            else:
                raise PoseFileError(path, f"line {number}", f"unsupported property {' '.join(words[1:])!r}")
        else:
            raise PoseFileError(path, f"line {number}", f"unknown header line {words[0]!r}")
    if encoding is None:
        raise PoseFileError(path, "header", "no format line")
    vertex_index = next((i for i, e in enumerate(elements) if e[0] == "vertex"), None)
    if vertex_index is None:
        raise PoseFileError(path, "header", "no vertex element")
    name, count, properties, line_number = elements[vertex_index]
    names = [p[0] for p in properties]
    for axis in "xyz":
        if axis not in names:
            raise PoseFileError(path, f"line {line_number}", f"vertex element has no property {axis}")
    if any(p[0] == "list" for p in properties):
        raise PoseFileError(path, f"line {line_number}", "list properties on vertices are not supported")
    if encoding == "ascii":
        # Elements are stored in header order; each earlier element takes one line per entry.
        lines = raw[body_start:].decode("ascii", errors="replace").splitlines()
        skip = sum(e[1] for e in elements[:vertex_index])
        rows = lines[skip:skip + count]
        if len(rows) < count:
            raise PoseFileError(path, f"line {len(header) + 1 + skip + len(rows)}",
                                f"truncated: {len(rows)} of {count} vertices")
        tokens = " ".join(rows).split()
        if len(tokens) != count * len(properties):
            raise PoseFileError(path, "vertex", f"expected {len(properties)} values per vertex")
        try:
            table = np.array(tokens, dtype=np.float64).reshape(count, len(properties))
        except ValueError:
            raise PoseFileError(path, "vertex", "not a number in the vertex data") from None
        points = table[:, [names.index(a) for a in "xyz"]]
    else:
        order = "<" if encoding == "binary_little_endian" else ">"
        offset = body_start
        for earlier in elements[:vertex_index]:
            if any(p[0] == "list" for p in earlier[2]):
                raise PoseFileError(path, f"line {earlier[3]}", "a list element before the vertices is not "
                                    "supported in binary PLY")
            offset += earlier[1] * np.dtype([(p[0], order + p[1]) for p in earlier[2]]).itemsize
        dtype = np.dtype([(p[0], order + p[1]) for p in properties])
        if len(raw) < offset + count * dtype.itemsize:
            raise PoseFileError(path, "vertex", f"truncated: {count} vertices need "
                                f"{count * dtype.itemsize} bytes, {max(len(raw) - offset, 0)} present")
        table = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
        points = np.stack([table[a].astype(np.float64) for a in "xyz"], axis=1)
    return _finite_points(points, path)


def _point_rows(path: Path, rows: list[tuple[int, list[str]]], columns: slice, expected: str,
                fields_ok) -> np.ndarray:
    """Parse (line number, fields) rows into x y z points taken from `columns`, with one-line errors."""
    points = []
    for number, fields in rows:
        if not fields_ok(len(fields)):
            raise PoseFileError(path, f"line {number}", f"expected {expected}, got {len(fields)} values")
        try:
            point = [float(v) for v in fields[columns]]
        except ValueError:
            raise PoseFileError(path, f"line {number}", "not a number") from None
        if not all(np.isfinite(point)):
            raise PoseFileError(path, f"line {number}", "NaN or infinite coordinate")
        points.append(point)
    if not points:
        raise PoseFileError(path, "", "no points")
    return np.array(points)


def read_xyz(path: str | Path) -> np.ndarray:
    """Points from an .xyz text file: x y z per line (extra columns ignored, '#' comments)."""
    path = Path(path)
    rows = [(number, line.split("#", 1)[0].replace(",", " ").split())
            for number, line in enumerate(read_text(path).splitlines(), start=1)]
    return _point_rows(path, [r for r in rows if r[1]], slice(0, 3), "x y z", lambda n: n >= 3)


def read_colmap_points(path: str | Path) -> np.ndarray:
    """X Y Z of a COLMAP points3D.txt (POINT3D_ID X Y Z R G B ERROR TRACK[])."""
    path = Path(path)
    rows = [(number, line.split()) for number, line in enumerate(read_text(path).splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    return _point_rows(path, rows, slice(1, 4), "POINT3D_ID X Y Z R G B ERROR TRACK[] (8 fields and pairs)",
                       lambda n: n >= 8 and (n - 8) % 2 == 0)


def read_npy(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PoseFileError(path, "", "no such file") from None
    except (ValueError, OSError, EOFError) as error:
        raise PoseFileError(path, "", f"not a readable .npy array ({error})") from None


def read_points(path: str | Path) -> np.ndarray:
    """World points (P, 3) from .ply, .npy (P, 3), .xyz or COLMAP points3D.txt."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.name.lower() == "points3d.txt":
        return read_colmap_points(path)
    if suffix == ".ply":
        return read_ply(path)
    if suffix == ".xyz":
        return read_xyz(path)
    if suffix == ".npy":
        return _finite_points(read_npy(path), path)
    raise PoseFileError(path, "", f"not a point cloud ({', '.join(POINT_CLOUD_SUFFIXES)} or points3D.txt)")


def valid_depth(depth: np.ndarray) -> np.ndarray:
    """Pixels that see something: finite, positive and below the no-hit value."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth > 0) & (depth < NO_HIT_DEPTH)


def unproject_depth_map(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float, rotation: np.ndarray,
                        centre: np.ndarray, pixel_origin: str = "center") -> np.ndarray:
    """World points (P, 3) of a z-depth map (H, W) seen from a camera with camera-to-world `rotation` in
    Blender axes and `centre` (a ParaScale pose).

    Intrinsics follow OpenCV: u = fx X/Z + cx, v = fy Y/Z + cy with x right, y down, z forward, in pixels.
    `pixel_origin` says where pixel (row i, column j) sits: "center" (OpenCV's convention, the default)
    puts it at (u, v) = (j, i), so a centred camera has cx = (W - 1) / 2; "corner" (ParaScale's and
    Blender's, Intrinsics.pixel_intrinsics) puts it at (j + 0.5, i + 0.5), so a centred camera has
    cx = W / 2."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise PoseFileError("depth map", "", f"expected a (H, W) depth map, got shape {depth.shape}")
    if pixel_origin not in ("center", "corner"):
        raise ValueError(f"pixel_origin must be 'center' or 'corner', not {pixel_origin!r}")
    offset = 0.0 if pixel_origin == "center" else 0.5
    rows, cols = np.nonzero(valid_depth(depth))
    z = depth[rows, cols]
    camera_opencv = np.stack([(cols + offset - cx) / fx * z, (rows + offset - cy) / fy * z, z], axis=1)
    rotation_opencv = np.asarray(rotation, dtype=np.float64) @ BLENDER_TO_OPENCV
    return camera_opencv @ rotation_opencv.T + np.asarray(centre, dtype=np.float64)


def read_depth_map(path: str | Path) -> np.ndarray:
    """A (H, W) depth map from .npy (z-depth)."""
    path = Path(path)
    depth = read_npy(path)
    if depth.ndim != 2 or min(depth.shape) < 1:
        raise PoseFileError(path, "", f"expected a (H, W) depth map, got shape {depth.shape}")
    if not np.any(valid_depth(depth.astype(np.float64))):
        raise PoseFileError(path, "", "no pixel holds a usable depth")
    return depth.astype(np.float64)


def depth_map_points(path: str | Path, intrinsics: tuple[float, float, float, float], rotation: np.ndarray,
                     centre: np.ndarray, pixel_origin: str = "center") -> np.ndarray:
    """Read a first-frame depth map and unproject it through the pose (see unproject_depth_map)."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    if not (fx > 0 and fy > 0 and np.isfinite([fx, fy, cx, cy]).all()):
        raise PoseFileError(path, "intrinsics", "fx and fy must be positive and all four finite")
    return unproject_depth_map(read_depth_map(path), fx, fy, cx, cy, rotation, centre, pixel_origin)


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def per_frame_median_depths(folder: str | Path) -> np.ndarray:
    """Median valid depth of every .npy depth map in a folder, in natural name order (frame_2 before
    frame_10); NaN for a map that sees nothing (reported by the depth source as a frame without depth)."""
    folder = Path(folder)
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".npy"), key=_natural_key) \
        if folder.is_dir() else []
    if not files:
        raise PoseFileError(folder, "", "no .npy depth maps in the folder")
    medians = np.empty(len(files))
    for index, file in enumerate(files):
        depth = read_npy(file).astype(np.float64)
        if depth.ndim != 2:
            raise PoseFileError(file, "", f"expected a (H, W) depth map, got shape {depth.shape}")
        valid = valid_depth(depth)
        medians[index] = float(np.median(depth[valid])) if np.any(valid) else np.nan
    return medians


def read_depth_values(path: str | Path) -> np.ndarray:
    """One depth per frame from a .txt (one number per line, '#' comments) or a 1-D .npy."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        values = read_npy(path).astype(np.float64)
        if values.ndim != 1:
            raise PoseFileError(path, "", f"expected one value per frame (1-D), got shape {values.shape}")
        where = [f"index {i}" for i in range(values.size)]
    else:
        items, where = [], []
        for number, line in enumerate(read_text(path).splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 1:
                raise PoseFileError(path, f"line {number}", f"expected one depth per line, got {len(fields)} values")
            try:
                items.append(float(fields[0]))
            except ValueError:
                raise PoseFileError(path, f"line {number}", f"not a number: {fields[0]!r}") from None
            where.append(f"line {number}")
        values = np.array(items)
    if values.size == 0:
        raise PoseFileError(path, "", "no depth values")
    bad = ~(np.isfinite(values) & (values > 0))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise PoseFileError(path, where[i], f"depth must be finite and positive, got {values[i]:g}")
    return values




__all__ = ["read_points", "read_ply", "read_xyz", "read_colmap_points", "read_npy", "read_depth_map",
           "unproject_depth_map", "depth_map_points", "per_frame_median_depths", "read_depth_values",
           "valid_depth", "NO_HIT_DEPTH"]
