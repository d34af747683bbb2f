"""Metrics (METHOD.md "Metrics"): PCE with bias and worst frame, similarity-aligned TransErr, RotErr,
and the identity line of realized against reference parallax."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import TrajectoryError
from .poses import rotation_angle

PCE_EPS = 1e-12


@dataclass(frozen=True)
class ParallaxConsistency:
    """PCE = mean |ln((Pi'+eps)/(Pi+eps))|; bias = exp(mean ln ratio) (>1 exaggerated, <1 muted);
    worst_index is the step (0-based over t >= 1) with the largest |ln ratio|; frames without a realized
    depth (NaN) are left out and counted."""

    pce: float
    bias: float
    worst_index: int
    worst_log_ratio: float
    frames_used: int
    frames_missing: int


def log_ratios(pi_reference: np.ndarray, pi_realized: np.ndarray, eps: float = PCE_EPS) -> np.ndarray:
    pi_reference = np.asarray(pi_reference, dtype=np.float64)
    pi_realized = np.asarray(pi_realized, dtype=np.float64)
    if pi_reference.shape != pi_realized.shape:
        raise TrajectoryError(f"parallax series differ in length: {pi_reference.shape} vs {pi_realized.shape}")
    with np.errstate(invalid="ignore"):
        return np.log((pi_realized + eps) / (pi_reference + eps))


def parallax_consistency(pi_reference: np.ndarray, pi_realized: np.ndarray,
                         eps: float = PCE_EPS) -> ParallaxConsistency:
    ratio = log_ratios(pi_reference, pi_realized, eps)
    valid = np.isfinite(ratio)
    if not np.any(valid):
        return ParallaxConsistency(float("nan"), float("nan"), -1, float("nan"), 0, int(ratio.size))
    absolute = np.where(valid, np.abs(ratio), -np.inf)
    worst = int(np.argmax(absolute))
    return ParallaxConsistency(
        pce=float(np.mean(np.abs(ratio[valid]))),
        bias=float(np.exp(np.mean(ratio[valid]))),
        worst_index=worst,
        worst_log_ratio=float(ratio[worst]),
        frames_used=int(valid.sum()),
        frames_missing=int((~valid).sum()),
    )


def pce(pi_reference: np.ndarray, pi_realized: np.ndarray, eps: float = PCE_EPS) -> float:
    """The Parallax Consistency Error alone."""
    return parallax_consistency(pi_reference, pi_realized, eps).pce


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimizing sum ||target - (s R source + t)||^2 (Umeyama 1991)."""
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or x.shape[1] != 3:
        raise TrajectoryError(f"umeyama needs two (N, 3) point sets, got {x.shape} and {y.shape}")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    cov = yc.T @ xc / x.shape[0]
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2] = -1.0
    rotation = u @ np.diag(sign) @ vt
    var_x = np.mean(np.sum(xc * xc, axis=1))
    scale = float(np.sum(d * sign) / var_x) if with_scale and var_x > 0 else 1.0
    translation = my - scale * rotation @ mx
    return scale, rotation, translation


def translation_error(output_centres: np.ndarray, reference_centres: np.ndarray) -> float:
    """TransErr: mean distance after a Sim(3) alignment of the output centres onto the reference's,
    divided by the reference path length (blind to scale by construction)."""
    ref = np.asarray(reference_centres, dtype=np.float64)
    s, r, t = umeyama(output_centres, ref)
    aligned = s * np.asarray(output_centres, dtype=np.float64) @ r.T + t
    length = float(np.linalg.norm(np.diff(ref, axis=0), axis=1).sum())
    if length <= 0:
        raise TrajectoryError("TransErr is undefined for a reference that does not move")
    return float(np.mean(np.linalg.norm(aligned - ref, axis=1)) / length)


def rotation_error(reference_rotations: np.ndarray, output_rotations: np.ndarray) -> float:
    """RotErr: mean geodesic angle (radians) between the reference's and the output's relative rotations
    R_0^T R_t."""
    a = np.asarray(reference_rotations, dtype=np.float64)
    b = np.asarray(output_rotations, dtype=np.float64)
    rel_a = np.einsum("ji,njk->nik", a[0], a)
    rel_b = np.einsum("ji,njk->nik", b[0], b)
    return float(np.mean(rotation_angle(np.einsum("nji,njk->nik", rel_a, rel_b))))


@dataclass(frozen=True)
class IdentityLine:
    slope: float
    intercept: float
    r_squared: float
    points: int


def identity_line(pi_reference: np.ndarray, pi_realized: np.ndarray) -> IdentityLine:
    """Least-squares line of log Pi' against log Pi over the frames where both are positive."""
    x = np.asarray(pi_reference, dtype=np.float64).ravel()
    y = np.asarray(pi_realized, dtype=np.float64).ravel()
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if keep.sum() < 2:
        raise TrajectoryError("the identity line needs at least two frames with positive parallax")
    lx, ly = np.log(x[keep]), np.log(y[keep])
    slope, intercept = np.polyfit(lx, ly, 1)
    residual = ly - (slope * lx + intercept)
    total = np.sum((ly - ly.mean()) ** 2)
    r2 = 1.0 - float(np.sum(residual ** 2) / total) if total > 0 else 1.0
    return IdentityLine(float(slope), float(intercept), r2, int(keep.sum()))
