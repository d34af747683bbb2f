"""Typed errors. Every message is one readable line that names what is wrong."""

from __future__ import annotations


class ParaScaleError(ValueError):
    """Base of every error ParaScale raises on bad input."""


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
        location = f"{self.path}:{where}" if where else self.path
        super().__init__(f"{location}: {what}")


def frame_list(frames: object, limit: int = 12) -> str:
    """A short human list of frame numbers for messages: '3, 4, 5 and 9 more'."""
    items = [str(int(f)) for f in frames]  # type: ignore[union-attr]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
