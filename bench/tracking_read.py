"""Benchmark of the tracking reads (parascale_blender/tracking.py) on large solved clips: do they need progress
feedback in the UI (issue 13: "long exports ... tracking reads give the same feedback where they take more
than a second")?

    .venv/bin/python bench/tracking_read.py [--sizes 200x250 2000x1000 5000x1000] [--repeat 3]

Each size TRACKSxFRAMES is a clip built with the Python API (tools.blender_scenes.solved_tracking_clip:
40 tracks solved by Blender's own solver, copied and pasted up to TRACKS), worst case for the read: every
track has a marker on every frame and a bundle. A camera follows the solve. Timed, median of --repeat runs:
- `read_solve`: the clip's solved cameras, bundles and every marker of every bundle track (bpy foreach_get),
  and the longest of its steps as Transfer Camera Move runs them in the UI (read_solve_steps, a step per
  tracking.TRACK_CHUNK tracks);
- `tracking_depth_probe`: what Transfer Camera Move does for a TRACKING reference (the read, then in one
  step the bundles in the world at every frame, the check that the camera follows the solve, the marker
  mask with Markers Only on and the depth at every frame), from the reference camera's path (read frame by
  frame before, as the operator's progress steps do: timed as well);
- the probe's depth at every frame (the transfer's first solve step measures the reference at all frames);
- `bundle_counts` without a path: the Tracking Reference panel's summary (computed in its draw, cached).
Prints a markdown table with the machine and date, and writes it to bench/results/tracking_read.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from machine import machine_line  # noqa: E402
from parascale.core.depth import Views  # noqa: E402
from parascale.parascale_blender import tracking  # noqa: E402
from parascale.parascale_blender.scene_reading import read_camera_trajectory  # noqa: E402
from parascale.tools.blender_scenes import solved_tracking_clip  # noqa: E402

RESULTS = BENCH_DIR / "results" / "tracking_read.md"


def timed(call, repeat: int) -> tuple[float, object]:
    """Median seconds of `repeat` calls, and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def longest_step(steps) -> float:
    """The longest time between two steps of a stepped read (what one timer event of the modal run costs)."""
    longest, start = 0.0, time.perf_counter()
    while True:
        try:
            next(steps)
        except StopIteration:
            return max(longest, time.perf_counter() - start)
        now = time.perf_counter()
        longest, start = max(longest, now - start), now


def measure(n_tracks: int, n_frames: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="parascale-tracking-bench-") as folder:
        start = time.perf_counter()
        bpy.ops.wm.read_factory_settings(use_empty=True)
        clip, camera = solved_tracking_clip(n_tracks, n_frames, Path(folder))
        built = time.perf_counter() - start
        scene = bpy.context.scene
        settings = SimpleNamespace(tracking_clip=clip, tracking_object="", reference_camera=camera,
                                   tracking_min_bundles=8, tracking_markers_only=True)
        markers = sum(len(t.markers) for t in clip.tracking.tracks)
        read, solve = timed(lambda: tracking.read_solve(clip), repeat)
        longest = max(timed(lambda: longest_step(tracking.read_solve_steps(clip)), 1)[1] for _ in range(repeat))
        frames = np.arange(1, n_frames + 1)
        sampled, trajectory = timed(lambda: read_camera_trajectory(scene, camera, frames), 1)
        probe_seconds, probe = timed(lambda: tracking.tracking_depth_probe(scene, settings, trajectory), repeat)
        after_read, _ = timed(lambda: tracking.tracking_depth_probe(scene, settings, trajectory, solve=solve), repeat)
        views = Views.of(trajectory)
        depth_seconds, depths = timed(lambda: probe(views), repeat)
        panel, (_, counts) = timed(lambda: tracking.bundle_counts(scene, settings), repeat)
        assert solve.bundles.shape[0] == n_tracks and np.isfinite(depths).all() and counts.min() >= 8
    return {"tracks": n_tracks, "frames": n_frames, "markers": markers, "built": built, "read": read,
            "longest": longest, "after_read": after_read,
            "sampled": sampled, "probe": probe_seconds, "depth": depth_seconds, "panel": panel}


def table(rows: list[dict[str, float]], repeat: int) -> str:
    lines = [
        "# Tracking reads on large clips",
        "",
        f"Machine: {machine_line()}. Command: `.venv/bin/python bench/tracking_read.py`. Every track has a "
        f"marker at every frame and a bundle (the worst case for the read); seconds, median of {repeat}.",
        "",
        "| tracks x frames | markers | read_solve | its longest step (read_solve_steps) | tracking_depth_probe | "
        "of which after the read (one step) | the probe's depth at every frame (one step) | panel summary "
        "(bundle_counts) | camera sampled at every frame | clip built and solved |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['tracks']:,} x {r['frames']:,} | {r['markers']:,} | {r['read']:.3f} | {r['longest']:.3f} | "
                     f"{r['probe']:.3f} | {r['after_read']:.3f} | {r['depth']:.3f} | {r['panel']:.3f} | "
                     f"{r['sampled']:.2f} | {r['built']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["200x250", "2000x1000", "5000x1000"],
                        help="TRACKSxFRAMES clips to build and read")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        n_tracks, n_frames = (int(v) for v in size.lower().split("x"))
        rows.append(measure(n_tracks, n_frames, args.repeat))
        print(rows[-1], flush=True)
    text = table(rows, args.repeat)
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
