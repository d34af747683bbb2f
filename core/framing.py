"""Subject anchoring (docs/method.md "Keeping the subject framed"): a transfer that keeps each frame's Pi
and turns each frame's rotation by the least angle that puts the target's subject where the reference's
subject was in the frame.

The reference subject's camera-space direction a_t = normalize(R_t^T (P_t - C_t)) is what the move shows
of it at frame t. At a written centre C'_t the untouched rotation R^u_t = Q R_t (Q = R'_0 R_0^T, the
paper's rule) sees the target subject along b_t = normalize(R^u_t^T (P'_t - C'_t)). The written rotation
is R'_t = R^u_t M_t with M_t the smallest rotation taking a_t onto b_t (about a_t x b_t, by the angle
between them): then R'_t^T (P'_t - C'_t) is along a_t, so the subject projects where the reference's did
through the same lens, and the rotation change against R^u_t is that angle, the least of any rotation
that frames the subject so.

The target's depth is measured along the written view, so it depends on the rotation, which depends on
where the camera is: `SubjectAnchor` is the callback rotation = anchor(frame, untouched rotation, centre)
that core.parallax.transfer_steps (`reorient=`) applies to every candidate pose its solve measures.

Without a target subject, it is found by depth along the start view: the point on the ray from the target
start through the reference subject's image position at frame 0, at the target's measured depth D'_0 of
the start pose (depth along the view axis, the quantity Zbar is): P' = C'_0 + R'_0 a_0 D'_0 / (-a_0,z).
The first frame is then framed as the reference's with no rotation change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from .depth import DepthProbe, Views
from .errors import NoDepthError, ParaScaleError, frame_list, shorten
from .formats.common import float_or_none
from .poses import MAX_COORDINATE, Trajectory, in_range, rotation_angle

R = TypeVar("R")

# A subject closer to the camera centre than this fraction of their coordinates' magnitude has no
# direction worth the name (float64 keeps ~1e-16 of it; the direction would carry 1e-7 of noise).
COINCIDENT_FRACTION = 1e-9


class SubjectError(ParaScaleError):
    """A subject that cannot anchor the move: at the camera centre, behind the camera, not finite."""


def subject_points(points: np.ndarray | list[float], n_frames: int, what: str) -> np.ndarray:
    """A subject's world position per frame, (n_frames, 3), from one point (3,) or one per frame (N, 3)."""
    array = np.asarray(points, dtype=np.float64)
    if array.size == 3:
        array = np.broadcast_to(array.reshape(1, 3), (n_frames, 3))
    elif array.shape != (n_frames, 3):
        raise SubjectError(f"the {what} needs one point or one per frame ({n_frames}), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SubjectError(f"the {what}'s position is not finite")
    if not np.all(in_range(array, 0.0, MAX_COORDINATE)):
        raise SubjectError(f"the {what}'s position lies beyond {MAX_COORDINATE:g}")
    return np.array(array)


def camera_directions(rotations: np.ndarray, centres: np.ndarray, points: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per view: the point's camera-space vector (Blender axes, depth is -z) and whether it is at the camera
    centre (no direction)."""
    offset = points - centres
    local = np.einsum("nji,nj->ni", rotations, offset)
    scale = np.maximum(np.abs(points).max(axis=1), np.abs(centres).max(axis=1))
    coincident = np.linalg.norm(offset, axis=1) <= COINCIDENT_FRACTION * np.maximum(scale, 1e-300)
    return local, coincident


def minimal_rotations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking each unit vector a onto b, (N, 3, 3): about a x b by their angle
    (Rodrigues: I + K + K^2 / (1 + a.b), K the cross-product matrix of a x b). Opposite vectors have no
    unique smallest rotation; a half turn about an axis perpendicular to a is used."""
    v = np.cross(a, b)
    c = np.einsum("ni,ni->n", a, b)
    k = np.zeros((a.shape[0], 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    opposite = c <= -1.0 + 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.eye(3) + k + np.matmul(k, k) / np.where(opposite, 1.0, 1.0 + c)[:, None, None]
    if np.any(opposite):
        ref = a[opposite]
        helper = np.where((np.abs(ref[:, 0]) < 0.9)[:, None], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        axis = np.cross(ref, helper)
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        out[opposite] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return out


def image_positions(local: np.ndarray, pixel_intrinsics: np.ndarray) -> np.ndarray:
    """Pixel position (u right, v down; core.depth.frustum_depths' convention) of camera-space points, (N, 2);
    NaN for a point at or behind the camera plane."""
    depth = -local[:, 2]
    fx, fy, cx, cy = (pixel_intrinsics[:, k] for k in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(depth > 0, cx + fx * local[:, 0] / depth, np.nan)
        v = np.where(depth > 0, cy - fy * local[:, 1] / depth, np.nan)
    return np.stack([u, v], axis=1)


@dataclass(frozen=True, eq=False)
class FramingReport:
    """Per frame of the written move: where the target subject is in the image against where the
    reference's was (`framing_error`, the distance as a fraction of the frame width; NaN where the subject
    sits at or behind the camera plane) and the written rotation's angle from the untouched one
    (`rotation_change_deg`, degrees)."""

    frames: np.ndarray
    reference_image: np.ndarray
    target_image: np.ndarray
    framing_error: np.ndarray
    rotation_change_deg: np.ndarray
    target_subject: np.ndarray
    target_from_depth: bool

    def summary(self) -> dict[str, object]:
        finite = self.framing_error[np.isfinite(self.framing_error)]
        return {
            "target_subject": self.target_subject[0].tolist(),
            "target_subject_source": "found by depth along the start view" if self.target_from_depth else "given",
            "framing_error_max": float(finite.max()) if finite.size == self.framing_error.size else None,
            "rotation_change_max_deg": float(np.max(self.rotation_change_deg)),
            "framing_error": self.framing_error.tolist(),
            "rotation_change_deg": self.rotation_change_deg.tolist(),
        }

    def text(self) -> str:
        """One line for a report."""
        summary = self.summary()
        error = summary["framing_error_max"]
        where = ", ".join(f"{v:.6g}" for v in self.target_subject[0])
        return (f"subject kept framed: framing error at most "
                f"{'n/a (the subject reaches the camera plane)' if error is None else f'{error:.2g}'} of the frame "
                f"width, rotation change at most {summary['rotation_change_max_deg']:.3g} deg; target subject "
                f"({where}) {summary['target_subject_source']}")


@dataclass(frozen=True, eq=False)
class SubjectAnchor:
    """The rotation callback of a transfer that keeps its subject framed (see the module's doc), and what
    it needs to report how well it did. Build it with `subject_anchor`."""

    reference_directions: np.ndarray  # a_t, unit, (N, 3)
    reference_image: np.ndarray  # the reference subject's pixel position per frame, (N, 2)
    target_points: np.ndarray  # P'_t, (N, 3)
    untouched: np.ndarray  # R^u_t = Q R_t, (N, 3, 3)
    frames: np.ndarray
    target_from_depth: bool

    def __call__(self, indices: np.ndarray, untouched: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """The rotations written at `centres` for the frames `indices`, given their untouched rotations:
        R^u M with M the least rotation that frames the target subject as the reference's. A centre at the
        subject itself has no direction to anchor and keeps R^u."""
        indices = np.atleast_1d(np.asarray(indices))
        untouched = np.asarray(untouched, dtype=np.float64).reshape(-1, 3, 3)
        centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
        local, coincident = camera_directions(untouched, centres, self.target_points[indices])
        b = local / np.where(coincident, 1.0, np.linalg.norm(local, axis=1))[:, None]
        turn = minimal_rotations(self.reference_directions[indices], b)
        turn[coincident] = np.eye(3)
        return np.matmul(untouched, turn)

    def framed(self, result: R) -> R:
        """A core.parallax.TransferResult of this anchor's transfer with its framing report attached (it
        then shows in the result's summary)."""
        return replace(result, framing=self.report(result.trajectory))  # type: ignore[type-var]

    def report(self, written: Trajectory) -> FramingReport:
        """How the written move frames the target subject, frame by frame."""
        local, _ = camera_directions(written.rotations, written.centres, self.target_points)
        target_image = image_positions(local, written.pixel_intrinsics())
        offset = target_image - self.reference_image
        change = rotation_angle(np.matmul(np.transpose(self.untouched, (0, 2, 1)), written.rotations))
        return FramingReport(frames=self.frames.copy(), reference_image=self.reference_image, target_image=target_image,
                             framing_error=np.hypot(offset[:, 0], offset[:, 1]) / written.intrinsics.width,
                             rotation_change_deg=np.degrees(change), target_subject=self.target_points,
                             target_from_depth=self.target_from_depth)


def target_subject_by_depth(reference_direction: np.ndarray, target_depth: DepthProbe,
                            start_views: Views) -> np.ndarray:
    """The target subject found by depth along the start view: on the ray from the target start through
    the reference subject's image position at frame 0 (camera-space unit direction `reference_direction`),
    at the depth D'_0 the target source measures from the start pose (`start_views`, one view), along the
    view axis: C'_0 + R'_0 a_0 D'_0 / (-a_0,z)."""
    depth = float(np.asarray(target_depth(start_views), dtype=np.float64)[0])
    if not (np.isfinite(depth) and depth > 0):
        raise NoDepthError(f"the target depth source ({target_depth.describe()}) sees nothing from the target start, "
                           "so the target subject cannot be found by depth: choose a target subject")
    a = np.asarray(reference_direction, dtype=np.float64)
    return start_views.centres[0] + start_views.rotations[0] @ (a * depth / -a[2])


def subject_anchor(reference: Trajectory, reference_subject: np.ndarray | list[float],
                   target_subject: np.ndarray | list[float] | None, target_depth: DepthProbe,
                   start_rotation: np.ndarray | None = None, start_centre: np.ndarray | None = None) -> SubjectAnchor:
    """The anchor of a move that keeps its subject: the reference subject (a point, or one per frame) as the
    reference camera sees it, and the target subject (a point or one per frame; None: found by depth along
    the start view, see the module's doc). The start pose defaults to the reference's first pose, as in
    core.parallax.transfer. Raises SubjectError for a subject at the camera centre or behind the camera
    (the reference's at any frame, the target's at the target start)."""
    n = len(reference)
    r0 = reference.rotations[0] if start_rotation is None else np.asarray(start_rotation, dtype=np.float64)
    c0 = reference.centres[0] if start_centre is None else np.asarray(start_centre, dtype=np.float64).reshape(3)
    points = subject_points(reference_subject, n, "reference subject")
    local, coincident = camera_directions(reference.rotations, reference.centres, points)
    frames = reference.frames.astype(np.int64)
    if np.any(coincident):
        raise SubjectError(f"the reference subject is at the reference camera's centre at frame "
                           f"{frame_list(frames[coincident])}: it has no direction to keep")
    behind = local[:, 2] >= 0
    if np.any(behind):
        raise SubjectError(f"the reference subject is behind the reference camera at frame "
                           f"{frame_list(frames[behind])}: it is not in the frame to be kept there")
    directions = local / np.linalg.norm(local, axis=1, keepdims=True)
    start_views = Views.of(reference).take(0, rotations=r0[None], centres=c0[None])
    if target_subject is None:
        targets = subject_points(target_subject_by_depth(directions[0], target_depth, start_views), n,
                                 "target subject")
    else:
        targets = subject_points(target_subject, n, "target subject")
        start_local, start_coincident = camera_directions(r0[None], c0[None], targets[:1])
        if start_coincident[0]:
            raise SubjectError("the target subject is at the target start camera's centre: it has no direction "
                               "to keep")
        if start_local[0, 2] >= 0:
            raise SubjectError("the target subject is behind the target start camera: turn the start camera "
                               "toward it")
    q = r0 @ reference.rotations[0].T
    return SubjectAnchor(reference_directions=directions,
                         reference_image=image_positions(local, reference.pixel_intrinsics()),
                         target_points=targets, untouched=np.matmul(q, reference.rotations), frames=frames,
                         target_from_depth=target_subject is None)


def parse_point(text: str, option: str) -> np.ndarray:
    """A point given as 'X,Y,Z' on the command line; SubjectError (one line, naming the option) otherwise."""
    values = [float_or_none(part) for part in str(text).replace(" ", "").split(",")]
    if len(values) != 3 or any(v is None for v in values):
        raise SubjectError(f"{option} {shorten(str(text), 60)}: expected X,Y,Z (three numbers)")
    point = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(point)):
        raise SubjectError(f"{option} {shorten(str(text), 60)}: the coordinates must be finite")
    if not np.all(in_range(point, 0.0, MAX_COORDINATE)):
        raise SubjectError(f"{option} {shorten(str(text), 60)}: the point lies beyond {MAX_COORDINATE:g}")
    return point


def check_subject_options(reference_subject: str | None, subject: str | None) -> None:
    """The command line's subject options alone: --reference-subject X,Y,Z turns anchoring on, --subject
    X,Y,Z names the target's subject (without it, found by depth along the start view)."""
    if subject is not None and reference_subject is None:
        raise SubjectError("--subject needs --reference-subject (the reference's subject point, which the "
                           "target's subject is framed like)")
    if reference_subject is not None:
        parse_point(reference_subject, "--reference-subject")
    if subject is not None:
        parse_point(subject, "--subject")


def anchor_from_options(reference: Trajectory, reference_subject: str | None, subject: str | None,
                        target_depth: DepthProbe, start_rotation: np.ndarray, start_centre: np.ndarray
                        ) -> SubjectAnchor | None:
    """The anchor the command line's --reference-subject and --subject ask for, None without them."""
    check_subject_options(reference_subject, subject)
    if reference_subject is None:
        return None
    target = None if subject is None else parse_point(subject, "--subject")
    return subject_anchor(reference, parse_point(reference_subject, "--reference-subject"), target, target_depth,
                          start_rotation, start_centre)
