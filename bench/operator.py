"""Benchmark of the Transfer Camera Move operator, installed from the built extension as users install it.

    .venv/bin/python bench/operator.py [--skip-geometry] [--frames 1000 10000]

- the operator end to end (bpy.ops.parascale.transfer_camera_move) for 1,000 and 10,000 frames with a
  BOUNDS target, and the time of its phases measured separately (reading the reference frame by frame,
  the numpy transfer, writing the camera);
- 1,000 frames with GEOMETRY depth on both sides, a 1M-triangle target (core/geometry_embree.py: Embree
  where its wheel is installed, else core/geometry.py), against Embree alone on the same rays;
- keyframe writing: the bulk path (keyframe_points.add + foreach_set) against a keyframe_insert loop for
  the same 7 channels (location, Euler rotation, lens), in the same run.
Prints a markdown table with the machine and date, and writes it to bench/results/operator.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from parascale.tools.blender_install import use_throwaway_user_folder  # noqa: E402

use_throwaway_user_folder("parascale-bench-user-")  # never touch a real Blender profile

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from machine import machine_line  # noqa: E402
from parascale.tools.blender_install import ensure_enabled, install_extension, module_name  # noqa: E402
from parascale.tools.blender_scenes import add_box, add_camera, new_collection  # noqa: E402

RESULTS = BENCH_DIR / "results" / "operator.md"


def installed(name: str):
    return importlib.import_module(f"{module_name()}.parascale_blender.{name}")


def reset() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    ensure_enabled()
    return bpy.context.scene


def keyed_reference(scene: bpy.types.Scene, n_frames: int) -> bpy.types.Object:
    """A reference camera drifting past a box at the origin over frames 1..n, keyed at every frame (bulk)."""
    compat = installed("compat")
    camera_writing = installed("camera_writing")
    from parascale.core.poses import look_at

    u = np.linspace(0.0, 1.0, n_frames)
    centres = np.stack([-5 + 10 * u, -20 + 5 * u, 5 + np.sin(6 * u)], axis=1)
    euler = camera_writing.compatible_euler(camera_writing.matrix_to_euler(look_at(centres, np.zeros((n_frames, 3)))))
    camera = add_camera("Ref", centres[0], clip_end=1000.0)
    frames = np.arange(1, n_frames + 1)
    for axis in range(3):
        compat.write_keyframes(compat.ensure_fcurve(camera, "location", axis), frames, centres[:, axis])
        compat.write_keyframes(compat.ensure_fcurve(camera, "rotation_euler", axis), frames, euler[:, axis])
    scene.frame_start, scene.frame_end = 1, n_frames
    return camera


def terrain(n: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """A wavy square grid `width` wide: 2 (n-1)^2 triangles."""
    x, y = np.meshgrid(np.linspace(-width / 2, width / 2, n), np.linspace(-width / 2, width / 2, n))
    z = 0.05 * width * np.sin(x * 200 / width) * np.cos(y * 150 / width)
    vertices = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    index = np.arange(n * n).reshape(n, n)
    a, b, c, d = (index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, 1:].ravel(), index[1:, :-1].ravel())
    return vertices, np.concatenate([np.stack([a, b, c], axis=1), np.stack([a, c, d], axis=1)])


def add_triangle_mesh(name: str, vertices: np.ndarray, triangles: np.ndarray, collection) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
    mesh.loops.add(triangles.size)
    mesh.loops.foreach_set("vertex_index", triangles.astype(np.int32).ravel())
    mesh.polygons.add(len(triangles))
    mesh.polygons.foreach_set("loop_start", np.arange(0, triangles.size, 3, dtype=np.int32))
    loop_total = mesh.polygons.bl_rna.properties.get("loop_total")
    if loop_total is not None and not loop_total.is_readonly:  # 4.x needs it; 5.0 derives it from loop_start
        mesh.polygons.foreach_set("loop_total", np.full(len(triangles), 3, dtype=np.int32))
    mesh.update()
    mesh.validate()
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    return obj


def setup_transfer(n_frames: int, target: str) -> bpy.types.Scene:
    scene = reset()
    reference = keyed_reference(scene, n_frames)
    reference_set = new_collection("ReferenceSet")
    add_box("Subject", (0.0, 0.0, 0.0), (4.0, 4.0, 4.0), reference_set)
    target_set = new_collection("TargetSet")
    if target in ("GEOMETRY", "ANIMATED", "DEFORMING"):
        # Geometry on both sides: a 100k-triangle ground under the reference's subject, and the target.
        vertices, triangles = terrain(225, 60.0)
        add_triangle_mesh("Ground", vertices - [0.0, 0.0, 3.0], triangles, reference_set)
        vertices, triangles = terrain(708, 0.01)  # 999,698 triangles
        add_triangle_mesh("Terrain", vertices, triangles, target_set)
        if target in ("ANIMATED", "DEFORMING"):
            # And a 49,298-triangle sheet sliding across the terrain over the shot: moved by its location
            # (rigid: built once, placed per frame) or by a shape key (deforming: read and built per frame).
            vertices, triangles = terrain(158, 0.004)
            sheet = add_triangle_mesh("Sheet", vertices + [0.0, 0.002, 0.001], triangles, target_set)
            sheet.rotation_euler = (1.2, 0.0, 0.0)
            if target == "ANIMATED":
                for frame, x in ((1, -0.004), (n_frames, 0.004)):
                    sheet.location = (x, 0.0, 0.0)
                    sheet.keyframe_insert("location", frame=frame)
            else:
                sheet.location = (-0.004, 0.0, 0.0)
                sheet.shape_key_add(name="Basis")
                slid = sheet.shape_key_add(name="Slid")
                shifted = (vertices + [0.008, 0.002, 0.001]).ravel()
                slid.data.foreach_set("co", shifted.astype(np.float32))
                for frame, value in ((1, 0.0), (n_frames, 1.0)):
                    slid.value = value
                    slid.keyframe_insert("value", frame=frame)
    else:
        add_box("Miniature", (0.0, 0.0, 0.0), (0.002, 0.002, 0.002), target_set)
    start = add_camera("Start", (-0.0025, -0.01, 0.005), (0.0, 0.0, 0.0), clip_start=1e-5, clip_end=1.0)
    settings = scene.parascale
    settings.reference_camera, settings.reference_collection = reference, reference_set
    settings.reference_source = "GEOMETRY" if target in ("GEOMETRY", "ANIMATED", "DEFORMING") else "BOUNDS"
    target = "GEOMETRY" if target in ("ANIMATED", "DEFORMING") else target
    settings.target_start, settings.target_source, settings.target_collection = start, target, target_set
    return scene


def triangle_count(collection) -> int:
    total = 0
    for obj in collection.all_objects:
        obj.data.calc_loop_triangles()
        total += len(obj.data.loop_triangles)
    return total


def solved_pce(record) -> float:
    """The solve's own PCE: its float64 centres against the depths it measured there (the record's PCE is
    the written camera's, whose float32 keyframes round a small scene's steps)."""
    metrics = importlib.import_module(f"{module_name()}.core.metrics")
    pi = np.linalg.norm(np.diff(record.centres, axis=0), axis=1) / record.depth_target[1:]
    return metrics.parallax_consistency(record.pi_reference, pi).pce


def bench_operator(n_frames: int, target: str) -> list[tuple[str, str, str]]:
    scene = setup_transfer(n_frames, target)
    label = f"{n_frames:,} frames, {target} target"
    if target in ("GEOMETRY", "ANIMATED", "DEFORMING"):
        label += f" ({triangle_count(scene.parascale.target_collection):,} triangles)"
    if target == "ANIMATED":
        label += ", 49,298 of them moving rigidly (location keys)"
    if target == "DEFORMING":
        label += ", 49,298 of them deforming (a shape key)"
    start = time.perf_counter()
    result = bpy.ops.parascale.transfer_camera_move()
    total = time.perf_counter() - start
    assert result == {"FINISHED"}, result
    record = installed("transfer_record").load(bpy.data.objects["Ref.ParaScale"])
    rows = [(f"operator end to end: {label}", f"{total:.3f} s",
             f"{1e3 * total / n_frames:.3f} ms/frame; PCE {record.pce:.2g} as written (float32 keyframes), "
             f"{solved_pce(record):.2g} as solved")]
    if target in ("ANIMATED", "DEFORMING"):  # the phases are those of the still terrain's row
        return rows

    # Phases, measured on the same scene.
    scene_reading = installed("scene_reading")
    settings = scene.parascale
    frames = scene_reading.scene_frame_range(scene, settings)
    start = time.perf_counter()
    samples = scene_reading.sample_cameras(scene, [settings.reference_camera, settings.target_start], frames)
    read = time.perf_counter() - start
    rows.append((f"  read the reference (frame_set + evaluated depsgraph): {label}", f"{read:.3f} s",
                 f"{1e6 * read / n_frames:.0f} us/frame"))
    # The installed add-on's own core (the repository's `parascale.core` classes are different objects).
    transfer = importlib.import_module(f"{module_name()}.core.parallax").transfer
    data = settings.reference_camera.data
    trajectory = samples[0].trajectory(scene_reading.scene_intrinsics(scene, data), 24.0, data.clip_start,
                                       data.clip_end)
    depth_sources = installed("depth_sources")
    with scene_reading.preserved_frame(scene):
        scene.frame_set(1)
        reference_probe = depth_sources.reference_depth_probe(scene, settings, trajectory, samples[0])
        target_probe = depth_sources.target_depth_probe(scene, settings, samples[1])
    if target == "GEOMETRY":
        backend = importlib.import_module(f"{module_name()}.core.geometry_embree")
        depth = importlib.import_module(f"{module_name()}.core.depth")
        start = time.perf_counter()
        vertices, triangles = scene_reading.read_collection_mesh(scene, settings.target_collection)
        read_mesh = time.perf_counter() - start
        rows.append((f"  read the target mesh (evaluated, world space): {label}", f"{read_mesh:.3f} s", ""))
        start = time.perf_counter()
        probe = backend.geometry_depth(vertices, triangles, resolution=settings.geometry_resolution)
        build = time.perf_counter() - start
        rows.append((f"  build the target's geometry probe: {label}", f"{build:.3f} s",
                     f"{probe.describe()}; {settings.geometry_resolution} px along the longer side"))
        # The poses the solve measures from: the calibrated camera's, in the target scene.
        written = scene_reading.read_camera_trajectory(scene, bpy.data.objects["Ref.ParaScale"], frames)
        views = depth.Views.of(written).take(np.linspace(0, n_frames - 1, 20).astype(int))
        probe(views.take(0))  # Embree builds its BVH at the first cast
        start = time.perf_counter()
        probe(views)
        per_view = (time.perf_counter() - start) / len(views)
        rows.append((f"  one target probe evaluation (mean of 20 views): {label}", f"{1e3 * per_view:.2f} ms",
                     f"end to end = {total / n_frames / per_view:.1f} evaluations per frame"))
        if isinstance(probe, backend.EmbreeGeometryDepth):
            # The anchor: Embree alone (embreex's cast of the same rays, no ray setup, no median).
            from geometry import raw_embree_ms_per_pose

            anchor = raw_embree_ms_per_pose(probe, views, repeats=1) / 1e3
            rows.append((f"  Embree alone, the same rays (median of 20 views): {label}", f"{1e3 * anchor:.2f} ms",
                         f"the operator takes {total / n_frames / anchor:.1f}x this per transferred frame"))
    else:
        start = time.perf_counter()
        output = transfer(trajectory, reference_probe, target_probe, samples[1].matrices[0, :3, :3],
                          samples[1].matrices[0, :3, 3]).trajectory
        core = time.perf_counter() - start
        rows.append((f"  core transfer (numpy, per-frame mode): {label}", f"{core:.4f} s",
                     f"{1e6 * core / n_frames:.1f} us/frame"))
        start = time.perf_counter()
        installed("camera_writing").write_camera(scene, output, "Bench.Written", template=data)
        write = time.perf_counter() - start
        rows.append((f"  write the camera (6 channels, bulk): {label}", f"{write:.3f} s",
                     f"{1e6 * write / n_frames:.1f} us/frame"))
    return rows


def bench_keyframes(n_frames: int) -> list[tuple[str, str, str]]:
    """The same 7 channels of n frames written in bulk and with keyframe_insert."""
    scene = reset()
    compat = installed("compat")
    frames = np.arange(1, n_frames + 1)
    values = np.random.default_rng(0).normal(size=(7, n_frames))
    bulk = add_camera("Bulk")
    start = time.perf_counter()
    for axis in range(3):
        compat.write_keyframes(compat.ensure_fcurve(bulk, "location", axis), frames, values[axis])
        compat.write_keyframes(compat.ensure_fcurve(bulk, "rotation_euler", axis), frames, values[3 + axis])
    compat.write_keyframes(compat.ensure_fcurve(bulk.data, "lens", 0), frames, 30 + values[6])
    t_bulk = time.perf_counter() - start

    loop = add_camera("Loop")
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        loop.location = values[:3, i]
        loop.rotation_euler = values[3:6, i]
        loop.data.lens = 30 + values[6, i]
        loop.keyframe_insert("location", frame=int(frame))
        loop.keyframe_insert("rotation_euler", frame=int(frame))
        loop.data.keyframe_insert("lens", frame=int(frame))
    t_loop = time.perf_counter() - start
    # Same keys either way.
    got = compat.read_keyframes(compat.find_fcurve(loop, "location", 1))
    want = compat.read_keyframes(compat.find_fcurve(bulk, "location", 1))
    assert np.allclose(got[0], want[0]) and np.allclose(got[1], want[1], atol=1e-6)
    del scene
    return [(f"keyframes, 7 channels x {n_frames:,}: foreach_set (bulk)", f"{t_bulk:.4f} s",
             f"{t_loop / t_bulk:.0f}x faster than keyframe_insert"),
            (f"keyframes, 7 channels x {n_frames:,}: keyframe_insert loop", f"{t_loop:.3f} s", "")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--geometry-frames", type=int, default=1000)
    parser.add_argument("--animated-frames", type=int, default=250)
    parser.add_argument("--skip-geometry", action="store_true")
    args = parser.parse_args(argv)
    install_extension()
    rows: list[tuple[str, str, str]] = []
    for n in args.frames:
        rows += bench_operator(n, "BOUNDS")
    for n in args.frames:
        rows += bench_keyframes(n)
    if not args.skip_geometry:
        rows += bench_operator(args.geometry_frames, "GEOMETRY")
        # The same, with part of the target moving: read and built at every frame the solve measures.
        rows += bench_operator(args.animated_frames, "ANIMATED")
        rows += bench_operator(args.animated_frames, "DEFORMING")
    lines = ["# Transfer Camera Move operator", "",
             f"Machine: {machine_line()}; Blender {bpy.app.version_string} (bpy module, background)", "",
             "Command: `.venv/bin/python bench/operator.py`", "",
             "| what | time | note |", "|---|---:|---|"]
    lines += [f"| {what} | {t} | {note} |" for what, t, note in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
