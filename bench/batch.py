"""Batch calibration throughput: clips per second for a manifest of clips on the local engine (1 and 2
processes) and on Ray (a local instance with as many CPUs as the widest local run), side by side.

    .venv/bin/python bench/batch.py [--clips 200] [--frames 81] [--points 4000] [--jobs 1 2] [--no-ray]

Each clip is a RealEstate10K file of a different dolly/truck move with its own per-frame reference
depth file (a manifest row per clip, as for a dataset); the target depth is a point cloud (the per-frame
fixed-point solve against PointsDepth, the costly case). Output: RealEstate10K at the wan21 preset (81
frames). The 1-process local run is the anchor of the same run. Ray's per-clip overhead is measured
apart, as the wall time per task of 1000 no-op tasks through the same engine (submission, scheduling,
result transfer); Ray's start-up is timed apart too.
Prints a markdown table with the machine and date and writes it to bench/results/batch.md.
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

import json  # noqa: E402

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


def make_clips(folder: Path, count: int, frames: int) -> Path:
    """The clips, each with its own per-frame reference depth file, and their manifest."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        start = np.array([rng.uniform(-1, 1), -5.0, rng.uniform(0.5, 2.0)])
        move = rng.normal(size=3) * [1.0, 0.5, 0.3]
        u = np.linspace(0.0, 1.0, frames)[:, None]
        eye = start + u * move
        target = np.array([0.0, 0.0, 1.0])
        trajectory = Trajectory(look_at(eye, np.tile(target, (frames, 1))), eye, fps=16.0, lens=35.0,
                                intrinsics=Intrinsics(width=832, height=480))
        write_trajectory(folder / f"clip{index:04d}.txt", trajectory, sidecar=False)
        np.savetxt(folder / f"clip{index:04d}.depth.txt", np.full(frames, 5.0 + 0.01 * index))
        rows.append({"reference": f"clip{index:04d}.txt", "ref_depth": f"clip{index:04d}.depth.txt"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


def no_op(task: int) -> int:
    return task


def ray_task_overhead(tasks: int = 1000) -> float:
    """Milliseconds of wall time per no-op task through RayEngine (per worker: times the CPUs)."""
    from parascale.core.engines import RayEngine

    with RayEngine() as engine:
        results: list[int] = []
        started = time.perf_counter()
        engine.run(no_op, range(tasks), results.append)
        seconds = time.perf_counter() - started
        return 1000.0 * seconds * engine.workers() / tasks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--points", type=int, default=4000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-ray", action="store_true", help="local engine only")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "batch.md")
    args = parser.parse_args()

    rows = []
    ray_startup = ray_overhead = None
    with tempfile.TemporaryDirectory(prefix="parascale-bench-batch-") as tmp:
        folder = Path(tmp)
        clips = folder / "in"
        clips.mkdir()
        manifest = make_clips(clips, args.clips, args.frames)
        cloud = np.random.default_rng(1).normal(size=(args.points, 3)) * [20.0, 20.0, 5.0] + [0.0, 300.0, 0.0]
        np.save(folder / "target.npy", cloud)
        options = TransferOptions(ref_depth=None, target_depth=str(folder / "target.npy"), preset="wan21")

        def run(engine: str, jobs: int) -> bool:
            load = os.getloadavg()[0]
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            report = run_batch(manifest, folder / f"out-{engine}{jobs}", options, jobs=jobs, progress=sys.stderr,
                               engine=engine)
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu_before
            if report.failures:
                print(report.text(), file=sys.stderr)
                return False
            cpu_ms = 1000.0 * cpu / args.clips if engine == "local" else None  # Ray's workers are not our children
            rows.append((engine, report.jobs, seconds, args.clips / seconds, load, cpu_ms))
            return True

        for jobs in args.jobs:
            if not run("local", jobs):
                return 1
        if not args.no_ray:
            import logging

            import ray

            started = time.perf_counter()
            ray.init(num_cpus=max(args.jobs), include_dashboard=False, logging_level=logging.WARNING)
            ray_startup = time.perf_counter() - started
            try:
                if not run("ray", max(args.jobs)):
                    return 1
                ray_overhead = ray_task_overhead()
            finally:
                ray.shutdown()
    base = rows[0][3]
    local_at = {jobs: seconds for engine, jobs, seconds, *_ in rows if engine == "local"}
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Batch calibration throughput (`bench/batch.py`)",
        "",
        f"- Machine: {cpu_model()}, nproc {os.cpu_count()} (shared with other jobs: see load average)",
        f"- Date: {date}; Python {platform.python_version()}, numpy {np.__version__}"
        + ("" if args.no_ray else f", Ray {__import__('ray').__version__}"),
        f"- Work: a manifest of {args.clips} clips x {args.frames} frames, RealEstate10K in with a per-frame "
        f"reference depth file each, wan21 preset out, per-frame mode, target depth a cloud of {args.points} "
        "points (PointsDepth fixed-point solve)",
        "",
        "| engine | workers | seconds | clips/s | vs 1 local process | CPU ms per clip (all processes) "
        "| load avg (1 min) at start |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for engine, jobs, seconds, rate, load, cpu_ms in rows:
        lines.append(f"| {engine} | {jobs} | {seconds:.2f} | {rate:.1f} | {rate / base:.2f}x | "
                     f"{'-' if cpu_ms is None else f'{cpu_ms:.0f}'} | {load:.2f} |")
    lines += ["", "CPU ms per clip is user + system time of this process and its workers (spawn start-up "
              "included): it does not depend on how busy the shared machine is, the wall-clock rate does. "
              "Ray's workers are not children of this process, so its row has no CPU figure."]
    if ray_startup is not None:
        lines += ["", f"Ray's overhead per clip: {ray_overhead:.1f} ms of a worker's time per task (1000 no-op "
                  f"tasks through the same engine, wall time x CPUs / tasks), against "
                  f"{1000.0 * local_at[1] / args.clips:.0f} ms per clip of the 1-process local run. Starting "
                  f"the local Ray instance took {ray_startup:.1f} s (not in the Ray row)."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
