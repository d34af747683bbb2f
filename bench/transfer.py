"""Transfer throughput (frames per second) for a long trajectory with a fixed or a bounds target depth,
in the three modes. Run: `.venv/bin/python bench/transfer.py [--frames N]`; writes bench/results/transfer.md."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402
from parascale.core.depth import BoundsDepth, FixedDepth  # noqa: E402
from parascale.core.parallax import transfer  # noqa: E402
from parascale.core.poses import Trajectory, look_at  # noqa: E402


def long_sweep(n: int) -> Trajectory:
    t = np.linspace(0, 1, n)
    centres = np.stack([200 * np.cos(3 * t), 200 * np.sin(3 * t), 40 + 10 * np.sin(17 * t)], axis=1)
    return Trajectory(look_at(centres, np.zeros(3)), centres, lens=35.0)


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    reference = long_sweep(args.frames)
    reference_depth = BoundsDepth([0, 0, 0])
    targets = {"fixed 0.05": FixedDepth(0.05), "bounds": BoundsDepth([0.001, -0.002, 0.0])}
    start_centre = reference.centres[0] * 1e-3
    rows = []
    for name, target in targets.items():
        for mode in ("per_frame", "global", "uncalibrated"):
            seconds = best_of(args.repeats, lambda t=target, m=mode: transfer(
                reference, reference_depth, t, reference.rotations[0], start_centre, mode=m))
            rows.append((name, mode, seconds, args.frames / seconds))
    lines = [f"Transfer throughput, {args.frames:,} frames, best of {args.repeats} "
             f"(`.venv/bin/python bench/transfer.py`); {machine_line()}", "",
             "| target depth | mode | seconds | frames/s |", "|---|---|---:|---:|"]
    lines += [f"| {n} | {m} | {s:.3f} | {fps:,.0f} |" for n, m, s, fps in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).resolve().parent / "results" / "transfer.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
