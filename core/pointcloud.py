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

import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .errors import PoseFileError, names_read_faults, quote, shorten
from .formats.common import POINT_TEXT_LIMIT, _open_error, float_or_none, read_text, size_text, text_lines
from .poses import BLENDER_TO_OPENCV, MAX_COORDINATE, MIN_MAGNITUDE, positive_in_range
from .statistics import DEFAULT_STATISTIC, normalize_statistic, representative_depth

NO_HIT_DEPTH = 1e9
# What a depth or point file may hold. A point cloud of 20 million points is 480 MB as float64; a depth
# map or array of 8192 x 8192 values 512 MB. Both are beyond what a depth probe needs (it takes medians),
# and bound the memory a wrong file can take.
MAX_POINTS = 20_000_000
MAX_ARRAY_VALUES = 8192 * 8192
PLY_HEADER_LIMIT = 1 << 20
POINT_BLOCK = 65536
POINT_CLOUD_SUFFIXES = (".ply", ".npy", ".xyz")

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}


def check_points(points: np.ndarray, path: Path, where: str = "",
                 row_names: Callable[[int], str] | None = None) -> np.ndarray:
    """Points (P, 3) as float64: every coordinate finite and within MAX_COORDINATE, refusing the first bad
    row by name (`row_names(i)`, default 'point i'). A point cloud never silently loses a row."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise PoseFileError(path, where, f"expected points of shape (P, 3), got {points.shape}")
    if points.shape[0] == 0:
        raise PoseFileError(path, where, "no points")
    with np.errstate(invalid="ignore"):
        bad = ~np.all(np.abs(points) <= MAX_COORDINATE, axis=1)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        what = ("NaN or infinite coordinate" if not np.all(np.isfinite(points[i]))
                else f"coordinate beyond {MAX_COORDINATE:g} (what ParaScale and Blender can hold)")
        raise PoseFileError(path, row_names(i) if row_names else f"point {i}", what)
    return points


_finite_points = check_points


def _check_count(path: Path, count: int, where: str = "") -> None:
    if count > MAX_POINTS:
        raise PoseFileError(path, where, f"{count} points is more than a point cloud may hold ({MAX_POINTS} at most)")


def read_ply(path: str | Path) -> np.ndarray:
    """Vertex positions (P, 3) of a PLY file, ascii or binary of either byte order. Only the header and
    the vertex rows are read (binary: one read of exactly the vertex block; ascii: line by line)."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            head = stream.read(PLY_HEADER_LIMIT)
            file_size = os.fstat(stream.fileno()).st_size
    except OSError as error:
        raise _open_error(path, error) from None
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        what = "not a PLY file (no 'ply' magic or no end_header)"
        if head.startswith(b"ply") and len(head) >= PLY_HEADER_LIMIT:
            what = f"no end_header in the first {size_text(PLY_HEADER_LIMIT)}"
        raise PoseFileError(path, "line 1", what)
    newline = head.find(b"\n", end)
    body_start = len(head) if newline < 0 else newline + 1
    header = head[:end].decode("ascii", errors="replace").splitlines()
    encoding = None
    elements: list[tuple[str, int, list[tuple[str, str]], int]] = []  # name, count, properties, header line
    for number, line in enumerate(header, start=1):
        words = line.split()
        if not words or words[0] in ("ply", "comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) < 2 or words[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise PoseFileError(path, f"line {number}", f"unknown PLY format {quote(' '.join(words[1:]))}")
            encoding = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise PoseFileError(path, f"line {number}", "expected 'element NAME COUNT'")
            if len(words[2]) > 15:  # int() refuses 4300 digits; no file holds 1e15 elements of anything
                raise PoseFileError(path, f"line {number}", f"element count {quote(words[2])} is not a real count")
            elements.append((words[1], int(words[2]), [], number))
        elif words[0] == "property":
            if not elements:
                raise PoseFileError(path, f"line {number}", "property before any element")
            if len(words) == 5 and words[1] == "list":
                elements[-1][2].append(("list", f"{words[2]} {words[3]} {words[4]}"))
            elif len(words) == 3 and words[1] in _PLY_TYPES:
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            else:
                raise PoseFileError(path, f"line {number}", f"unsupported property {quote(' '.join(words[1:]))}")
        else:
            raise PoseFileError(path, f"line {number}", f"unknown header line {quote(words[0])}")
    if encoding is None:
        raise PoseFileError(path, "header", "no format line")
    vertex_index = next((i for i, e in enumerate(elements) if e[0] == "vertex"), None)
    if vertex_index is None:
        raise PoseFileError(path, "header", "no vertex element")
    name, count, properties, line_number = elements[vertex_index]
    _check_count(path, count, f"line {line_number}")
    names = [p[0] for p in properties]
    for axis in "xyz":
        if axis not in names:
            raise PoseFileError(path, f"line {line_number}", f"vertex element has no property {axis}")
    if len(set(names)) != len(names):
        raise PoseFileError(path, f"line {line_number}", "a vertex property is named twice")
    if any(p[0] == "list" for p in properties):
        raise PoseFileError(path, f"line {line_number}", "list properties on vertices are not supported")
    columns = [names.index(a) for a in "xyz"]
    if encoding == "ascii":
        # Elements are stored in header order; each earlier element takes one line per entry.
        skip = sum(e[1] for e in elements[:vertex_index])
        first = len(header) + 2
        table = np.empty((count, 3))
        row = 0
        lines = text_lines(path, POINT_TEXT_LIMIT, "PLY file", start=body_start, first_line=first)
        for number, line in lines:
            if number < first + skip:
                continue
            if row == count:
                break
            fields = line.split()
            if len(fields) != len(properties):
                raise PoseFileError(path, f"line {number}", f"expected {len(properties)} values per vertex, "
                                    f"got {len(fields)}")
            table[row] = _parse_numbers([fields[c] for c in columns], path, f"line {number}")
            row += 1
        if row < count:
            raise PoseFileError(path, f"line {first + skip + row}", f"truncated: {row} of {count} vertices")
        return check_points(table, path, row_names=lambda i: f"line {first + skip + i}")
    order = "<" if encoding == "binary_little_endian" else ">"
    offset = body_start
    for earlier in elements[:vertex_index]:
        if any(p[0] == "list" for p in earlier[2]):
            raise PoseFileError(path, f"line {earlier[3]}", "a list element before the vertices is not "
                                "supported in binary PLY")
        offset += earlier[1] * np.dtype([(p[0], order + p[1]) for p in earlier[2]]).itemsize
    dtype = np.dtype([(p[0], order + p[1]) for p in properties])
    if file_size < offset + count * dtype.itemsize:
        raise PoseFileError(path, "vertex", f"truncated: {count} vertices need "
                            f"{count * dtype.itemsize} bytes, {max(file_size - offset, 0)} present")
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            table = np.fromfile(stream, dtype=dtype, count=count)
    except OSError as error:
        raise _open_error(path, error) from None
    if table.size < count:  # the file shrank since its size was taken
        raise PoseFileError(path, "vertex", f"truncated: {table.size} of {count} vertices")
    with np.errstate(over="ignore", invalid="ignore"):  # a float64 beyond range is refused just below
        points = np.stack([table[a].astype(np.float64) for a in "xyz"], axis=1)
    return check_points(points, path, row_names=lambda i: f"vertex {i}")


def _parse_numbers(fields: list[str], path: Path, where: str) -> list[float]:
    try:
        return [float(v) for v in fields]
    except ValueError:
        bad = next(v for v in fields if not float_or_none(v) is not None)
        raise PoseFileError(path, where, f"not a number: {quote(bad)}") from None


def _point_rows(path: Path, rows: Iterable[tuple[int, list[str]]], columns: slice, expected: str,
                fields_ok: Callable[[int], bool]) -> np.ndarray:
    """Parse (line number, fields) rows into x y z points taken from `columns`, with one-line errors;
    memory holds the points and their line numbers (in blocks), never the file's text."""
    blocks: list[tuple[np.ndarray, np.ndarray]] = []
    block, numbers = np.empty((POINT_BLOCK, 3)), np.empty(POINT_BLOCK, dtype=np.int64)
    filled = total = 0
    for number, fields in rows:
        if not fields_ok(len(fields)):
            raise PoseFileError(path, f"line {number}", f"expected {expected}, got {len(fields)} values")
        total += 1
        _check_count(path, total, f"line {number}")
        block[filled] = _parse_numbers(fields[columns], path, f"line {number}")
        numbers[filled] = number
        filled += 1
        if filled == POINT_BLOCK:
            blocks.append((block, numbers))
            block, numbers = np.empty((POINT_BLOCK, 3)), np.empty(POINT_BLOCK, dtype=np.int64)
            filled = 0
    if not total:
        raise PoseFileError(path, "", "no points")
    blocks.append((block[:filled], numbers[:filled]))
    points = np.concatenate([b[0] for b in blocks])
    line_numbers = np.concatenate([b[1] for b in blocks])
    return check_points(points, path, row_names=lambda i: f"line {int(line_numbers[i])}")


def read_xyz(path: str | Path) -> np.ndarray:
    """Points from an .xyz text file: x y z per line (extra columns ignored, '#' comments), read line by
    line."""
    path = Path(path)
    rows = ((number, line.split("#", 1)[0].replace(",", " ").split())
            for number, line in text_lines(path, POINT_TEXT_LIMIT, ".xyz point cloud"))
    return _point_rows(path, (r for r in rows if r[1]), slice(0, 3), "x y z", lambda n: n >= 3)


def read_colmap_points(path: str | Path) -> np.ndarray:
    """X Y Z of a COLMAP points3D.txt (POINT3D_ID X Y Z R G B ERROR TRACK[]), read line by line."""
    path = Path(path)
    rows = ((number, line.split()) for number, line in text_lines(path, POINT_TEXT_LIMIT, "COLMAP points3D.txt")
            if line.strip() and not line.lstrip().startswith("#"))
    return _point_rows(path, rows, slice(1, 4), "POINT3D_ID X Y Z R G B ERROR TRACK[] (8 fields and pairs)",
                       lambda n: n >= 8 and (n - 8) % 2 == 0)


def read_npy(path: str | Path, max_values: int = MAX_ARRAY_VALUES) -> np.ndarray:
    """A numeric .npy array as float64. The header is checked first (numbers, at most `max_values`
    entries, the data all present), then exactly the data is read."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            file_size = os.fstat(stream.fileno()).st_size
            try:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise ValueError(f"unsupported .npy version {version[0]}.{version[1]}")
            except Exception as error:  # noqa: BLE001 - numpy's header parser raises many kinds on bad bytes
                raise PoseFileError(path, "", f"not a readable .npy array ({shorten(str(error), 80)})") from None
            if dtype.kind not in "fiu" or dtype.fields is not None or dtype.subdtype is not None:
                raise PoseFileError(path, "", f"expected numbers, got dtype {quote(str(dtype))}")
            count = math.prod(shape)
            if count > max_values:
                raise PoseFileError(path, "", f"{count} values is more than an array may hold ({max_values} "
                                    "at most)")
            need = count * dtype.itemsize
            if file_size - stream.tell() < need:
                raise PoseFileError(path, "", f"truncated: shape {shape} needs {need} bytes of data, "
                                    f"{max(file_size - stream.tell(), 0)} present")
            data = np.fromfile(stream, dtype=dtype, count=count) if count else np.empty(0, dtype=dtype)
    except OSError as error:
        raise _open_error(path, error) from None
    if data.size < count:
        raise PoseFileError(path, "", f"truncated: {data.size} of {count} values")
    try:
        array = data.reshape(shape, order="F" if fortran else "C")
    except ValueError as error:
        raise PoseFileError(path, "", f"not a readable .npy array ({shorten(str(error), 80)})") from None
    with np.errstate(over="ignore", invalid="ignore"):  # a float128 or uint64 beyond float64: checked by users
        return array.astype(np.float64)


@names_read_faults
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
        return check_points(read_npy(path), path, row_names=lambda i: f"row {i}")
    raise PoseFileError(path, "", f"not a point cloud ({', '.join(POINT_CLOUD_SUFFIXES)} or points3D.txt)")


def valid_depth(depth: np.ndarray) -> np.ndarray:
    """Pixels that see something: finite, positive and below the no-hit value."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth >= MIN_MAGNITUDE) & (depth < NO_HIT_DEPTH)


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
    if not np.any(valid_depth(depth)):
        raise PoseFileError(path, "", "no pixel holds a usable depth")
    return depth


def depth_map_points(path: str | Path, intrinsics: tuple[float, float, float, float], rotation: np.ndarray,
                     centre: np.ndarray, pixel_origin: str = "center") -> np.ndarray:
    """Read a first-frame depth map and unproject it through the pose (see unproject_depth_map)."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    if not (fx > 0 and fy > 0 and np.isfinite([fx, fy, cx, cy]).all()):
        raise PoseFileError(path, "intrinsics", "fx and fy must be positive and all four finite")
    return unproject_depth_map(read_depth_map(path), fx, fy, cx, cy, rotation, centre, pixel_origin)


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


@names_read_faults
def per_frame_median_depths(folder: str | Path, statistic: str = DEFAULT_STATISTIC) -> np.ndarray:
    """Median valid depth (or the named `statistic`, core.statistics) of every .npy depth map in a folder,
    in natural name order (frame_2 before frame_10); NaN for a map that sees nothing (reported by the depth
    source as a frame without depth)."""
    statistic = normalize_statistic(statistic)
    folder = Path(folder)
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".npy"), key=_natural_key) \
        if folder.is_dir() else []
    if not files:
        raise PoseFileError(folder, "", "no .npy depth maps in the folder")
    medians = np.empty(len(files))
    for index, file in enumerate(files):
        depth = read_npy(file)
        if depth.ndim != 2:
            raise PoseFileError(file, "", f"expected a (H, W) depth map, got shape {depth.shape}")
        valid = valid_depth(depth)
        medians[index] = representative_depth(depth[valid], statistic=statistic) if np.any(valid) else np.nan
    return medians


@names_read_faults
def read_depth_values(path: str | Path) -> np.ndarray:
    """One depth per frame from a .txt (one number per line, '#' comments) or a 1-D .npy."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        values = read_npy(path)
        if values.ndim != 1:
            raise PoseFileError(path, "", f"expected one value per frame (1-D), got shape {values.shape}")
        where = None
    else:
        items, where = [], []
        for number, line in enumerate(read_text(path, kind="depth file").splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 1:
                raise PoseFileError(path, f"line {number}", f"expected one depth per line, got {len(fields)} values")
            try:
                items.append(float(fields[0]))
            except ValueError:
                raise PoseFileError(path, f"line {number}", f"not a number: {quote(fields[0])}") from None
            where.append(f"line {number}")
        values = np.array(items)
    if values.size == 0:
        raise PoseFileError(path, "", "no depth values")
    bad = ~positive_in_range(values)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        usable = values[i] > 0 and np.isfinite(values[i])
        what = (f"depth must lie within {MIN_MAGNITUDE:g} .. {MAX_COORDINATE:g}, got {values[i]:g}" if usable
                else f"depth must be finite and positive, got {values[i]:g}")
        raise PoseFileError(path, where[i] if where else f"index {i}", what)
    return values


__all__ = ["read_points", "read_ply", "read_xyz", "read_colmap_points", "read_npy", "read_depth_map",
           "unproject_depth_map", "depth_map_points", "per_frame_median_depths", "read_depth_values",
           "valid_depth", "check_points", "NO_HIT_DEPTH", "MAX_POINTS", "MAX_ARRAY_VALUES"]
