"""Pose files of the camera-controlled video generators (FORMATS.md): RealEstate10K text, MotionCtrl JSON,
ReCamMaster JSON and Uni3C cam_info.json.

Every `render_*` returns {path: text} for the caller to write atomically (core/fileio.py); `write_*`
writes it; `read_*` returns a Trajectory (camera-to-world rotations in Blender axes, centres).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np

from ..errors import PoseFileError, quote
from ..fileio import atomic_write_files
from ..poses import (
    BLENDER_TO_OPENCV,
    MAX_COORDINATE,
    Intrinsics,
    Trajectory,
    blender_to_opencv,
    positive_in_range,
    w2c_to_c2w,
)
from .common import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_LENS,
    DEFAULT_WIDTH,
    RELATIVE_FRAME0_ROTATION,
    build_trajectory,
    check_keys,
    check_rotations,
    checked_numbers,
    float_or_none,
    intrinsics_from_pixels,
    load_json,
    number,
    number_array,
    numbers,
    read_sidecar,
    read_text,
    require_mapping,
    sidecar_of,
    sidecar_path,
)
from .contracts import (
    LOADER_POSE_SIZE,
    cameractrl_columns,
    cameractrl_loader_pixels,
    intrinsics_in_model_frame,
    intrinsics_in_render_frame,
)

# ------------------------------------------------------------------------------------ RealEstate10K

RE10K_COLUMNS = 19
RE10K_URL = "https://parascale.invalid/camera"


@dataclass(frozen=True)
class ModelFrame:
    """The model frame a RealEstate10K file's intrinsics are written for, and the loader contract
    (contracts.CONTRACTS) that reads them: "cameractrl" (the loader's 1280x720 rescale inverted) or
    "cami2v" (the camera in the model frame, normalized by its size)."""

    width: int
    height: int
    contract: str
    preset: str = ""
    pose_size: tuple[int, int] = LOADER_POSE_SIZE


def realestate10k_url(trajectory: Trajectory, model: ModelFrame | None = None) -> str:
    """The first line: a URL (CamI2V skips it with comments="https", CameraCtrl with lines[1:]) whose
    query names the frame the intrinsics belong to (the render's, or the model frame and the loader
    arithmetic they are written for). No spaces, so loaders that split on one space never see it as a row."""
    query = {"width": trajectory.intrinsics.width, "height": trajectory.intrinsics.height,
             "fps": repr(float(trajectory.fps)), "intrinsics": "normalized"}
    if model is not None:
        query.update({"intrinsics": model.contract, "model_width": model.width, "model_height": model.height,
                      "pose_width": model.pose_size[0], "pose_height": model.pose_size[1], "preset": model.preset})
    return f"{RE10K_URL}?{urlencode(query)}"


def realestate10k_columns(trajectory: Trajectory, model: ModelFrame | None = None) -> np.ndarray:
    """Columns 1-4 of every row: the render's normalized intrinsics, or what the model frame's loader
    contract needs to reconstruct the render's camera in that frame."""
    if model is None:
        return trajectory.intrinsics.normalized_intrinsics(trajectory.lens)
    intrinsics = trajectory.intrinsics
    in_model = intrinsics_in_model_frame(trajectory.pixel_intrinsics(), intrinsics.width, intrinsics.height,
                                         model.width, model.height)
    if model.contract == "cameractrl":
        return cameractrl_columns(in_model, model.width, model.height, model.pose_size)
    return in_model / np.array([model.width, model.height, model.width, model.height])


def render_realestate10k(path: str | Path, trajectory: Trajectory, sidecar: bool = True,
                         model: ModelFrame | None = None) -> dict[Path, str]:
    """`timestamp_us c1 c2 c3 c4 0 0 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3`, [R|t] the
    world-to-camera pose in OpenCV axes, one space between numbers, no trailing newline. c1..c4 are the
    render's fx/W fy/H cx/W cy/H, or with `model` the values its loader contract needs
    (realestate10k_columns); the sidecar keeps the render's own camera either way."""
    path = Path(path)
    rotation, translation = trajectory.w2c_opencv()
    extrinsic = np.concatenate([rotation, translation[:, :, None]], axis=2).reshape(-1, 12)
    columns = realestate10k_columns(trajectory, model)
    timestamps = np.round(trajectory.frames / trajectory.fps * 1e6).astype(np.int64)
    rows = [f"{int(ts)} {numbers(k)} 0 0 {numbers(e)}"
            for ts, k, e in zip(timestamps, columns, extrinsic, strict=True)]
    out = {path: "\n".join([realestate10k_url(trajectory, model), *rows])}
    if sidecar:
        size = f"{trajectory.intrinsics.width} x {trajectory.intrinsics.height} render"
        note = (f"columns 1-4 are fx/W fy/H cx/W cy/H of the {size}" if model is None else
                f"columns 1-4 are written for the {model.contract} loader contract at {model.width} x "
                f"{model.height} (the {size} resized to cover it and centre-cropped); intrinsics and lens here "
                "are the render's own")
        note += "; [R|t] is world-to-camera in OpenCV axes"
        out[sidecar_path(path)] = json.dumps(sidecar_of(trajectory, "realestate10k", note), indent=1) + "\n"
    return out


def write_realestate10k(path: str | Path, trajectory: Trajectory, sidecar: bool = True,
                        model: ModelFrame | None = None) -> list[Path]:
    return atomic_write_files(render_realestate10k(path, trajectory, sidecar, model))


def read_realestate10k(path: str | Path, width: int | None = None, height: int | None = None,
                       fps: float | None = None) -> Trajectory:
    """Read a RealEstate10K camera file. The frame size the normalized intrinsics belong to: `width` and
    `height` when given, else the sidecar's, else the URL line's query, else 1280 x 720 (the loaders'
    assumption); fps likewise, else from the timestamp spacing. Columns 5 and 6 are ignored (ComfyUI's
    loader overwrites them)."""
    path = Path(path)
    lines = read_text(path).replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise PoseFileError(path, "line 1", "empty file")
    # Loaders skip line 1 whatever it holds (a URL; VideoX-Fun's own presets leave it empty), so a first
    # line that is itself a pose row means the header is missing and the loaders would drop a frame.
    if len(lines[0].split()) == RE10K_COLUMNS and all(float_or_none(v) is not None for v in lines[0].split()):
        raise PoseFileError(path, "line 1", "expected the URL line (https://...) before the poses; "
                            "loaders skip line 1")
    rows = lines[1:]
    if not rows:
        raise PoseFileError(path, "line 2", "no pose lines after the URL line")
    table = np.empty((len(rows), RE10K_COLUMNS))
    for index, line in enumerate(rows):
        where = f"line {index + 2}"
        fields = line.split()
        if len(fields) != RE10K_COLUMNS:
            raise PoseFileError(path, where, f"expected {RE10K_COLUMNS} numbers, got {len(fields)}")
        try:
            table[index] = [float(v) for v in fields]
        except ValueError:
            bad = next(v for v in fields if not float_or_none(v) is not None)
            raise PoseFileError(path, where, f"not a number: {quote(bad)}") from None
        if not np.all(np.isfinite(table[index])):
            column = int(np.flatnonzero(~np.isfinite(table[index]))[0]) + 1
            raise PoseFileError(path, where, f"NaN or infinite value in column {column}")
        table[index] = checked_numbers(table[index], path, lambda bad, where=where: f"{where} column {int(bad[0]) + 1}")
    where_lines = [f"line {i + 2}" for i in range(len(rows))]
    extrinsic = table[:, 7:].reshape(-1, 3, 4)
    check_rotations(extrinsic[:, :, :3], path, where_lines)
    timestamps = table[:, 0]
    # Generated presets (VideoX-Fun) write timestamp 0 on every row: no timing, frames 0..N-1.
    timed = not np.all(timestamps == timestamps[0])
    if timed and np.any(np.diff(timestamps) <= 0):
        i = int(np.flatnonzero(np.diff(timestamps) <= 0)[0]) + 1
        raise PoseFileError(path, where_lines[i], "timestamps must increase")

    side = read_sidecar(path, len(rows))
    try:
        query = parse_qs(urlparse(lines[0].strip()).query)
    except ValueError:  # urlparse refuses an unbalanced '[' (an IPv6 host)
        raise PoseFileError(path, "line 1", "the first line is not a URL") from None
    url_width, url_height, url_fps = (_query_number(query, key, path) for key in ("width", "height", "fps"))
    contract = query.get("intrinsics", ["normalized"])[0]
    if contract not in ("normalized", "cameractrl", "cami2v"):
        raise PoseFileError(path, "line 1 (intrinsics)", f"unknown intrinsics convention {quote(contract)}")
    if contract != "normalized":
        return _read_model_frame_file(path, table, extrinsic, query, contract, side, url_fps, timed, rows)
    if side is not None:
        template: Intrinsics | None = side["intrinsics"]
        w = int(width or side["intrinsics"].width)
        h = int(height or side["intrinsics"].height)
        rate = fps or side["fps"]
        frames = side["frames"]
    else:
        template = None
        w = int(width or url_width or DEFAULT_WIDTH)
        h = int(height or url_height or DEFAULT_HEIGHT)
        rate = fps or url_fps or (1e6 / float(np.median(np.diff(timestamps))) if timed else DEFAULT_FPS)
        # Our own files hold frame / fps; foreign ones start anywhere in the video: count from line 2.
        origin = 0.0 if url_fps else timestamps[0]
        frames = np.round((timestamps - origin) * rate / 1e6, 3) if timed else np.arange(len(rows), dtype=float)
    intrinsics, lens = intrinsics_from_pixels(path, "line 2", table[:, 1] * w, table[:, 2] * h, table[:, 3] * w,
                                              table[:, 4] * h, w, h, template)
    rotations, centres = w2c_to_c2w(extrinsic[:, :, :3], extrinsic[:, :, 3])
    extra = {"clip_start": side["clip_start"], "clip_end": side["clip_end"]} if side else {}
    return build_trajectory(path, blender_to_opencv(rotations), centres, frames=frames, fps=rate, lens=lens,
                            intrinsics=intrinsics, **extra)


def _read_model_frame_file(path: Path, table: np.ndarray, extrinsic: np.ndarray, query: dict[str, list[str]],
                           contract: str, side: dict | None, url_fps: float | None, timed: bool,
                           rows: list[str]) -> Trajectory:
    """A file whose columns 1-4 follow a loader contract (ModelFrame): the loader's own arithmetic gives
    the camera in the model frame; with the sidecar it is mapped back to the render's frame (the round
    trip is exact), without it the model frame is the camera's frame."""
    sizes = [_query_number(query, key, path) for key in ("model_width", "model_height", "pose_width", "pose_height")]
    if any(v is None for v in sizes):
        raise PoseFileError(path, "line 1", f"the {contract} intrinsics need model_width, model_height, "
                            "pose_width and pose_height in the URL")
    model_width, model_height, pose_width, pose_height = (int(v) for v in sizes)  # type: ignore[arg-type]
    columns = table[:, 1:5]
    if contract == "cameractrl":
        in_model = cameractrl_loader_pixels(columns, model_width, model_height, (pose_width, pose_height))
    else:
        in_model = columns * np.array([model_width, model_height, model_width, model_height])
    template: Intrinsics | None = None
    if side is not None:
        template = side["intrinsics"]
        width, height = template.width, template.height
        pixels = intrinsics_in_render_frame(in_model, width, height, model_width, model_height)
        rate, frames = side["fps"], side["frames"]
    else:
        width, height, pixels = model_width, model_height, in_model
        rate = url_fps or DEFAULT_FPS
        frames = np.round(table[:, 0] * rate / 1e6, 3) if timed else np.arange(len(rows), dtype=float)
    intrinsics, lens = intrinsics_from_pixels(path, "line 2", *pixels.T, width, height, template)
    rotations, centres = w2c_to_c2w(extrinsic[:, :, :3], extrinsic[:, :, 3])
    extra = {"clip_start": side["clip_start"], "clip_end": side["clip_end"]} if side else {}
    return build_trajectory(path, blender_to_opencv(rotations), centres, frames=frames, fps=rate, lens=lens,
                            intrinsics=intrinsics, **extra)


def _query_number(query: dict[str, list[str]], key: str, path: Path) -> float | None:
    if key not in query:
        return None
    try:
        value = float(query[key][0])
    except ValueError:
        raise PoseFileError(path, f"line 1 ({key})", f"not a number: {quote(query[key][0])}") from None
    if not (np.isfinite(value) and value > 0 and positive_in_range(value)):
        raise PoseFileError(path, f"line 1 ({key})", f"must be positive and at most {MAX_COORDINATE:g}, got "
                            f"{quote(query[key][0])}")
    return value


# ------------------------------------------------------------------------------------------ MotionCtrl

def relative_w2c(trajectory: Trajectory) -> np.ndarray:
    """RT_i = (w2c_i @ inverse(w2c_0))[:3] in OpenCV axes, shape (N, 3, 4); row 0 is [I | 0]."""
    rotation, translation = trajectory.w2c_opencv()
    # inverse(w2c_0) maps camera-0 coordinates to world: [R0^T | C0].
    r0_c2w = rotation[0].T
    rel_rotation = rotation @ r0_c2w
    rel_translation = np.einsum("nij,j->ni", rotation, trajectory.centres[0]) + translation
    return np.concatenate([rel_rotation, rel_translation[:, :, None]], axis=2)


def from_relative_w2c(relative: np.ndarray, first_rotation: np.ndarray, first_centre: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Blender-axes c2w rotations and centres of relative OpenCV w2c poses whose frame 0 is placed at
    (first_rotation, first_centre)."""
    rel_c2w, rel_centre = w2c_to_c2w(relative[:, :, :3], relative[:, :, 3])
    # Camera-0 OpenCV axes -> world: the first camera's rotation in OpenCV axes.
    anchor = blender_to_opencv(first_rotation)
    rotations = blender_to_opencv(np.einsum("ij,njk->nik", anchor, rel_c2w))
    centres = first_centre + rel_centre @ anchor.T
    return rotations, centres


def render_motionctrl(path: str | Path, trajectory: Trajectory, sidecar: bool = True) -> dict[Path, str]:
    """A JSON list of N rows of 12 numbers: the w2c [R|t] relative to frame 0, row-major, OpenCV axes."""
    path = Path(path)
    rows = relative_w2c(trajectory).reshape(-1, 12)
    out = {path: "[\n" + ",\n".join(f" [{numbers(row).replace(' ', ', ')}]" for row in rows) + "\n]\n"}
    if sidecar:
        note = "MotionCtrl poses are relative to frame 0; first_rotation/first_centre place frame 0"
        out[sidecar_path(path)] = json.dumps(sidecar_of(trajectory, "motionctrl", note), indent=1) + "\n"
    return out


def write_motionctrl(path: str | Path, trajectory: Trajectory, sidecar: bool = True) -> list[Path]:
    return atomic_write_files(render_motionctrl(path, trajectory, sidecar))


def read_motionctrl(path: str | Path, intrinsics: Intrinsics | None = None, lens: float = DEFAULT_LENS,
                    fps: float = DEFAULT_FPS) -> Trajectory:
    """Read MotionCtrl RT rows. With the sidecar the absolute poses, lens and frame come back; without it,
    frame 0 is placed at the origin, level, looking along +Y (RELATIVE_FRAME0_ROTATION) and the lens,
    frame size and fps are the given defaults. Rows are made relative to row 0 if row 0 is not [I|0]."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, list) or not data:
        raise PoseFileError(path, "", "expected a non-empty JSON list of rows of 12 numbers")
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != 12:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise PoseFileError(path, f"[{index}]", f"expected 12 numbers, got {got}")
    table = number_array(data, path, "", (-1, 12)).reshape(-1, 3, 4)
    check_rotations(table[:, :, :3], path, "")
    # Re-relativize: RT_i @ inverse(RT_0).
    r0, t0 = table[0, :, :3], table[0, :, 3]
    rel_rotation = table[:, :, :3] @ r0.T
    rel_translation = table[:, :, 3] - np.einsum("nij,j->ni", rel_rotation, t0)
    relative = np.concatenate([rel_rotation, rel_translation[:, :, None]], axis=2)
    side = read_sidecar(path, len(table))
    if side is not None:
        rotations, centres = from_relative_w2c(relative, side["first_rotation"], side["first_centre"])
        return build_trajectory(path, rotations, centres, frames=side["frames"], fps=side["fps"],
                                lens=side["lens"], intrinsics=side["intrinsics"], clip_start=side["clip_start"],
                                clip_end=side["clip_end"])
    rotations, centres = from_relative_w2c(relative, RELATIVE_FRAME0_ROTATION, np.zeros(3))
    return build_trajectory(path, rotations, centres, fps=fps, lens=lens, intrinsics=intrinsics or Intrinsics())


# ----------------------------------------------------------------------------------------- ReCamMaster

RECAMMASTER_CAMERA = "cam01"
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def recammaster_rows(trajectory: Trajectory) -> np.ndarray:
    """Unreal row-vector matrices (N, 4, 4): rows forward, right, up, position in centimetres."""
    m = np.zeros((len(trajectory), 4, 4))
    m[:, 0, :3] = -trajectory.rotations[:, :, 2]
    m[:, 1, :3] = trajectory.rotations[:, :, 0]
    m[:, 2, :3] = trajectory.rotations[:, :, 1]
    m[:, 3, :3] = 100.0 * trajectory.centres
    m[:, 3, 3] = 1.0
    return m


def render_recammaster(path: str | Path, trajectory: Trajectory, sidecar: bool = True,
                       camera: str = RECAMMASTER_CAMERA) -> dict[Path, str]:
    path = Path(path)
    rows = recammaster_rows(trajectory)
    data = {f"frame{i}": {camera: "".join(f"[{numbers(row)}] " for row in matrix)} for i, matrix in enumerate(rows)}
    out = {path: json.dumps(data, indent=1) + "\n"}
    if sidecar:
        note = "ReCamMaster frames are numbered from 0 and carry no intrinsics; they are kept here"
        out[sidecar_path(path)] = json.dumps(sidecar_of(trajectory, "recammaster", note), indent=1) + "\n"
    return out


def write_recammaster(path: str | Path, trajectory: Trajectory, sidecar: bool = True,
                      camera: str = RECAMMASTER_CAMERA) -> list[Path]:
    return atomic_write_files(render_recammaster(path, trajectory, sidecar, camera))


def read_recammaster(path: str | Path, camera: str | None = None, intrinsics: Intrinsics | None = None,
                     lens: float = DEFAULT_LENS, fps: float = DEFAULT_FPS) -> Trajectory:
    """Read one camera (default: the first of frame 0, in name order) of a ReCamMaster extrinsics file."""
    path = Path(path)
    data = require_mapping(load_json(path), path, "")
    if not data:
        raise PoseFileError(path, "", "no frames")
    numbered = {}
    for key in data:
        match = re.fullmatch(r"frame([0-9]{1,15})", key)  # int() refuses thousands of digits
        if not match:
            raise PoseFileError(path, key, "unknown key (expected frame0, frame1, ...)")
        numbered[int(match.group(1))] = key
    order = sorted(numbered)
    first = require_mapping(data[numbered[order[0]]], path, numbered[order[0]])
    if camera is None:
        if not first:
            raise PoseFileError(path, numbered[order[0]], "no cameras")
        camera = sorted(first)[0]
    rows = np.empty((len(order), 4, 4))
    for index, number_key in enumerate(order):
        key = numbered[number_key]
        cameras = require_mapping(data[key], path, key)
        if camera not in cameras:
            raise PoseFileError(path, f"{key}.{camera}", "missing key")
        text = cameras[camera]
        where = f"{key}.{camera}"
        if not isinstance(text, str):
            raise PoseFileError(path, where, "expected a string of four bracketed rows")
        groups = _BRACKETS.findall(text)
        if len(groups) != 4:
            raise PoseFileError(path, where, f"expected 4 bracketed rows, got {len(groups)}")
        try:
            values = [[float(v) for v in group.split()] for group in groups]
        except ValueError:
            raise PoseFileError(path, where, "not a number in the matrix") from None
        if any(len(v) != 4 for v in values):
            raise PoseFileError(path, where, "each row needs 4 numbers")
        rows[index] = number_array(values, path, where, (4, 4))
        if not np.allclose(rows[index, :, 3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
            raise PoseFileError(path, where, "last column must be 0 0 0 1")
    rotations = np.stack([rows[:, 1, :3], rows[:, 2, :3], -rows[:, 0, :3]], axis=2)
    check_rotations(rotations, path, [f"{numbered[k]}.{camera}" for k in order])
    centres = rows[:, 3, :3] / 100.0
    side = read_sidecar(path, len(order))
    if side is not None:
        return build_trajectory(path, rotations, centres, frames=side["frames"], fps=side["fps"],
                                lens=side["lens"], intrinsics=side["intrinsics"], clip_start=side["clip_start"],
                                clip_end=side["clip_end"])
    return build_trajectory(path, rotations, centres, frames=np.asarray(order, dtype=np.float64), fps=fps,
                            lens=lens, intrinsics=intrinsics or Intrinsics())


# --------------------------------------------------------------------------------------------- Uni3C

UNI3C_KEYS = {"intrinsic", "extrinsic", "height", "width"}


def render_uni3c(path: str | Path, trajectory: Trajectory) -> dict[Path, str]:
    """cam_info.json: one 3x3 pixel intrinsic (frame 0's: the format has one), N 4x4 w2c in OpenCV axes."""
    path = Path(path)
    if np.ptp(trajectory.lens) > 0:
        warnings.warn("Uni3C carries one intrinsic matrix: the animated focal length is written as frame 0's",
                      stacklevel=3)
    fx, fy, cx, cy = trajectory.pixel_intrinsics()[0]
    rotation, translation = trajectory.w2c_opencv()
    extrinsic = np.zeros((len(trajectory), 4, 4))
    extrinsic[:, :3, :3] = rotation
    extrinsic[:, :3, 3] = translation
    extrinsic[:, 3, 3] = 1.0
    data = {"intrinsic": [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], "extrinsic": extrinsic.tolist(),
            "height": trajectory.intrinsics.height, "width": trajectory.intrinsics.width}
    return {path: json.dumps(data) + "\n"}


def write_uni3c(path: str | Path, trajectory: Trajectory) -> list[Path]:
    return atomic_write_files(render_uni3c(path, trajectory))


def read_uni3c(path: str | Path, fps: float = DEFAULT_FPS) -> Trajectory:
    path = Path(path)
    data = require_mapping(load_json(path), path, "")
    check_keys(data, path, "", UNI3C_KEYS)
    width = int(number(data["width"], path, "width", positive=True, integer=True))
    height = int(number(data["height"], path, "height", positive=True, integer=True))
    k = number_array(data["intrinsic"], path, "intrinsic", (3, 3))
    if not np.allclose(k[[0, 1, 2, 2, 2], [1, 0, 0, 1, 2]], [0, 0, 0, 0, 1], atol=1e-12):
        raise PoseFileError(path, "intrinsic", "expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]")
    extrinsic = number_array(data["extrinsic"], path, "extrinsic", (-1, 4, 4))
    bottom = np.abs(extrinsic[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
    if np.any(bottom > 1e-9):
        raise PoseFileError(path, f"extrinsic[{int(np.flatnonzero(bottom > 1e-9)[0])}]", "last row must be 0 0 0 1")
    check_rotations(extrinsic[:, :3, :3], path, "extrinsic")
    intrinsics, lens = intrinsics_from_pixels(path, "intrinsic", np.array([k[0, 0]]), np.array([k[1, 1]]),
                                              np.array([k[0, 2]]), np.array([k[1, 2]]), width, height)
    rotations, centres = w2c_to_c2w(extrinsic[:, :3, :3], extrinsic[:, :3, 3])
    return build_trajectory(path, rotations @ BLENDER_TO_OPENCV, centres, fps=fps, lens=float(lens[0]),
                            intrinsics=intrinsics)


__all__ = ["read_realestate10k", "write_realestate10k", "render_realestate10k", "read_motionctrl",
           "write_motionctrl", "render_motionctrl", "read_recammaster", "write_recammaster",
           "render_recammaster", "read_uni3c", "write_uni3c", "render_uni3c", "relative_w2c", "ModelFrame"]
