"""The built-in example, end to end: a camera sweeping past a star cluster thousands of units across is
transferred onto a desk whose objects are a few centimetres across, by the installed add-on, in its
three modes.

`make demo` runs `.venv/bin/python examples/demo.py` (options: `--output DIR`, default out/demo). Steps:
1. Build the ParaScale extension zip with Blender's own extension command line (bundled in the bpy
   wheel) and install it into a temporary Blender user folder with Install from Disk's operator
   (`extensions.package_install_files`), as users do; the user's real Blender profile is never touched.
2. Build the scene: collection "Galaxy" (400 stars in a cluster ~4000 units across) with the animated
   reference camera "GalaxyCam", collection "Desk" (a mug, books, a pencil cup on a desk) with the
   still camera "DeskCam" that frames it (the start of the transferred move).
3. Run the installed add-on's operator `parascale.transfer_camera_move` headlessly in the modes
   UNCALIBRATED, GLOBAL and PER_FRAME (Geometry depth on both sides). Each run's camera is kept
   ("GalaxyCam.Uncalibrated", "GalaxyCam.Global", "GalaxyCam.ParaScale").
4. Write into the output folder: parascale_demo.blend (every camera), poses/ (the calibrated camera in
   every preset of core.formats), pi_per_frame.png (Pi per frame: reference, calibrated, global,
   uncalibrated), the side-by-side preview when the add-on provides it, summary.json and summary.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "examples") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "examples"))

from parascale.tools.blender_install import use_throwaway_user_folder  # noqa: E402

if "bpy" not in sys.modules:
    # Blender reads its user folder when bpy is imported: point it at a throw-away one first, so the
    # extension is installed there and never into the user's real profile.
    use_throwaway_user_folder("parascale-demo-user-")

import bpy  # noqa: E402
import numpy as np  # noqa: E402
import scenes  # noqa: E402
from parascale.core.metrics import parallax_consistency, translation_error  # noqa: E402
from parascale.tools.blender_install import ensure_enabled, install_extension, module_name  # noqa: E402

FRAMES = 48
WIDTH, HEIGHT = 128, 72
# The preview: an MP4 of all 48 frames, three Workbench panels of 640x360 each, and a contact sheet of 3.
PREVIEW_WIDTH, PREVIEW_HEIGHT, PREVIEW_SHEET_FRAMES = 640, 360, 3
# The galaxy sits far from the desk (which stays at the origin, where float32 is finest), below the far
# clip of every desk-scale camera and outside the desk camera's view.
GALAXY_OFFSET = np.array([0.0, -1.0e5, 0.0])
# Modes in the order they run; the calibrated one last, so it is the camera the add-on calls its own.
RUNS = (("UNCALIBRATED", "GalaxyCam.Uncalibrated"), ("GLOBAL", "GalaxyCam.Global"),
        ("PER_FRAME", "GalaxyCam.ParaScale"))


class Progress:
    def __init__(self, steps: int):
        self.steps, self.step, self.started = steps, 0, time.perf_counter()

    def __call__(self, message: str) -> None:
        self.step += 1
        print(f"[{self.step}/{self.steps} {time.perf_counter() - self.started:5.1f}s] {message}", flush=True)


def build_scene(collection_of: dict[str, object]) -> tuple[object, object]:
    """The galaxy (reference) and the desk (target) in one scene; returns (GalaxyCam, DeskCam)."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, FRAMES
    scene.render.fps = 24
    scenes.set_render_size(scene, WIDTH, HEIGHT)
    galaxy = scenes.galaxy(frames=FRAMES, width=WIDTH, height=HEIGHT).moved(GALAXY_OFFSET)
    desk = scenes.desk(frames=FRAMES, width=WIDTH, height=HEIGHT)
    for name, shot in (("Galaxy", galaxy), ("Desk", desk)):
        collection_of[name] = bpy.data.collections.new(name)
        scene.collection.children.link(collection_of[name])
        scenes.add_shot_objects(shot, collection_of[name])
    galaxy_cam = scenes.add_camera("GalaxyCam", galaxy.trajectory, collection_of["Galaxy"], frame_start=1)
    desk_cam = scenes.add_camera("DeskCam", desk.trajectory, collection_of["Desk"], animate=False)
    scene.camera = desk_cam
    return galaxy_cam, desk_cam


def run_transfers(addon: object, galaxy_cam: object, desk_cam: object, collections: dict[str, object],
                  progress: Progress) -> dict[str, object]:
    """The installed operator in each mode; every run's camera kept under its own name."""
    settings = bpy.context.scene.parascale
    settings.reference_camera = galaxy_cam
    settings.reference_source = "GEOMETRY"
    settings.reference_collection = collections["Galaxy"]
    settings.target_start = desk_cam
    settings.target_source = "GEOMETRY"
    settings.target_collection = collections["Desk"]
    settings.geometry_resolution = WIDTH
    marker = addon.parascale_blender.camera_writing.OUTPUT_MARKER
    cameras = {}
    for mode, name in RUNS:
        settings.mode = mode
        started = time.perf_counter()
        result = bpy.ops.parascale.transfer_camera_move()
        if result != {"FINISHED"}:
            raise RuntimeError(f"the transfer in mode {mode} returned {result}")
        camera = addon.parascale_blender.camera_writing.find_written_camera(galaxy_cam.name)
        if mode != "PER_FRAME":
            # Keep this run's camera: unmarked, the next run writes a new one instead of replacing it.
            del camera[marker]
        camera.name = camera.data.name = name
        cameras[mode] = camera
        progress(f"transfer {mode.lower():<12} -> {name} ({time.perf_counter() - started:.1f} s)")
    return cameras


def summarize(addon: object, scene: object, galaxy_cam: object, desk_cam: object,
              cameras: dict[str, object]) -> dict[str, object]:
    """Per mode: the add-on's record (Pi per frame, depths, scale) and figures derived from it."""
    record_of = addon.parascale_blender.transfer_record.load
    read = addon.parascale_blender.scene_reading.read_camera_trajectory
    reference = read(scene, galaxy_cam)
    start_depth = float(record_of(cameras["PER_FRAME"]).depth_target[0])
    k = start_depth / float(record_of(cameras["PER_FRAME"]).depth_reference[0])
    summary: dict[str, object] = {"frames": FRAMES, "depth_ratio_k": k, "ln_k": float(np.log(k)),
                                  "reference_path_length": reference.path_length(), "modes": {}}
    for mode, camera in cameras.items():
        record = record_of(camera)
        trajectory = read(scene, camera)
        pi_ref, pi = record.pi_reference, record.pi_realized
        seen = np.isfinite(pi)
        consistency = parallax_consistency(pi_ref, pi)
        # Where the camera leaves the desk there is no depth to measure; its parallax against the desk's
        # start depth says how far off its scale is.
        pi_at_start_depth = np.linalg.norm(np.diff(trajectory.centres, axis=0), axis=1) / start_depth
        summary["modes"][mode] = {
            "camera": camera.name,
            "pi_reference": pi_ref.tolist(),
            "pi_realized": [float(v) if np.isfinite(v) else None for v in pi],
            "pi_at_start_depth": pi_at_start_depth.tolist(),
            "pi_total_reference": float(np.sum(pi_ref)),
            "pi_total_realized": float(np.sum(pi[seen])) if seen.any() else None,
            "pce": consistency.pce if seen.any() else None,
            "bias": consistency.bias if seen.any() else None,
            "pce_at_start_depth": parallax_consistency(pi_ref, pi_at_start_depth).pce,
            "frames_without_depth": int((~seen).sum()),
            "scale_min": float(np.min(record.scale)), "scale_max": float(np.max(record.scale)),
            "path_length": trajectory.path_length(),
            "farthest_from_start": float(np.linalg.norm(trajectory.centres - trajectory.centres[0], axis=1).max()),
            "trans_err": translation_error(trajectory.centres, reference.centres),
            "clip_start": camera.data.clip_start, "clip_end": camera.data.clip_end,
        }
    return summary


def summary_table(summary: dict[str, object]) -> str:
    def fmt(value: object, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [f"Reference: galaxy, path {summary['reference_path_length']:.0f} units; target: desk; depth ratio "
             f"at the start k = {summary['depth_ratio_k']:.3g} (|ln k| = {abs(summary['ln_k']):.2f}); "
             f"{summary['frames']} frames. Pi and PCE from the add-on's record (Geometry depth).",
             "",
             "| mode | camera | Pi total (reference / realized) | PCE | bias | frames without depth | TransErr | "
             "path length | scale s |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for mode, m in summary["modes"].items():
        pce = fmt(m["pce"], ".2e")
        if m["pce"] is None:
            pce = f"{m['pce_at_start_depth']:.2f} *"
            notes.append(f"* {mode.lower()}: the camera leaves the desk (no depth at {m['frames_without_depth']} "
                         f"of {summary['frames'] - 1} frames; it ends {m['farthest_from_start']:.4g} units from its "
                         "start); its PCE is taken against the desk's depth at the start.")
        lines.append(
            f"| {mode.lower()} | {m['camera']} | {m['pi_total_reference']:.4f} / {fmt(m['pi_total_realized'], '.4f')} "
            f"| {pce} | {fmt(m['bias'], '.4g')} | {m['frames_without_depth']} | {m['trans_err']:.1e} | "
            f"{m['path_length']:.4g} | {m['scale_min']:.3g} .. {m['scale_max']:.3g} |")
    return "\n".join(lines + [""] + notes)


def plot_pi(summary: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = np.arange(2, FRAMES + 1)
    modes = summary["modes"]
    fig, ax = plt.subplots(figsize=(7.0, 3.6), dpi=100)
    ax.plot(frames, modes["PER_FRAME"]["pi_reference"], "k-", lw=3, alpha=0.35, label="reference (galaxy)")
    ax.plot(frames, [np.nan if v is None else v for v in modes["PER_FRAME"]["pi_realized"]], "g--", lw=1.5,
            label=f"per-frame (PCE {modes['PER_FRAME']['pce']:.1e})")
    ax.plot(frames, [np.nan if v is None else v for v in modes["GLOBAL"]["pi_realized"]], "b-", lw=1,
            label=f"global (PCE {modes['GLOBAL']['pce']:.2f})")
    ax.plot(frames, modes["UNCALIBRATED"]["pi_at_start_depth"], "r:", lw=1.5,
            label=f"uncalibrated (at the desk's start depth; PCE {modes['UNCALIBRATED']['pce_at_start_depth']:.1f})")
    ax.set_yscale("log")
    ax.set_xlabel("frame")
    ax.set_ylabel("Π = |ΔC| / Z̄")
    ax.set_title("Parallax per frame: galaxy sweep transferred onto a desk")
    ax.legend(fontsize=7, loc="center right")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_poses(addon: object, trajectory: object, folder: Path) -> dict[str, list[str]]:
    """The calibrated camera in every preset of core.formats (the installed add-on's copy, whose
    Trajectory class the camera was read into): poses/<preset>/<the format's file name>."""
    formats = importlib.import_module(f"{addon.__name__}.core.formats")
    written = {}
    for name, preset in formats.PRESETS.items():
        target = folder / name / formats.FORMATS[preset.format].default_name
        target.parent.mkdir(parents=True, exist_ok=True)
        written[name] = [str(p) for p in formats.write_trajectory(target, trajectory, preset=name)]
    return written


def write_cli_inputs(addon: object, scene: object, galaxy_cam: object, desk_cam: object, record: object,
                     folder: Path) -> dict[str, str]:
    """Inputs for the command-line examples of the README: the reference camera and its per-frame depths,
    the desk's start pose, and a first-frame depth map of the desk with its intrinsics (what a depth
    estimator would give for a photo of the desk)."""
    folder.mkdir(parents=True, exist_ok=True)
    formats = importlib.import_module(f"{addon.__name__}.core.formats")
    geometry = importlib.import_module(f"{addon.__name__}.core.geometry")
    depth = importlib.import_module(f"{addon.__name__}.core.depth")
    read = addon.parascale_blender.scene_reading.read_camera_trajectory
    reference = read(scene, galaxy_cam)
    start = read(scene, desk_cam)
    paths = {"reference": folder / "galaxy_camera.json", "reference_depth": folder / "galaxy_depth.txt",
             "start": folder / "desk_start.json", "target_depth_map": folder / "desk_depth.npy",
             "target_intrinsics": folder / "desk_intrinsics.txt"}
    formats.write_trajectory(paths["reference"], reference, format="parascale")
    formats.write_trajectory(paths["start"], start, format="parascale")
    paths["reference_depth"].write_text("\n".join(f"{d:.9g}" for d in record.depth_reference) + "\n")
    desk = scenes.desk(frames=FRAMES, width=WIDTH, height=HEIGHT)
    probe = geometry.GeometryDepth(desk.mesh.vertices, desk.mesh.triangles, resolution=WIDTH)
    np.save(paths["target_depth_map"], probe.depth_map(depth.Views.of(start), 0))
    fx, fy, cx, cy = start.pixel_intrinsics()[0]
    paths["target_intrinsics"].write_text(f"{fx:.9g},{fy:.9g},{cx:.9g},{cy:.9g}\n")
    return {key: str(path) for key, path in paths.items()}


def render_preview(addon: object, out: Path, camera: object) -> list[str]:
    """The add-on's side-by-side Workbench preview (reference | uncalibrated | calibrated): an MP4 and a
    contact sheet PNG. Empty when this build of the add-on has no preview_render module."""
    try:
        preview = importlib.import_module(f"{addon.__name__}.parascale_blender.preview_render")
    except ModuleNotFoundError:
        return []
    made = preview.render_preview(bpy.context.scene, camera, out, width=PREVIEW_WIDTH, height=PREVIEW_HEIGHT,
                                  sheet_frames=PREVIEW_SHEET_FRAMES)
    return [str(p) for p in (made.movie_path, made.sheet_path) if p is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ParaScale demo: a galaxy sweep transferred onto a desk")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "out" / "demo")
    args = parser.parse_args(argv)
    out = args.output.resolve()
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(10)
    print(f"ParaScale demo -> {out} (Blender {bpy.app.version_string})", flush=True)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon = install_extension()
    progress(f"extension built and installed as {module_name()}")
    bpy.ops.wm.read_factory_settings(use_empty=True)  # a clean scene; it also disables extensions
    addon = ensure_enabled()

    collections: dict[str, object] = {}
    galaxy_cam, desk_cam = build_scene(collections)
    progress("scene built: Galaxy (400 stars, ~4000 units) + GalaxyCam, Desk (objects of 2-20 cm) + DeskCam")
    cameras = run_transfers(addon, galaxy_cam, desk_cam, collections, progress)

    scene = bpy.context.scene
    summary = summarize(addon, scene, galaxy_cam, desk_cam, cameras)
    calibrated = addon.parascale_blender.scene_reading.read_camera_trajectory(scene, cameras["PER_FRAME"])
    written = write_poses(addon, calibrated, out / "poses")
    summary["pose_files"] = written
    progress(f"pose files for {len(written)} presets -> {out / 'poses'}")
    summary["cli_inputs"] = write_cli_inputs(addon, scene, galaxy_cam, desk_cam,
                                             addon.parascale_blender.transfer_record.load(cameras["PER_FRAME"]),
                                             out / "cli_inputs")
    plot_pi(summary, out / "pi_per_frame.png")
    progress(f"Pi plot -> {out / 'pi_per_frame.png'}; command-line inputs -> {out / 'cli_inputs'}")
    summary["preview"] = render_preview(addon, out, cameras["PER_FRAME"])
    progress("preview -> " + (", ".join(summary["preview"]) or "not available in this add-on build"))
    blend = out / "parascale_demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), check_existing=False)
    summary["blend"] = str(blend)
    progress(f"Blender file -> {blend}")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    table = summary_table(summary)
    (out / "summary.md").write_text("# ParaScale demo\n\n" + table + "\n")
    progress(f"summary -> {out / 'summary.md'}")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
