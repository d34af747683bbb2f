"""Benchmark of the geometry depth source (core/geometry.py): milliseconds per pose for terrain meshes of
10k, 100k and 1M triangles at the default probe resolution, peak memory (tracemalloc), and two baselines
measured in the same run on the same meshes and poses:

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
from parascale.core.poses import Intrinsics, Trajectory  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
SIZES = {"10k": 71, "100k": 224, "1M": 708}  # grid quads per side: 2 n^2 triangles


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per pose (best kept)")
    parser.add_argument("--naive-pixels", type=int, default=12, help="pixels timed for the naive baseline")
    parser.add_argument("--cycles-poses", type=int, default=3, help="poses rendered by the Cycles baseline")
    parser.add_argument("--no-cycles", action="store_true", help="skip the Cycles baseline")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "geometry.md")
    args = parser.parse_args()

    views = orbit_views()
    width, height = probe_size(views.width, views.height, DEFAULT_RESOLUTION)
    rows = []
    for label, n in SIZES.items():
        vertices, triangles = terrain(n)
        tracemalloc.start()
        start = time.perf_counter()
        probe = GeometryDepth(vertices, triangles)
        build_s = time.perf_counter() - start
        build_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        stored = sum(a.nbytes for a in vars(probe).values() if isinstance(a, np.ndarray))
        probe(views.take(0))  # warm up
        timed = np.array([best_ms(lambda i=i, p=probe: p(views.take(i)), args.repeats) for i in range(len(views))])
        per_pose, cpu_per_pose = timed[:, 0], timed[:, 1]
        tracemalloc.start()
        depth = probe(views)
        call_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        naive = naive_ms_per_pose(vertices, triangles, views, args.naive_pixels)
        cycles, agreement = (float("nan"), float("nan")) if args.no_cycles else cycles_ms_per_pose(
            vertices, triangles, views, args.cycles_poses, depth)
        ms, cpu_ms = float(np.median(per_pose)), float(np.median(cpu_per_pose))
        rows.append((label, probe.triangle_count, ms, cpu_ms, float(np.max(per_pose)), build_s, stored / 2**20,
                     build_peak / 2**20, call_peak / 2**20, naive, naive / ms, cycles, cycles / ms,
                     float(np.nanmedian(depth)), agreement))
        print(f"{label}: {ms:.2f} ms/pose ({cpu_ms:.2f} CPU ms)", flush=True)

    lines = [
        "# Geometry depth source benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
        f"- machine: {machine()}",
        f"- probe: default resolution {DEFAULT_RESOLUTION} px ({width} x {height} for a {WIDTH} x {HEIGHT} "
        f"frame); terrain heightfield 40 x 40 units, {len(views)} orbit poses at 25 units, 35 mm",
        f"- ms/pose: median over poses of the best of {args.repeats} runs (wall clock, and CPU time of this "
        "process, which the other jobs on the shared cores disturb less); max = slowest pose (wall); "
        "numpy single-threaded; ratios use the wall clock",
        f"- naive: Python loop of per-pixel numpy ray casts against all triangles, {args.naive_pixels} "
        f"pixels timed and scaled to {width * height} pixels",
        "- Cycles: real Cycles Z pass through bpy at the probe's size, 1 sample, median of "
        f"{args.cycles_poses} poses (scene sync + BVH + render + EXR write/read)",
        "- median depth: median over the poses of the probe's depth; the last column compares the probe "
        "with the Cycles median on the Cycles poses",
        "- memory: stored = arrays the probe keeps; peaks from tracemalloc (build, and one call on all poses)",
        "",
        "| mesh | triangles | ms/pose | CPU ms/pose | max ms | build s | stored MiB | build peak MiB | call peak MiB "
        "| naive ms/pose | x faster than naive | Cycles ms/pose | x faster than Cycles | median depth "
        "| max rel. diff. to Cycles median |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.1f} "
                     f"| {r[7]:.1f} | {r[8]:.1f} | {r[9]:.0f} | {r[10]:.0f} | {r[11]:.0f} | {r[12]:.1f} "
                     f"| {r[13]:.4f} | {r[14]:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
