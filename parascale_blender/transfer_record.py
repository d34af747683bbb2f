"""The per-frame data a transfer stores on the camera it writes, for the preview, the export and the
readout. Stored as ID properties under the key `parascale` (plain lists of floats), so it survives
save/load and needs no registration.

Fields (arrays over steps have N-1 entries for t = 1..N-1, arrays over frames have N):
- version, reference (name of the reference camera), mode (PER_FRAME/GLOBAL/UNCALIBRATED),
  source_reference, source_target (descriptions of the depth sources)
- frames (N ints), pi_reference, pi_realized, pi_uncalibrated (the realized Pi the uncalibrated move would
  have, for contrast), scale (N-1), depth_reference, depth_target (N)
- centres (N*3, the written path, to tell when the camera was edited afterwards: stale),
  reference_centres (N*3, the reference path as read, in its own scene), start_centre, start_rotation
  (the target start pose, 3 and 9 floats), pce, bias (against strength x pi_reference)
- strength (the strength dial g: the transfer aimed at g x pi_reference; 1 when absent)
- framing_error, rotation_change (N each, only with Keep Subject Framed: the target subject's image
  position against the reference subject's as a fraction of the frame width, and the written rotation's
  angle from the untouched one in degrees; core.framing.FramingReport)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RECORD_KEY = "parascale"
RECORD_VERSION = 1
# Per-frame arrays only a transfer with Keep Subject Framed stores.
OPTIONAL_ARRAYS = ("framing_error", "rotation_change")
# A camera whose path moved by more than this fraction of the move's own extent since the transfer was
# edited by hand (float32 keyframes add a few ulps of the coordinates on top, see is_stale).
STALE_TOLERANCE = 1e-5
# Float32 ulps of the largest coordinate a written keyframe may differ by.
STALE_ULPS = 8


@dataclass
class TransferRecord:
    reference: str
    mode: str
    source_reference: str
    source_target: str
    frames: np.ndarray
    pi_reference: np.ndarray
    pi_realized: np.ndarray
    pi_uncalibrated: np.ndarray
    scale: np.ndarray
    depth_reference: np.ndarray
    depth_target: np.ndarray
    centres: np.ndarray
    reference_centres: np.ndarray
    start_centre: np.ndarray
    start_rotation: np.ndarray
    pce: float
    bias: float
    strength: float = 1.0
    framing_error: np.ndarray | None = None
    rotation_change: np.ndarray | None = None
    # Suspect solve frames of a TRACKING reference (ints) and the warning that named them ("" when none).
    suspect_frames: np.ndarray | None = None
    suspects: str = ""
    version: int = RECORD_VERSION

    _ARRAY_SHAPES = {"centres": (-1, 3), "reference_centres": (-1, 3), "start_centre": (3,),
                     "start_rotation": (3, 3)}

    @property
    def pi_aim(self) -> np.ndarray:
        """What the transfer aimed at per step: strength x the reference's Pi (the reference's own at g = 1)."""
        return self.strength * self.pi_reference

    def to_properties(self) -> dict:
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, np.ndarray):
                value = value.astype(np.float64).ravel().tolist() if key not in ("frames", "suspect_frames") \
                    else [int(v) for v in value.ravel()]
            if value is not None:  # an optional field left out (ID properties hold no None)
                out[key] = value
        return out

    @classmethod
    def from_properties(cls, props: object) -> TransferRecord | None:
        """Rebuild from the stored mapping; None when it is absent, of another version or incomplete."""
        try:
            data = {k: props[k] for k in cls.__dataclass_fields__  # type: ignore[index]
                    if k not in ("_ARRAY_SHAPES", "strength", "suspect_frames", "suspects", *OPTIONAL_ARRAYS)}
            data["suspects"] = str(props.get("suspects", ""))  # type: ignore[attr-defined]
            suspect = props.get("suspect_frames")  # type: ignore[attr-defined]
            data["suspect_frames"] = None if suspect is None else np.asarray(list(suspect), dtype=np.int64)
            data["strength"] = float(props.get("strength", 1.0))  # type: ignore[attr-defined]
            for key in OPTIONAL_ARRAYS:
                value = props.get(key)  # type: ignore[attr-defined]
                data[key] = None if value is None else np.asarray(list(value), dtype=np.float64)
        except (KeyError, TypeError, AttributeError):
            return None
        if data.get("version") != RECORD_VERSION:
            return None
        for key in ("frames", "pi_reference", "pi_realized", "pi_uncalibrated", "scale", "depth_reference",
                    "depth_target", "centres", "reference_centres", "start_centre", "start_rotation"):
            arr = np.asarray(list(data[key]), dtype=np.int64 if key == "frames" else np.float64)
            data[key] = arr.reshape(cls._ARRAY_SHAPES.get(key, (-1,)))
        record = cls(**data)
        n = record.frames.size
        steps = (record.pi_reference, record.pi_realized, record.pi_uncalibrated, record.scale)
        frames = (record.depth_reference, record.depth_target, record.centres[:, 0], record.reference_centres[:, 0])
        frames += tuple(a for a in (record.framing_error, record.rotation_change) if a is not None)
        if any(a.size != n - 1 for a in steps) or any(a.size != n for a in frames):
            return None
        return record


def framing_fields(report: object | None) -> dict[str, np.ndarray]:
    """The record's framing fields from a core.framing.FramingReport (none without subject anchoring)."""
    if report is None:
        return {}
    return {"framing_error": np.asarray(report.framing_error, dtype=np.float64),  # type: ignore[attr-defined]
            "rotation_change": np.asarray(report.rotation_change_deg, dtype=np.float64)}  # type: ignore[attr-defined]


def store(obj: object, record: TransferRecord) -> None:
    """Write the record on an object (anything with ID-property item access)."""
    obj[RECORD_KEY] = record.to_properties()  # type: ignore[index]


def load(obj: object) -> TransferRecord | None:
    """The record stored on `obj`, or None when there is none (or it is unreadable)."""
    try:
        props = obj.get(RECORD_KEY)  # type: ignore[attr-defined]
    except (AttributeError, ReferenceError):
        return None
    return None if props is None else TransferRecord.from_properties(props)


def is_stale(record: TransferRecord, current_centres: np.ndarray) -> bool:
    """True when the camera's path (evaluated at the recorded frames) no longer matches what was
    written: it was edited after the transfer."""
    current = np.asarray(current_centres, dtype=np.float64).reshape(-1, 3)
    if current.shape != record.centres.shape:
        return True
    extent = float(np.ptp(record.centres, axis=0).max())
    ulps = STALE_ULPS * float(np.spacing(np.float32(np.abs(record.centres).max())))
    return bool(np.abs(current - record.centres).max() > max(STALE_TOLERANCE * extent, ulps))
