"""Batch calibration throughput: clips per second for a folder of clips on 1 process and on 2 processes.

    .venv/bin/python bench/batch.py [--clips 200] [--frames 81] [--points 4000] [--jobs 1 2]

Each clip is a RealEstate10K file of a different dolly/truck move; the reference depth is a number and
the target depth a point cloud (the per-frame fixed-point solve against PointsDepth, the costly case).
Output: RealEstate10K at the wan21 preset (81 frames). Prints a markdown table with the machine and date
and writes it to bench/results/batch.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO.parent))  # run from a checkout without installing: `import parascale`

from parascale.core.batch import TransferOptions, run_batch  # noqa: E402
from parascale.core.formats import write_trajectory  # noqa: E402
from parascale.core.poses import Intrinsics, Trajectory, look_at  # noqa: E402


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def make_clips(folder: Path, count: int, frames: int) -> None:
    rng = np.random.default_rng(0)
    for index in range(count):
        start = np.array([rng.uniform(-1, 1), -5.0, rng.uniform(0.5, 2.0)])
        move = rng.normal(size=3) * [1.0, 0.5, 0.3]
        u = np.linspace(0.0, 1.0, frames)[:, None]
        eye = start + u * move
        target = np.array([0.0, 0.0, 1.0])
        trajectory = Trajectory(look_at(eye, np.tile(target, (frames, 1))), eye, fps=16.0, lens=35.0,
                                intrinsics=Intrinsics(width=832, height=480))
        write_trajectory(folder / f"clip{index:04d}.txt", trajectory, sidecar=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--points", type=int, default=4000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "batch.md")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="parascale-bench-batch-") as tmp:
        folder = Path(tmp)
        clips = folder / "in"
        clips.mkdir()
        make_clips(clips, args.clips, args.frames)
        cloud = np.random.default_rng(1).normal(size=(args.points, 3)) * [20.0, 20.0, 5.0] + [0.0, 300.0, 0.0]
        np.save(folder / "target.npy", cloud)
        options = TransferOptions(ref_depth="5", target_depth=str(folder / "target.npy"), preset="wan21")
        for jobs in args.jobs:
            load = os.getloadavg()[0]
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            report = run_batch(clips, folder / f"out{jobs}", options, jobs=jobs, progress=sys.stderr)
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu_before
            if report.failures:
                print(report.text(), file=sys.stderr)
                return 1
            rows.append((jobs, seconds, args.clips / seconds, load, 1000.0 * cpu / args.clips))
    base = rows[0][2]
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Batch calibration throughput (`bench/batch.py`)",
        "",
        f"- Machine: {cpu_model()}, nproc {os.cpu_count()} (shared with other jobs: see load average)",
        f"- Date: {date}; Python {platform.python_version()}, numpy {np.__version__}",
        f"- Work: {args.clips} clips x {args.frames} frames, RealEstate10K in, wan21 preset out, per-frame mode, "
        f"reference depth 5, target depth a cloud of {args.points} points (PointsDepth fixed-point solve)",
        "",
        "| processes | seconds | clips/s | speed-up | CPU ms per clip (all processes) | load avg (1 min) at start |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {jobs} | {seconds:.2f} | {rate:.1f} | {rate / base:.2f}x | {cpu_ms:.0f} | {load:.2f} |"
              for jobs, seconds, rate, load, cpu_ms in rows]
    lines += ["", "CPU ms per clip is user + system time of this process and its workers (spawn start-up "
              "included): it does not depend on how busy the shared machine is, the wall-clock rate does."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
