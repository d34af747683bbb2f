"""Footage statistic benchmark: does the TRACKING source's depth statistic estimate the one the Geometry
source measures (the median depth over the image's pixels that see geometry)?

`.venv/bin/python bench/footage_statistic.py` writes bench/results/footage_statistic.md and prints it with
the machine and date. `--cache DIR` keeps the rendered and solved data (default: a folder under /tmp) and
`--reuse` only re-runs the numpy comparison on it. `--resolution 640x360` renders and solves the footage at
that size (the tracker's pattern, search area and feature spacing scale with the width, tests/footage.py);
other sizes get their own cache folder and results file (footage_statistic_640x360.md).

Per scene (three camera moves through the synthetic footage scene of tests/footage.py, each with its own
random box field: "truck", "walk" with pan and tilt, a rising "orbit"; 320x180 unless --resolution,
40 frames):
1. Render the footage (Workbench), detect features (at several frames for the orbit, with the clip
   editor's frame set), track and solve it with Blender's camera solver, headless.
2. Truth: every frame's Cycles depth pass through the ground-truth camera (tools/cycles_depth.py, 1 sample,
   the narrowest pixel filter), reduced to the median over the pixels that see geometry: the Geometry
   source's statistic (core.geometry.median_seen).
3. The bundles: each bundle's track triangulated from the known cameras (its true 3-D point, independent of
   the solve) and projected by the true camera, so the comparison measures the statistic alone and not the
   solve's error; and the solved bundles through the solved cameras, brought to true scale by the solve's
   similarity to the true path, to show the two together.
4. Each candidate statistic per frame against the rendered median: |Zbar / Zbar_pixels - 1|, median and
   worst frame per scene.
5. The transfer end to end: the solved camera (its Camera Solver constraint) with the TRACKING depth as
   the add-on builds it (plain median of the bundles, then the area-weighted statistic) transferred per
   frame (core.parallax.transfer) into a 1:50 copy of the scene measured by its Geometry (Embree, at the
   footage's width); each written camera rendered with Cycles in the copy (the full-size scene hidden)
   gives the realized Pi'_t = |C'_t - C'_{t-1}| / (pixel median of its depth pass), and its PCE against
   the true Pi_t (true cameras, pixel median of the true scene's depth passes): mean |ln(Pi'_t / Pi_t)|.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
for folder in ("tests", "bench"):
    if str(REPO_ROOT / folder) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / folder))

from machine import machine_line  # noqa: E402
from parascale.core.depth import frustum_depths  # noqa: E402
from parascale.core.errors import ParaScaleError  # noqa: E402
from parascale.core.image_area import area_weighted_depth, bundle_statistic  # noqa: E402
from parascale.core.statistics import representative_depth  # noqa: E402

N_FRAMES = 40
# (name, camera path of tests/footage.py, seed of the box field, clip frames where features are detected).
# The statistic and its two constants (core/image_area.py) were chosen on the first three; the last three
# were rendered afterwards to check them.
SCENES = (
    ("truck", "truck", 7, (1,)),
    ("walk", "walk", 11, (1, 21)),
    ("orbit", "orbit", 5, (1, 11, 21, 31)),
    ("truck2", "truck", 23, (1, 21)),
    ("walk2", "walk", 29, (1, 21)),
    ("orbit2", "orbit", 31, (1, 11, 21, 31)),
)
CHOSEN_ON = 3
GOAL_MEDIAN, GOAL_WORST = 0.03, 0.10
GOAL_PCE = 0.03
DEFAULT_RESOLUTION = (320, 180)


def collect(cache: Path, name: str, path: str, seed: int, detect_frames: tuple[int, ...],
            resolution: tuple[int, int] = DEFAULT_RESOLUTION) -> Path:
    """Render, solve and measure one scene at `resolution` (width, height); the arrays go to
    cache/<name>.npz."""
    from parascale.tools.blender_install import use_throwaway_user_folder

    use_throwaway_user_folder()
    import bpy
    import footage as F
    from parascale.parascale_blender.tracking import read_solve
    from parascale.tools.cycles_depth import render_depth

    # tests/footage.py reads WIDTH and HEIGHT when its functions run: the render, the tracker's pixel sizes,
    # the triangulation of the markers; this module reads them below.
    F.WIDTH, F.HEIGHT = resolution
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    result = F.solve_footage(folder, seed=seed, n_frames=N_FRAMES, path=path, detect_frames=detect_frames)
    scene = bpy.context.scene
    clip = bpy.data.movieclips[0]
    rotations, centres = F.ground_truth_trajectory(N_FRAMES, path)
    points = F.ground_truth_points(clip, N_FRAMES, path)
    index, frames, _ = F.track_markers(F.bundle_tracks(clip))
    markers = np.zeros((N_FRAMES, points.shape[0]), dtype=bool)
    markers[frames - 1, index] = True
    solve = read_solve(clip)
    camera = bpy.data.objects[F.GROUND_TRUTH_CAMERA]
    start = time.perf_counter()
    depth_maps = np.stack([render_depth(scene, camera, frame, F.WIDTH, F.HEIGHT, samples=1)
                           for frame in range(1, N_FRAMES + 1)]).astype(np.float32)
    depth_seconds = time.perf_counter() - start
    transferred = transfer_check(scene, clip, path, depth_maps)
    out = cache / f"{name}.npz"
    np.savez_compressed(out, rotations=rotations, centres=centres, points=points, markers=markers,
                        depth_maps=depth_maps, solved_frames=solve.solved_frames,
                        solved_cameras=solve.solved_cameras, solved_bundles=solve.bundles,
                        fx=F.LENS_MM / F.SENSOR_MM * F.WIDTH, width=F.WIDTH, height=F.HEIGHT,
                        solve_error=result.solve_error, bundles=result.bundles, tracks=result.tracks,
                        seconds=np.array([result.render_seconds, result.solve_seconds, depth_seconds]),
                        **transferred)
    return out


# The target of the end-to-end check: the scene at 1:50, far from the original.
MINIATURE_SCALE, MINIATURE_OFFSET = 0.02, (1000.0, -40.0, 3.0)


def transfer_check(scene: object, clip: object, path: str, depth_maps: np.ndarray) -> dict[str, np.ndarray]:
    """Step 5 of the module docstring: true Pi and the realized Pi of the transfer with each weighting."""
    from types import SimpleNamespace

    import bpy
    import footage as F
    from mathutils import Matrix
    from parascale.core.geometry_embree import geometry_depth
    from parascale.core.parallax import transfer
    from parascale.parascale_blender.scene_reading import read_camera_trajectory, read_collection_mesh
    from parascale.parascale_blender.tracking import tracking_depth_probe
    from parascale.tools.cycles_depth import median_depth, render_depth

    frames = np.arange(1, N_FRAMES + 1)
    solved = bpy.data.objects[F.SOLVED_CAMERA]
    reference = read_camera_trajectory(scene, solved, frames)
    settings = SimpleNamespace(tracking_clip=clip, tracking_object="", reference_camera=solved,
                               tracking_markers_only=False, tracking_min_bundles=8, depth_statistic="median")
    original = bpy.data.collections[F.REFERENCE_COLLECTION]
    miniature = bpy.data.collections.new("Miniature")
    scene.collection.children.link(miniature)
    placement = Matrix.Translation(MINIATURE_OFFSET) @ Matrix.Scale(MINIATURE_SCALE, 4)
    for obj in original.objects:
        copy = obj.copy()
        miniature.objects.link(copy)
        copy.matrix_world = placement @ obj.matrix_world
    bpy.context.view_layer.update()
    target = geometry_depth(*read_collection_mesh(scene, miniature), resolution=F.WIDTH)
    rotations, centres = F.ground_truth_trajectory(N_FRAMES, path)
    start = MINIATURE_SCALE * centres[0] + np.array(MINIATURE_OFFSET)
    truth = np.array([median_depth(m) for m in depth_maps])
    out = {"pi_true": np.linalg.norm(np.diff(centres, axis=0), axis=1) / truth[1:]}
    original.hide_render = True
    for weighting in ("none", "area"):
        try:
            probe = tracking_depth_probe(scene, settings, reference)
        except ParaScaleError as error:  # reported in the table instead of the figures
            out[f"pi_realized_{weighting}"] = out[f"pi_reference_{weighting}"] = np.full(N_FRAMES - 1, np.nan)
            out["transfer_error"] = np.array(str(error))
            continue
        probe.weighting = weighting
        result = transfer(reference, probe, target, rotations[0], start, mode="per_frame", tolerance=1e-6)
        data = bpy.data.cameras.new(f"Transferred.{weighting}")
        data.lens, data.sensor_width = F.LENS_MM, F.SENSOR_MM
        data.clip_start, data.clip_end = 0.1 * MINIATURE_SCALE, 200.0 * MINIATURE_SCALE
        camera = bpy.data.objects.new(data.name, data)
        scene.collection.objects.link(camera)
        camera.rotation_mode = "QUATERNION"
        for frame, matrix in zip(frames, result.trajectory.matrices(), strict=True):
            camera.matrix_world = Matrix(matrix.tolist())
            camera.keyframe_insert("location", frame=int(frame))
            camera.keyframe_insert("rotation_quaternion", frame=int(frame))
        realized = np.array([median_depth(render_depth(scene, camera, int(f), F.WIDTH, F.HEIGHT, samples=1))
                             for f in frames])
        steps = np.linalg.norm(np.diff(result.trajectory.centres, axis=0), axis=1)
        out[f"pi_realized_{weighting}"] = steps / realized[1:]
        out[f"pi_reference_{weighting}"] = result.pi_reference
    original.hide_render = False
    return out


def _views(rotations: np.ndarray, centres: np.ndarray, points: np.ndarray, fx: float, width: int, height: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel positions (F, P, 2), depths (F, P) and frustum flags (F, P) of world points seen by the cameras."""
    cam = np.einsum("nji,npj->npi", rotations, points[None] - centres[:, None])
    intrinsics = np.tile([fx, fx, width / 2, height / 2], (len(centres), 1))
    depth, inside = frustum_depths(cam, intrinsics, width, height)
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = np.stack([width / 2 + fx * cam[..., 0] / depth, height / 2 - fx * cam[..., 1] / depth], axis=-1)
    return pixels, depth, inside & np.all(np.isfinite(points), axis=-1)[None]


def pi_errors(data: np.lib.npyio.NpzFile) -> tuple[np.ndarray, np.ndarray]:
    """Solved frames from the second on (K-1,) and |ln(Pi_solve / Pi_true)| at each: the solve's cameras and
    bundles against the true cameras and each bundle's true point, Pi = step / median depth of the bundles in
    view (a scale drift of the solve cancels, as in the transfer); only consecutive solved frames have a step."""
    width, height, fx = int(data["width"]), int(data["height"]), float(data["fx"])
    frames = data["solved_frames"].astype(int)
    cams = data["solved_cameras"]
    _, solved_depth, solved_in = _views(cams[:, :3, :3], cams[:, :3, 3], data["solved_bundles"], fx, width, height)
    index = frames - 1
    _, true_depth, true_in = _views(data["rotations"][index], data["centres"][index], data["points"], fx, width,
                                    height)
    both = solved_in & true_in
    with np.errstate(invalid="ignore"):
        solved_z = np.array([np.median(d[m]) if m.any() else np.nan for d, m in zip(solved_depth, both, strict=True)])
        true_z = np.array([np.median(d[m]) if m.any() else np.nan for d, m in zip(true_depth, both, strict=True)])
    consecutive = np.diff(frames) == 1
    solved_pi = np.linalg.norm(np.diff(cams[:, :3, 3], axis=0), axis=1) / solved_z[1:]
    true_pi = np.linalg.norm(np.diff(data["centres"][index], axis=0), axis=1) / true_z[1:]
    return frames[1:][consecutive], np.abs(np.log(solved_pi / true_pi))[consecutive]


def _similarity_scale(solved: np.ndarray, truth: np.ndarray) -> float:
    """Least-squares scale of the Umeyama similarity taking the solved centres onto the true ones."""
    a, b = solved - solved.mean(axis=0), truth - truth.mean(axis=0)
    u, s, vt = np.linalg.svd(b.T @ a)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    return float((s * d).sum() / (a * a).sum())


def _statistic(depth: np.ndarray, pixels: np.ndarray, selection: np.ndarray, width: int, height: int,
               weighting: str, seen: np.ndarray | None = None) -> np.ndarray:
    if weighting == "tracking":  # what BundlesDepth computes (core.image_area.bundle_statistic)
        return bundle_statistic(depth, pixels, selection, seen, width, height)
    if weighting == "area":
        return area_weighted_depth(depth, pixels, selection, width, height)
    return np.asarray(representative_depth(np.where(selection, depth, np.nan)), dtype=np.float64)


def compare(data: np.lib.npyio.NpzFile) -> dict[str, np.ndarray]:
    """Per-frame relative difference of each candidate statistic from the rendered pixel median."""
    width, height, fx = int(data["width"]), int(data["height"]), float(data["fx"])
    maps = data["depth_maps"].astype(np.float64)
    truth = np.array([np.median(m[np.isfinite(m)]) for m in maps])
    pixels, depth, inside = _views(data["rotations"], data["centres"], data["points"], fx, width, height)
    markers = data["markers"]
    out = {}
    for label, weighting, selection in (("median, in frustum (before)", "none", inside),
                                        ("median, markers only", "none", inside & markers),
                                        ("area-weighted, in frustum", "area", inside),
                                        ("area-weighted, markers only", "area", inside & markers),
                                        ("area-weighted, hidden left out (after)", "tracking", inside)):
        stat = _statistic(depth, pixels, selection, width, height, weighting, markers)
        out[label] = stat / truth - 1.0
    # The same through the solve: solved bundles and cameras, scaled to the truth by the path's similarity.
    frames = data["solved_frames"] - 1
    cams = data["solved_cameras"]
    scale = _similarity_scale(cams[:, :3, 3], data["centres"][frames])
    s_pixels, s_depth, s_inside = _views(cams[:, :3, :3], cams[:, :3, 3], data["solved_bundles"], fx, width, height)
    for label, weighting in (("solve: median, in frustum (before)", "none"),
                             ("solve: area-weighted, hidden left out (after)", "tracking")):
        stat = np.full(truth.shape, np.nan)
        stat[frames] = scale * _statistic(s_depth, s_pixels, s_inside, width, height, weighting, markers[frames])
        out[label] = stat / truth - 1.0
    return out


def summarize(cache: Path, command: str = ".venv/bin/python bench/footage_statistic.py") -> str:
    first = np.load(cache / f"{SCENES[0][0]}.npz")
    size = f"{int(first['width'])}x{int(first['height'])}"
    lines = ["# Footage statistic: bundles against the rendered pixel median\n",
             f"Machine: {machine_line()}. Command: `{command}`.\n",
             f"{N_FRAMES} frames of {size} footage per scene, solved by Blender's tracker headless; truth is "
             "the median of each frame's Cycles depth pass over the pixels that see geometry. Figures are "
             "|Zbar_bundles / Zbar_pixels - 1| per frame: median over the frames and the worst frame "
             f"(goal: median within {GOAL_MEDIAN:.0%}, worst within {GOAL_WORST:.0%}).\n"]
    rows = {}
    for name, _path, seed, detect in SCENES:
        data = np.load(cache / f"{name}.npz")
        seconds = data["seconds"]
        lines.append(f"- {name}: seed {seed}, features detected at clip frames {list(detect)}; "
                     f"{int(data['bundles'])} bundles of {int(data['tracks'])} tracks, solve error "
                     f"{float(data['solve_error']):.3f} px, {data['solved_frames'].size} frames solved; render "
                     f"{seconds[0]:.1f} s, track+solve {seconds[1]:.1f} s, depth passes {seconds[2]:.1f} s")
        for label, errors in compare(data).items():
            rows.setdefault(label, {})[name] = errors
    lines += ["", f"Per scene: median / worst frame. The statistic was chosen on the first {CHOSEN_ON} scenes; "
              "the others check it.", "",
              "| statistic | " + " | ".join(n for n, *_ in SCENES) + " | scenes within the goal |",
              "|---|" + "---|" * len(SCENES) + "---|"]
    for label, per_scene in rows.items():
        cells, within = [], 0
        for name, *_ in SCENES:
            a = np.abs(per_scene[name])
            a = a[np.isfinite(a)]
            cells.append(f"{np.median(a):.1%} / {a.max():.1%}")
            within += int(np.median(a) <= GOAL_MEDIAN and a.max() <= GOAL_WORST)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {within} of {len(SCENES)} |")
    lines += ["", "Solve rows: the solved bundles through the solved cameras, times the scale of the solve's "
              "similarity to the true path (fitted on the camera centres), so they add the solve's own error."]
    lines += ["", "## The transfer, measured with Cycles on the target", "",
              "TRACKING (the solve) -> GEOMETRY (the scene at 1:50), per frame; realized Pi' from Cycles depth "
              "passes of each written camera in the copy. PCE = mean |ln(Pi'_t / Pi_t)| against the true Pi "
              "(true cameras, true pixel median); bias = exp(mean ln(Pi'_t / Pi_t)); goal PCE within "
              f"{GOAL_PCE}.", "",
              "| reference depth | " + " | ".join(n for n, *_ in SCENES) + " | scenes within the goal |",
              "|---|" + "---|" * len(SCENES) + "---|"]
    for weighting, label in (("none", "median of the bundles (before)"), ("area", "area-weighted (after)")):
        cells, within = [], 0
        for name, *_ in SCENES:
            data = np.load(cache / f"{name}.npz")
            ratio = np.log(data[f"pi_realized_{weighting}"] / data["pi_true"])
            if not np.all(np.isfinite(ratio)):
                cells.append("n/a (see below)")
                continue
            pce = float(np.mean(np.abs(ratio)))
            cells.append(f"PCE {pce:.3f}, bias {np.exp(np.mean(ratio)):.3f}")
            within += int(pce <= GOAL_PCE)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {within} of {len(SCENES)} |")
    cells = []
    for name, *_ in SCENES:
        data = np.load(cache / f"{name}.npz")
        cams, centres = data["solved_cameras"], data["centres"][data["solved_frames"] - 1]
        solved_steps = np.linalg.norm(np.diff(cams[:, :3, 3], axis=0), axis=1)
        ratio = np.log(_similarity_scale(cams[:, :3, 3], centres) * solved_steps
                       / np.linalg.norm(np.diff(centres, axis=0), axis=1))
        cells.append(f"{np.mean(np.abs(ratio)):.3f}")
    lines.append("| the solve's steps alone: mean abs ln(solved step x similarity scale / true step) | "
                 + " | ".join(cells) + " | |")
    # The other factor of Pi = step / depth: the reference depth through the solve against the pixel median.
    cells = []
    for name, *_ in SCENES:
        depth_error = rows["solve: area-weighted, hidden left out (after)"][name]  # compare(), computed above
        cells.append(f"{np.nanmean(np.abs(np.log1p(depth_error[1:]))):.3f}")
    lines.append("| the reference depth alone: mean abs ln(solved area-weighted Zbar x similarity scale / pixel "
                 "median) | " + " | ".join(cells) + " | |")
    # The issue's own measure of a solve: its Pi (its steps over the median depth of its bundles in view) against
    # the true one (true cameras, true points of the same bundles), per frame.
    cells = []
    for name, *_ in SCENES:
        _, error = pi_errors(np.load(cache / f"{name}.npz"))
        cells.append(f"{np.median(error):.1%} / {error.max():.1%}")
    lines.append("| the solve's own Pi against the truth (median of the bundles in view): |ln(Pi_solve / Pi_true)|, "
                 "median / worst frame | " + " | ".join(cells) + " | |")
    # What the transfer would score with an exact solve: the same statistic of the true bundles through the
    # true cameras (the steps then exact), against the pixel median; the transfer itself adds ~1e-4 (below).
    cells, within = [], 0
    for name, *_ in SCENES:
        depth_error = rows["area-weighted, hidden left out (after)"][name]
        pce = float(np.nanmean(np.abs(np.log1p(depth_error[1:]))))
        cells.append(f"{pce:.3f}")
        within += int(pce <= GOAL_PCE)
    lines.append("| with an exact solve: mean abs ln(area-weighted Zbar of the true bundles / pixel median) | "
                 + " | ".join(cells) + f" | {within} of {len(SCENES)} |")
    lines += ["", "Realized against the transfer's own reference Pi (the Geometry probe against Cycles): PCE "
              + ", ".join(f"{float(np.mean(np.abs(np.log(d['pi_realized_area'] / d['pi_reference_area'])))):.1e}"
                          for d in (np.load(cache / f"{n}.npz") for n, *_ in SCENES)) + "."]
    for name, *_ in SCENES:
        data = np.load(cache / f"{name}.npz")
        if "transfer_error" in data:
            lines.append(f"\n{name}: no transfer: {data['transfer_error']}")
    return "\n".join(lines) + "\n"


def footage_options(description: str, stem: str) -> tuple[argparse.Namespace, tuple[int, int], Path, Path, str]:
    """The options of a footage benchmark bench/<stem>.py (this one, bench/suspect_frames.py): --resolution,
    --cache, --reuse, --output. Returns the arguments, the footage size, the cache folder (one per size under
    the temporary folder by default, parascale-<stem>[-WxH]), the results file (bench/results/<stem>[_WxH].md)
    and the command that reproduces it, for the results' header."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--resolution", default="x".join(map(str, DEFAULT_RESOLUTION)),
                        help="footage size WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--cache", type=Path, help="folder of the rendered and solved data (default: one per "
                        "resolution under the temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="read the cached data again, render nothing")
    parser.add_argument("--output", type=Path, help=f"results file (default: bench/results/{stem}.md, "
                        f"{stem}_WxH.md for another resolution)")
    args = parser.parse_args()
    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        parser.error(f"--resolution {args.resolution!r}: expected WIDTHxHEIGHT, e.g. 640x360")
    if width < 16 or height < 16:
        parser.error(f"--resolution {args.resolution!r}: at least 16x16")
    suffix = "" if (width, height) == DEFAULT_RESOLUTION else f"_{width}x{height}"
    cache = args.cache or Path(tempfile.gettempdir()) / f"parascale-{stem.replace('_', '-')}{suffix.replace('_', '-')}"
    output = args.output or REPO_ROOT / "bench" / "results" / f"{stem}{suffix}.md"
    cache.mkdir(parents=True, exist_ok=True)
    command = f".venv/bin/python bench/{stem}.py" + (f" --resolution {width}x{height}" if suffix else "")
    return args, (width, height), cache, output, command


def publish(output: Path, text: str) -> int:
    """Write the results file and print it; the exit status."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    return 0


def main() -> int:
    args, size, cache, output, command = footage_options(__doc__.split("\n")[0], "footage_statistic")
    if not args.reuse:
        for name, path, seed, detect in SCENES:
            collect(cache, name, path, seed, detect, size)
    return publish(output, summarize(cache, command))


if __name__ == "__main__":
    sys.exit(main())
