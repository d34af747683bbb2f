"""Suspect solve frames benchmark: does the add-on name the frames where a camera solve's Pi is wrong, over a
family of solves it has not been tuned on, and how often does it name good frames?

`.venv/bin/python bench/suspect_frames.py` writes bench/results/suspect_frames.md and prints it with the
machine and date (about 4 min at 320x180, 12 at 640x360). `--cache DIR` keeps the solved data, `--reuse`
only re-reads it, `--resolution 640x360` renders at that size.

Clips (tests/footage.py: synthetic footage of a textured box field, solved headless by Blender's camera
solver; `SEEDS` and `HELD_OUT` box fields x the four camera paths of tests/footage.py, 30 frames):
- "partial": features detected at the first frame only, as an impatient user does. The tracks are lost one
  by one; Blender solves as far as they reach, and the last frames rest on a handful of tracks.
- "sparse": features detected at the first and middle frames, three times as far apart as usual: few
  tracks, every frame solved from few.
- "dense": detected at four frames at the usual spacing: a good solve, where every suspect is a false
  alarm unless its Pi is off.

Truth per solved frame t: the error of the Pi the solve gives, |ln(Pi_solve / Pi_true)|, with
Pi = |C_t - C_{t-1}| / (median depth of the bundles in view at t): the solve's cameras and bundles against
the true cameras and each bundle's true point (its markers triangulated from the true cameras), so a scale
drift of the solve cancels as it does in the transfer. A frame is "bad" when that error exceeds `BAD`
(8%, the size of the errors issue 18 reports) and "good" below `GOOD` (3%); the add-on's suspects
(parascale_blender.tracking.solve_suspects, what the operator and the panel use) are compared with both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
for folder in ("tests", "bench"):
    if str(REPO_ROOT / folder) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / folder))

from footage_statistic import footage_options, pi_errors, publish  # noqa: E402
from machine import machine_line  # noqa: E402

N_FRAMES = 30
SEEDS = (7, 13, 19, 37)
# Box fields rendered after the step-trend check (core/solve_check.py) was chosen on SEEDS: they check it.
HELD_OUT = (41, 43)
# (config, clip frames where features are detected, detection spacing in pixels at 320 wide)
CONFIGS = (
    ("partial", (1,), 10),
    ("sparse", (1, 16), 30),
    ("dense", (1, 8, 16, 23), 10),
)
# The hand-held walk checks that a real bend in the steps (shake) is not taken for the solve's noise.
PATHS = ("truck", "walk", "orbit", "handheld")
BAD, GOOD = 0.08, 0.03


def collect(cache: Path, name: str, path: str, seed: int, detect: tuple[int, ...], spacing: int,
            resolution: tuple[int, int]) -> Path:
    """Render and solve one clip; the solve's arrays, its suspects and the truth go to cache/<name>.npz."""
    from parascale.tools.blender_install import use_throwaway_user_folder

    use_throwaway_user_folder()
    import bpy
    import footage as F
    from parascale.parascale_blender.tracking import (
        precision_inputs,
        read_solve,
        solve_precision,
        solve_suspects,
        suspect_check_inputs,
    )

    F.WIDTH, F.HEIGHT = resolution
    F.DETECT_SPACING = spacing
    out = cache / f"{name}.npz"
    try:
        result = F.solve_footage(cache / name, seed=seed, n_frames=N_FRAMES, path=path, detect_frames=detect)
    except RuntimeError as error:  # no keyframe pair solves: nothing to check
        np.savez(out, failed=np.array(str(error).splitlines()[0]))
        return out
    clip = bpy.data.movieclips[0]
    solve = read_solve(clip)
    suspects = solve_suspects(solve)
    # What solve_suspects and solve_precision take, kept so that --reuse can compute them again after a change
    # to core/solve_check.py.
    check_frames, check_centres, check_solved, reobserved, check_errors = suspect_check_inputs(solve)
    observed, focal_px, pixel_error = precision_inputs(clip, solve)[3:]
    precision = solve_precision(clip, solve)
    rotations, centres = F.ground_truth_trajectory(N_FRAMES, path)
    reasons = np.array(["; ".join(suspects.reasons[int(f)]) for f in suspects.frames], dtype=str)
    np.savez(out, rotations=rotations, centres=centres, points=F.ground_truth_points(clip, N_FRAMES, path),
             solved_frames=solve.solved_frames, solved_cameras=solve.solved_cameras, solved_bundles=solve.bundles,
             suspects=suspects.frames, reasons=reasons, fx=F.LENS_MM / F.SENSOR_MM * F.WIDTH, width=F.WIDTH,
             height=F.HEIGHT, solve_error=result.solve_error, bundles=result.bundles, check_frames=check_frames,
             check_centres=check_centres, check_solved=check_solved, check_reobserved=reobserved,
             check_errors=check_errors, observed=observed, focal_px=focal_px, pixel_error=pixel_error,
             precision=precision.precision)
    return out


def suspects_of(data: np.lib.npyio.NpzFile, step_trend: bool = True) -> set[int]:
    """The suspects core.solve_check names now, from what the add-on's solve_suspects gave it at collection;
    without the step-trend sign when `step_trend` is False (the other signs alone, for comparison)."""
    from parascale.core.solve_check import STEP_TREND, suspect_frames

    suspects = suspect_frames(data["check_frames"], data["check_centres"], data["check_solved"],
                              data["check_reobserved"], data["check_errors"],
                              step_trend=STEP_TREND if step_trend else np.inf)
    return set(suspects.frames.astype(int).tolist())


def precision_of(data: np.lib.npyio.NpzFile) -> np.ndarray:
    """core.solve_check.step_precision now, per solved frame, from what solve_precision gave it at collection."""
    from parascale.core.solve_check import step_precision

    return step_precision(data["solved_frames"], data["solved_cameras"], data["solved_bundles"], data["observed"],
                          float(data["focal_px"]), float(data["pixel_error"]))


def summarize(cache: Path, names: list[str], command: str) -> str:
    first = next(np.load(cache / f"{n}.npz") for n in names if "failed" not in np.load(cache / f"{n}.npz"))
    size = f"{int(first['width'])}x{int(first['height'])}"
    lines = ["# Suspect solve frames: named against the truth\n",
             f"Machine: {machine_line()}. Command: `{command}`.\n",
             f"{N_FRAMES}-frame clips of {size} synthetic footage solved by Blender's camera solver headless. Per "
             f"solved frame, the error of the solve's Pi against the truth, |ln(Pi_solve / Pi_true)|: a frame is "
             f"bad above {BAD:.0%}, good below {GOOD:.0%}. Suspects are the add-on's "
             "(parascale_blender.tracking.solve_suspects).\n",
             "| clip | solve error | frames solved | bad frames (Pi error) | suspects | bad not named | good named | "
             "Pi error, median: realized / the solve's precision |",
             "|---|---|---|---|---|---|---|---|"]
    totals: dict[str, np.ndarray] = {}
    realized: dict[str, list[np.ndarray]] = {}
    predicted: dict[str, list[np.ndarray]] = {}
    for name in names:
        data = np.load(cache / f"{name}.npz")
        if "failed" in data:
            lines.append(f"| {name} | did not solve: {data['failed']} | | | | | | |")
            continue
        frames, error = pi_errors(data)
        suspects = suspects_of(data)
        bad = frames[error > BAD]
        good = frames[error < GOOD]
        missed = [int(f) for f in bad if f not in suspects]
        false = [int(f) for f in good if f in suspects]
        solved = data["solved_frames"]
        config = name.split("-")[0]
        if int(name.split("-")[-1]) in HELD_OUT:
            config += ", held out"
        before = suspects_of(data, step_trend=False)
        precision = precision_of(data)[np.searchsorted(data["solved_frames"], frames)]
        realized.setdefault(config, []).append(error)
        predicted.setdefault(config, []).append(precision)
        totals.setdefault(config, np.zeros(6, int))
        totals[config] += [bad.size, len(missed), good.size, len(false),
                           sum(int(f) not in before for f in bad), sum(int(f) in before for f in good)]
        bad_text = ", ".join(f"{int(f)} ({e:.0%})" for f, e in zip(frames, error, strict=True) if e > BAD) or "none"
        lines.append(f"| {name} | {float(data['solve_error']):.2f} px, {int(data['bundles'])} bundles | "
                     f"{int(solved.min())}-{int(solved.max())} | {bad_text} | "
                     f"{', '.join(map(str, sorted(suspects))) or 'none'} | {', '.join(map(str, missed)) or 'none'} | "
                     f"{', '.join(map(str, false)) or 'none'} | {np.median(error):.1%} / "
                     f"{np.nanmedian(precision):.1%} |")
    lines += ["", "Totals; the last two columns are the other signs alone (core/solve_check.py without the step "
              "trend):", "",
              "| clips | bad frames | bad not named | good frames | good named | bad not named, without the trend | "
              "good named, without the trend |", "|---|---|---|---|---|---|---|"]
    for config, (bad, missed, good, false, missed_before, false_before) in totals.items():
        lines.append(f"| {config} | {bad} | {missed} | {good} | {false} ({false / max(good, 1):.1%}) | "
                     f"{missed_before} | {false_before} ({false_before / max(good, 1):.1%}) |")
    lines += ["", "The solve's precision (core.solve_check.step_precision, what the panel and the report show) "
              "against the realized Pi error, per frame: median of each, and the median of their ratio.", "",
              "| clips | realized | precision | realized / precision |", "|---|---|---|---|"]
    for config in totals:
        error, precision = np.concatenate(realized[config]), np.concatenate(predicted[config])
        known = np.isfinite(precision)
        lines.append(f"| {config} | {np.median(error):.1%} | {np.median(precision[known]):.1%} | "
                     f"{np.median(error[known] / precision[known]):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    args, size, cache, output, command = footage_options(__doc__.split("\n")[0], "suspect_frames")
    names = []
    for config, detect, spacing in CONFIGS:
        for path in PATHS:
            for seed in SEEDS + HELD_OUT:
                name = f"{config}-{path}-{seed}"
                names.append(name)
                if not args.reuse:
                    collect(cache, name, path, seed, detect, spacing, size)
    return publish(output, summarize(cache, names, command))


if __name__ == "__main__":
    sys.exit(main())
