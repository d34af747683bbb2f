"""Suspect frames of a camera solve: frames whose solved camera should not be trusted, named with the reason
(docs/method.md "Suspect solve frames"), and the two ways to leave them out of a transfer.

A solve can be badly wrong at a frame and still look fine by its summary: a partial solve's last frames,
seen by a handful of tracks, can sit metres off the true path at a reprojection error below 1 px. Signs,
each computed from the solve alone:
- acceleration: the solved path's second difference |C_{t+1} - 2 C_t + C_{t-1}| at t is more than
  `ACCELERATION_RATIO` times its robust local scale, the median over the frames within `WINDOW` of t
  (t and its direct neighbours left out, since a displaced frame raises those too), floored at
  `ACCELERATION_FLOOR` of the solve's median step (a perfectly smooth solve has no noise scale);
- few tracks re-observed: fewer than `MIN_REOBSERVED` tracks with a bundle have an enabled marker at the
  frame (a camera resected from so few points is barely determined; Blender's solver needs 8 shared
  tracks between its keyframes);
- reprojection error: the solve's own per-frame average error is more than `ERROR_RATIO` times its median
  over the solve (and above `ERROR_FLOOR` px);
- step off the trend, where the solve is thin: the step into the frame differs by more than `STEP_TREND`
  (relative) from a quadratic fitted to the steps within `TREND_WINDOW` of it (its own left out, one
  outlier-rejecting refit), and by more than `ROUGHNESS_RATIO` times the camera's own roughness (the median
  of those differences where the solve is well observed), where either end of the step re-observes fewer
  tracks than the solve's median frame. A camera move's step length changes smoothly and the depth does
  too, so a step off its neighbours' trend by x puts that frame's Pi off by about x. Where the solve is
  well observed, a bent step is the camera's own motion (hand-held shake); where it is thin, the solve's
  noise adds to it, and only a bend well beyond the camera's own counts. Measured with the hand-held walks
  of bench/suspect_frames.py at 320x180 (shake bends their steps by several percent): without the roughness
  term, 23% of their good frames were named; with it, 2% (1.7% without this check). A pose file has no
  track counts and does not get this check.
- edge: a suspect frame within `EDGE_REACH` frames of the end (or start) of a solved run makes the frames
  between it and that edge suspect too: a solve that degrades towards its edge does not recover there.

Leaving them out: `interpolate_poses` replaces the suspect frames' poses by linear interpolation (centres;
rotations by slerp) between the nearest trusted frames, holding the nearest trusted pose where there is
none on one side; the depth is then measured at the interpolated pose, so Pi over those steps is that of
the interpolated move. `trusted_span` is the range that stops before them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DepthError, frame_list
from .poses import Trajectory, sample_poses

ACCELERATION_RATIO = 4.0
ACCELERATION_FLOOR = 0.01
WINDOW = 7
MIN_REOBSERVED = 10
ERROR_RATIO = 3.0
ERROR_FLOOR = 0.3
EDGE_REACH = 3
STEP_TREND = 0.08
TREND_WINDOW = 5
ROUGHNESS_RATIO = 4.0


@dataclass(frozen=True, eq=False)
class SuspectFrames:
    """Frame numbers (K,) flagged, `mask` (N,) over the frames checked, and the reasons for each flagged
    frame (frame -> list of short phrases)."""

    frames: np.ndarray
    mask: np.ndarray
    reasons: dict[int, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.frames.size)

    def within(self, frames: np.ndarray) -> SuspectFrames:
        """The suspects among `frames` (e.g. a transfer's range), with a mask over them."""
        frames = np.asarray(frames)
        mask = np.isin(frames, self.frames)
        kept = frames[mask].astype(int)
        return SuspectFrames(kept, mask, {int(f): self.reasons[int(f)] for f in kept})

    def message(self, limit: int = 6) -> str:
        """'frame 18 (path acceleration 7.2x its neighbours'), 19 (5 tracks re-observed), ...' in one line."""
        if not self:
            return "no suspect frames"
        parts = [f"{int(f)} ({'; '.join(self.reasons[int(f)])})" for f in self.frames[:limit]]
        more = f" and {self.frames.size - limit} more" if self.frames.size > limit else ""
        return f"frame {', '.join(parts)}{more}"


def _runs(solved: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges of the consecutive True entries."""
    padded = np.r_[False, solved, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _acceleration(centres: np.ndarray, solved: np.ndarray) -> np.ndarray:
    """|C_{t+1} - 2 C_t + C_{t-1}| where t and both neighbours are solved, else NaN."""
    acceleration = np.full(centres.shape[0], np.nan)
    if centres.shape[0] >= 3:
        inner = solved[:-2] & solved[1:-1] & solved[2:]
        second = np.linalg.norm(centres[2:] - 2.0 * centres[1:-1] + centres[:-2], axis=1)
        acceleration[1:-1] = np.where(inner, second, np.nan)
    return acceleration


def _local_scale(acceleration: np.ndarray, window: int) -> np.ndarray:
    """Median of the finite accelerations within `window` of each frame, leaving out the frame and its
    direct neighbours; the median of all of them where fewer than three are near."""
    n = acceleration.size
    offsets = np.arange(-window, window + 1)
    offsets = offsets[np.abs(offsets) > 1]
    index = np.arange(n)[:, None] + offsets[None, :]
    valid = (index >= 0) & (index < n)
    near = np.where(valid, acceleration[np.clip(index, 0, n - 1)], np.nan)
    count = np.isfinite(near).sum(axis=1)
    finite = acceleration[np.isfinite(acceleration)]
    overall = float(np.median(finite)) if finite.size else np.nan
    scale = np.full(n, overall)
    enough = count >= 3
    if np.any(enough):
        scale[enough] = np.nanmedian(near[enough], axis=1)
    return scale


def step_trend_residuals(centres: np.ndarray, solved: np.ndarray, window: int = TREND_WINDOW) -> np.ndarray:
    """Per frame (N,): ln(step into the frame / the trend of the steps around it), NaN where the frame or the
    one before is not solved or too few steps are near. The trend is a quadratic in time fitted (least
    squares) to the log step lengths within `window` steps on either side in the same solved run, the
    step itself left out, then refitted once without those more than 3x the median residual away (a
    neighbouring bad step must not drag the trend)."""
    centres = np.asarray(centres, dtype=np.float64)
    n = centres.shape[0]
    residual = np.full(n, np.nan)
    if n < 2:
        return residual
    with np.errstate(divide="ignore", invalid="ignore"):
        log_step = np.log(np.linalg.norm(np.diff(centres, axis=0), axis=1))
    has_step = solved[1:] & solved[:-1] & np.isfinite(log_step)
    for start, stop in _runs(has_step):  # runs of consecutive steps; step k goes into frame k + 1
        for k in range(start, stop):
            near = np.arange(max(start, k - window), min(stop, k + window + 1))
            near = near[near != k]
            if near.size < 4:
                continue
            basis = np.vander(near - k, 3, increasing=True)
            fit = np.linalg.lstsq(basis, log_step[near], rcond=None)[0]
            off = np.abs(log_step[near] - basis @ fit)
            keep = off <= 3.0 * np.median(off)
            if keep.sum() >= 4 and not keep.all():
                fit = np.linalg.lstsq(basis[keep], log_step[near][keep], rcond=None)[0]
            residual[k + 1] = log_step[k] - fit[0]
    return residual


def suspect_frames(frames: np.ndarray, centres: np.ndarray, solved: np.ndarray | None = None,
                   reobserved: np.ndarray | None = None, errors: np.ndarray | None = None, *,
                   acceleration_ratio: float = ACCELERATION_RATIO, min_reobserved: int = MIN_REOBSERVED,
                   error_ratio: float = ERROR_RATIO, window: int = WINDOW, edge_reach: int = EDGE_REACH,
                   step_trend: float = STEP_TREND) -> SuspectFrames:
    """The suspect frames of a solve (module docstring). `frames` (N,) consecutive frame numbers, `centres`
    (N, 3) the solved camera centres at them (any scale and frame: only ratios are used), `solved` (N,)
    which frames the solve covers (default: all; unsolved centres are ignored), `reobserved` (N,) how many
    tracks with a bundle have an enabled marker at each frame, `errors` (N,) the solve's per-frame
    reprojection error in pixels (NaN where unknown). The last two are optional (a pose estimator's
    output has neither)."""
    frames = np.asarray(frames)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    n = frames.size
    if centres.shape[0] != n:
        raise DepthError(f"{centres.shape[0]} camera centres for {n} frames")
    solved = np.ones(n, dtype=bool) if solved is None else np.asarray(solved, dtype=bool)
    solved = solved & np.all(np.isfinite(centres), axis=1)
    # A centre that is not finite is not solved; as NaN it drops out of the arithmetic without a warning.
    centres = np.where(solved[:, None], centres, np.nan)
    reasons: dict[int, list[str]] = {}

    def flag(where: np.ndarray, phrase: object) -> None:
        for i in np.flatnonzero(where):
            reasons.setdefault(i, []).append(phrase(i) if callable(phrase) else str(phrase))

    acceleration = _acceleration(centres, solved)
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)[solved[1:] & solved[:-1]]
    floor = ACCELERATION_FLOOR * float(np.median(steps)) if steps.size else 0.0
    scale = np.maximum(_local_scale(acceleration, window), floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = acceleration / scale
    flag(np.isfinite(ratio) & (ratio > acceleration_ratio) & (acceleration > 0),
         lambda i: f"path acceleration {ratio[i]:.1f}x its neighbours'")
    if reobserved is not None:
        reobserved = np.asarray(reobserved)
        flag(solved & (reobserved < min_reobserved), lambda i: f"{int(reobserved[i])} tracks re-observed")
        # The step trend, where the solve holds on fewer tracks than its median frame, against the camera's own
        # roughness where it holds on more (module docstring).
        typical = float(np.median(reobserved[solved])) if np.any(solved) else 0.0
        thin = np.r_[False, np.minimum(reobserved[1:], reobserved[:-1]) < typical]
        residual = step_trend_residuals(centres, solved)
        bend = np.abs(np.nan_to_num(residual, nan=0.0))
        well_observed = ~thin & np.isfinite(residual)
        roughness = float(np.median(bend[well_observed])) if well_observed.sum() >= 5 else 0.0
        bent = thin & (bend > max(step_trend, ROUGHNESS_RATIO * roughness))
        # The track count once per frame: the few-tracks sign may already give it.
        flag(bent, lambda i: f"step {np.expm1(residual[i]):+.0%} off its neighbours' trend" + (
            f", {int(reobserved[i])} tracks re-observed" if reobserved[i] >= min_reobserved else ""))
    if errors is not None:
        errors = np.asarray(errors, dtype=np.float64)
        known = solved & np.isfinite(errors)
        if np.any(known):
            typical = float(np.median(errors[known]))
            flag(known & (errors > error_ratio * typical) & (errors > ERROR_FLOOR),
                 lambda i: f"reprojection error {errors[i]:.2f} px, {errors[i] / typical:.1f}x the solve's median")
    for start, stop in _runs(solved):
        inside = sorted(i for i in reasons if start <= i < stop)
        if not inside:
            continue
        last, first = inside[-1], inside[0]
        if stop - 1 - last <= edge_reach:
            for i in range(last + 1, stop):
                reasons.setdefault(i, []).append(f"between suspect frame {int(frames[last])} and the end of the solve")
        if first - start <= edge_reach:
            for i in range(start, first):
                reasons.setdefault(i, []).append(
                    f"between the start of the solve and suspect frame {int(frames[first])}")
    mask = np.zeros(n, dtype=bool)
    mask[list(reasons)] = True
    index = np.flatnonzero(mask)
    return SuspectFrames(frames[index].astype(int), mask, {int(frames[i]): reasons[int(i)] for i in index})


# Observations step_precision takes at once (its 6 x 6 products: about 60 MB of float64).
_PRECISION_ENTRIES = 200_000


def step_precision(frames: np.ndarray, cameras: np.ndarray, bundles: np.ndarray, observed: np.ndarray,
                   focal_px: float, pixel_error: float) -> np.ndarray:
    """How precisely a solve fixes each frame's step, hence its Pi: per frame (K,), the standard deviation of
    the step from the frame before (along the step) relative to the step's length, NaN at the first frame,
    after a gap in `frames`, or where a camera is not determined by the bundles it observes.

    Each solved camera (`cameras` (K, 4, 4) camera-to-solve, Blender axes: looking down -z) is taken as the
    least-squares pose of the bundles it `observed` (K, P) (`bundles` (P, 3), solve space) under independent
    image noise of `pixel_error` px on each coordinate, with the bundles held fixed: the centre's covariance
    is pixel_error^2 times the centre block of the inverse Gauss-Newton normal matrix of the six pose
    parameters (centre and a small rotation), and the two frames of a step are independent. `focal_px` is
    the clip's focal length in pixels. This is what the solve's geometry allows (how many tracks, how spread
    over the image, how near), not its realized error: on the synthetic solves of bench/suspect_frames.py the
    realized Pi error's median is 0.55-1.35 times this figure by group of clips (a normal error's is 0.67 times
    its standard deviation), with a wide spread from frame to frame. Gauge-free: the centre's deviation and
    the step are both in solve units."""
    frames = np.asarray(frames)
    cameras = np.asarray(cameras, dtype=np.float64)
    bundles = np.asarray(bundles, dtype=np.float64).reshape(-1, 3)
    observed = np.asarray(observed, dtype=bool) & np.all(np.isfinite(bundles), axis=1)[None]
    k = observed.shape[0]
    rotations, centres = cameras[:, :3, :3], cameras[:, :3, 3]
    normal = np.zeros((k, 6, 6))
    count = np.zeros(k, dtype=np.int64)
    # Only the observations count: (frame, bundle) pairs in frame order, a chunk at a time. The centre is
    # taken in the camera's own axes (p = R^T X - c, so dp/dc = -I), its covariance turned into the solve's
    # axes below; each frame's J^T J is one matrix product over its run of pairs.
    rows, columns = np.nonzero(observed)
    # A camera or bundle that is not finite, or beyond float range, yields NaN or inf here: such a camera
    # is found below (not finite) and has no precision.
    with np.errstate(all="ignore"):
        for start in range(0, rows.size, _PRECISION_ENTRIES):
            row, column = rows[start:start + _PRECISION_ENTRIES], columns[start:start + _PRECISION_ENTRIES]
            p = ((bundles[column] - centres[row])[:, None, :] @ rotations[row])[:, 0]
            depth = -p[:, 2]
            used = depth > 0
            inv = np.where(used, 1.0 / depth, 0.0)
            # Pixel u = f x / z, v = f y / z with z = -p_z; rows of d(pixel)/d(camera point): (f/z)(1, 0, x/z) and
            # (f/z)(0, 1, y/z). d(camera point)/d(camera-axes centre) = -I; d(camera point)/d(rotation w, R -> R
            # exp([w]x)) = [p]x, written out: row (1, 0, a) [p]x = (-a p_y, a p_x - p_z, p_y) and row (0, 1, b) [p]x
            # = (p_z - b p_y, b p_x, -p_x).
            a, b = p[:, 0] * inv, p[:, 1] * inv
            jacobian = np.zeros((row.size, 2, 6))
            jacobian[:, 0, 0] = jacobian[:, 1, 1] = -1.0
            jacobian[:, 0, 2], jacobian[:, 1, 2] = -a, -b
            jacobian[:, 0, 3], jacobian[:, 0, 4], jacobian[:, 0, 5] = -a * p[:, 1], a * p[:, 0] - p[:, 2], p[:, 1]
            jacobian[:, 1, 3], jacobian[:, 1, 4], jacobian[:, 1, 5] = p[:, 2] - b * p[:, 1], b * p[:, 0], -p[:, 0]
            jacobian *= (focal_px * inv)[:, None, None]
            jacobian = jacobian.reshape(-1, 6)
            edges = np.flatnonzero(np.r_[True, row[1:] != row[:-1], True])
            for first, stop in zip(edges[:-1], edges[1:], strict=True):
                block = jacobian[2 * first:2 * stop]
                normal[row[first]] += block.T @ block
                count[row[first]] += int(used[first:stop].sum())
    # Inverse through the eigenvalues: a camera its bundles leave undetermined has a (near) zero one; one
    # whose pose is not finite has no precision (eigh refuses non-finite input).
    finite = np.all(np.isfinite(normal), axis=(1, 2)) & np.all(np.isfinite(cameras[:, :3, :]), axis=(1, 2))
    normal[~finite] = 0.0
    values, vectors = np.linalg.eigh(normal)
    determined = finite & (count >= 3) & (values[:, 0] > 1e-12 * np.maximum(values[:, -1], 1e-300))
    with np.errstate(all="ignore"):
        inverse = np.einsum("nik,nk,njk->nij", vectors, 1.0 / values, vectors)
        centre_cov = np.where(determined[:, None, None],
                              rotations @ inverse[:, :3, :3] @ rotations.transpose(0, 2, 1), np.nan)
    precision = np.full(k, np.nan)
    if k < 2:
        return precision
    with np.errstate(all="ignore"):
        step = np.diff(centres, axis=0)
        length = np.linalg.norm(step, axis=1)
        direction = step / length[:, None]
        variance = np.einsum("ki,kij,kj->k", direction, centre_cov[1:] + centre_cov[:-1], direction)
        relative = float(pixel_error) * np.sqrt(variance) / length
    consecutive = (np.diff(frames) == 1) & (length > 0)
    precision[1:] = np.where(consecutive & np.isfinite(relative), relative, np.nan)
    return precision


def interpolate_poses(trajectory: Trajectory, suspect: np.ndarray) -> Trajectory:
    """The trajectory with the poses (and lens) of the `suspect` frames (N,) replaced by linear interpolation
    between the nearest trusted frames (rotations by slerp); past the first or last trusted frame the
    nearest trusted pose is held. Raises DepthError when fewer than two frames are trusted."""
    suspect = np.asarray(suspect, dtype=bool)
    if not np.any(suspect):
        return trajectory
    trusted = np.flatnonzero(~suspect)
    if trusted.size < 2:
        raise DepthError(f"only {trusted.size} frame(s) of {suspect.size} are trusted: nothing to interpolate from")
    kept = trajectory.replace(rotations=trajectory.rotations[trusted], centres=trajectory.centres[trusted],
                              frames=trajectory.frames[trusted], lens=trajectory.lens[trusted])
    rotations, centres, lens = sample_poses(kept, trajectory.frames[suspect], method="linear")
    new_rotations, new_centres, new_lens = (np.array(a) for a in (trajectory.rotations, trajectory.centres,
                                                                   trajectory.lens))
    new_rotations[suspect], new_centres[suspect], new_lens[suspect] = rotations, centres, lens
    return trajectory.replace(rotations=new_rotations, centres=new_centres, lens=new_lens)


def trusted_span(frames: np.ndarray, suspect: np.ndarray) -> np.ndarray:
    """The frames of the range that stops before the suspect frames: from the first trusted frame to the
    last trusted frame before the next suspect one. Raises DepthError when fewer than two are left."""
    frames = np.asarray(frames)
    suspect = np.asarray(suspect, dtype=bool)
    trusted = np.flatnonzero(~suspect)
    if trusted.size == 0:
        raise DepthError(f"every frame of {frame_list(frames.astype(int))} is a suspect solve frame")
    start = int(trusted[0])
    later = np.flatnonzero(suspect[start:])
    stop = start + int(later[0]) if later.size else frames.size
    if stop - start < 2:
        raise DepthError(f"stopping before the suspect solve frames leaves only frame {int(frames[start])}")
    return frames[start:stop]
