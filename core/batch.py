"""Calibrating clips from files: depth sources from command-line specs, one clip end to end, and a batch
of clips (a folder or a manifest, core.manifest) on local processes or Ray (core.engines): spawn-safe,
the worker is a module-level function and everything it receives is picklable. Progress is tqdm's.

A clip that fails is reported with its one-line reason; it never stops the others. Each finished clip is
logged at once in the output folder with a hash of its inputs and options, so a rerun skips what is
done and unchanged (resume), and shards of one clip list can share an output folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import numpy as np

from .depth import DepthProbe, FixedDepth, PerFrameDepth, PointsDepth
from .engines import make_engine
from .errors import (
    DepthError,
    NoMotionError,
    OutputFileError,
    ParaScaleError,
    PoseFileError,
    TrajectoryError,
    one_line,
    quote,
    short_path,
    shorten,
)
from .fileio import (
    atomic_write_files,
    atomic_write_json,
    check_output_paths,
    check_outputs_differ_from_inputs,
    same_file,
)
from .formats import (
    DEFAULT_TIMING,
    FORMATS,
    PRESETS,
    TIMINGS,
    read_trajectory,
    render_trajectory,
    resolve_format,
    resolve_preset,
)
from .formats.common import SIDECAR_SUFFIX, float_or_none, json_ready
from .formats.nerf import COLMAP_FILES
from .framing import anchor_from_options, check_subject_options
from .manifest import STEM, ClipJob, find_clips, folder_jobs, is_manifest, read_manifest, take_shard
from .parallax import MODES, TransferResult, check_strength, transfer
from .pointcloud import (
    check_points,
    per_frame_median_depths,
    read_colmap_points,
    read_depth_values,
    read_npy,
    read_ply,
    read_xyz,
    unproject_depth_map,
    valid_depth,
)
from .poses import MAX_COORDINATE, MIN_MAGNITUDE, Trajectory, in_range, positive_in_range
from .statistics import DEFAULT_STATISTIC, normalize_statistic

# File name ending of each format's output in a batch (COLMAP writes a folder).
OUTPUT_SUFFIX = {"realestate10k": ".txt", "motionctrl": ".json", "recammaster": ".json", "uni3c": ".json",
                 "nerfstudio": ".json", "transforms": ".json", "colmap": "", "parascale": ".json"}


# ------------------------------------------------------------------------------------------ inputs

def input_files(spec: str | Path | None) -> list[Path]:
    """The files a path option reads, for the output-differs-from-input check: a file and its sidecar, or
    a folder's files (a COLMAP model, depth maps) and the folder. Nothing for a number or a missing path."""
    if spec is None or str(spec) == "" or not os.path.lexists(spec):
        return []
    path = Path(spec)
    if path.name in COLMAP_FILES:  # one file of a COLMAP model names the whole folder
        return [path, *input_files(path.parent)]
    if path.is_dir():
        try:
            return [path, *(entry for entry in path.iterdir() if entry.is_file())]
        except OSError:
            return [path]
    return [path, Path(str(path) + SIDECAR_SUFFIX)]


def option_inputs(options: TransferOptions) -> list[Path]:
    """Every file the options read (depths, start pose)."""
    return [p for spec in (options.ref_depth, options.target_depth, options.start) for p in input_files(spec)]


# ------------------------------------------------------------------------------------------ depth specs

@lru_cache(maxsize=8)
def _load_array(path: str, mtime_ns: int, size: int, statistic: str = DEFAULT_STATISTIC) -> np.ndarray:
    """A depth or point file's array, read once per process (a batch reuses one target cloud); a folder of
    depth maps is reduced with `statistic`."""
    file = Path(path)
    name = file.name.lower()
    if file.is_dir():
        return per_frame_median_depths(file, statistic)
    if name == "points3d.txt":
        return read_colmap_points(file)
    if name.endswith(".ply"):
        return read_ply(file)
    if name.endswith(".xyz"):
        return read_xyz(file)
    if name.endswith(".npy"):
        array = read_npy(file)
        array.setflags(write=False)  # cached: shared by every clip of a batch
        return array
    if name.endswith(".txt"):
        return read_depth_values(file)
    raise PoseFileError(file, "", "not a depth source (a number, .txt/.npy per-frame depths, .ply/.npy/.xyz/"
                        "points3D.txt point cloud, .npy depth map, or a folder of .npy depth maps)")


def load_depth_array(spec: str, statistic: str = DEFAULT_STATISTIC) -> np.ndarray:
    path = Path(spec)
    if not path.exists():
        raise PoseFileError(path, "", "no such file (and not a number)")
    try:
        stat = path.stat()
        return _load_array(str(path.resolve()), stat.st_mtime_ns, stat.st_size,
                           statistic if path.is_dir() else DEFAULT_STATISTIC)
    except OSError as error:
        raise PoseFileError(path, "", f"cannot be read ({error.strerror or type(error).__name__})") from None


def fixed_depth(spec: str, role: str) -> FixedDepth | None:
    """The FixedDepth a depth spec names when it is a number (and not also a file's name), else None.
    Raises DepthError, naming the option, for an empty spec or a number no depth can be."""
    option = f"--{'ref' if role == 'reference' else role}-depth"
    if not str(spec).strip():
        raise DepthError(f"{option}: empty value (give a number, a file or a folder)")
    value = float_or_none(spec)
    if value is None or Path(spec).exists():
        return None
    try:
        return FixedDepth(value)
    except DepthError as error:
        raise DepthError(f"{option} {shorten(spec, 40)}: {error}") from None


def depth_source(spec: str, role: str, pose: tuple[np.ndarray, np.ndarray], n_frames: int,
                 intrinsics: tuple[float, float, float, float] | None = None,
                 pixel_origin: str = "center", statistic: str = DEFAULT_STATISTIC) -> DepthProbe:
    """A depth probe from a command-line spec; what reduces many depths (a folder of depth maps, a point
    cloud, an unprojected depth map) uses `statistic` (core.statistics).

    role "reference" accepts a number, per-frame depths (.txt / 1-D .npy), a folder of depth maps (median
    per frame), a point cloud, or a depth map .npy (H, W) with `intrinsics`. role "target" must measure
    from any pose: a number, a point cloud, or a first-frame depth map with `intrinsics`. Depth maps are
    unprojected through `pose` (camera-to-world rotation in Blender axes, centre)."""
    fixed = fixed_depth(spec, role)
    if fixed is not None:
        return fixed
    path = Path(spec)
    array = load_depth_array(spec, statistic)
    if path.is_dir() or array.ndim == 1:
        if role != "reference":
            raise PoseFileError(path, "", "per-frame depths describe the reference clip; the target depth must "
                                "be measurable from any pose (a number, a point cloud or a depth map)")
        if array.size != n_frames:
            raise PoseFileError(path, "", f"{array.size} per-frame depths for a clip of {n_frames} frames")
        return PerFrameDepth(array, name=f"per-frame {path.name}")
    if array.ndim == 2 and array.shape[1] == 3 and intrinsics is None:
        # A cloud never silently loses a point: a NaN or infinite row is refused as in .ply and .xyz.
        probe = PointsDepth(check_points(array, path, row_names=lambda i: f"row {i}"), statistic=statistic)
        probe.name = f"points {path.name}"
        return probe
    if array.ndim == 2:
        if intrinsics is None:
            raise PoseFileError(path, "", f"a depth map ({array.shape[0]} x {array.shape[1]}) needs its "
                                "intrinsics fx,fy,cx,cy")
        if not np.any(valid_depth(array)):
            raise PoseFileError(path, "", "no pixel holds a usable depth")
        fx, fy, cx, cy = intrinsics
        points = unproject_depth_map(array, fx, fy, cx, cy, pose[0], pose[1], pixel_origin)
        probe = PointsDepth(points, statistic=statistic)
        probe.name = f"depth map {path.name}"
        return probe
    raise PoseFileError(path, "", f"cannot use an array of shape {array.shape} as a depth")


def parse_intrinsics(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    values = [float_or_none(p) for p in parts]
    if len(values) != 4 or any(v is None or not np.isfinite(v) for v in values) or values[0] <= 0 \
            or values[1] <= 0:  # type: ignore[operator]
        raise DepthError(f"intrinsics must be fx,fy,cx,cy with positive focal lengths, got {quote(text)}")
    if not (np.all(positive_in_range(values[:2])) and np.all(in_range(values[2:], 0.0, MAX_COORDINATE))):
        raise DepthError(f"intrinsics {quote(text)}: focal lengths must lie within {MIN_MAGNITUDE:g} .. "
                         f"{MAX_COORDINATE:g} pixels and the principal point within +-{MAX_COORDINATE:g}")
    return tuple(values)  # type: ignore[return-value]


def euler_xyz(degrees: np.ndarray) -> np.ndarray:
    """Rotation of Blender's XYZ Euler mode (degrees): R = Rz Ry Rx."""
    x, y, z = np.radians(np.asarray(degrees, dtype=np.float64))
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return rz @ ry @ rx


def parse_start(text: str | None, reference: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """The target start pose: None (the reference's first pose), 'x,y,z' (the reference's first rotation),
    'x,y,z,rx,ry,rz' (Blender XYZ Euler in degrees) or a pose file (its first frame)."""
    if text is None:
        return reference.rotations[0], reference.centres[0]
    if not text.strip():
        raise DepthError("--start: empty value (give x,y,z, x,y,z,rx,ry,rz or a pose file)")
    values = [float_or_none(p) for p in text.replace(" ", "").split(",")]
    if all(v is not None for v in values) and len(values) in (3, 6) and not Path(text).exists():
        array = np.array(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise DepthError(f"--start {shorten(text, 60)}: values must be finite")
        if not np.all(in_range(array[:3], 0.0, MAX_COORDINATE)):
            raise DepthError(f"--start {shorten(text, 60)}: the position lies beyond {MAX_COORDINATE:g} (what "
                             "float32 keyframes and the transfer's arithmetic can hold)")
        rotation = reference.rotations[0] if len(values) == 3 else euler_xyz(array[3:])
        return rotation, array[:3]
    if Path(text).exists():
        start = read_trajectory(text)
        return start.rotations[0], start.centres[0]
    raise PoseFileError(text, "", "--start must be x,y,z or x,y,z,rx,ry,rz (degrees) or a pose file")


# ------------------------------------------------------------------------------------------ one clip

@dataclass(frozen=True)
class TransferOptions:
    """Everything a calibration needs besides the reference clip (picklable for worker processes)."""

    ref_depth: str | None  # None: given per clip by a manifest
    target_depth: str | None
    mode: str = "per_frame"
    start: str | None = None
    target_intrinsics: str | None = None
    ref_intrinsics: str | None = None
    pixel_origin: str = "center"
    format: str | None = None
    preset: str | None = None
    frames: int | None = None
    input_format: str | None = None
    strength: float = 1.0  # the written move realizes strength x Pi_t
    statistic: str = DEFAULT_STATISTIC  # the depth statistic of both sides (core.statistics)
    reference_subject: str | None = None  # 'X,Y,Z': keep the subject framed (core.framing)
    subject: str | None = None  # 'X,Y,Z': the target's subject (None: found by depth along the start view)
    timing: str = DEFAULT_TIMING  # a preset that changes the frame count: fit the move or keep the speed
    model_size: tuple[int, int] | None = None  # the model frame the intrinsics are written for (None: preset's)


def calibrate(reference: Trajectory, options: TransferOptions, mode: str | None = None) -> TransferResult:
    """Transfer one reference clip into the target scene described by `options`."""
    start = parse_start(options.start, reference)
    ref_probe = depth_source(options.ref_depth, "reference", (reference.rotations[0], reference.centres[0]),
                             len(reference), parse_intrinsics(options.ref_intrinsics), options.pixel_origin,
                             options.statistic)
    target_probe = depth_source(options.target_depth, "target", start, len(reference),
                                parse_intrinsics(options.target_intrinsics), options.pixel_origin, options.statistic)
    anchor = anchor_from_options(reference, options.reference_subject, options.subject, target_probe, *start)
    try:
        result = transfer(reference, ref_probe, target_probe, start_rotation=start[0], start_centre=start[1],
                          mode=mode or options.mode, strength=options.strength, reorient=anchor)
    except TrajectoryError as error:
        if isinstance(error, NoMotionError):
            raise
        # The inputs passed their checks; the scaled result left the range (a depth ratio of 1e28, say).
        raise TrajectoryError(f"the calibrated camera cannot be stored: {error}") from None
    return result if anchor is None else anchor.framed(result)


def all_mode_summaries(reference: Trajectory, options: TransferOptions, chosen: TransferResult
                       ) -> dict[str, dict | str]:
    """The summary of every mode (the chosen one from its result, the others computed): a dict per mode,
    or the one-line reason the mode failed."""
    out: dict[str, dict | str] = {}
    for mode in MODES:
        if mode == chosen.mode:
            out[mode] = chosen.summary()
            continue
        try:
            out[mode] = calibrate(reference, options, mode).summary()
        except ParaScaleError as error:
            out[mode] = str(error)
    return out


def output_path(out_dir: Path, name: str, options: TransferOptions) -> Path:
    """Where a clip named `name` is written: `name` plus its format's ending (COLMAP: a folder)."""
    spec = FORMATS[PRESETS[options.preset].format] if options.preset else resolve_format(options.format or "parascale")
    return out_dir / f"{name}{OUTPUT_SUFFIX[spec.name]}"


def render_result(out: Path, result: TransferResult, options: TransferOptions) -> dict[Path, str]:
    return render_trajectory(out, result, format=None if options.preset else (options.format or "parascale"),
                             preset=options.preset, frames=options.frames, timing=options.timing,
                             resolution=options.model_size)


def _preset_key(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in PRESETS:
        resolve_preset(name)  # raises the unknown-preset error
    return key


def check_options(options: TransferOptions, read_files: bool = True) -> TransferOptions:
    """Refuse, before a batch starts, every option that is wrong whatever the clip: a bad depth number, a
    bad start pose or intrinsics, an unknown format or preset, and (with `read_files`) a depth or start
    file that cannot serve any clip. Raises the error each clip would have failed with; returns the
    options with the preset's canonical name. A depth or start holding `{stem}` (a file per clip) and a
    depth not given (a manifest gives it per clip) are left to the clip."""
    parse_intrinsics(options.ref_intrinsics)
    parse_intrinsics(options.target_intrinsics)
    check_subject_options(options.reference_subject, options.subject)
    options = replace(options, strength=check_strength(options.strength),
                      statistic=normalize_statistic(options.statistic))
    if options.preset:
        options = replace(options, preset=_preset_key(options.preset))
        preset = PRESETS[options.preset]
        if options.frames is not None and preset.four_k_plus_one and (int(options.frames) - 1) % 4:
            raise ParaScaleError(f"preset {options.preset} needs 4k+1 frames (e.g. 49, 81, 121), not "
                                 f"{options.frames}")
    if options.format:
        resolve_format(options.format)
    if options.timing not in TIMINGS:
        raise ParaScaleError(f"timing must be one of {', '.join(TIMINGS)}, not {quote(options.timing)}")
    if options.input_format:
        resolve_format(options.input_format)
    if options.frames is not None and options.frames < 2:
        raise ParaScaleError(f"--frames must be at least 2, got {options.frames}")
    for spec, role in ((options.ref_depth, "reference"), (options.target_depth, "target")):
        if spec is None or STEM in spec or fixed_depth(spec, role) is not None:
            continue
        if not read_files:
            continue
        array = load_depth_array(spec, options.statistic)
        # Everything but the per-frame count (which depends on the clip) is checked as a clip would.
        n_frames = array.size if Path(spec).is_dir() or array.ndim == 1 else 2
        intrinsics = options.ref_intrinsics if role == "reference" else options.target_intrinsics
        depth_source(spec, role, (_ANY_CLIP.rotations[0], _ANY_CLIP.centres[0]), n_frames,
                     parse_intrinsics(intrinsics), options.pixel_origin, options.statistic)
    if options.start is not None and STEM not in options.start:
        values = [float_or_none(p) for p in options.start.replace(" ", "").split(",")]
        if all(v is not None for v in values) and len(values) in (3, 6) and not Path(options.start).exists():
            parse_start(options.start, _ANY_CLIP)
        elif not read_files:
            pass
        elif options.start.strip() and Path(options.start).exists():
            read_trajectory(options.start)
        else:
            parse_start(options.start, _ANY_CLIP)  # raises the matching error
    return options


# A stand-in clip for checking a start pose given as numbers (only its first rotation is used).
_ANY_CLIP = Trajectory(np.tile(np.eye(3), (2, 1, 1)), np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))


# ------------------------------------------------------------------------------------------ one clip's task

# Part of every clip's input hash: bump it when a change of ParaScale changes what a clip's outputs hold,
# so a rerun redoes the clips an older version wrote.
RESUME_VERSION = "parascale-batch-1"
STATUSES = ("done", "skipped", "failed")


@lru_cache(maxsize=64)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    """SHA-256 of a file's bytes, once per process and file version (a shared target cloud is read once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def input_hash(job: ClipJob) -> str:
    """A digest of everything a clip's outputs depend on: its name and options, and the bytes of every file
    it reads (reference and sidecar, depth files and folders' files, start pose). Equal digests: a rerun
    would write the same outputs."""
    digest = hashlib.sha256(RESUME_VERSION.encode())
    digest.update(json.dumps([job.name, asdict(job.options)], sort_keys=True).encode())
    for path in [*input_files(job.reference), *option_inputs(job.options)]:
        digest.update(b"\0" + str(path).encode("utf-8", "surrogateescape") + b"\0")
        if path.is_file():
            stat = path.stat()
            digest.update(_file_digest(str(path.resolve()), stat.st_mtime_ns, stat.st_size).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ClipTask:
    """What a worker gets for one clip (picklable): the job, the output folder, the clip's last recorded
    completion in that folder (its input hash and outputs), and whether to redo it regardless."""

    job: ClipJob
    out_dir: str
    previous: dict | None = None
    force: bool = False


@dataclass
class ClipOutcome:
    """One clip's record: `status` done, skipped (unchanged since a recorded run) or failed (`error`, one
    line); its outputs, its transfer summary (Pi_total, PCE, ...) and its input hash."""

    clip: str
    status: str
    reference: str = ""
    where: str = ""
    outputs: list[str] = field(default_factory=list)
    summary: dict | None = None
    error: str = ""
    input_hash: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def record(self) -> dict:
        """The JSON record of the log and the summary."""
        summary = self.summary or {}
        return {"clip": self.clip, "status": self.status, "reference": self.reference, "where": self.where,
                "outputs": self.outputs, "pi_total_reference": summary.get("pi_total_reference"),
                "pi_total_realized": summary.get("pi_total_realized"), "pce": summary.get("pce"),
                "error": self.error, "input_hash": self.input_hash, "summary": self.summary}


def _unchanged(previous: dict | None, digest: str) -> bool:
    return bool(previous and previous.get("input_hash") == digest and previous.get("outputs")
                and all(os.path.lexists(p) for p in previous["outputs"]))


def run_clip_task(task: ClipTask) -> ClipOutcome:
    """Worker: skip the clip if its recorded outputs exist and its inputs and options are unchanged, else
    read, calibrate and write it; any failure becomes a reported outcome. A numpy warning (an overflow the
    checks missed) fails the clip instead of printing on stderr."""
    job, options = task.job, task.job.options
    outcome = ClipOutcome(job.name, "failed", job.reference, job.where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            outcome.input_hash = input_hash(job)
            if not task.force and _unchanged(task.previous, outcome.input_hash):
                previous = task.previous or {}
                outcome.status, outcome.outputs, outcome.summary = "skipped", previous["outputs"], previous.get(
                    "summary")
                return outcome
            reference = read_trajectory(job.reference, options.input_format)
            result = calibrate(reference, options)
            contents = render_result(output_path(Path(task.out_dir), job.name, options), result, options)
            written = atomic_write_files(contents, inputs=[*input_files(job.reference), *option_inputs(options)])
        outcome.status, outcome.outputs = "done", [str(p) for p in written]
        outcome.summary = json_ready(result.summary())
    except RuntimeWarning as warning:
        outcome.error = one_line(f"{job.reference}: numeric overflow ({warning})")
    except ParaScaleError as error:
        outcome.error = str(error)
    except OSError as error:
        outcome.error = one_line(f"{short_path(error.filename or job.reference)}: {error.strerror or error}")
    except Exception as error:  # noqa: BLE001 - one broken clip must never stop the batch
        outcome.error = one_line(f"{job.reference}: internal error {type(error).__name__}: {error}")
    return outcome


# ------------------------------------------------------------------------------------------- batch

def record_names(shard: tuple[int, int] | None) -> tuple[str, str]:
    """The log (JSONL, a line per clip as it finishes) and summary file names of a run or shard: shards
    into one folder each keep their own, so concurrent shards never write the same file."""
    tag = "" if shard is None else f".shard-{shard[0]}-of-{shard[1]}"
    return f"batch-log{tag}.jsonl", f"batch-summary{tag}.json"


def previous_records(out_dir: Path) -> dict[str, dict]:
    """The latest `done` record of each clip in every batch log of `out_dir` (all shards' and whole runs').
    A line that does not parse (a machine that stopped mid-line) is passed over."""
    latest: dict[str, dict] = {}
    for log in sorted(out_dir.glob("batch-log*.jsonl")):
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or record.get("status") != "done" or not isinstance(
                    record.get("clip"), str):
                continue
            old = latest.get(record["clip"])
            if old is None or float(record.get("time", 0)) >= float(old.get("time", 0)):
                latest[record["clip"]] = record
    return latest


class BatchLog:
    """Appends one JSON line per finished clip; each line is one write(2) of O_APPEND, so an interrupted
    run never leaves half a line."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict) -> None:
        os.write(self.fd, (json.dumps(json_ready(record), allow_nan=False) + "\n").encode())

    def close(self) -> None:
        os.close(self.fd)


@contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """While inside: the first Ctrl-C only sets the event (the batch stops submitting and lets running
    clips finish, so nothing is half written or unlogged); a second one raises KeyboardInterrupt. Outside
    the main thread (no signal handlers there) the event is never set."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def first_interrupt(signum: int, frame: object) -> None:
        event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch: the clips finished so far are written and logged; a rerun resumes."""

    def __init__(self, finished: int, total: int, log: Path):
        super().__init__(f"{finished} of {total} clips finished")
        self.finished, self.total, self.log = finished, total, log


@dataclass
class BatchReport:
    outcomes: list[ClipOutcome]
    seconds: float
    jobs: int
    engine: str = "local"
    shard: tuple[int, int] | None = None
    log: Path | None = None

    @property
    def failures(self) -> list[ClipOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def skipped(self) -> list[ClipOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    def text(self) -> str:
        good = len(self.outcomes) - len(self.failures)
        rate = len(self.outcomes) / self.seconds if self.seconds > 0 else float("inf")
        where = f"{self.jobs} process{'es' if self.jobs > 1 else ''}" if self.engine == "local" else \
            f"Ray, {self.jobs} CPUs"
        shard = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        skipped = f" ({len(self.skipped)} of them skipped: unchanged since an earlier run, --force redoes " \
            "them)" if self.skipped else ""
        lines = [f"batch{shard}: {good} of {len(self.outcomes)} clips calibrated{skipped} in {self.seconds:.2f} s "
                 f"({rate:.1f} clips/s, {where}); {len(self.failures)} failed"]
        lines += [f"  FAILED {o.where or o.clip}: {o.error}" for o in sorted(self.failures, key=lambda o: o.clip)]
        return "\n".join(lines)


def batch_jobs(source: str | Path, defaults: TransferOptions) -> list[ClipJob]:
    """The clips of a manifest file or a folder, each with its options checked (ParaScaleError first)."""
    source = Path(source)
    if is_manifest(source):
        return read_manifest(source, defaults, check_options)
    if defaults.ref_depth is None or defaults.target_depth is None:
        missing = "--ref-depth" if defaults.ref_depth is None else "--target-depth"
        raise ParaScaleError(f"{missing} is needed for a folder of clips (a manifest may give it per clip)")
    jobs = folder_jobs(source, defaults, check_options)
    if not jobs:
        raise PoseFileError(source, "", "no pose files (.txt, .json) or COLMAP folders to calibrate")
    return jobs


def run_batch(source: str | Path, out_dir: str | Path, options: TransferOptions, jobs: int = 1,
              progress: TextIO | None = None, summary_file: bool = True, engine: str = "local",
              ray_address: str | None = None, shard: tuple[int, int] | None = None,
              force: bool = False) -> BatchReport:
    """Calibrate every clip of `source` (a folder of clips or a JSONL/CSV manifest) into `out_dir`, on
    `jobs` local processes (1: in this process) or on Ray (`engine="ray"`), only shard (I, N) of the clip
    list if given. Everything checkable is checked before anything starts (ParaScaleError). Clips whose
    recorded outputs exist and whose inputs and options are unchanged are skipped unless `force`. Each
    finished clip is logged at once (batch-log*.jsonl); failures are printed on the progress stream as
    they happen; the report is also written as batch-summary*.json. Ctrl-C: BatchInterrupted, once the
    clips already running have finished and been logged (no summary is written then)."""
    from tqdm import tqdm  # a dependency of the command line, not of the add-on (which never batches)

    source, out_dir = Path(source), Path(out_dir)
    if same_file(source, out_dir):
        raise OutputFileError(out_dir, "", "the output folder must differ from the input folder")
    if not source.exists():
        raise PoseFileError(source, "", "no such folder or manifest file")
    options = check_options(options)
    all_jobs = batch_jobs(source, options)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFileError(out_dir, "", "is a file, not a folder")
    log_name, summary_name = record_names(shard)
    check_output_paths([out_dir / summary_name, out_dir / log_name])
    check_outputs_differ_from_inputs([out_dir / summary_name, out_dir / log_name], [source])
    selected = take_shard(all_jobs, shard)
    with make_engine(engine, processes=min(max(1, int(jobs)), max(1, len(selected))),
                     ray_address=ray_address) as runner:
        out_dir.mkdir(parents=True, exist_ok=True)
        previous = previous_records(out_dir)
        tasks = [ClipTask(job, str(out_dir), previous.get(job.name), force) for job in selected]
        workers = runner.workers()
        stream = progress if progress is not None else sys.stderr
        outcomes: list[ClipOutcome] = []
        log = BatchLog(out_dir / log_name)
        bar = tqdm(total=len(tasks), file=stream, unit="clip", desc="batch", mininterval=0.1, ascii=True,
                   dynamic_ncols=True)
        started = time.perf_counter()

        counts = {"skipped": 0, "failed": 0}

        def collect(outcome: ClipOutcome) -> None:
            log.write({**outcome.record(), "time": time.time()})
            outcomes.append(outcome)
            if not outcome.ok:
                bar.write(f"parascale: error: {outcome.error}", file=stream)
            if outcome.status in counts:
                counts[outcome.status] += 1
            bar.set_postfix(counts, refresh=False)
            bar.update(1)

        try:
            with interrupt_flag() as interrupted:
                runner.run(run_clip_task, tasks, collect, stop=interrupted.is_set)
        except KeyboardInterrupt:  # a second Ctrl-C: stopped at once
            raise BatchInterrupted(len(outcomes), len(tasks), out_dir / log_name) from None
        finally:
            bar.close()
            log.close()
        if interrupted.is_set():
            raise BatchInterrupted(len(outcomes), len(tasks), out_dir / log_name)
    report = BatchReport(sorted(outcomes, key=lambda o: o.clip), time.perf_counter() - started, workers,
                         runner.name, shard, out_dir / log_name)
    if summary_file:
        atomic_write_json(out_dir / summary_name, {
            "source": str(source), "engine": runner.name, "jobs": workers,
            "shard": list(shard) if shard else None, "clips": len(outcomes),
            "done": sum(o.status == "done" for o in outcomes), "skipped": len(report.skipped),
            "failed": len(report.failures), "seconds": report.seconds, "options": asdict(options),
            "outcomes": [o.record() for o in report.outcomes]})
    return report


def default_jobs() -> int:
    return max(1, (os.cpu_count() or 1))


__all__ = ["TransferOptions", "check_options", "input_files", "option_inputs", "input_hash",
           "calibrate", "run_clip_task", "all_mode_summaries", "depth_source", "ClipTask", "ClipJob",
           "parse_start", "parse_intrinsics", "euler_xyz", "find_clips", "run_batch", "BatchReport",
           "BatchInterrupted", "ClipOutcome", "output_path", "render_result", "record_names", "previous_records"]
