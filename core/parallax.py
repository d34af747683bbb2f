"""The Parallax Number and scale-calibrated transfer (METHOD.md "Parallax Number" and "Transfer")."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from .depth import DepthProbe, Views, as_probe, probe_depths
from .errors import DepthError, NoDepthError, NoMotionError, TrajectoryError, frame_list
from .poses import Trajectory, _as_rotations
from .statistics import check_same_statistic

if TYPE_CHECKING:
    from .framing import FramingReport

T = TypeVar("T")

# rotations = reorient(frame indices, untouched rotations, centres): the rotation written at a pose given
# where the camera is (subject anchoring, core/framing.py); the target depth is measured with it.
Reorient = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

MODES = ("per_frame", "global", "uncalibrated")

# The hit planes' shortcut certifies a depth to a relative margin of half the tolerance: below this, float32
# (Embree) cannot tell a ray's own triangle from an occluder in front of it, and the solve casts in full.
PLANES_MIN_TOLERANCE = 1e-7
# Views measured per call where every frame is measured at once (global and uncalibrated modes): small
# enough for the modal operator to stay responsive between them.
MEASURE_CHUNK = 16
# A step below this fraction of the path's largest step counts as "no motion" for the whole clip.
NO_MOTION_EPS = 1e-300
# The strength dial g (the written move realizes g x Pi_t): beyond these a typo, not a look.
MIN_STRENGTH, MAX_STRENGTH = 1e-3, 1e3


def check_strength(value: object) -> float:
    """The strength g as a float: a finite number within MIN_STRENGTH .. MAX_STRENGTH (1 = the reference's
    parallax). Raises TrajectoryError naming the value."""
    try:
        g = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TrajectoryError(f"the strength must be a number above 0 (1 = the reference's parallax), got "
                              f"{str(value)[:40]!r}") from None
    if not (np.isfinite(g) and MIN_STRENGTH <= g <= MAX_STRENGTH):
        raise TrajectoryError(f"the strength must lie within {MIN_STRENGTH:g} .. {MAX_STRENGTH:g} (1 = the "
                              f"reference's parallax), got {g:g}")
    return g


def normalize_mode(mode: str) -> str:
    """Accept 'per-frame', 'PER_FRAME', 'per_frame'."""
    key = str(mode).strip().lower().replace("-", "_")
    if key not in MODES:
        raise ValueError(f"mode must be one of per-frame, global, uncalibrated; got {mode!r}")
    return key


def parallax_numbers(centres: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """Pi_t = ||C_t - C_{t-1}|| / Zbar_t for t >= 1 (depth at the arrival pose): shape (N-1,)."""
    centres = np.asarray(centres, dtype=np.float64)
    depths = np.asarray(depths, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[1] != 3:
        raise TrajectoryError(f"centres must have shape (N, 3), got {centres.shape}")
    if depths.shape != (centres.shape[0],):
        raise DepthError(f"{centres.shape[0]} centres need as many depths, got shape {depths.shape}")
    if centres.shape[0] < 2:
        raise TrajectoryError("parallax needs at least two frames")
    finite = np.isfinite(depths)
    if np.any(depths[finite] <= 0):
        raise DepthError("depths must be positive")
    return np.linalg.norm(np.diff(centres, axis=0), axis=1) / depths[1:]


def trajectory_parallax(trajectory: Trajectory,
                        source: DepthProbe | float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Pi per frame (N-1,), depths (N,)) of a trajectory against a depth source; raises NoDepthError
    when the source sees nothing at some frame."""
    depths = probe_depths(as_probe(source), Views.of(trajectory), frames=trajectory.frames)
    return parallax_numbers(trajectory.centres, depths), depths


@dataclass(frozen=True, eq=False)
class TransferResult:
    """What a transfer produced, frame by frame. Arrays over steps have N-1 entries (t = 1..N-1)."""

    trajectory: Trajectory
    mode: str
    pi_reference: np.ndarray
    pi_realized: np.ndarray
    depth_reference: np.ndarray
    depth_target: np.ndarray
    scale: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    source_reference: str = ""
    source_target: str = ""
    missing_target_frames: list[int] = field(default_factory=list)
    # The strength dial g: the transfer aims at g x pi_reference (1: the reference's parallax).
    strength: float = 1.0
    # Subject anchoring (core/framing.py): how the written move frames its subject; None without it.
    framing: FramingReport | None = None

    @property
    def pi_total_reference(self) -> float:
        return float(np.sum(self.pi_reference))

    @property
    def pi_target(self) -> np.ndarray:
        """What the transfer aims at per step: g x Pi_t."""
        return self.strength * self.pi_reference

    @property
    def pi_total_target(self) -> float:
        return float(np.sum(self.pi_target))

    @property
    def pi_total_realized(self) -> float:
        return float(np.nansum(self.pi_realized))

    @property
    def unconverged_frames(self) -> np.ndarray:
        """Frame numbers (of the output) whose fixed-point solve did not converge."""
        return self.trajectory.frames[1:][~self.converged]

    def summary(self) -> dict[str, object]:
        from .metrics import parallax_consistency

        # Against the aim g x Pi_t: with g = 1, the reference's own parallax.
        pce = parallax_consistency(self.pi_target, self.pi_realized)
        return {
            "mode": self.mode,
            "frames": len(self.trajectory),
            "strength": self.strength,
            "pi_total_reference": self.pi_total_reference,
            "pi_total_target": self.pi_total_target,
            "pi_total_realized": self.pi_total_realized,
            "pce": pce.pce,
            "bias": pce.bias,
            "worst_frame": int(self.trajectory.frames[1 + pce.worst_index]) if pce.worst_index >= 0 else None,
            "worst_log_ratio": pce.worst_log_ratio,
            "scale_min": float(np.min(self.scale)),
            "scale_max": float(np.max(self.scale)),
            "unconverged_frames": [int(f) for f in self.unconverged_frames],
            "frames_without_target_depth": list(self.missing_target_frames),
            "source_reference": self.source_reference,
            "source_target": self.source_target,
            **({"framing": self.framing.summary()} if self.framing is not None else {}),
        }


def _compose_prefix(maps: np.ndarray) -> np.ndarray:
    """Inclusive prefix products P_i = M_i @ M_{i-1} @ ... @ M_0 of 4x4 maps, work-efficiently: combine
    neighbouring pairs, recurse on the half-length sequence, then fill in the even positions (about 2M
    small products in log2(M) batched steps)."""
    m = maps.shape[0]
    if m == 1:
        return maps
    pairs = np.matmul(maps[1::2], maps[0:m - 1:2])
    odd = _compose_prefix(pairs)
    out = np.empty_like(maps)
    out[1::2] = odd
    out[0] = maps[0]
    # P_2j = M_2j @ P_(2j-1), and P_(2j-1) is odd[j-1].
    out[2::2] = np.matmul(maps[2::2], odd[: (m - 1) // 2])
    return out


def _affine_scan(a: np.ndarray, c: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """x_t = A_t x_{t-1} + c_t for t = 1..M, all at once as a prefix scan of the affine maps.
    Returns x_1..x_M, shape (M, 3)."""
    m = a.shape[0]
    maps = np.zeros((m, 4, 4))
    maps[:, :3, :3] = a
    maps[:, :3, 3] = c
    maps[:, 3, 3] = 1.0
    prefix = _compose_prefix(maps)
    return np.matmul(prefix[:, :3, :3], x0) + prefix[:, :3, 3]


def _solve_affine(directions: np.ndarray, ref_depth: np.ndarray, g: np.ndarray, h: np.ndarray,
                  start: np.ndarray) -> np.ndarray:
    """Per-frame scales for a target depth affine in the centre, D_t = g_t . C_t + h_t:
    s_t = (g_t . C_{t-1} + h_t) / (Zbar_t - g_t . u_t), solved for every frame at once."""
    denom = ref_depth - np.einsum("ni,ni->n", g, directions)
    if np.any(denom <= 0):
        bad = int(np.flatnonzero(denom <= 0)[0])
        raise NoDepthError(f"the target depth collapses at step {bad + 1}: the step passes the subject", [bad + 1])
    if not np.any(g):
        # The depth does not depend on the centre (fixed or per-frame values): nothing to propagate.
        return h / denom
    k = directions / denom[:, None]
    a = np.eye(3)[None] + k[:, :, None] * g[:, None, :]
    centres = _affine_scan(a, k * h[:, None], start)
    previous = np.vstack([start[None], centres[:-1]])
    return (np.einsum("ni,ni->n", g, previous) + h) / denom


def transfer(reference: Trajectory, reference_depth: DepthProbe | float | np.ndarray, target_depth: DepthProbe | float,
             start_rotation: np.ndarray | None = None, start_centre: np.ndarray | None = None,
             mode: str = "per_frame", tolerance: float = 1e-9, max_iterations: int = 64,
             reorient: Reorient | None = None, strength: float = 1.0) -> TransferResult:
    """Re-realize `reference` against the target scene's own depth (METHOD.md "Transfer"): `transfer_steps`
    run to the end."""
    return run_steps(transfer_steps(reference, reference_depth, target_depth, start_rotation, start_centre, mode,
                                    tolerance, max_iterations, reorient=reorient, strength=strength))


def run_steps(steps: Generator[int, None, T], on_step: Callable[[int], None] | None = None) -> T:
    """Run a stepwise computation to its end (calling `on_step` with each step it yields) and return its
    result."""
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        if on_step is not None:
            on_step(step)


def shifted_steps(steps: Generator[int, None, T], offset: int) -> Generator[int, None, T]:
    """The same steps numbered from `offset` on; closing it closes `steps`."""
    try:
        while True:
            try:
                step = next(steps)
            except StopIteration as stop:
                return stop.value
            yield offset + step
    finally:
        steps.close()


def transfer_steps(reference: Trajectory, reference_depth: DepthProbe | float | np.ndarray,
                   target_depth: DepthProbe | float, start_rotation: np.ndarray | None = None,
                   start_centre: np.ndarray | None = None, mode: str = "per_frame", tolerance: float = 1e-9,
                   max_iterations: int = 64, reorient: Reorient | None = None, strength: float = 1.0
                   ) -> Generator[int, None, TransferResult]:
    """`transfer`, one frame at a time: yields the number of frames solved so far (0 .. N-1) after each
    frame of the per-frame solve, and returns the TransferResult. A caller that stops early (an Esc in the
    add-on's modal operator) closes it; nothing has been produced then.

    `reference_depth` is the reference scene's depth source (a probe, a number or per-frame values);
    `target_depth` measures the target scene from any pose. The move starts at the target start pose
    (default: the reference's first pose). Rotation is untouched: R'_t = Q R_t with Q = R'_0 R_0^T.
    Lens, sensor and fps are copied; the clip range is scaled by the depth ratio.
    `strength` g > 0: per frame the written move realizes g x Pi_t (solved against Zbar_t / g); global
    scales the move by g x the first frame's depth ratio; uncalibrated writes g x the raw move.
    With `reorient` (subject anchoring, core/framing.py) the rotation written at each pose is
    reorient(frame, Q R_t, centre), and every depth of the target is measured with that rotation.
    """
    mode = normalize_mode(mode)
    strength = check_strength(strength)
    check_same_statistic(as_probe(reference_depth), as_probe(target_depth))
    ref_views = Views.of(reference)
    ref_depth = probe_depths(as_probe(reference_depth), ref_views, "reference depth", reference.frames)
    target = as_probe(target_depth)
    # The depth each step is scaled against: Pi'_t = s |u_t| / D' = g |u_t| / Zbar_t gives s = D' / (Zbar_t / g).
    aim_depth = ref_depth / strength
    steps = reference.steps()
    step_norm = np.linalg.norm(steps, axis=1)
    if not np.any(step_norm > NO_MOTION_EPS * max(1.0, float(np.abs(reference.centres).max()))):
        raise NoMotionError("the reference camera does not move: a move without translation has no parallax "
                            "to transfer")
    pi_reference = step_norm / ref_depth[1:]

    r0 = reference.rotations[0] if start_rotation is None else _as_rotations(
        np.asarray(start_rotation)[None], "start rotation")[0]
    c0 = reference.centres[0] if start_centre is None else np.asarray(start_centre, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(c0)):
        raise TrajectoryError("the target start position must be finite")
    q = r0 @ reference.rotations[0].T
    rotations = np.matmul(q, reference.rotations)
    directions = steps @ q.T
    out_views = Views(rotations, np.repeat(c0[None], len(reference), axis=0), ref_views.pixel_intrinsics,
                      ref_views.width, ref_views.height, ref_views.indices)
    n_steps = len(reference) - 1
    converged = np.ones(n_steps, dtype=bool)
    iterations = np.zeros(n_steps, dtype=np.int64)

    affine = None
    if mode == "per_frame":
        affine = target.affine_form(out_views)
        if affine is not None and reorient is not None and np.any(affine[0]):
            affine = None  # affine at a fixed rotation only: a reoriented view turns with the centre
        if affine is not None:
            g, h = affine
            scale = _solve_affine(directions, aim_depth[1:], g[1:], h[1:], c0)
            iterations[:] = 1
        else:
            scale, converged, iterations, solved_depth = yield from _solve_per_frame(
                target, out_views, directions, aim_depth, c0, tolerance, max_iterations, reference.frames, reorient)
    else:
        if mode == "global":
            d0 = probe_depths(target, _posed(out_views, 0, c0, reorient), "target depth", reference.frames)[0]
            s = d0 / aim_depth[0]
        else:
            s = strength
        scale = np.full(n_steps, s)

    if affine is not None:
        yield n_steps  # the whole clip was solved at once
    centres = np.vstack([c0[None], c0 + np.cumsum(directions * scale[:, None], axis=0)])
    if reorient is not None:
        rotations = reorient(np.arange(len(reference)), rotations, centres)
    # The depth at every written pose: a converged frame was measured there by the solve; the other frames
    # are measured here.
    depth_target = np.full(len(reference), np.nan)
    if mode == "per_frame" and affine is None:
        depth_target[1:][converged] = solved_depth[converged]
    remeasure = np.flatnonzero(~np.isfinite(depth_target))
    # In chunks, yielding between them: a global or uncalibrated transfer measures every frame here, and the
    # add-on's modal operator stays responsive (progress over the frames measured, for those modes).
    for done in range(0, remeasure.size, MEASURE_CHUNK):
        chunk = remeasure[done:done + MEASURE_CHUNK]
        depth_target[chunk] = np.asarray(
            target(out_views.take(chunk, rotations=rotations[chunk], centres=centres[chunk])), np.float64)
        yield n_steps if mode == "per_frame" else min(n_steps, (done + chunk.size) * n_steps // len(reference))
    missing = np.flatnonzero(~np.isfinite(depth_target))
    if mode == "per_frame" and missing.size:
        frames = reference.frames[missing].astype(int).tolist()
        raise NoDepthError(f"the target depth source ({target.describe()}) sees nothing from the calibrated "
                           f"camera at frame {frame_list(frames)}", frames)
    with np.errstate(invalid="ignore", divide="ignore"):
        pi_realized = np.linalg.norm(np.diff(centres, axis=0), axis=1) / depth_target[1:]
        ratio = depth_target / ref_depth
    finite_ratio = ratio[np.isfinite(ratio)]
    lo, hi = (finite_ratio.min(), finite_ratio.max()) if finite_ratio.size else (1.0, 1.0)
    if mode == "uncalibrated":
        lo = hi = 1.0
    output = reference.replace(rotations=rotations, centres=centres,
                               clip_start=reference.clip_start * lo, clip_end=reference.clip_end * hi)
    return TransferResult(
        trajectory=output, mode=mode, pi_reference=pi_reference, pi_realized=pi_realized,
        depth_reference=ref_depth, depth_target=depth_target, scale=scale, converged=converged,
        iterations=iterations, source_reference=as_probe(reference_depth).describe(),
        source_target=target.describe(), missing_target_frames=reference.frames[missing].astype(int).tolist(),
        strength=strength,
    )


def _posed(views: Views, index: int, centre: np.ndarray, reorient: Reorient | None) -> Views:
    """View `index` moved to `centre`, with the rotation written there (untouched without `reorient`)."""
    if reorient is None:
        return views.take(index, centres=centre)
    indices = np.atleast_1d(index)
    return views.take(indices, rotations=reorient(indices, views.rotations[indices], centre), centres=centre)


def _solve_per_frame(target: DepthProbe, views: Views, directions: np.ndarray, ref_depth: np.ndarray,
                     start: np.ndarray, tolerance: float, max_iterations: int, frames: np.ndarray,
                     reorient: Reorient | None = None
                     ) -> Generator[int, None, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Frame by frame: s_t = D'(R'_t, C'_{t-1} + s_t u_t) / Zbar_t, a fixed point in s_t, i.e. a root of
    f(s) = s Zbar_t - D'(s) with f(0) = -D'(C'_{t-1}) < 0. Secant steps (exact in one step where the depth
    is locally affine) inside a bracket [lo, hi] with f(lo) < 0 < f(hi), bisecting whenever a step leaves
    it or lands where the target sees nothing (the step would pass the subject). Where the depth jumps (a
    median switching between two groups of surfaces) there is no exact fixed point: the bracket closes on
    the jump, the frame is reported as not converged, and the scale with the smallest |f| is kept.
    Each frame starts from the depth the previous frame converged to (the camera moved one step and turned
    slightly), which saves the probe evaluation at C'_{t-1}; that evaluation is made only when the first
    guesses see nothing, and a frame where the target sees nothing from C'_{t-1} either keeps the previous
    scale so every such frame is named.
    The first guess extrapolates the last two accepted scales (a move's scale changes smoothly); the first
    step after it is Newton's with the slope the previous frame measured (at the start: the depth moving
    with the view axis, D(s) ~ D(C'_{t-1}) - s (f_t . u_t)), so most frames converge on the second
    evaluation.
    With `reorient`, each pose is measured with the rotation written there (subject anchoring).
    Returns the scales, which frames converged, the evaluations per frame and, at converged frames, the
    depth measured at the accepted scale."""
    n_steps = directions.shape[0]
    scale = np.empty(n_steps)
    measured = np.full(n_steps, np.nan)
    forward = -views.rotations[:, :, 2]  # Blender cameras look down -z
    converged = np.zeros(n_steps, dtype=bool)
    iterations = np.zeros(n_steps, dtype=np.int64)
    missing: list[int] = []
    previous = start.copy()
    last_scale = np.nan
    last_depth = np.nan
    # What the previous frames teach the next one's first guess: the accepted scales (smooth along a
    # move, so extrapolated), and the depth's rate of change per unit of camera travel along the step, as
    # measured by the last frame's final secant (the view axis alone gives -f . u).
    history: list[float] = []
    rate_beyond_view_axis = 0.0

    def depth_at(t: int, centre: np.ndarray) -> float:
        return float(target(_posed(views, t, centre, reorient))[0])

    # The hit planes' shortcut (core/geometry_embree.py HitPlanes): at a fixed rotation, and at a tolerance
    # float32 can certify (a ray must not meet its own triangle within the margin).
    fast = reorient is None and tolerance >= PLANES_MIN_TOLERANCE and callable(getattr(target, "local_model", None))

    for t in range(1, n_steps + 1):
        u = directions[t - 1]
        z = ref_depth[t]
        exact_start = not np.isfinite(last_depth)
        d = depth_at(t, previous) if exact_start else last_depth
        if not np.isfinite(d):
            missing.append(int(frames[t]))
            s = last_scale if np.isfinite(last_scale) else 1.0
            scale[t - 1] = s
            previous = previous + s * u
            yield t
            continue
        lo, hi = 0.0, np.inf
        # (0, -d) is a point of this frame's f only when d was measured from C'_{t-1} with this frame's
        # rotation; a warm start's d was measured with the previous frame's.
        s_prev, f_prev = lo, -d
        anchored = exact_start
        step = float(np.linalg.norm(u))
        # The depth's rate per unit of travel along u: the view axis's share (-f . u/|u|, exact for a point
        # or a wall facing the camera) plus what the last frame measured beyond it (slopes, occlusion).
        rate = -float(forward[t] @ u) / max(step, 1e-300) + rate_beyond_view_axis
        slope = z - rate * step  # f'(s) of the model D(s) = D(C'_{t-1}) + rate * s |u|
        if not slope > 0.5 * z:
            slope = z
        s = d / slope
        if len(history) >= 2 and history[-1] > 0 and history[-2] > 0:
            s = 2.0 * history[-1] - history[-2] if 2.0 * history[-1] > history[-2] else history[-1]
        best_s, best_f = s, np.inf
        ok = False
        count = 0
        blind = 0
        if fast:
            # One cast at the guess, the fixed point of the planes it hit, a partial cast to certify it.
            quick = _planes_step(target, views.take(t, centres=previous + s * u), previous, u, z, s, tolerance)
            if quick is not None:
                count, s_measured, d_measured, s_solved, d_solved = quick
                if np.isfinite(d_solved):
                    ok, s = True, s_solved
                    measured[t - 1] = d_solved
                else:  # not certified: the secant loop goes on from the planes' answer and the measured guess
                    f_measured = s_measured * z - d_measured
                    if f_measured < 0:
                        lo = s_measured
                    else:
                        hi = s_measured
                    best_s, best_f = s_measured, abs(f_measured)
                    s_prev, f_prev, anchored = s_measured, f_measured, True
                    if np.isfinite(s_solved) and lo < s_solved < hi:
                        s = s_solved
                    elif np.isfinite(hi):
                        s = 0.5 * (lo + hi)
                    else:
                        s = max(d_measured / z, 2.0 * lo)
        while not ok and count < max_iterations:
            count += 1
            d_new = depth_at(t, previous + s * u)
            if not np.isfinite(d_new):
                blind += 1
                if blind == 4 and not exact_start:
                    # Four guesses saw nothing: look from C'_{t-1} itself before bisecting further.
                    exact_start = True
                    count += 1
                    d0 = depth_at(t, previous)
                    if not np.isfinite(d0):
                        break
                    s_prev, f_prev = 0.0, -d0
                    anchored = True
                hi = s
                s = 0.5 * (lo + hi)
                continue
            blind = 0
            fixed_point = d_new / z
            if abs(fixed_point - s) <= tolerance * abs(s):
                # Kept where it was measured: the written pose's realized Pi is then a measurement, off the
                # reference's by at most `tolerance` (one more fixed-point step would be closer, unmeasured).
                ok = True
                measured[t - 1] = d_new
                if anchored and s != s_prev and step > 0:
                    secant = ((s * z - d_new) - f_prev) / (s - s_prev)
                    rate_beyond_view_axis = (z - secant) / step + float(forward[t] @ u) / step
                break
            f_new = s * z - d_new
            if abs(f_new) < best_f:
                best_s, best_f = s, abs(f_new)
            if f_new < 0:
                lo = s
            else:
                hi = s
            if np.isfinite(hi) and hi - lo <= tolerance * hi:
                break  # closed on a jump of the depth: no exact fixed point
            if anchored:
                candidate = s - f_new * (s - s_prev) / (f_new - f_prev) if f_new != f_prev else np.nan
            else:  # one measured point of this frame: a Newton step with the model's slope
                candidate = s - f_new / slope
            s_prev, f_prev, anchored = s, f_new, True
            if not (np.isfinite(candidate) and lo < candidate < hi):
                candidate = 0.5 * (lo + hi) if np.isfinite(hi) else max(fixed_point, 2.0 * lo)
            s = candidate
        if not np.isfinite(best_f) and not ok:
            # The target sees nothing from C'_{t-1} nor anywhere along the step.
            missing.append(int(frames[t]))
            s = last_scale if np.isfinite(last_scale) else 1.0
            last_depth = np.nan
        else:
            if not ok:
                s = best_s
            last_depth = s * z
        scale[t - 1] = s
        converged[t - 1] = ok
        iterations[t - 1] = count
        last_scale = s
        history = history[-1:] + [s] if ok else []
        previous = previous + s * u
        yield t
    if missing:
        raise NoDepthError(f"the target depth source ({target.describe()}) sees nothing from the calibrated "
                           f"camera at frame {frame_list(missing)}", missing)
    return scale, converged, iterations, measured


def _planes_step(target: DepthProbe, view: Views, start: np.ndarray, step: np.ndarray, aim: float, guess: float,
                 tolerance: float) -> tuple[int, float, float, float, float] | None:
    """One frame of the solve with the target's hit planes: cast once at `guess`; accept it when it is the
    fixed point already, else solve the planes' fixed point and certify the depth there (a partial cast).
    Returns (evaluations, guess, depth measured at the guess, solved s, certified depth or NaN), or None
    when the target offers no planes or sees nothing from the guess."""
    model = target.local_model(view)
    if model is None or not np.isfinite(model.measured):
        return None
    if abs(model.measured / aim - guess) <= tolerance * abs(guess):
        return 1, guess, model.measured, guess, model.measured
    solved = model.fixed_point(start, step, aim, guess)
    if not np.isfinite(solved):
        return 1, guess, model.measured, solved, float("nan")
    # Half the tolerance for the certificate's margin, half for the residual: together within `tolerance`.
    depth = model.certified(start + solved * step, 0.5 * tolerance)
    if not (np.isfinite(depth) and abs(depth / aim - solved) <= 0.5 * tolerance * solved):
        depth = float("nan")
    return 2, guess, model.measured, solved, depth


def realized_at_written_pose(result: TransferResult, target: DepthProbe | float, written_centres: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(Pi per step, target depth per frame) of the written camera when its centres are stored as
    `written_centres` (the
    add-on's float32 keyframes): step lengths from those centres, and the target depth measured again there
    at every frame whose solve did not converge or where the target saw nothing. Near a jump of the
    statistic a rounding of the centre can land on the other side of it, so the solve's own figure would
    understate what the frame realizes; a converged frame's measurement holds to the solve's tolerance."""
    written = np.asarray(written_centres, dtype=np.float64)
    depth = result.depth_target.copy()
    again = np.flatnonzero(~np.isfinite(depth))
    again = np.union1d(again, 1 + np.flatnonzero(~result.converged))
    if again.size:
        views = Views.of(result.trajectory)
        depth[again] = np.asarray(as_probe(target)(views.take(again, centres=written[again])), np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.linalg.norm(np.diff(written, axis=0), axis=1) / depth[1:], depth
