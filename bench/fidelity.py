"""Fidelity benchmark: does the transferred move realize the reference's parallax, measured independently?

`.venv/bin/python bench/fidelity.py` (full: 10 scene pairs, 20 frames each) or `--quick` (3 pairs, 12
frames; what tests/test_fidelity.py runs). Writes bench/results/fidelity.md and fidelity.png (or into
`--output DIR`) and prints the table with the machine and date.

What it does, per pair of scenes (reference at one scale, target at another, the scales differing by
factors 1e-4 to 1e4; shapes: open field, corridor, object orbit, push-in toward a wall):
1. Transfer (core.parallax.transfer, not the add-on operator) of the reference move to the target scene's
   start pose in the three modes, with GeometryDepth probes (numpy z-buffer) of the reference's and the
   target's meshes as the depth sources.
2. Measure, independently of those probes: build both scenes in real Blender from the same meshes, key
   the cameras, and for every frame render a Cycles depth pass (tools/cycles_depth.py) through the
   camera; Zbar is the median depth of the pixels that see geometry, at the same resolution as the
   probe, and the camera centres are read back from Blender (float32 keyframes included). Realized
   Pi'_t = ||C'_t - C'_{t-1}|| / Zbar'_t; the reference's Pi_t is measured the same way in its scene.
3. Report PCE, bias and TransErr (core.metrics) per pair and mode, and the identity line of realized
   against reference Pi over all frames (log-log) with slope, intercept and R^2.
4. Keep Subject Framed (`run_subject`, not in --quick's pairs): the orbit pair transferred per frame with
   the target's side tower anchored where the orbit's centre is (core.framing); Pi measured as above,
   framing with Blender's world_to_camera_view on the keyed camera.
5. Depth statistics and strength (`run_statistics`): per-frame transfers with the smooth statistic on
   jump scenes (a pillar entering, a doorway, a foreground block) and on the pairs above, and with the
   strength dial, measured with Cycles with the same statistic (at 1x and 2x the probe's resolution).

The calibrated camera renders with the clip range the transfer scaled. The uncalibrated camera renders
with the target start camera's own clip range (the reference's would clip a small target scene away
entirely, which says nothing about its parallax); where it still sees nothing (it flew out of the
scene) its frames are counted as "no depth" and left out of its PCE.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
for folder in ("examples", "bench"):
    if str(REPO_ROOT / folder) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / folder))

import bpy  # noqa: E402
import scenes  # noqa: E402
from machine import machine_line  # noqa: E402
from parascale.core.geometry import GeometryDepth  # noqa: E402
from parascale.core.metrics import identity_line, parallax_consistency, translation_error  # noqa: E402
from parascale.core.parallax import MODES, transfer  # noqa: E402
from parascale.core.poses import Trajectory  # noqa: E402
from parascale.core.statistics import STATISTICS  # noqa: E402
from parascale.tools.cycles_depth import render_depth, statistic_depth  # noqa: E402

# Goals the benchmark must show (the acceptance criteria).
GOAL_PCE = 0.02
GOAL_FACTOR_VS_UNCALIBRATED = 100.0
# Keep Subject Framed: the subject within this fraction of the frame width of the reference's image position.
GOAL_FRAMING = 0.005
# The target's depth "varies along the path" (so one global scale cannot be right everywhere) when the
# per-frame scales spread by more than this in log terms.
DEPTH_VARIATION = 0.05

WIDTH, HEIGHT = 96, 54
# The resolution factor of the second, finer Cycles measurement of the calibrated move.
FINE = 2


@dataclass(frozen=True)
class Pair:
    """Reference shape/variant at ref_scale, target shape/variant at target_scale."""

    reference: str
    reference_variant: str
    reference_scale: float
    target: str
    target_variant: str
    target_scale: float

    @property
    def factor(self) -> float:
        return self.target_scale / self.reference_scale

    @property
    def label(self) -> str:
        return (f"{self.reference}-{self.reference_variant}@{self.reference_scale:g} -> "
                f"{self.target}-{self.target_variant}@{self.target_scale:g}")


FULL_PAIRS = [
    Pair("field", "a", 1e3, "field", "b", 1e-1),
    Pair("wall", "a", 1.0, "wall", "b", 1e-4),
    Pair("corridor", "a", 10.0, "corridor", "b", 1e-2),
    Pair("orbit", "a", 1e2, "orbit", "b", 1.0),
    Pair("wall", "a", 1.0, "wall", "b", 1e-1),
    Pair("wall", "a", 1e-1, "wall", "b", 1.0),
    Pair("orbit", "a", 1e-2, "orbit", "b", 1.0),
    Pair("corridor", "a", 1e-3, "corridor", "b", 1.0),
    Pair("field", "a", 1e-4, "field", "b", 1.0),
    Pair("orbit", "a", 1.0, "orbit", "b", 1e4),
    Pair("corridor", "a", 1e2, "wall", "b", 1e-1),
    Pair("field", "a", 1e-2, "orbit", "a", 1.0),
]
QUICK_PAIRS = [
    Pair("wall", "a", 1.0, "wall", "b", 1e-3),
    Pair("corridor", "a", 1e-2, "corridor", "b", 1.0),
    Pair("orbit", "a", 1e2, "orbit", "b", 1.0),
]


@dataclass
class ModeResult:
    mode: str
    pi_realized: np.ndarray          # Cycles-measured, NaN where the camera sees nothing
    pi_probe: np.ndarray             # what the transfer's own probe says it realized
    depth_cycles: np.ndarray
    depth_probe: np.ndarray
    pce: float
    bias: float
    worst: float                     # largest per-frame |ln(Pi'/Pi)|
    frames_missing: int
    trans_err: float
    scale_spread: float              # ln(max s / min s) of the transfer's scales
    pce_fine: float = float("nan")   # per-frame only: PCE measured at FINE x the probe's resolution
    # PCE with every frame's depth held at the target start pose's Cycles depth (defined even where the
    # camera has left the scene): how far off the move's scale is.
    pce_start_depth: float = float("nan")
    unconverged: int = 0             # steps whose per-frame fixed-point solve did not converge


@dataclass
class PairResult:
    pair: Pair
    pi_reference: np.ndarray
    depth_reference_cycles: np.ndarray
    depth_reference_probe: np.ndarray
    modes: dict[str, ModeResult] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def depth_varies(self) -> bool:
        return self.modes["per_frame"].scale_spread > DEPTH_VARIATION


def _camera_centres(scene: bpy.types.Scene, camera: bpy.types.Object, frames: range) -> np.ndarray:
    """The camera's world position at each frame, as Blender evaluates its (float32) keyframes."""
    centres = []
    for f in frames:  # one depsgraph evaluation per frame: Blender's API
        scene.frame_set(f)
        centres.append(np.array(camera.matrix_world.translation, dtype=np.float64))
    return np.array(centres)


@contextlib.contextmanager
def quiet_stdout():
    """Blender's renderer prints a line per saved file from C; keep the benchmark's output readable."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _cycles_depths(scene: bpy.types.Scene, camera: bpy.types.Object, frames: range,
                   oversample: int = 1, statistic: str = "median") -> np.ndarray:
    with quiet_stdout():
        return np.array([statistic_depth(render_depth(scene, camera, f, WIDTH * oversample, HEIGHT * oversample),
                                         statistic) for f in frames])


def _build(shot: scenes.Shot) -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scenes.add_mesh_object(shot.name, shot.mesh)
    scenes.set_render_size(scene, WIDTH, HEIGHT)
    return scene


def run_pair(pair: Pair, frames: int) -> PairResult:
    started = time.perf_counter()
    make = scenes.SHAPES
    reference = make[pair.reference](pair.reference_variant, frames, WIDTH, HEIGHT).scaled(pair.reference_scale)
    target = make[pair.target](pair.target_variant, frames, WIDTH, HEIGHT).scaled(pair.target_scale)
    probe_reference = GeometryDepth(reference.mesh.vertices, reference.mesh.triangles, resolution=WIDTH)
    probe_target = GeometryDepth(target.mesh.vertices, target.mesh.triangles, resolution=WIDTH)
    start = target.trajectory
    results = {mode: transfer(reference.trajectory, probe_reference, probe_target,
                              start_rotation=start.rotations[0], start_centre=start.centres[0], mode=mode)
               for mode in MODES}

    span = range(0, frames)
    scene = _build(reference)
    camera = scenes.add_camera("reference", reference.trajectory, frame_start=0)
    ref_centres = _camera_centres(scene, camera, span)
    ref_depth = _cycles_depths(scene, camera, span)
    ref_steps = np.linalg.norm(np.diff(ref_centres, axis=0), axis=1)
    pi_reference = ref_steps / ref_depth[1:]
    pi_reference_fine = ref_steps / _cycles_depths(scene, camera, span, FINE)[1:]
    out = PairResult(pair, pi_reference, ref_depth, results["per_frame"].depth_reference)

    scene = _build(target)
    for mode, result in results.items():
        trajectory: Trajectory = result.trajectory
        if mode == "uncalibrated":
            trajectory = trajectory.replace(clip_start=start.clip_start, clip_end=start.clip_end)
        camera = scenes.add_camera(mode, trajectory, frame_start=0)
        centres = _camera_centres(scene, camera, span)
        depth = _cycles_depths(scene, camera, span)
        steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pi_realized = steps / depth[1:]
        consistency = parallax_consistency(pi_reference, pi_realized)
        pce_fine = float("nan")
        if mode == "per_frame":
            # The same move measured at twice the probe's resolution on both sides: how much the figure
            # owes to the probe and the measurement sampling the very same pixels.
            pce_fine = parallax_consistency(pi_reference_fine,
                                            steps / _cycles_depths(scene, camera, span, FINE)[1:]).pce
        out.modes[mode] = ModeResult(
            mode=mode, pi_realized=pi_realized, pi_probe=result.pi_realized, depth_cycles=depth,
            depth_probe=result.depth_target, pce=consistency.pce, bias=consistency.bias,
            worst=abs(consistency.worst_log_ratio),
            frames_missing=consistency.frames_missing,
            trans_err=translation_error(centres, ref_centres),
            scale_spread=float(np.log(result.scale.max() / result.scale.min())),
            pce_fine=pce_fine,
            unconverged=int((~result.converged).sum()),
            pce_start_depth=parallax_consistency(
                pi_reference, steps / depth[0]).pce,
        )
    out.seconds = time.perf_counter() - started
    return out


@dataclass
class Verdict:
    pce_ok: bool
    factor_ok: bool
    global_ok: bool
    lines: list[str]


def verdict(results: list[PairResult]) -> Verdict:
    """Check the goals: per-frame PCE <= 0.02 on every pair; >= 100x lower than uncalibrated (where the
    uncalibrated camera still sees the scene); lower than global wherever the target depth varies."""
    pce = np.array([r.modes["per_frame"].pce for r in results])
    unc = np.array([r.modes["uncalibrated"].pce for r in results])
    glob = np.array([r.modes["global"].pce for r in results])
    varies = np.array([r.depth_varies for r in results])
    measured = np.isfinite(unc)
    factors = unc[measured] / pce[measured]
    unc_start = np.array([r.modes["uncalibrated"].pce_start_depth for r in results])
    factors_start = unc_start[~measured] / pce[~measured]
    pce_ok = bool(np.all(pce <= GOAL_PCE))
    factor_ok = bool(np.all(factors >= GOAL_FACTOR_VS_UNCALIBRATED)
                     and np.all(factors_start >= GOAL_FACTOR_VS_UNCALIBRATED))
    global_ok = bool(np.all(pce[varies] < glob[varies]))
    lines = [
        f"- Per-frame PCE <= {GOAL_PCE} on every pair: {'yes' if pce_ok else 'NO'} (max {_fmt(pce.max())}).",
        f"- At least {GOAL_FACTOR_VS_UNCALIBRATED:g}x lower than uncalibrated: {'yes' if factor_ok else 'NO'} "
        f"(smallest factor {factors.min() if factors.size else float('nan'):.3g}x over the {int(measured.sum())} "
        f"pairs where the uncalibrated camera still sees the scene; in the other {int((~measured).sum())} it "
        "leaves the scene at every frame, and its PCE against the target's start depth is "
        + (f"{unc_start[~measured].min():.2f} to {unc_start[~measured].max():.2f}, at least "
           f"{factors_start.min():.3g}x the per-frame PCE)." if (~measured).any() else "not needed)."),
        f"- Lower than global wherever the target's depth ratio varies along the path "
        f"(ln(max s / min s) > {DEPTH_VARIATION}): {'yes' if global_ok else 'NO'} "
        f"({int(varies.sum())} of {len(results)} pairs vary; per-frame/global PCE there: "
        + ", ".join(f"{_fmt(a)}/{b:.3f}" for a, b in zip(pce[varies], glob[varies], strict=True)) + ").",
    ]
    fine = np.array([r.modes["per_frame"].pce_fine for r in results])
    worst = np.array([r.modes["per_frame"].worst for r in results])
    unconverged = sum(r.modes["per_frame"].unconverged for r in results)
    lines.append(f"- Per-frame mode, worst single frame over all pairs: |ln(Pi'/Pi)| = {worst.max():.2e} "
                 f"({unconverged} of {sum(len(r.pi_reference) for r in results)} steps had a fixed-point solve "
                 "that did not converge: the median depth jumps across an edge there, and the transfer reports "
                 f"them); measured at {FINE}x the probe's resolution instead, PCE is at most {fine.max():.4f}.")
    return Verdict(pce_ok, factor_ok, global_ok, lines)


def _fmt(value: float, digits: int = 4) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}" if value == 0 or abs(value) >= 10 ** -(digits - 1) else f"{value:.1e}"


def table(results: list[PairResult]) -> list[str]:
    lines = ["| pair (reference -> target) | k | mode | PCE | bias | worst frame | TransErr | no depth | "
             f"ln(s max/min) | PCE at {FINE}x res | unconverged |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for mode in MODES:
            m = r.modes[mode]
            lines.append(f"| {r.pair.label} | {r.pair.factor:g} | {mode} | {_fmt(m.pce)} | {m.bias:.4g} | "
                         f"{_fmt(m.worst)} | {m.trans_err:.2e} | {m.frames_missing} | {m.scale_spread:.3f} | "
                         f"{_fmt(m.pce_fine)} | {m.unconverged if mode == 'per_frame' else '-'} |")
    return lines


def compact_table(results: list[PairResult]) -> list[str]:
    """One row per pair: PCE of each mode side by side, and the scale-blind TransErr of uncalibrated."""
    lines = ["| reference -> target | k | PCE per-frame | PCE global | PCE uncalibrated | TransErr uncalibrated | "
             f"PCE per-frame at {FINE}x res |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        m = r.modes
        unc = m["uncalibrated"]
        unc_pce = _fmt(unc.pce, 2) if np.isfinite(unc.pce) else f"leaves the scene ({unc.pce_start_depth:.2f} *)"
        lines.append(f"| {r.pair.label} | {r.pair.factor:g} | {_fmt(m['per_frame'].pce)} | {m['global'].pce:.3f} | "
                     f"{unc_pce} | {unc.trans_err:.1e} | {_fmt(m['per_frame'].pce_fine)} |")
    return lines


def probe_agreement(results: list[PairResult]) -> float:
    """Largest |ln(probe depth / Cycles depth)| over every calibrated frame: how closely the numpy
    z-buffer and Cycles agree on the statistic (they must measure the same thing)."""
    worst = [np.nanmax(np.abs(np.log(r.depth_reference_probe / r.depth_reference_cycles))) for r in results]
    for r in results:
        for mode in ("per_frame", "global"):
            m = r.modes[mode]
            with np.errstate(invalid="ignore", divide="ignore"):
                worst.append(np.nanmax(np.abs(np.log(m.depth_probe / m.depth_cycles))))
    return float(np.nanmax(worst))


def plot(results: list[PairResult], path: Path) -> dict[str, object]:
    """Identity-line plot (log-log) of realized against reference Pi over all frames, per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fits: dict[str, object] = {}
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=100)
    colours = {"per_frame": "tab:green", "global": "tab:blue", "uncalibrated": "tab:red"}
    x_all = np.concatenate([r.pi_reference for r in results])
    for mode in reversed(MODES):  # the calibrated points last, on top
        y = np.concatenate([r.modes[mode].pi_realized for r in results])
        keep = np.isfinite(y) & (y > 0)
        fit = identity_line(x_all[keep], y[keep]) if keep.sum() >= 2 else None
        fits[mode] = fit
        label = mode.replace("_", "-")
        if fit is not None:
            label += f": slope {fit.slope:.3f}, intercept {fit.intercept:.3f}, R² {fit.r_squared:.3f}"
        calibrated = mode == "per_frame"
        ax.scatter(x_all[keep], y[keep], s=16 if calibrated else 9, alpha=0.9 if calibrated else 0.6,
                   color=colours[mode], edgecolors="k" if calibrated else "none", linewidths=0.4,
                   label=label, zorder=3 if calibrated else 2)
    lo, hi = x_all.min() / 2, x_all.max() * 2
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("reference Π (Cycles depth, reference scene)")
    ax.set_ylabel("realized Π' (Cycles depth, target scene)")
    ax.set_title(f"Realized vs reference parallax, {len(results)} pairs, k = 1e-4 … 1e4")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return fits


def write_report(results: list[PairResult], out_dir: Path, command: str, seconds: float) -> tuple[str, Verdict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    fits = plot(results, out_dir / "fidelity.png")
    check = verdict(results)
    machine = machine_line()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    n_frames = len(results[0].pi_reference) + 1
    fit_lines = []
    for mode in MODES:
        fit = fits[mode]
        if fit is None:
            fit_lines.append(f"- {mode}: fewer than two measurable frames")
        else:
            fit_lines.append(f"- {mode}: slope {fit.slope:.4f}, intercept {fit.intercept:.4f}, "
                             f"R^2 {fit.r_squared:.4f} over {fit.points} frames")
    text = "\n".join([
        "# Fidelity benchmark",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}  ",
        f"Blender {bpy.app.version_string}; run {now}, {seconds:.0f} s.",
        "",
        f"{len(results)} reference/target pairs, {n_frames} frames each, k = target scale / reference scale. "
        "Transfer: core.parallax.transfer with GeometryDepth (numpy z-buffer, "
        f"{WIDTH} px) of the reference's and the target's meshes. Measurement: Cycles depth pass through each "
        f"camera at {WIDTH}x{HEIGHT}, 1 sample, median over pixels that see geometry; camera centres read "
        "back from Blender. PCE = mean |ln(Pi'/Pi)|, bias = exp(mean ln(Pi'/Pi)), worst frame = max "
        "|ln(Pi'/Pi)|, TransErr = Sim(3)-aligned mean distance / reference path length, no depth = frames "
        "where Cycles sees nothing (left out of PCE), ln(s max/min) = spread of the transfer's per-step scale, "
        f"PCE at {FINE}x res = the calibrated move measured with Cycles at {FINE * WIDTH}x{FINE * HEIGHT} on "
        "both sides (not the probe's pixels).",
        "",
        "## Goals",
        "",
        *check.lines,
        f"- Probe vs Cycles depth, largest |ln ratio| over all calibrated frames: "
        f"{probe_agreement(results):.2e}.",
        "",
        "## Identity line (log realized Pi against log reference Pi, all frames of all pairs)",
        "",
        *fit_lines,
        "",
        "![identity line](fidelity.png)",
        "",
        "## Per pair (measured with Cycles)",
        "",
        *compact_table(results),
        "",
        "\\* The uncalibrated camera sees nothing at any frame after the first: PCE with the depth held at the "
        "target start pose's (Cycles) depth.",
        "",
        "## Per pair and mode (measured with Cycles)",
        "",
        *table(results),
        "",
    ])
    (out_dir / "fidelity.md").write_text(text)
    return text, check


def run(pairs: list[Pair], frames: int, out_dir: Path, command: str,
        progress: bool = True) -> tuple[list[PairResult], Verdict]:
    started = time.perf_counter()
    results = []
    for i, pair in enumerate(pairs, 1):
        result = run_pair(pair, frames)
        results.append(result)
        if progress:
            pf, gl, un = (result.modes[m].pce for m in MODES)
            print(f"[{i}/{len(pairs)}] {pair.label} (k={pair.factor:g}): PCE per-frame {_fmt(pf)}, "
                  f"global {gl:.4f}, uncalibrated {_fmt(un)} ({result.seconds:.1f} s)", flush=True)
    _, check = write_report(results, out_dir, command, time.perf_counter() - started)
    return results, check


# Keep Subject Framed (core.framing): the orbit pair, the target's side tower kept where the orbit's centre is.
SUBJECT_PAIR = Pair("orbit", "a", 1e2, "orbit", "b", 1.0)
REFERENCE_SUBJECT = np.array([0.0, 0.0, 0.8])  # what the orbit looks at (scaled with the reference)
TARGET_SUBJECT = np.array([3.0, 0.3, 1.0])  # orbit-b's side tower, off the start view's centre


@dataclass
class SubjectResult:
    frames: int
    pce: float                       # per-frame, anchored, measured with Cycles
    worst: float
    unconverged: int
    framing_error: np.ndarray        # world_to_camera_view on the written camera, fraction of the width
    rotation_change: np.ndarray      # degrees, against the untouched rotation
    framing_error_untouched: np.ndarray  # the paper's transfer of the same pair (core projection)
    start_offset_deg: float          # the target subject's angle off the start view's axis


def _subject_image(scene: bpy.types.Scene, camera: bpy.types.Object, point: np.ndarray, span: range) -> np.ndarray:
    """Blender's own projection (world_to_camera_view) of a point through the camera at every frame, in
    fractions of the frame width (x) and of the width too for y (aspect applied)."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    out = []
    for f in span:
        scene.frame_set(f)
        x, y, _ = world_to_camera_view(scene, camera, Vector(point.tolist()))
        out.append((x, y * HEIGHT / WIDTH))
    return np.array(out)


def run_subject(frames: int) -> SubjectResult:
    """The subject row: SUBJECT_PAIR transferred per frame with the subject anchored, measured with Cycles
    (Pi) and with Blender's projection (framing) on the keyed camera."""
    from parascale.core.framing import subject_anchor

    pair = SUBJECT_PAIR
    reference = scenes.SHAPES[pair.reference](pair.reference_variant, frames, WIDTH, HEIGHT).scaled(
        pair.reference_scale)
    target = scenes.SHAPES[pair.target](pair.target_variant, frames, WIDTH, HEIGHT).scaled(pair.target_scale)
    reference_subject = REFERENCE_SUBJECT * pair.reference_scale
    target_subject = TARGET_SUBJECT * pair.target_scale
    probe_reference = GeometryDepth(reference.mesh.vertices, reference.mesh.triangles, resolution=WIDTH)
    probe_target = GeometryDepth(target.mesh.vertices, target.mesh.triangles, resolution=WIDTH)
    start = target.trajectory
    anchor = subject_anchor(reference.trajectory, reference_subject, target_subject, probe_target,
                            start.rotations[0], start.centres[0])
    result = anchor.framed(transfer(reference.trajectory, probe_reference, probe_target, start.rotations[0],
                                    start.centres[0], reorient=anchor))
    untouched = transfer(reference.trajectory, probe_reference, probe_target, start.rotations[0], start.centres[0])

    span = range(0, frames)
    scene = _build(reference)
    camera = scenes.add_camera("reference", reference.trajectory, frame_start=0)
    ref_steps = np.linalg.norm(np.diff(_camera_centres(scene, camera, span), axis=0), axis=1)
    pi_reference = ref_steps / _cycles_depths(scene, camera, span)[1:]
    seen = _subject_image(scene, camera, reference_subject, span)

    scene = _build(target)
    camera = scenes.add_camera("framed", result.trajectory, frame_start=0)
    steps = np.linalg.norm(np.diff(_camera_centres(scene, camera, span), axis=0), axis=1)
    consistency = parallax_consistency(pi_reference, steps / _cycles_depths(scene, camera, span)[1:])
    framed = _subject_image(scene, camera, target_subject, span)
    axis = -start.rotations[0][:, 2]
    offset = target_subject - start.centres[0]
    return SubjectResult(
        frames=frames, pce=consistency.pce, worst=abs(consistency.worst_log_ratio),
        unconverged=int((~result.converged).sum()), framing_error=np.linalg.norm(framed - seen, axis=1),
        rotation_change=result.framing.rotation_change_deg,
        framing_error_untouched=anchor.report(untouched.trajectory).framing_error,
        start_offset_deg=float(np.degrees(np.arccos(axis @ offset / np.linalg.norm(offset)))))


def subject_section(row: SubjectResult) -> list[str]:
    pair = SUBJECT_PAIR
    return [
        "## Keep Subject Framed (core.framing)",
        "",
        f"{pair.label}, {row.frames} frames, per-frame mode: the reference's subject is the point the orbit looks "
        f"at ({', '.join(f'{v:g}' for v in REFERENCE_SUBJECT * pair.reference_scale)}); the target's is "
        f"orbit-b's side tower ({', '.join(f'{v:g}' for v in TARGET_SUBJECT * pair.target_scale)}), "
        f"{row.start_offset_deg:.1f} deg off the start view's axis. Each rotation turned by the least angle that "
        "puts the tower where the reference's subject is; the target's Geometry depth measured along the turned "
        "view. Pi measured with Cycles as above; framing with Blender's own world_to_camera_view on the keyed "
        "camera (distance between the two image positions, fraction of the frame width).",
        "",
        "| transfer | PCE (Cycles) | worst frame | unconverged steps | framing error max | rotation change (deg) |",
        "|---|---:|---:|---:|---:|---|",
        f"| subject kept framed | {row.pce:.2g} | {row.worst:.2g} | {row.unconverged} | "
        f"{row.framing_error.max():.2g} | {row.rotation_change.min():.3g} .. {row.rotation_change.max():.3g} |",
        f"| rotation untouched (the paper's) | (the {pair.label} row above) | | | "
        f"{row.framing_error_untouched.max():.2g} | 0 |",
        "",
    ]


# Depth statistics and strength (issue 17): the same transfer and Cycles measurement, with the smooth depth
# statistic on both sides (and in the measurement), on scenes where the median jumps and on the pairs above,
# and with the strength dial.
JUMP_PAIRS = [
    Pair("field", "a", 1.0, "pillar", "a", 1e-2),
    Pair("field", "a", 10.0, "pillar", "b", 1.0),
    Pair("wall", "a", 1.0, "doorway", "a", 1e-2),
    Pair("wall", "a", 1.0, "doorway", "b", 10.0),
    Pair("field", "a", 1.0, "foreground", "a", 1e-2),
    Pair("field", "a", 1e2, "foreground", "b", 1.0),
]
# Every frame of a jump scene within this |ln(Pi' / (g Pi))|, measured with the statistic the transfer used.
GOAL_JUMP_FRAME = 0.05
STRENGTH_PAIRS = [*QUICK_PAIRS, FULL_PAIRS[0]]
STRENGTHS = (0.5, 2.0)
# (pair, g) with no fixed point: the orbit twice as strong swings out on an arc twice as wide, the untouched
# rotation looks past the object, and the depth grows as fast as the camera moves, so g x Pi cannot be
# reached (the transfer reports those frames as not converged). Shown, not counted in the goal.
STRENGTH_LIMITS = {(QUICK_PAIRS[2].label, 2.0)}


@dataclass
class StatisticRow:
    pair: Pair
    statistic: str
    strength: float
    pce: float                       # against strength x the reference's Pi, both measured with Cycles
    worst: float                     # largest per-frame |ln(Pi' / (g Pi))|
    worst_probe: float               # the same, as the transfer's own probe says (at the float64 poses)
    worst_fine: float                # the same, measured with Cycles at FINE x the probe's resolution (both sides)
    unconverged: int
    frames_missing: int
    jump: float                      # largest |ln| change of the target's Cycles depth between frames


def _shape(name: str, variant: str, frames: int) -> scenes.Shot:
    make = scenes.JUMP_SHAPES.get(name) or scenes.SHAPES[name]
    return make(variant, frames, WIDTH, HEIGHT)


def run_statistic_pair(pair: Pair, frames: int, statistic: str, strength: float = 1.0,
                       reference_cache: dict | None = None) -> StatisticRow:
    """One per-frame transfer with `statistic` on both sides and strength g, measured with Cycles with the
    same statistic: Pi' against g x Pi."""
    reference = _shape(pair.reference, pair.reference_variant, frames).scaled(pair.reference_scale)
    target = _shape(pair.target, pair.target_variant, frames).scaled(pair.target_scale)
    probe_reference = GeometryDepth(reference.mesh.vertices, reference.mesh.triangles, resolution=WIDTH,
                                    statistic=statistic)
    probe_target = GeometryDepth(target.mesh.vertices, target.mesh.triangles, resolution=WIDTH, statistic=statistic)
    start = target.trajectory
    result = transfer(reference.trajectory, probe_reference, probe_target, start.rotations[0], start.centres[0],
                      strength=strength)
    span = range(0, frames)
    key = (pair.reference, pair.reference_variant, pair.reference_scale, statistic, frames)
    cache = {} if reference_cache is None else reference_cache
    if key not in cache:
        scene = _build(reference)
        camera = scenes.add_camera("reference", reference.trajectory, frame_start=0)
        steps = np.linalg.norm(np.diff(_camera_centres(scene, camera, span), axis=0), axis=1)
        cache[key] = (steps / _cycles_depths(scene, camera, span, statistic=statistic)[1:],
                      steps / _cycles_depths(scene, camera, span, FINE, statistic)[1:])
    pi_reference, pi_reference_fine = cache[key]
    scene = _build(target)
    camera = scenes.add_camera("calibrated", result.trajectory, frame_start=0)
    centres = _camera_centres(scene, camera, span)
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    depth = _cycles_depths(scene, camera, span, statistic=statistic)
    with np.errstate(invalid="ignore", divide="ignore"):
        pi_realized = steps / depth[1:]
        pi_fine = steps / _cycles_depths(scene, camera, span, FINE, statistic)[1:]
        jump = float(np.nanmax(np.abs(np.diff(np.log(depth)))))
    consistency = parallax_consistency(strength * pi_reference, pi_realized)
    fine = parallax_consistency(strength * pi_reference_fine, pi_fine)
    probe_side = parallax_consistency(result.pi_target, result.pi_realized)
    return StatisticRow(pair, statistic, strength, consistency.pce, abs(consistency.worst_log_ratio),
                        abs(probe_side.worst_log_ratio), abs(fine.worst_log_ratio), int((~result.converged).sum()),
                        consistency.frames_missing, jump)


def run_statistics(frames: int, pairs: list[Pair], progress: bool = True) -> list[StatisticRow]:
    """The jump pairs with each statistic, `pairs` with the smooth one, and the strength pairs with each
    strength (median), all per frame."""
    cache: dict = {}
    jobs = ([(pair, statistic, 1.0) for pair in JUMP_PAIRS for statistic in STATISTICS]
            + [(pair, "smooth", 1.0) for pair in pairs]
            + [(pair, "median", g) for pair in STRENGTH_PAIRS for g in STRENGTHS]
            + [(JUMP_PAIRS[0], "smooth", g) for g in STRENGTHS])
    rows = []
    for pair, statistic, strength in jobs:
        row = run_statistic_pair(pair, frames, statistic, strength, cache)
        rows.append(row)
        if progress:
            print(f"[statistic] {pair.label} {statistic} g={strength:g}: PCE {_fmt(row.pce)}, worst frame "
                  f"{_fmt(row.worst)}, unconverged {row.unconverged}", flush=True)
    return rows


def statistics_verdict(rows: list[StatisticRow], pairs: list[Pair]) -> tuple[bool, list[str]]:
    jump_labels = {p.label for p in JUMP_PAIRS}
    smooth_jumps = [r for r in rows if r.pair.label in jump_labels and r.statistic == "smooth" and r.strength == 1]
    median_jumps = [r for r in rows if r.pair.label in jump_labels and r.statistic == "median"]
    smooth_pairs = [r for r in rows if r.pair in pairs and r.statistic == "smooth" and r.strength == 1]
    strength_rows = [r for r in rows if r.strength != 1 and (r.pair.label, r.strength) not in STRENGTH_LIMITS]
    limits = [r for r in rows if (r.pair.label, r.strength) in STRENGTH_LIMITS]
    jumps_ok = all(max(r.worst, r.worst_fine) <= GOAL_JUMP_FRAME and r.frames_missing == 0 for r in smooth_jumps)
    median_fails = sum(max(r.worst, r.worst_fine) > GOAL_JUMP_FRAME for r in median_jumps)
    pairs_ok = all(r.pce <= GOAL_PCE for r in smooth_pairs)
    strength_ok = all(r.pce <= GOAL_PCE and r.worst <= GOAL_PCE for r in strength_rows)
    lines = [
        f"- Jump scenes, smooth statistic: every frame within |ln| {GOAL_JUMP_FRAME} on every pair, measured at "
        f"the probe's resolution and at {FINE}x: {'yes' if jumps_ok else 'NO'} (worst frame over the "
        f"{len(smooth_jumps)} pairs {max(r.worst for r in smooth_jumps):.2g} at 1x, "
        f"{max(r.worst_fine for r in smooth_jumps):.2g} at {FINE}x). The median: a frame beyond "
        f"{GOAL_JUMP_FRAME} on {median_fails} of {len(median_jumps)} pairs (worst frame "
        f"{max(r.worst for r in median_jumps):.2g} at 1x, {max(r.worst_fine for r in median_jumps):.2g} at "
        f"{FINE}x: where the median sits on an occlusion edge, a finer measurement lands on the other side).",
        f"- The pairs above with the smooth statistic: PCE <= {GOAL_PCE} on every pair: "
        f"{'yes' if pairs_ok else 'NO'} (max {_fmt(max(r.pce for r in smooth_pairs))}).",
        f"- Strength g = {', '.join(f'{g:g}' for g in STRENGTHS)}: PCE against g x Pi and every frame within "
        f"{GOAL_PCE}: {'yes' if strength_ok else 'NO'} over {len(strength_rows)} runs (max PCE "
        f"{_fmt(max(r.pce for r in strength_rows))}, worst frame {_fmt(max(r.worst for r in strength_rows))}).",
    ]
    for r in limits:
        lines.append(f"- A limit, not counted above: {r.pair.label} at g = {r.strength:g}. Twice the orbit's steps "
                     "with the rotation untouched is an arc twice as wide that looks past the object; the target's "
                     "depth then grows as fast as the camera moves and no scale reaches g x Pi: the transfer reports "
                     f"{r.unconverged} steps as not converged (PCE {_fmt(r.pce)}).")
    return jumps_ok and pairs_ok and strength_ok, lines


def statistics_section(rows: list[StatisticRow], pairs: list[Pair], frames: int) -> tuple[bool, list[str]]:
    ok, lines = statistics_verdict(rows, pairs)
    table = ["| pair (reference -> target) | statistic | strength g | PCE vs g Pi | worst frame | worst frame "
             f"(probe) | worst frame at {FINE}x res | unconverged | largest depth change between frames |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        table.append(f"| {r.pair.label} | {r.statistic} | {r.strength:g} | {_fmt(r.pce)} | {_fmt(r.worst)} | "
                     f"{_fmt(r.worst_probe)} | {_fmt(r.worst_fine)} | {r.unconverged} | {r.jump:.3f} |")
    return ok, [
        "## Depth statistics and strength",
        "",
        f"Per-frame transfers, {frames} frames, the depth statistic (docs/method.md) the same in the reference "
        "probe, the target probe and the Cycles measurement (median, or smooth: the exp of a smoothly weighted "
        "mean of log depth over the central quantile band 0.2-0.8). Jump scenes: a pillar entering the view, a "
        "doorway growing, a foreground block leaving it (examples/scenes.py JUMP_SHAPES). Worst frame = largest "
        "|ln(Pi' / (g Pi))| measured with Cycles at float32 keyframes; (probe) = what the transfer's own probe "
        f"says at its float64 poses; at {FINE}x res = both sides measured with Cycles at {FINE * WIDTH}x"
        f"{FINE * HEIGHT} (not the probe's pixels: what a full-resolution render sees). Largest depth change = "
        "max |ln(Zbar'_t / Zbar'_(t-1))| of the Cycles depth at 1x.",
        "",
        *lines,
        "",
        *table,
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 pairs, 12 frames (smoke test)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench" / "results",
                        help="folder for fidelity.md and fidelity.png")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 20, quick 12)")
    args = parser.parse_args(argv)
    pairs = QUICK_PAIRS if args.quick else FULL_PAIRS
    frames = args.frames or (12 if args.quick else 20)
    command = ".venv/bin/python bench/fidelity.py" + (" --quick" if args.quick else "")
    print(f"ParaScale fidelity benchmark: {len(pairs)} pairs x {frames} frames; {machine_line()}", flush=True)
    _, check = run(pairs, frames, args.output, command)
    subject = run_subject(frames)
    print(f"[subject] {SUBJECT_PAIR.label}: PCE {subject.pce:.2g}, framing error at most "
          f"{subject.framing_error.max():.2g} of the width", flush=True)
    with open(args.output / "fidelity.md", "a") as report:
        report.write("\n".join(["", *subject_section(subject)]))
    statistic_rows = run_statistics(frames, pairs)
    statistics_ok, section = statistics_section(statistic_rows, pairs, frames)
    with open(args.output / "fidelity.md", "a") as report:
        report.write("\n".join(["", *section]))
    text = (args.output / "fidelity.md").read_text()
    print(text)
    print(f"wrote {args.output / 'fidelity.md'} and {args.output / 'fidelity.png'}")
    subject_ok = subject.pce <= GOAL_PCE and subject.framing_error.max() <= GOAL_FRAMING
    return 0 if (check.pce_ok and check.factor_ok and check.global_ok and subject_ok and statistics_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
