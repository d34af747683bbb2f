"""The clip list of a batch: a manifest (JSONL or CSV, one row per clip) or a folder of pose files, each
clip with its own options, and the deterministic shard of that list a job-array task takes.

A manifest row names the reference pose file and, where they differ from the command line's options,
its depths, start pose, mode, preset, timing, model frame (model_size, WxH), depth-map intrinsics, strength
and depth statistic:

    {"reference": "clips/0001.txt", "ref_depth": "depth/0001.npy", "target_depth": 0.5, "start": "0,0,1"}

Relative paths resolve against the manifest's folder. A command-line depth or start that holds `{stem}`
names a file per clip (the reference's name without its suffix); relative, it resolves against the
reference's folder. Everything that can be checked without reading a clip's files is checked here, for
every row, before anything runs (a bad row stops the batch with the row's line); a clip's files are read
by the clip, whose failure is its own.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ParaScaleError, PoseFileError, quote, shorten
from .formats.common import SIDECAR_SUFFIX, float_or_none, read_text
from .formats.contracts import parse_model_size
from .parallax import check_strength, normalize_mode
from .statistics import normalize_statistic

# A manifest of 80k clips is a few MB; the limit only stops a wrong file from filling the memory.
MANIFEST_LIMIT = 256 << 20
MAX_CLIPS = 10_000_000
# The columns a row may have; '-' may stand for '_'. `reference` is required.
COLUMNS = ("reference", "name", "ref_depth", "target_depth", "start", "mode", "preset", "ref_intrinsics",
           "target_intrinsics", "strength", "statistic", "timing", "model_size")
# The placeholder of a per-clip file name in a command-line option.
STEM = "{stem}"


@dataclass(frozen=True)
class ClipJob:
    """One clip of a batch: its output name (unique in the batch), its reference pose file or COLMAP
    folder, its full options, and where it was listed (for messages)."""

    name: str
    reference: str
    options: Any  # core.batch.TransferOptions (batch imports this module, not the other way round)
    where: str = ""


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'I/N' -> (I, N) with 0 <= I < N: the I-th of N shards (0-based, as Slurm's --array=0-(N-1))."""
    if text is None:
        return None
    parts = str(text).replace(" ", "").split("/")
    if len(parts) == 2 and all(p.isdigit() and len(p) <= 9 for p in parts):
        index, count = int(parts[0]), int(parts[1])
        if count >= 1 and index < count:
            return index, count
    raise ParaScaleError(f"--shard {quote(text)}: give I/N with 0 <= I < N (e.g. 0/4 .. 3/4)")


def take_shard(jobs: list[ClipJob], shard: tuple[int, int] | None) -> list[ClipJob]:
    """The clips of shard (I, N): every N-th clip of the list from the I-th on. The N shards partition the
    list, each clip in exactly one, and a shard depends only on the list (never on time or machine)."""
    if shard is None:
        return jobs
    index, count = shard
    return jobs[index::count]


def stem_of(reference: Path) -> str:
    """A clip's output name: the file name without its suffix (a COLMAP folder: its name)."""
    name = reference.name
    return name if reference.is_dir() or not Path(name).suffix else name[: len(name) - len(Path(name).suffix)]


def expand(spec: str | None, reference: Path) -> str | None:
    """A command-line option for one clip: `{stem}` replaced by the clip's stem; a relative pattern resolves
    against the reference's folder. Options without `{stem}` are returned as they are."""
    if spec is None or STEM not in spec:
        return spec
    path = Path(spec.replace(STEM, stem_of(reference)))
    return str(path if path.is_absolute() else reference.parent / path)


def _numbers_list(text: str) -> bool:
    parts = text.replace(" ", "").split(",")
    return len(parts) > 1 and all(float_or_none(p) is not None for p in parts)


def _depth_value(value: str, folder: Path) -> str:
    """A depth cell: a number stays a number unless a file of that name exists; anything else is a path."""
    if float_or_none(value) is not None and not (folder / value).exists():
        return value
    return str(folder / value)


def _start_value(value: str, folder: Path) -> str:
    if _numbers_list(value) and not (folder / value).exists():
        return value
    return str(folder / value)


def _cell(value: object, path: Path, where: str, column: str) -> str | None:
    """A cell as text, or None when absent (empty, null). Numbers and lists of numbers are written as the
    command line would take them ('0.5', '0,0,1')."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PoseFileError(path, where, f"{column}: a true/false value is not a {column}")
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, list) and value and all(isinstance(v, int | float) and not isinstance(v, bool)
                                                  for v in value):
        return ",".join(repr(float(v)) for v in value)
    if not isinstance(value, str):
        raise PoseFileError(path, where, f"{column}: expected text or a number, got {type(value).__name__}")
    return value.strip() or None


def _rows(path: Path) -> list[tuple[str, dict[str, object]]]:
    """(where, row) of every clip row of a JSONL (.jsonl, .ndjson) or CSV (.csv) manifest."""
    text = read_text(path, MANIFEST_LIMIT, kind="manifest")
    suffix = path.suffix.lower()
    rows: list[tuple[str, dict[str, object]]] = []
    if suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as error:
                raise PoseFileError(path, f"line {number}", f"not JSON ({getattr(error, 'msg', error)})") from None
            if not isinstance(row, dict):
                raise PoseFileError(path, f"line {number}", "a row must be a JSON object {\"reference\": ...}")
            rows.append((f"line {number}", row))
    elif suffix == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader, None)
            if header is None:
                raise PoseFileError(path, "", "empty manifest (a header row, then one row per clip)")
            header = [h.strip() for h in header]
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                where = f"line {reader.line_num}"
                if len(cells) != len(header):
                    raise PoseFileError(path, where, f"{len(cells)} cells for {len(header)} columns")
                rows.append((where, dict(zip(header, cells, strict=True))))
        except csv.Error as error:
            raise PoseFileError(path, f"line {reader.line_num}", f"not CSV ({error})") from None
    else:
        raise PoseFileError(path, "", "a manifest must be .jsonl (one JSON object per line) or .csv")
    if len(rows) > MAX_CLIPS:
        raise PoseFileError(path, "", f"{len(rows)} rows is more than a manifest may hold ({MAX_CLIPS})")
    return rows


# check(options, read_files=False) -> options, normalized: refuses what is wrong whatever the files hold.
OptionsCheck = Callable[..., Any]


def read_manifest(path: str | Path, defaults: Any, check: OptionsCheck) -> list[ClipJob]:
    """The clips of a manifest, in row order, each with `defaults` (TransferOptions from the command line)
    overridden by its row. Every row is checked with `check` as far as it can be without reading files."""
    path = Path(path)
    if not path.is_file():
        raise PoseFileError(path, "", "no such manifest file" if not path.exists() else "not a file")
    folder = path.parent
    jobs: list[ClipJob] = []
    for where, row in _rows(path):
        cells: dict[str, str | None] = {}
        for key, value in row.items():
            column = str(key).strip().lower().replace("-", "_")
            if column not in COLUMNS:
                raise PoseFileError(path, where, f"unknown column {quote(key)}; columns: {', '.join(COLUMNS)}")
            cells[column] = _cell(value, path, where, column)
        if not cells.get("reference"):
            raise PoseFileError(path, where, "no reference (the clip's pose file or COLMAP folder)")
        reference = folder / str(cells["reference"])
        changes: dict[str, str | None] = {}
        for column in ("ref_depth", "target_depth"):
            if cells.get(column):
                changes[column] = _depth_value(str(cells[column]), folder)
        if cells.get("start"):
            changes["start"] = _start_value(str(cells["start"]), folder)
        for column in ("ref_intrinsics", "target_intrinsics"):
            if cells.get(column):
                changes[column] = cells[column]
        if cells.get("mode"):
            try:
                changes["mode"] = normalize_mode(str(cells["mode"]))
            except ValueError:
                raise PoseFileError(path, where, f"mode {quote(cells['mode'])}: give per-frame, global or "
                                    "uncalibrated") from None
        if cells.get("preset"):
            changes["preset"] = cells["preset"]
            changes["format"] = None
        if cells.get("timing"):
            changes["timing"] = str(cells["timing"]).strip().lower()  # checked with the other options
        if cells.get("model_size"):
            try:
                changes["model_size"] = parse_model_size(str(cells["model_size"]))  # type: ignore[assignment]
            except ValueError as error:
                raise PoseFileError(path, where, f"model_size: {error}") from None
        if cells.get("strength"):
            try:
                changes["strength"] = check_strength(cells["strength"])  # type: ignore[assignment]
            except ParaScaleError as error:
                raise PoseFileError(path, where, f"strength: {error}") from None
        if cells.get("statistic"):
            try:
                changes["statistic"] = normalize_statistic(str(cells["statistic"]))
            except ParaScaleError as error:
                raise PoseFileError(path, where, f"statistic: {error}") from None
        jobs.append(clip_job(reference, defaults, changes, f"{shorten(path.name, 60)}:{where}",
                             cells.get("name"), check, path, where))
    if not jobs:
        raise PoseFileError(path, "", "no clips (one row per clip)")
    check_unique_names(jobs)
    return jobs


def clip_job(reference: Path, defaults: Any, changes: dict[str, str | None], where: str, name: str | None,
             check: OptionsCheck, source: Path, source_where: str) -> ClipJob:
    """One clip's job: the defaults' `{stem}` patterns expanded, the row's changes applied, the result
    checked (ParaScaleError with the row's place)."""
    options = replace(defaults, ref_depth=expand(defaults.ref_depth, reference),
                      target_depth=expand(defaults.target_depth, reference), start=expand(defaults.start, reference))
    options = replace(options, **changes)
    for option, value in (("ref_depth", options.ref_depth), ("target_depth", options.target_depth)):
        if not value:
            raise PoseFileError(source, source_where, f"no {option} (give the column or --{option.replace('_', '-')})")
    if name is not None and (name in (".", "..") or "/" in name or "\\" in name or name.startswith(".")):
        raise PoseFileError(source, source_where, f"name {quote(name)}: must be a plain file name")
    try:
        options = check(options, read_files=False)
    except PoseFileError:  # already names its file
        raise
    except ParaScaleError as error:
        raise PoseFileError(source, source_where, str(error)) from None
    return ClipJob(name or stem_of(reference), str(reference), options, where)


def check_unique_names(jobs: list[ClipJob]) -> None:
    """Two clips may not write the same output."""
    seen: dict[str, ClipJob] = {}
    for job in jobs:
        if job.name in seen:
            first = seen[job.name]
            raise ParaScaleError(f"{first.where or first.reference} and {job.where or job.reference} would both "
                                 f"write {quote(job.name)}; give each a distinct name (the manifest's name column)")
        seen[job.name] = job


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


def folder_jobs(folder: str | Path, defaults: Any, check: OptionsCheck) -> list[ClipJob]:
    """The clips of a folder (pose files and COLMAP folders directly inside, in name order), each with the
    defaults' `{stem}` patterns expanded. A file that is another clip's depth or start by pattern is not a
    clip."""
    folder = Path(folder)
    candidates = find_clips(folder)
    patterned = {str(expand(spec, clip)) for clip in candidates
                 for spec in (defaults.ref_depth, defaults.target_depth, defaults.start)
                 if spec is not None and STEM in spec}
    clips = [clip for clip in candidates if str(clip) not in patterned]
    jobs = [clip_job(clip, defaults, {}, clip.name, None, check, clip, "") for clip in clips]
    check_unique_names(jobs)
    return jobs


def is_manifest(path: str | Path) -> bool:
    """A batch source that is a file (a manifest) rather than a folder of clips."""
    return Path(path).is_file()


__all__ = ["ClipJob", "COLUMNS", "STEM", "read_manifest", "find_clips", "folder_jobs", "parse_shard", "take_shard",
           "expand", "stem_of", "is_manifest"]
