"""Helpers shared by the pose-file readers and writers (the modules of core/formats/): strict parsing that names the
file, line or key of every fault, lossless number formatting, and the conversion from per-frame pixel
intrinsics back to ParaScale's lens + sensor description.

Documented defaults for what a file does not carry (FORMATS.md):
- frame size 1280 x 720 (what the RealEstate10K loaders assume), 24 fps, a 36 x 24 mm sensor with AUTO fit,
  lens 50 mm when there is no focal length at all, frames numbered 0..N-1;
- poses relative to frame 0 (MotionCtrl) put frame 0 at the world origin, level, looking along world +Y
  with +Z up (`RELATIVE_FRAME0_ROTATION`), translation units taken as Blender units (metres).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from ..errors import ParaScaleError, PoseFileError, quote, shorten
from ..poses import (
    MAX_COORDINATE,
    MAX_FRAME,
    MIN_MAGNITUDE,
    ORTHONORMAL_TOLERANCE,
    Intrinsics,
    Trajectory,
    rotation_defects,
)

DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 720
DEFAULT_FPS = 24.0
DEFAULT_LENS = 50.0
# Frame 0 of a relative-pose file: a level camera looking along +Y, +Z up (columns: right, up, back).
RELATIVE_FRAME0_ROTATION = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# Principal point and pixel aspect must be the same on every frame (one Intrinsics per trajectory);
# this much relative scatter is text round-off, more is a file we cannot represent.
CONSTANT_TOLERANCE = 1e-7

SIDECAR_SUFFIX = ".meta.json"
SIDECAR_VERSION = 1


def float_or_none(text: str) -> float | None:
    """The number a token spells (as float() reads it), or None: the test every text parser uses to tell
    numbers from names."""
    try:
        return float(text)
    except ValueError:
        return None


def numbers(values: np.ndarray) -> str:
    """Space-separated shortest round-trip representation of each float (lossless, one space)."""
    return " ".join(repr(float(v)) for v in np.asarray(values, dtype=np.float64).ravel().tolist())


def load_json(path: Path, limit: int | None = None, kind: str = "pose file") -> object:
    """Parse a JSON file (at most `limit` bytes, POSE_FILE_LIMIT by default; a UTF-8 byte-order mark is
    skipped); empty, truncated or non-standard (NaN, Infinity) JSON raises PoseFileError."""
    text = read_text(path, limit, kind)
    if not text.strip():
        raise PoseFileError(path, "line 1", "empty file")

    def reject_constant(name: str) -> object:
        raise PoseFileError(path, "", f"{name} is not a number JSON allows")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as error:
        what = "truncated JSON" if error.pos >= len(text.rstrip()) else f"invalid JSON ({error.msg})"
        raise PoseFileError(path, f"line {error.lineno}", what) from None
    except RecursionError:  # '[[[[...' nested deeper than the parser's stack
        raise PoseFileError(path, "", "JSON nested too deeply") from None
    except ParaScaleError:  # reject_constant's own error (a ValueError too)
        raise
    except ValueError as error:  # an integer of more digits than Python converts
        raise PoseFileError(path, "", f"invalid JSON ({shorten(str(error), 80)})") from None


# What one file may hold, per kind. No real file comes near: a 100 000-frame RealEstate10K file is about
# 40 MiB and the JSON formats take about 600 bytes a frame. The limits bound memory and time for a wrong
# file given by mistake (a video, a disk image), which is refused before it is read.
MIB = 1 << 20
POSE_FILE_LIMIT = 64 * MIB
# Text point clouds (.xyz, points3D.txt, ascii .ply) are read line by line; a line longer than this is not
# a point (and bounds what one read holds).
POINT_TEXT_LIMIT = 2048 * MIB
LINE_LIMIT = 64 * 1024
BYTE_ORDER_MARK = "\ufeff"


def size_text(size: int) -> str:
    """A byte count for messages: '64 MiB', '3.0 GiB', '512 bytes'."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    if size >= MIB:
        return f"{size // MIB} MiB" if size % MIB == 0 else f"{size / MIB:.1f} MiB"
    return f"{size} bytes"


def _open_error(path: Path, error: OSError) -> PoseFileError:
    if isinstance(error, FileNotFoundError):
        return PoseFileError(path, "", "no such file")
    if isinstance(error, IsADirectoryError):
        return PoseFileError(path, "", "is a folder, not a file")
    if isinstance(error, NotADirectoryError):
        return PoseFileError(path, "", "a folder on its path is a file")
    if isinstance(error, PermissionError):
        return PoseFileError(path, "", "not readable (permission denied)")
    return PoseFileError(path, "", f"cannot be read ({error.strerror or type(error).__name__})")


def too_large(path: Path, size: int, limit: int, kind: str) -> PoseFileError:
    return PoseFileError(path, "", f"{size_text(size)} is more than a {kind} may hold ({size_text(limit)} at most)")


def read_bytes(path: Path, limit: int, kind: str) -> bytes:
    """The bytes of a file of at most `limit` bytes. The size is checked before reading, and the read
    stops after `limit` + 1 bytes whatever the file claims (a pipe, /dev/zero)."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > limit:
                raise too_large(path, size, limit, kind)
            data = stream.read(limit + 1)
    except OSError as error:
        raise _open_error(path, error) from None
    if len(data) > limit:
        raise too_large(path, len(data), limit, kind)
    return data


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 text of a file's bytes, without a leading byte-order mark."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PoseFileError(path, f"byte {error.start}", "not UTF-8 text") from None
    return text[1:] if text.startswith(BYTE_ORDER_MARK) else text


def read_text(path: Path, limit: int | None = None, kind: str = "pose file") -> str:
    """The UTF-8 text of a file of at most `limit` bytes (POSE_FILE_LIMIT by default), byte-order mark
    skipped."""
    return decode_text(read_bytes(path, POSE_FILE_LIMIT if limit is None else limit, kind), Path(path))


def text_lines(path: Path, limit: int = POINT_TEXT_LIMIT, kind: str = "point cloud",
               start: int = 0, first_line: int = 1) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of a file, read one line at a time from byte `start` (memory holds
    one line, never the file); the file may hold at most `limit` bytes and a line at most LINE_LIMIT."""
    path = Path(path)
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise _open_error(path, error) from None
    with stream:
        size = os.fstat(stream.fileno()).st_size
        if size > limit:
            raise too_large(path, size, limit, kind)
        stream.seek(start)
        total = start
        for number in itertools.count(first_line):
            try:
                raw = stream.readline(LINE_LIMIT + 1)
            except OSError as error:
                raise _open_error(path, error) from None
            if not raw:
                return
            total += len(raw)
            if len(raw) > LINE_LIMIT:
                raise PoseFileError(path, f"line {number}", f"longer than {LINE_LIMIT} bytes")
            if total > limit:
                raise too_large(path, total, limit, kind)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PoseFileError(path, f"line {number}", "not UTF-8 text") from None
            if number == first_line and start == 0 and line.startswith(BYTE_ORDER_MARK):
                line = line[1:]
            yield number, line.rstrip("\r\n")


def require_mapping(value: object, path: Path, where: str) -> dict:
    if not isinstance(value, dict):
        raise PoseFileError(path, where, f"expected a JSON object, got {type(value).__name__}")
    return value


def check_keys(mapping: dict, path: Path, where: str, required: set[str], optional: set[str] = frozenset()) -> None:
    """Missing required keys and unknown keys are both errors (a misspelt key must not be ignored)."""
    prefix = f"{where}." if where else ""
    for key in sorted(required - mapping.keys()):
        raise PoseFileError(path, f"{prefix}{key}", "missing key")
    for key in sorted(mapping.keys() - required - optional):
        raise PoseFileError(path, f"{prefix}{key}", "unknown key")


def number_array(value: object, path: Path, where: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A float array from JSON data with its shape checked and every entry finite. `shape` may hold -1
    for "any length"."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise PoseFileError(path, where, f"a number lies beyond {MAX_COORDINATE:g}") from None
    except (TypeError, ValueError):
        raise PoseFileError(path, where, "expected numbers (a ragged or non-numeric array)") from None
    if shape is not None:
        if array.ndim != len(shape) or any(s not in (-1, a) for s, a in zip(shape, array.shape, strict=False)):
            want = " x ".join("N" if s == -1 else str(s) for s in shape)
            got = " x ".join(str(a) for a in array.shape) or "a scalar"
            raise PoseFileError(path, where, f"expected {want} numbers, got {got}")
    return checked_numbers(array, path, lambda bad: f"{where}[{']['.join(str(int(i)) for i in bad)}]"
                           if array.ndim else where)


def checked_numbers(array: np.ndarray, path: Path, where: Callable[[np.ndarray], str] | str) -> np.ndarray:
    """`array` (float64) with every entry finite and within MAX_COORDINATE, else a PoseFileError at the first
    bad entry (`where(index)` names it); entries smaller than MIN_MAGNITUDE are read as 0 (round-off: a
    denormal would only overflow what divides by it)."""
    array = np.asarray(array, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(array) <= MAX_COORDINATE)
    if np.any(bad):
        index = np.argwhere(bad)[0]
        name = where(index) if callable(where) else where
        value = float(array[tuple(index)])
        raise PoseFileError(path, name, "NaN or infinite value" if not np.isfinite(value) else
                            f"{value:g} lies beyond {MAX_COORDINATE:g} (what ParaScale and Blender can hold)")
    tiny = (array != 0) & (np.abs(array) < MIN_MAGNITUDE)
    if np.any(tiny):
        array = np.where(tiny, 0.0, array)
    return array


def number(value: object, path: Path, where: str, positive: bool = False, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PoseFileError(path, where, f"expected a number, got {json.dumps(value)[:40]}")
    try:
        value = float(checked_numbers(np.float64(value), path, where))
    except OverflowError:  # an integer beyond float64
        raise PoseFileError(path, where, f"{quote(value)} lies beyond {MAX_COORDINATE:g}") from None
    if positive and value <= 0:
        raise PoseFileError(path, where, f"must be positive, got {value:g}")
    if integer and value != int(value):
        raise PoseFileError(path, where, f"must be a whole number, got {value:g}")
    return value


def check_rotations(rotations: np.ndarray, path: Path, where: list[str] | str) -> None:
    """Each 3x3 must be orthonormal with det +1 (to Blender's float32 tolerance); names the first bad one."""
    error, det = rotation_defects(np.asarray(rotations, dtype=np.float64))
    bad = np.flatnonzero((error > ORTHONORMAL_TOLERANCE) | (det < 0))
    if bad.size:
        i = int(bad[0])
        location = where[i] if isinstance(where, list) else f"{where}[{i}]"
        what = ("rotation has det -1 (a reflection)" if error[i] <= ORTHONORMAL_TOLERANCE
                else f"rotation is not orthonormal (error {error[i]:.2g})")
        raise PoseFileError(path, location, what)


def json_ready(value: object) -> object:
    """`value` with every non-finite float replaced by None (JSON has no NaN), numpy scalars made plain
    and tuples made lists, recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return json_ready(value.item())
    return value


def build_trajectory(path: Path, rotations: np.ndarray, centres: np.ndarray, **kwargs: object) -> Trajectory:
    """A Trajectory from parsed data; any inconsistency becomes a PoseFileError naming the file."""
    try:
        return Trajectory(rotations=rotations, centres=centres, **kwargs)  # type: ignore[arg-type]
    except ParaScaleError as error:
        raise PoseFileError(path, "", str(error)) from None


def intrinsics_from_pixels(path: Path, where: str, fx: np.ndarray, fy: np.ndarray, cx: np.ndarray,
                           cy: np.ndarray, width: int, height: int,
                           template: Intrinsics | None = None) -> tuple[Intrinsics, np.ndarray]:
    """(Intrinsics, per-frame lens in mm) that reproduce per-frame pixel intrinsics on a W x H frame.
    The sensor size and fit come from `template` (a sidecar) or the 36 x 24 mm AUTO default; the principal
    point and fx/fy must not change over the clip."""
    fx, fy, cx, cy = (np.broadcast_to(np.asarray(a, dtype=np.float64), np.shape(fx)) for a in (fx, fy, cx, cy))
    if np.any(fx <= 0) or np.any(fy <= 0):
        raise PoseFileError(path, where, "focal length must be positive")
    if width <= 0 or height <= 0:
        raise PoseFileError(path, where, f"frame size must be positive, got {width} x {height}")
    ycor = fx / fy
    for name, values in (("fx/fy", ycor), ("cx", cx), ("cy", cy)):
        scale = max(float(np.abs(values).max()), 1.0)
        if float(np.ptp(values)) > CONSTANT_TOLERANCE * scale:
            raise PoseFileError(path, where, f"{name} changes over the clip ({values.min():g} to {values.max():g}); "
                                "ParaScale keeps one principal point and pixel aspect per camera")
    ycor0 = float(ycor[0])
    template = template or Intrinsics()
    if abs(template.pixel_aspect_y / template.pixel_aspect_x - ycor0) <= CONSTANT_TOLERANCE:
        aspect_x, aspect_y = template.pixel_aspect_x, template.pixel_aspect_y
    else:
        aspect_x, aspect_y = (1.0, 1.0) if abs(ycor0 - 1.0) <= CONSTANT_TOLERANCE else (1.0, ycor0)
    try:
        base = Intrinsics(sensor_width=template.sensor_width, sensor_height=template.sensor_height,
                          sensor_fit=template.sensor_fit, width=int(width), height=int(height),
                          pixel_aspect_x=aspect_x, pixel_aspect_y=aspect_y)
    except ParaScaleError as error:
        raise PoseFileError(path, where, str(error)) from None
    _, size, side = base.fitted_sensor()
    ycor_used = aspect_y / aspect_x
    lens = fx * size / side
    shift_x = (width / 2.0 - float(cx[0])) / side
    shift_y = (float(cy[0]) - height / 2.0) * ycor_used / side
    return replace(base, shift_x=shift_x, shift_y=shift_y), lens


def _intrinsics_dict(intrinsics: Intrinsics) -> dict:
    return {f.name: getattr(intrinsics, f.name) for f in fields(intrinsics)}


def intrinsics_to_json(intrinsics: Intrinsics) -> dict:
    return _intrinsics_dict(intrinsics)


INTRINSICS_KEYS = {f.name for f in fields(Intrinsics)}


def intrinsics_from_json(value: object, path: Path, where: str) -> Intrinsics:
    mapping = require_mapping(value, path, where)
    check_keys(mapping, path, where, INTRINSICS_KEYS)
    data: dict[str, object] = {}
    for key in INTRINSICS_KEYS:
        if key == "sensor_fit":
            data[key] = mapping[key]
        else:
            data[key] = number(mapping[key], path, f"{where}.{key}", integer=key in ("width", "height"))
    data["width"], data["height"] = int(data["width"]), int(data["height"])  # type: ignore[call-overload]
    try:
        return Intrinsics(**data)  # type: ignore[arg-type]
    except ParaScaleError as error:
        raise PoseFileError(path, where, str(error)) from None


def trailing_numbers(names: list[str]) -> np.ndarray | None:
    """Frame numbers from names such as 'frame_000012.png' when every name ends in a number and they
    increase; None otherwise."""
    found = [re.search(r"(?<!\d)(\d{1,15})(?=\D*$)", Path(name).name) for name in names]
    if not all(found):
        return None
    numbers = [int(m.group(1)) for m in found]  # type: ignore[union-attr]
    if numbers and max(numbers) > MAX_FRAME:  # not a frame number (and maybe beyond float64)
        return None
    values = np.array(numbers, dtype=np.float64)
    return values if np.all(np.diff(values) > 0) else None


# ----------------------------------------------------------------------------------------- sidecar
# A pose format that cannot carry the frame size, sensor, frame numbers or (for relative formats) the
# first pose gets `<file>.meta.json` beside it; reading uses it when present, the defaults otherwise.

SIDECAR_KEYS = {"parascale_sidecar", "format", "width", "height", "intrinsics", "fps", "frames", "lens",
                "clip_start", "clip_end", "first_rotation", "first_centre", "note"}


def sidecar_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + SIDECAR_SUFFIX)


def sidecar_of(trajectory: Trajectory, format_name: str, note: str) -> dict:
    return {
        "parascale_sidecar": SIDECAR_VERSION, "format": format_name, "note": note,
        "width": trajectory.intrinsics.width, "height": trajectory.intrinsics.height,
        "intrinsics": intrinsics_to_json(trajectory.intrinsics), "fps": trajectory.fps,
        "frames": trajectory.frames.tolist(), "lens": trajectory.lens.tolist(),
        "clip_start": trajectory.clip_start, "clip_end": trajectory.clip_end,
        "first_rotation": trajectory.rotations[0].tolist(), "first_centre": trajectory.centres[0].tolist(),
    }


def read_sidecar(path: Path, n_frames: int) -> dict | None:
    """The validated sidecar of `path` as python values, or None when there is none."""
    side = sidecar_path(path)
    if not side.is_file():
        return None
    data = require_mapping(load_json(side), side, "")
    check_keys(data, side, "", SIDECAR_KEYS)
    if data["parascale_sidecar"] != SIDECAR_VERSION:
        raise PoseFileError(side, "parascale_sidecar", f"unsupported version {quote(data['parascale_sidecar'])}")
    frames = number_array(data["frames"], side, "frames", (-1,))
    lens = number_array(data["lens"], side, "lens", (-1,))
    for key, values in (("frames", frames), ("lens", lens)):
        if values.size != n_frames:
            raise PoseFileError(side, key, f"{values.size} entries for a pose file of {n_frames} frames")
    intrinsics = intrinsics_from_json(data["intrinsics"], side, "intrinsics")
    for key in ("width", "height"):
        if data[key] != getattr(intrinsics, key):
            raise PoseFileError(side, key, f"{quote(data[key])} differs from intrinsics.{key} "
                                f"({getattr(intrinsics, key)})")
    first_rotation = number_array(data["first_rotation"], side, "first_rotation", (3, 3))
    check_rotations(first_rotation[None], side, ["first_rotation"])
    return {
        "intrinsics": intrinsics,
        "fps": number(data["fps"], side, "fps", positive=True),
        "frames": frames, "lens": lens,
        "clip_start": number(data["clip_start"], side, "clip_start", positive=True),
        "clip_end": number(data["clip_end"], side, "clip_end", positive=True),
        "first_rotation": first_rotation,
        "first_centre": number_array(data["first_centre"], side, "first_centre", (3,)),
    }
