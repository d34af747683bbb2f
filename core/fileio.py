"""Atomic file output: nothing partial is ever left behind.

Every file is first written in full to a temporary file in the same folder (so `os.replace` is a rename on
one file system, atomic on POSIX and Windows), then moved over the destination. A group of files (a pose
file and its sidecar, a COLMAP model) is written completely to temporaries before the first one is moved,
so an error while producing any of them leaves every destination untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

TEMP_PREFIX = ".parascale-tmp-"


def _make_folders(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; returns those created, deepest first (to undo on failure)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
    return missing


def _write_temporary(path: Path, data: bytes) -> Path:
    handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def atomic_write_files(contents: Mapping[str | os.PathLike[str], str | bytes]) -> list[Path]:
    """Write every (path -> text or bytes) entry atomically; all temporaries are complete before any
    destination is replaced. Text is written as UTF-8 with '\\n' line ends. Returns the paths written."""
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for target, content in contents.items():
            target = Path(target)
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            created += _make_folders(target.parent)
            staged.append((_write_temporary(target, data), target))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for folder in created:  # deepest first; only the (now empty) folders this call made
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    try:
        for temporary, target in staged:
            os.replace(temporary, target)
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)  # only those not moved (a failed replace) still exist
    return [target for _, target in staged]


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write one text file atomically."""
    return atomic_write_files({path: text})[0]


def atomic_write_json(path: str | os.PathLike[str], data: object, indent: int | None = 1) -> Path:
    """Write JSON atomically. Non-finite floats are refused (they are not JSON): store them as null."""
    return atomic_write_text(path, json.dumps(data, indent=indent, allow_nan=False) + "\n")
