"""Calibrating clips from files: depth sources from command-line specs, one clip end to end, and a whole
folder of clips on several processes (spawn-safe: the worker is a module-level function and everything
it receives is picklable), with a progress bar of our own on stderr.

A clip that fails is reported with its one-line reason and skipped; it never stops the others.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import numpy as np

from .depth import DepthProbe, FixedDepth, PerFrameDepth, PointsDepth
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
from .fileio import atomic_write_files, atomic_write_json, check_output_paths, same_file
from .formats import FORMATS, PRESETS, read_trajectory, render_trajectory, resolve_format, resolve_preset
from .formats.common import SIDECAR_SUFFIX, json_ready
from .formats.nerf import COLMAP_FILES
from .parallax import MODES, TransferResult, transfer
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

def _number(spec: str) -> float | None:
    try:
        return float(spec)
    except ValueError:
        return None


@lru_cache(maxsize=8)
def _load_array(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """A depth or point file's array, read once per process (a batch reuses one target cloud)."""
    file = Path(path)
    name = file.name.lower()
    if file.is_dir():
        return per_frame_median_depths(file)
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


def load_depth_array(spec: str) -> np.ndarray:
    path = Path(spec)
    if not path.exists():
        raise PoseFileError(path, "", "no such file (and not a number)")
    try:
        stat = path.stat()
        return _load_array(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError as error:
        raise PoseFileError(path, "", f"cannot be read ({error.strerror or type(error).__name__})") from None


def depth_source(spec: str, role: str, pose: tuple[np.ndarray, np.ndarray], n_frames: int,
                 intrinsics: tuple[float, float, float, float] | None = None,
                 pixel_origin: str = "center") -> DepthProbe:
    """A depth probe from a command-line spec.

    role "reference" accepts a number, per-frame depths (.txt / 1-D .npy), a folder of depth maps (median
    per frame), a point cloud, or a depth map .npy (H, W) with `intrinsics`. role "target" must measure
    from any pose: a number, a point cloud, or a first-frame depth map with `intrinsics`. Depth maps are
    unprojected through `pose` (camera-to-world rotation in Blender axes, centre)."""
    option = f"--{'ref' if role == 'reference' else role}-depth"
    if not str(spec).strip():
        raise DepthError(f"{option}: empty value (give a number, a file or a folder)")
    value = _number(spec)
    if value is not None and not Path(spec).exists():
        try:
            return FixedDepth(value)
        except DepthError as error:
            raise DepthError(f"{option} {shorten(spec, 40)}: {error}") from None
    path = Path(spec)
    array = load_depth_array(spec)
    if path.is_dir() or array.ndim == 1:
        if role != "reference":
            raise PoseFileError(path, "", "per-frame depths describe the reference clip; the target depth must "
                                "be measurable from any pose (a number, a point cloud or a depth map)")
        if array.size != n_frames:
            raise PoseFileError(path, "", f"{array.size} per-frame depths for a clip of {n_frames} frames")
        return PerFrameDepth(array, name=f"per-frame {path.name}")
    if array.ndim == 2 and array.shape[1] == 3 and intrinsics is None:
        # A cloud never silently loses a point: a NaN or infinite row is refused as in .ply and .xyz.
        probe = PointsDepth(check_points(array, path, row_names=lambda i: f"row {i}"))
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
        probe = PointsDepth(points)
        probe.name = f"depth map {path.name}"
        return probe
    raise PoseFileError(path, "", f"cannot use an array of shape {array.shape} as a depth")


def parse_intrinsics(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    values = [_number(p) for p in parts]
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
    values = [_number(p) for p in text.replace(" ", "").split(",")]
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

    ref_depth: str
    target_depth: str
    mode: str = "per_frame"
    start: str | None = None
    target_intrinsics: str | None = None
    ref_intrinsics: str | None = None
    pixel_origin: str = "center"
    format: str | None = None
    preset: str | None = None
    frames: int | None = None
    input_format: str | None = None


def calibrate(reference: Trajectory, options: TransferOptions, mode: str | None = None) -> TransferResult:
    """Transfer one reference clip into the target scene described by `options`."""
    start = parse_start(options.start, reference)
    ref_probe = depth_source(options.ref_depth, "reference", (reference.rotations[0], reference.centres[0]),
                             len(reference), parse_intrinsics(options.ref_intrinsics), options.pixel_origin)
    target_probe = depth_source(options.target_depth, "target", start, len(reference),
                                parse_intrinsics(options.target_intrinsics), options.pixel_origin)
    try:
        return transfer(reference, ref_probe, target_probe, start_rotation=start[0], start_centre=start[1],
                        mode=mode or options.mode)
    except TrajectoryError as error:
        if isinstance(error, NoMotionError):
            raise
        # The inputs passed their checks; the scaled result left the range (a depth ratio of 1e28, say).
        raise TrajectoryError(f"the calibrated camera cannot be stored: {error}") from None


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


def output_path(out_dir: Path, clip: Path, options: TransferOptions) -> Path:
    spec = FORMATS[PRESETS[options.preset].format] if options.preset else resolve_format(options.format or "parascale")
    stem = clip.name if clip.is_dir() else clip.name[: len(clip.name) - len(clip.suffix)] if clip.suffix else clip.name
    return out_dir / f"{stem}{OUTPUT_SUFFIX[spec.name]}"


def render_result(out: Path, result: TransferResult, options: TransferOptions) -> dict[Path, str]:
    return render_trajectory(out, result, format=None if options.preset else (options.format or "parascale"),
                             preset=options.preset, frames=options.frames)


@dataclass
class ClipOutcome:
    clip: str
    ok: bool
    outputs: list[str] = field(default_factory=list)
    summary: dict | None = None
    error: str = ""


def check_options(options: TransferOptions) -> None:
    """Refuse, before a batch starts, every option that is wrong whatever the clip: a bad depth number or
    file, a bad start pose or intrinsics, an unknown format or preset. Raises the error each clip would
    have failed with."""
    parse_intrinsics(options.ref_intrinsics)
    parse_intrinsics(options.target_intrinsics)
    if options.preset:
        preset = PRESETS.get(str(options.preset).strip().lower().replace("_", "-"))
        if preset is None:
            resolve_preset(options.preset)  # raises the unknown-preset error
        elif options.frames is not None and preset.four_k_plus_one and (int(options.frames) - 1) % 4:
            raise ParaScaleError(f"preset {options.preset} needs 4k+1 frames (e.g. 49, 81, 121), not "
                                 f"{options.frames}")
    if options.format:
        resolve_format(options.format)
    if options.input_format:
        resolve_format(options.input_format)
    if options.frames is not None and options.frames < 2:
        raise ParaScaleError(f"--frames must be at least 2, got {options.frames}")
    for spec, role in ((options.ref_depth, "reference"), (options.target_depth, "target")):
        option = f"--{'ref' if role == 'reference' else role}-depth"
        if not str(spec).strip():
            raise DepthError(f"{option}: empty value (give a number, a file or a folder)")
        value = _number(spec)
        if value is not None and not Path(spec).exists():
            try:
                FixedDepth(value)
            except DepthError as error:
                raise DepthError(f"{option} {shorten(spec, 40)}: {error}") from None
            continue
        array = load_depth_array(spec)
        # Everything but the per-frame count (which depends on the clip) is checked as a clip would.
        n_frames = array.size if Path(spec).is_dir() or array.ndim == 1 else 2
        intrinsics = options.ref_intrinsics if role == "reference" else options.target_intrinsics
        depth_source(spec, role, (_ANY_CLIP.rotations[0], _ANY_CLIP.centres[0]), n_frames,
                     parse_intrinsics(intrinsics), options.pixel_origin)
    if options.start is not None:
        values = [_number(p) for p in options.start.replace(" ", "").split(",")]
        if all(v is not None for v in values) and len(values) in (3, 6) and not Path(options.start).exists():
            parse_start(options.start, _ANY_CLIP)
        elif options.start.strip() and Path(options.start).exists():
            read_trajectory(options.start)
        else:
            parse_start(options.start, _ANY_CLIP)  # raises the matching error


# A stand-in clip for checking a start pose given as numbers (only its first rotation is used).
_ANY_CLIP = Trajectory(np.tile(np.eye(3), (2, 1, 1)), np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))


def calibrate_clip(job: tuple[str, str, TransferOptions]) -> ClipOutcome:
    """Worker: read, calibrate and write one clip; any failure becomes a reported outcome. A numpy warning
    (an overflow the checks missed) fails the clip instead of printing on stderr."""
    clip, out_dir, options = job
    clip_path = Path(clip)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            reference = read_trajectory(clip_path, options.input_format)
            result = calibrate(reference, options)
            contents = render_result(output_path(Path(out_dir), clip_path, options), result, options)
            written = atomic_write_files(contents, inputs=[*input_files(clip_path), *option_inputs(options)])
        return ClipOutcome(clip_path.name, True, [str(p) for p in written], json_ready(result.summary()))
    except RuntimeWarning as warning:
        return ClipOutcome(clip_path.name, False, error=one_line(f"{clip}: numeric overflow ({warning})"))
    except ParaScaleError as error:
        return ClipOutcome(clip_path.name, False, error=str(error))
    except OSError as error:
        return ClipOutcome(clip_path.name, False,
                           error=one_line(f"{short_path(error.filename or clip)}: {error.strerror or error}"))
    except Exception as error:  # noqa: BLE001 - one broken clip must never stop the batch
        return ClipOutcome(clip_path.name, False,
                           error=one_line(f"{clip}: internal error {type(error).__name__}: {error}"))


# ------------------------------------------------------------------------------------------- batch

def find_clips(in_dir: Path) -> list[Path]:
    """Pose files (.txt, .json) and COLMAP model folders directly inside `in_dir`, in name order; sidecars
    and hidden files are skipped."""
    if not in_dir.is_dir():
        raise PoseFileError(in_dir, "", "not a folder")
    clips = []
    for entry in sorted(in_dir.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith(SIDECAR_SUFFIX):
            continue
        if entry.is_dir() and (entry / "cameras.txt").is_file():
            clips.append(entry)
        elif entry.is_file() and entry.suffix.lower() in (".txt", ".json"):
            clips.append(entry)
    return clips


class ProgressBar:
    """A one-line progress bar on a stream (stderr): redrawn at most every `interval` seconds and at the
    end; messages printed through it appear above the bar."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30, interval: float = 0.1):
        self.total = max(int(total), 0)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = interval
        self.done = 0
        self.failed = 0
        self.started = time.perf_counter()
        self._drawn = 0.0

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(round(fraction * self.width))
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} clips"
                f"  {self.failed} failed  {self.done / elapsed:.1f} clips/s")

    def draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self._drawn >= self.interval:
            self.stream.write("\r" + self.line())
            self.stream.flush()
            self._drawn = now

    def advance(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        self.draw(force=self.done == self.total)

    def message(self, text: str) -> None:
        self.stream.write("\r" + " " * (len(self.line()) + 2) + "\r" + text + "\n")
        self.draw(force=True)

    def close(self) -> None:
        self.draw(force=True)
        self.stream.write("\n")
        self.stream.flush()


@dataclass
class BatchReport:
    outcomes: list[ClipOutcome]
    seconds: float
    jobs: int

    @property
    def failures(self) -> list[ClipOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def text(self) -> str:
        good = len(self.outcomes) - len(self.failures)
        rate = len(self.outcomes) / self.seconds if self.seconds > 0 else float("inf")
        lines = [f"batch: {good} of {len(self.outcomes)} clips calibrated in {self.seconds:.2f} s "
                 f"({rate:.1f} clips/s, {self.jobs} process{'es' if self.jobs > 1 else ''}); "
                 f"{len(self.failures)} failed"]
        lines += [f"  FAILED {o.clip}: {o.error}" for o in sorted(self.failures, key=lambda o: o.clip)]
        return "\n".join(lines)


def run_batch(in_dir: str | Path, out_dir: str | Path, options: TransferOptions, jobs: int = 1,
              progress: TextIO | None = None, summary_file: bool = True) -> BatchReport:
    """Calibrate every clip of `in_dir` into `out_dir` on `jobs` processes (1: in this process). Failures
    are reported on the progress stream as they happen and collected in the report; a JSON report
    `batch-summary.json` is written to `out_dir`."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if same_file(in_dir, out_dir):
        raise OutputFileError(out_dir, "", "the output folder must differ from the input folder")
    clips = find_clips(in_dir)
    if not clips:
        raise PoseFileError(in_dir, "", "no pose files (.txt, .json) or COLMAP folders to calibrate")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFileError(out_dir, "", "is a file, not a folder")
    check_output_paths([out_dir / "batch-summary.json"])
    check_options(options)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = [(str(c), str(out_dir), options) for c in clips]
    jobs = max(1, min(int(jobs), len(work)))
    bar = ProgressBar(len(work), progress)
    bar.draw(force=True)
    outcomes: list[ClipOutcome] = []
    started = time.perf_counter()

    def collect(outcome: ClipOutcome) -> None:
        outcomes.append(outcome)
        if not outcome.ok:
            bar.message(f"parascale: error: {outcome.error}")
        bar.advance(outcome.ok)

    if jobs == 1:
        for job in work:
            collect(calibrate_clip(job))
    else:
        context = multiprocessing.get_context("spawn")
        chunk = max(1, len(work) // (jobs * 8))
        with context.Pool(processes=jobs) as pool:
            for outcome in pool.imap_unordered(calibrate_clip, work, chunksize=chunk):
                collect(outcome)
    bar.close()
    report = BatchReport(sorted(outcomes, key=lambda o: o.clip), time.perf_counter() - started, jobs)
    if summary_file:
        atomic_write_json(out_dir / "batch-summary.json", {
            "clips": len(outcomes), "failed": len(report.failures), "seconds": report.seconds, "jobs": jobs,
            "options": asdict(options), "outcomes": [asdict(o) for o in report.outcomes]})
    return report


def default_jobs() -> int:
    return max(1, (os.cpu_count() or 1))


__all__ = ["TransferOptions", "check_options", "input_files", "option_inputs",
           "calibrate", "calibrate_clip", "all_mode_summaries", "depth_source",
           "parse_start", "parse_intrinsics", "euler_xyz", "find_clips", "run_batch", "BatchReport",
           "ClipOutcome", "ProgressBar", "output_path", "render_result"]
