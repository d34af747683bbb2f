"""Benchmark of the geometry depth source, both backends (core/geometry_embree.py on Embree, core/geometry.py
in numpy): milliseconds per pose for terrain meshes of 10k, 100k, 1M and 5M triangles at the default probe
resolution, memory, and three baselines measured in the same run on the same meshes and poses:

- Embree alone: embreex's own ray cast of exactly the probe's rays (the anchor the Embree probe is held to);
- naive: a Python loop over pixels, each pixel-centre ray cast against every triangle with numpy
  (Moller-Trumbore); timed on a subsample of pixels and scaled to the full probe image;
- Cycles: a real Cycles Z pass of the same mesh at the probe's size, 1 sample, through bpy
  (tools/cycles_depth.py; includes Blender's scene sync and BVH build, as a user's render would).

Run: .venv/bin/python bench/geometry.py  (prints a markdown table, also written to
bench/results/geometry.md). Timings are the median over poses of the best of a few repeats, because the
machine is shared.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
import tracemalloc
from pathlib import Path

# The probe's matrix products are tiny: BLAS threads only contend for the 2 shared cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from machine import machine_line  # noqa: E402
from parascale.core.depth import Views  # noqa: E402
from parascale.core.geometry import DEFAULT_RESOLUTION, GeometryDepth, probe_size  # noqa: E402
from parascale.core.geometry_embree import EmbreeGeometryDepth  # noqa: E402
from parascale.core.poses import Intrinsics, Trajectory  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
SIZES = {"10k": 71, "100k": 224, "1M": 708, "5M": 1582}  # grid quads per side: 2 n^2 triangles


def terrain(n: int, size: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """A (2 n^2)-triangle heightfield, 2*size wide, with hills that occlude."""
    x, y = np.meshgrid(np.linspace(-size, size, n + 1), np.linspace(-size, size, n + 1))
    z = 0.8 * np.sin(0.7 * x) * np.cos(0.5 * y) + 0.3 * np.sin(1.9 * x + 1.3 * y)
    vertices = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    first = (np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]).reshape(-1)
    triangles = np.concatenate([np.stack([first, first + 1, first + n + 2], axis=1),
                                np.stack([first, first + n + 2, first + n + 1], axis=1)])
    return vertices, triangles


def orbit_views(count: int = 8) -> Views:
    """Poses orbiting the terrain at 25 units, 8 up, looking at its centre (35 mm, 16:9)."""
    angle = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    eyes = np.stack([25 * np.cos(angle), 25 * np.sin(angle), np.full(count, 8.0)], axis=1)
    forward = -eyes / np.linalg.norm(eyes, axis=1, keepdims=True)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    rotations = np.stack([right, np.cross(right, forward), -forward], axis=2)
    return Views.of(Trajectory(rotations, eyes, lens=35.0, intrinsics=Intrinsics(width=WIDTH, height=HEIGHT)))


def best_ms(call, repeats: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds of the fastest of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    wall, cpu = min(times)
    return 1e3 * wall, 1e3 * cpu


def naive_ms_per_pose(vertices: np.ndarray, triangles: np.ndarray, views: Views, pixels: int) -> float:
    """Python loop over `pixels` sampled pixel centres of view 0, each ray against every triangle;
    scaled to the whole probe image."""
    width, height = probe_size(views.width, views.height, DEFAULT_RESOLUTION)
    fx, fy, cx, cy = views.pixel_intrinsics[0] * [width / views.width, height / views.height,
                                                  width / views.width, height / views.height]
    rng = np.random.default_rng(0)
    picks = rng.choice(width * height, size=pixels, replace=False)
    start = time.perf_counter()
    corners = (vertices[triangles] - views.centres[0]) @ views.rotations[0]
    p0, e1, e2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    setup = time.perf_counter() - start
    start = time.perf_counter()
    for pick in picks:
        ray = np.array([(pick % width + 0.5 - cx) / fx, -(pick // width + 0.5 - cy) / fy, -1.0])
        pvec = np.cross(ray, e2)
        det = np.einsum("ij,ij->i", e1, pvec)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            bu = np.einsum("ij,ij->i", -p0, pvec) * inv
            qvec = np.cross(-p0, e1)
            bv = (qvec @ ray) * inv
            depth = np.einsum("ij,ij->i", e2, qvec) * inv
        hit = (bu >= 0) & (bv >= 0) & (bu + bv <= 1) & (depth > 0)
        _ = depth[hit].min() if np.any(hit) else np.inf
    per_pixel = (time.perf_counter() - start) / pixels
    return 1e3 * (setup + per_pixel * width * height)


def cycles_ms_per_pose(vertices: np.ndarray, triangles: np.ndarray, views: Views, poses: int,
                       probe_depths: np.ndarray) -> tuple[float, float]:
    """A real Cycles Z pass at the probe's size, 1 sample, per pose: (median ms of `poses` poses, largest
    relative difference between the Cycles median depth and the probe's on them)."""
    import bpy
    from mathutils import Matrix
    from parascale.tools.cycles_depth import median_depth, render_depth

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mesh = bpy.data.meshes.new("terrain")
    mesh.vertices.add(vertices.shape[0])
    mesh.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
    mesh.loops.add(triangles.size)
    mesh.loops.foreach_set("vertex_index", triangles.astype(np.int32).ravel())
    mesh.polygons.add(triangles.shape[0])
    mesh.polygons.foreach_set("loop_start", np.arange(0, triangles.size, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(triangles.shape[0], 3, dtype=np.int32))
    mesh.update()
    scene.collection.objects.link(bpy.data.objects.new("terrain", mesh))
    camera_data = bpy.data.cameras.new("camera")
    camera_data.lens, camera_data.sensor_width, camera_data.clip_start = 35.0, 36.0, 0.01
    camera = bpy.data.objects.new("camera", camera_data)
    scene.collection.objects.link(camera)
    width, height = probe_size(views.width, views.height, DEFAULT_RESOLUTION)
    times, differences = [], []
    for i in range(poses):
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = views.rotations[i], views.centres[i]
        camera.matrix_world = Matrix(matrix.tolist())
        start = time.perf_counter()
        depth = render_depth(scene, camera, 1, width, height)
        times.append(time.perf_counter() - start)
        differences.append(abs(probe_depths[i] / median_depth(depth) - 1.0))
    return 1e3 * float(np.median(times)), float(np.max(differences))


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{machine_line()}, numpy {np.__version__}, load average {load} (shared machine)"


def rss_mib() -> float:
    """Resident memory of this process now (Embree's allocations are not seen by tracemalloc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def raw_embree_ms_per_pose(probe: EmbreeGeometryDepth, views: Views, repeats: int) -> float:
    """The anchor: Embree alone (embreex's scene.run) on exactly the probe's rays, per pose, best of
    `repeats`, median over poses; no ray setup, no median."""
    times = []
    for i in range(len(views)):
        origins, directions, _, _ = probe._rays(views, i)
        origins, directions = origins.astype(np.float32), directions.astype(np.float32)
        times.append(best_ms(lambda o=origins, d=directions: probe._scene.run(o, d, query="DISTANCE"), repeats)[0])
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per pose (best kept)")
    parser.add_argument("--naive-pixels", type=int, default=12, help="pixels timed for the naive baseline")
    parser.add_argument("--cycles-poses", type=int, default=3, help="poses rendered by the Cycles baseline")
    parser.add_argument("--no-cycles", action="store_true", help="skip the Cycles baseline")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "geometry.md")
    args = parser.parse_args()

    views = orbit_views()
    width, height = probe_size(views.width, views.height, DEFAULT_RESOLUTION)
    rows = []
    for label in args.sizes:
        vertices, triangles = terrain(SIZES[label])
        # Embree first, while the process is small: its memory is the rise of the resident size.
        before = rss_mib()
        start = time.perf_counter()
        fast = EmbreeGeometryDepth(vertices, triangles)
        fast(views.take(0))  # Embree builds its BVH at the first cast: part of the build
        fast_build = time.perf_counter() - start
        fast_mib = rss_mib() - before
        fast_ms = float(np.median([best_ms(lambda i=i, p=fast: p(views.take(i)), args.repeats)[0]
                                   for i in range(len(views))]))
        raw_ms = raw_embree_ms_per_pose(fast, views, args.repeats)
        start = time.perf_counter()
        fast_depth = fast(views)
        fast_batched_ms = 1e3 * (time.perf_counter() - start) / len(views)

        tracemalloc.start()
        start = time.perf_counter()
        probe = GeometryDepth(vertices, triangles)
        build_s = time.perf_counter() - start
        build_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        stored = sum(a.nbytes for a in vars(probe).values() if isinstance(a, np.ndarray))
        probe(views.take(0))  # warm up
        timed = np.array([best_ms(lambda i=i, p=probe: p(views.take(i)), args.repeats) for i in range(len(views))])
        per_pose = timed[:, 0]
        tracemalloc.start()
        depth = probe(views)
        call_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del probe
        naive = naive_ms_per_pose(vertices, triangles, views, args.naive_pixels)
        cycles, agreement = (float("nan"), float("nan")) if args.no_cycles else cycles_ms_per_pose(
            vertices, triangles, views, args.cycles_poses, depth)
        ms = float(np.median(per_pose))
        rows.append({
            "mesh": label, "triangles": fast.triangle_count, "raw": raw_ms, "fast": fast_ms,
            "fast_batched": fast_batched_ms, "numpy": ms, "numpy_max": float(np.max(per_pose)),
            "fast_build": fast_build, "fast_mib": fast_mib, "numpy_build": build_s, "stored": stored / 2**20,
            "build_peak": build_peak / 2**20, "call_peak": call_peak / 2**20, "naive": naive, "cycles": cycles,
            "median": float(np.nanmedian(depth)), "cycles_diff": agreement,
            "backends_diff": float(np.max(np.abs(fast_depth / depth - 1.0))),
        })
        print(f"{label}: Embree probe {fast_ms:.2f} ms/pose (Embree alone {raw_ms:.2f}), numpy {ms:.2f}", flush=True)

    lines = [
        "# Geometry depth source benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
        f"- machine: {machine()}",
        f"- probe: default resolution {DEFAULT_RESOLUTION} px ({width} x {height} for a {WIDTH} x {HEIGHT} "
        f"frame); terrain heightfield 40 x 40 units, {len(views)} orbit poses at 25 units, 35 mm",
        f"- ms/pose: median over poses of the best of {args.repeats} runs, one pose per call (wall clock); "
        "batched = all poses in one call; numpy single-threaded",
        "- Embree alone: embreex's scene.run on exactly the probe's rays (the anchor, same run, same poses); "
        "Embree probe = core/geometry_embree.py (rays, the cast, the median); numpy = core/geometry.py",
        "- Embree build: the scene and its BVH (built at the first cast); memory: Embree = rise of the resident "
        "size over that build (its allocations are outside Python; small meshes are within the allocator's "
        "noise); "
        "numpy stored = arrays the probe keeps, peaks from tracemalloc (build, one call on all poses)",
        f"- naive: Python loop of per-pixel numpy ray casts against all triangles, {args.naive_pixels} "
        f"pixels timed and scaled to {width * height} pixels",
        "- Cycles: real Cycles Z pass through bpy at the probe's size, 1 sample, median of "
        f"{args.cycles_poses} poses (scene sync + BVH + render + EXR write/read); the last columns compare "
        "the numpy probe's median with Cycles' and with the Embree probe's",
        "",
        "| mesh | triangles | Embree alone ms/pose | Embree probe ms/pose | probe / Embree alone | batched ms/pose "
        "| numpy ms/pose | numpy max ms | Embree build s | Embree MiB (bytes/triangle) | numpy build s "
        "| numpy stored MiB | numpy build peak MiB | numpy call peak MiB | naive ms/pose | Cycles ms/pose "
        "| median depth | numpy vs Cycles | numpy vs Embree |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mesh']} | {r['triangles']} | {r['raw']:.2f} | {r['fast']:.2f} | {r['fast'] / r['raw']:.2f} "
            f"| {r['fast_batched']:.2f} | {r['numpy']:.2f} | {r['numpy_max']:.2f} | {r['fast_build']:.2f} "
            f"| {r['fast_mib']:.0f} ({r['fast_mib'] * 2**20 / r['triangles']:.0f}) | {r['numpy_build']:.2f} "
            f"| {r['stored']:.1f} | {r['build_peak']:.1f} | {r['call_peak']:.1f} | {r['naive']:.0f} "
            f"| {r['cycles']:.0f} | {r['median']:.4f} | {r['cycles_diff']:.1e} | {r['backends_diff']:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
