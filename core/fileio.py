"""Atomic file output: nothing partial is ever left behind.

Every file is first written in full to a temporary file in the same folder (so `os.replace` is a rename on
one file system, atomic on POSIX and Windows), then moved over the destination. A group of files (a pose
file and its sidecar, a COLMAP model) is written completely to temporaries before the first one is moved,
so an error while producing any of them leaves every destination untouched.

Before anything is written, every destination is checked (`check_output_paths`): it must not be a folder,
nor lie under a file, its folder must be writable, and it must not be the same file as any input
(`check_outputs_differ_from_inputs`, by device and inode, so '..', symlinks and hard links are seen
through). Faults name the user's path, never a temporary file.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import OutputFileError, short_path

TEMP_PREFIX = ".parascale-tmp-"
PathLike = str | os.PathLike[str]


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name the same existing file or folder (device and inode)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_outputs_differ_from_inputs(outputs: Iterable[PathLike], inputs: Iterable[PathLike]) -> None:
    """Raise OutputFileError when an output is the same file as an input, however it is reached (a
    relative path, '..', a symlinked folder, a symlink or a hard link): writing it would destroy the
    input. Give an input folder's files as inputs to protect them too."""
    existing = [Path(p) for p in inputs if os.path.lexists(p)]
    for output in outputs:
        if not os.path.lexists(output):
            continue
        for source in existing:
            if same_file(output, source):
                where = "" if str(Path(output)) == str(source) else f" ({short_path(source, 60)})"
                raise OutputFileError(output, "", f"is an input{where}; writing it would overwrite the input, "
                                      "give another output")


def _existing_ancestor(path: Path) -> Path:
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    return parent


def check_output_paths(targets: Iterable[PathLike]) -> None:
    """Raise OutputFileError, before anything is written, when a destination cannot be written: it is a
    folder, a folder on its way is a file, or the folder it goes in is not writable."""
    for target in map(Path, targets):
        try:
            _check_output_path(target)
        except OSError as error:  # a name the file system refuses (too long, invalid), a dead mount
            raise _output_fault(target, error) from None


def _check_output_path(target: Path) -> None:
    """check_output_paths for one destination; OSError where the file system refuses the name itself."""
    if target.is_dir():
        raise OutputFileError(target, "", "is a folder, not a file name to write")
    ancestor = _existing_ancestor(target)
    if not ancestor.is_dir():
        raise OutputFileError(target, "", f"cannot be written: {short_path(ancestor, 60)} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputFileError(target, "", f"cannot be written: the folder {short_path(ancestor, 60)} is not "
                              "writable")


def _output_fault(target: Path, error: OSError) -> OutputFileError:
    """The fault of a failed write, named by its destination (not the temporary file)."""
    if isinstance(error, IsADirectoryError):
        what = "is a folder, not a file name to write"
    elif isinstance(error, NotADirectoryError):
        what = "cannot be written: a folder on its path is a file"
    elif isinstance(error, PermissionError):
        what = "cannot be written: permission denied"
    elif error.errno == errno.ENOSPC:
        what = "cannot be written: no space left on the device"
    else:
        what = f"cannot be written ({error.strerror or type(error).__name__})"
    return OutputFileError(target, "", what)


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


def atomic_write_files(contents: Mapping[PathLike, str | bytes], inputs: Iterable[PathLike] = ()) -> list[Path]:
    """Write every (path -> text or bytes) entry atomically; all temporaries are complete before any
    destination is replaced. Text is written as UTF-8 with '\\n' line ends. Every destination is checked
    first (check_output_paths) and must differ from every one of `inputs`. Returns the paths written."""
    check_output_paths(contents)
    check_outputs_differ_from_inputs(contents, inputs)
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []
    target = Path()
    try:
        for target, content in contents.items():
            target = Path(target)
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            created += _make_folders(target.parent)
            staged.append((_write_temporary(target, data), target))
    except BaseException as error:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for folder in created:  # deepest first; only the (now empty) folders this call made
            try:
                folder.rmdir()
            except OSError:
                pass
        if isinstance(error, OSError):
            raise _output_fault(target, error) from None
        raise
    try:
        for temporary, target in staged:
            os.replace(temporary, target)
    except OSError as error:
        raise _output_fault(target, error) from None
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)  # only those not moved (a failed replace) still exist
    return [target for _, target in staged]


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write one text file atomically."""
    return atomic_write_files({path: text})[0]


def atomic_write_json(path: PathLike, data: object, indent: int | None = 1) -> Path:
    """Write JSON atomically. Non-finite floats are refused (they are not JSON): store them as null."""
    return atomic_write_text(path, json.dumps(data, indent=indent, allow_nan=False) + "\n")
