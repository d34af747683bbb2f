"""Typed errors. Every message is one readable line that names what is wrong.

A message is bounded wherever it is made from user data: a quoted token is cut to `TOKEN_LIMIT`
characters (`quote`), a path to `PATH_LIMIT` (`short_path`), and the whole message to `MESSAGE_LIMIT`
on one line (`one_line`, applied by ParaScaleError itself), so a multi-megabyte token in a file can never
become a multi-megabyte error line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

# A line of `parascale: error: ...` stays below 300 characters with the prefix.
MESSAGE_LIMIT = 280
TOKEN_LIMIT = 40
PATH_LIMIT = 120
ELLIPSIS = "..."  # ASCII: stderr may not be UTF-8
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def shorten(text: str, limit: int, keep_end: bool = False) -> str:
    """`text` cut to at most `limit` characters with an ellipsis where it was cut (at the end, or at the
    start when `keep_end`: the end of a path names the file)."""
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    return ELLIPSIS + text[len(text) - cut:] if keep_end else text[:cut] + ELLIPSIS


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` as one printable line (control characters and line breaks shown as one space) of at most
    `limit` characters."""
    return shorten(_CONTROL.sub(" ", str(text)), limit)


def quote(token: object, limit: int = TOKEN_LIMIT) -> str:
    """repr() of a token read from a file, cut to `limit` characters (an offending token may be huge)."""
    if isinstance(token, str):
        return repr(token) if len(token) <= limit else repr(token[:limit]) + ELLIPSIS
    return shorten(repr(token), limit + 2)


def short_path(path: object, limit: int = PATH_LIMIT) -> str:
    """A path for a message: printable, and its last `limit` characters when longer."""
    return shorten(_CONTROL.sub("?", str(path)), limit, keep_end=True)


class ParaScaleError(ValueError):
    """Base of every error ParaScale raises on bad input. str() is always one line of at most
    MESSAGE_LIMIT characters."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class TrajectoryError(ParaScaleError):
    """A trajectory is malformed: non-finite values, non-orthonormal rotations, too few frames,
    mismatched lengths."""


class DepthError(ParaScaleError):
    """A depth is unusable: non-positive, non-finite, or of the wrong length."""


class NoDepthError(DepthError):
    """A depth probe saw nothing at some frames (empty frustum, everything behind the camera)."""

    def __init__(self, message: str, frames: list[int] | tuple[int, ...] = ()):
        super().__init__(message)
        self.frames = list(frames)


class NoMotionError(TrajectoryError):
    """The reference camera does not translate, so it has no parallax to transfer."""


class PoseFileError(ParaScaleError):
    """A pose file cannot be read: the message names the file, the line or key, and what is wrong."""

    def __init__(self, path: object, where: str, what: str):
        self.path = str(path)
        self.where = where
        self.what = what
        location = f"{short_path(self.path)}:{shorten(where, 60)}" if where else short_path(self.path)
        super().__init__(f"{location}: {what}")


class OutputFileError(PoseFileError):
    """An output cannot be written where it was asked for: it is an input, a folder, under a file, or its
    folder is not writable. Raised before anything is written."""


def frame_list(frames: object, limit: int = 12) -> str:
    """A short human list of frame numbers for messages: '3, 4, 5 and 9 more'."""
    items = [str(int(f)) for f in frames]  # type: ignore[union-attr]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


P = ParamSpec("P")
R = TypeVar("R")

# What a reader of hostile bytes can raise where it did not foresee a fault: the standard library's and
# numpy's own refusals (int() of 5000 digits, urlparse of '[', a dict where a list was meant, ...).
UNFORESEEN_READ_FAULTS = (ValueError, OverflowError, TypeError, IndexError, KeyError, AttributeError,
                          RecursionError, MemoryError)


@contextmanager
def read_faults_named(path: object) -> Iterator[None]:
    """The safety net of every file reader: a fault the reader did not name itself becomes one
    PoseFileError naming the file (the readers name the line or key wherever they foresee the fault)."""
    try:
        yield
    except ParaScaleError:
        raise
    except UNFORESEEN_READ_FAULTS as error:
        detail = "out of memory" if isinstance(error, MemoryError) else f"{type(error).__name__}: {error}"
        raise PoseFileError(path, "", f"cannot be read ({detail})") from None


def names_read_faults(read: Callable[P, R]) -> Callable[P, R]:
    """Decorate a reader whose first argument is the path: read_faults_named around every call."""

    @functools.wraps(read)
    def reader(*args: P.args, **kwargs: P.kwargs) -> R:
        with read_faults_named(args[0] if args else kwargs.get("path")):
            return read(*args, **kwargs)

    return reader
