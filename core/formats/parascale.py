"""ParaScale's own JSON: everything a trajectory and a transfer hold, lossless (floats are written with
their shortest round-trip representation; a NaN realized parallax or target depth is written as null).

    {"format": "parascale", "format_version": 1, "conventions": "...",
     "frames": [N], "fps": f, "rotations": [N][3][3] (camera-to-world, Blender camera axes),
     "centres": [N][3], "lens": [N] (mm), "intrinsics": {sensor_width, sensor_height, sensor_fit, shift_x,
     shift_y, width, height, pixel_aspect_x, pixel_aspect_y}, "clip_start": a, "clip_end": b,
     "transfer": null | {"mode", "pi_reference": [N-1], "pi_realized": [N-1], "depth_reference": [N],
                         "depth_target": [N], "scale": [N-1], "converged": [N-1], "iterations": [N-1],
                         "source_reference", "source_target", "missing_target_frames": [..],
                         "summary": {...} (derived, written for people, ignored on reading)}}
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ParaScaleError, PoseFileError, quote
from ..fileio import atomic_write_files
from ..parallax import MODES, TransferResult
from ..poses import Trajectory
from .common import (
    build_trajectory,
    check_keys,
    check_rotations,
    intrinsics_from_json,
    intrinsics_to_json,
    json_ready,
    load_json,
    number,
    number_array,
    require_mapping,
)

PARASCALE_FORMAT_VERSION = 1
CONVENTIONS = ("rotations are camera-to-world in Blender camera axes (x right, y up, looking down -z); "
               "centres are world positions in Blender units; lens in mm; Pi_t = |C_t - C_t-1| / Zbar_t")
TOP_KEYS = {"format", "format_version", "conventions", "frames", "fps", "rotations", "centres", "lens",
            "intrinsics", "clip_start", "clip_end", "transfer"}
TRANSFER_KEYS = {"mode", "pi_reference", "pi_realized", "depth_reference", "depth_target", "scale", "converged",
                 "iterations", "source_reference", "source_target", "missing_target_frames"}


def _nullable(values: np.ndarray) -> list:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).tolist()]


def parascale_document(data: Trajectory | TransferResult) -> dict:
    result = data if isinstance(data, TransferResult) else None
    trajectory = data.trajectory if isinstance(data, TransferResult) else data
    document = {
        "format": "parascale", "format_version": PARASCALE_FORMAT_VERSION, "conventions": CONVENTIONS,
        "frames": trajectory.frames.tolist(), "fps": trajectory.fps, "rotations": trajectory.rotations.tolist(),
        "centres": trajectory.centres.tolist(), "lens": trajectory.lens.tolist(),
        "intrinsics": intrinsics_to_json(trajectory.intrinsics), "clip_start": trajectory.clip_start,
        "clip_end": trajectory.clip_end, "transfer": None,
    }
    if result is not None:
        document["transfer"] = {
            "mode": result.mode, "pi_reference": _nullable(result.pi_reference),
            "pi_realized": _nullable(result.pi_realized), "depth_reference": _nullable(result.depth_reference),
            "depth_target": _nullable(result.depth_target), "scale": _nullable(result.scale),
            "converged": [bool(v) for v in result.converged], "iterations": [int(v) for v in result.iterations],
            "source_reference": result.source_reference, "source_target": result.source_target,
            "missing_target_frames": [int(v) for v in result.missing_target_frames],
            "summary": json_ready(result.summary()),
        }
    return document


def render_parascale(path: str | Path, data: Trajectory | TransferResult) -> dict[Path, str]:
    return {Path(path): json.dumps(parascale_document(data), indent=1, allow_nan=False) + "\n"}


def write_parascale(path: str | Path, data: Trajectory | TransferResult) -> list[Path]:
    return atomic_write_files(render_parascale(path, data))


def _series(value: object, path: Path, where: str, length: int, nullable: bool = False) -> np.ndarray:
    if not isinstance(value, list):
        raise PoseFileError(path, where, "expected a list")
    if nullable:
        value = [np.nan if v is None else v for v in value]
        array = np.asarray(value, dtype=np.float64) if all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                           for v in value) else None
        if array is None or array.ndim != 1:
            raise PoseFileError(path, where, "expected numbers or null")
        if np.any(np.isinf(array)):
            raise PoseFileError(path, where, "infinite value")
    else:
        array = number_array(value, path, where, (-1,))
    if array.size != length:
        raise PoseFileError(path, where, f"expected {length} entries, got {array.size}")
    return array


def _document(path: Path) -> dict:
    data = require_mapping(load_json(path), path, "")
    check_keys(data, path, "", TOP_KEYS)
    if data["format"] != "parascale":
        raise PoseFileError(path, "format", f"expected 'parascale', got {quote(data['format'])}")
    if data["format_version"] != PARASCALE_FORMAT_VERSION:
        raise PoseFileError(path, "format_version", f"unsupported version {quote(data['format_version'])} "
                            f"(this ParaScale reads {PARASCALE_FORMAT_VERSION})")
    return data


def read_parascale(path: str | Path) -> Trajectory:
    path = Path(path)
    data = _document(path)
    rotations = number_array(data["rotations"], path, "rotations", (-1, 3, 3))
    check_rotations(rotations, path, "rotations")
    n = rotations.shape[0]
    centres = number_array(data["centres"], path, "centres", (n, 3))
    return build_trajectory(
        path, rotations, centres, frames=_series(data["frames"], path, "frames", n),
        fps=number(data["fps"], path, "fps", positive=True), lens=_series(data["lens"], path, "lens", n),
        intrinsics=intrinsics_from_json(data["intrinsics"], path, "intrinsics"),
        clip_start=number(data["clip_start"], path, "clip_start", positive=True),
        clip_end=number(data["clip_end"], path, "clip_end", positive=True),
    )


def read_transfer_result(path: str | Path) -> TransferResult:
    """The TransferResult stored in a ParaScale file (PoseFileError when it holds a plain trajectory)."""
    path = Path(path)
    trajectory = read_parascale(path)
    data = _document(path)
    transfer = data["transfer"]
    if transfer is None:
        raise PoseFileError(path, "transfer", "the file holds a plain trajectory, not a transfer result")
    transfer = require_mapping(transfer, path, "transfer")
    check_keys(transfer, path, "transfer", TRANSFER_KEYS, {"summary"})
    n = len(trajectory)
    mode = transfer["mode"]
    if mode not in MODES:
        raise PoseFileError(path, "transfer.mode", f"expected one of {', '.join(MODES)}, got {quote(mode)}")
    flags = transfer["converged"]
    if not isinstance(flags, list) or len(flags) != n - 1 or not all(isinstance(v, bool) for v in flags):
        raise PoseFileError(path, "transfer.converged", f"expected {n - 1} true/false values")
    iterations = _series(transfer["iterations"], path, "transfer.iterations", n - 1)
    missing = transfer["missing_target_frames"]
    if not isinstance(missing, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in missing):
        raise PoseFileError(path, "transfer.missing_target_frames", "expected a list of frame numbers")
    for key in ("source_reference", "source_target"):
        if not isinstance(transfer[key], str):
            raise PoseFileError(path, f"transfer.{key}", "expected a string")
    try:
        return TransferResult(
            trajectory=trajectory, mode=mode,
            pi_reference=_series(transfer["pi_reference"], path, "transfer.pi_reference", n - 1),
            pi_realized=_series(transfer["pi_realized"], path, "transfer.pi_realized", n - 1, nullable=True),
            depth_reference=_series(transfer["depth_reference"], path, "transfer.depth_reference", n),
            depth_target=_series(transfer["depth_target"], path, "transfer.depth_target", n, nullable=True),
            scale=_series(transfer["scale"], path, "transfer.scale", n - 1),
            converged=np.array(flags, dtype=bool), iterations=iterations.astype(np.int64),
            source_reference=transfer["source_reference"], source_target=transfer["source_target"],
            missing_target_frames=list(missing),
        )
    except ParaScaleError as error:
        raise PoseFileError(path, "transfer", str(error)) from None


__all__ = ["read_parascale", "write_parascale", "render_parascale", "read_transfer_result",
           "parascale_document", "PARASCALE_FORMAT_VERSION"]
