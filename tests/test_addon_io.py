"""Pose export and import through the installed operators: the calibrated camera to every format and
preset of core.formats at the scene's render resolution, and pose files back into animated cameras that
can serve as the reference of a transfer."""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest
from loaders import (
    ac3d_intrinsics,
    cameractrl_intrinsics,
    cameractrl_relative_c2w,
    cameractrl_rows,
    comfyui_animatediff_camera,
    cover_crop_pixels,
    nerfstudio_cameras,
    poses_as_read,
    relative_c2w,
    uni3c_camera,
    uni3c_model_size,
)
from parascale.core import formats
from parascale.core.poses import Intrinsics, Trajectory, look_at, project_to_rotation
from parascale.tools.blender_scenes import add_box, add_camera, keyframe_locations, new_collection, world_matrices

FRAMES = np.arange(1, 21)


@pytest.fixture
def calibrated(addon_scene):
    """A finished BOUNDS transfer; the scene renders at 640x360 at 50% (320x180 effective)."""
    scene = addon_scene
    scene.frame_start, scene.frame_end = 1, 20
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 640, 360, 50
    reference_set = new_collection("ReferenceSet")
    add_box("Subject", (0.0, 10.0, 2.0), (4.0, 4.0, 4.0), reference_set)
    target_set = new_collection("TargetSet")
    add_box("Miniature", (0.0, 0.01, 0.0), (0.004, 0.004, 0.004), target_set)
    u = (FRAMES - 1) / 19
    reference = add_camera("Ref", (0.0, -20.0, 3.0), (0.0, 10.0, 2.0), lens=35.0)
    keyframe_locations(reference, FRAMES, np.stack([5 * u, -20 + 8 * u, 3 + u], axis=1), target=(0.0, 10.0, 2.0))
    start = add_camera("Start", (0.01, -0.04, 0.005), (0.002, 0.01, 0.001))
    settings = scene.parascale
    settings.reference_camera, settings.reference_source, settings.reference_collection = reference, "BOUNDS", \
        reference_set
    settings.target_start, settings.target_source, settings.target_collection = start, "BOUNDS", target_set
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    return scene, bpy.data.objects["Ref.ParaScale"]


def _relative_motion(rotations: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose of every frame in the first frame's camera axes: what relative formats keep."""
    r0 = rotations[0]
    return np.einsum("ji,njk->nik", r0, rotations), (centres - centres[0]) @ r0


@pytest.mark.parametrize("name", list(formats.preset_descriptions()))
def test_export_every_format_and_preset(calibrated, tmp_path, name):
    scene, camera = calibrated
    target = tmp_path / "poses"
    assert bpy.ops.parascale.export_poses(filepath=str(target), preset=name) == {"FINISHED"}
    written = [p for p in tmp_path.iterdir()]
    assert written, "nothing written"
    main = next(p for p in written if not p.name.endswith(".meta.json"))
    trajectory = formats.read_trajectory(main)
    expected_frames = formats.PRESETS[name].frames if name in formats.PRESETS else None
    matrices = world_matrices(scene, camera, FRAMES)
    if expected_frames is not None and expected_frames != FRAMES.size:
        assert len(trajectory) == expected_frames
        # Resampled over the same span: the first and last poses are kept.
        ends = np.array([0, -1])
        got_r, got_c = _relative_motion(trajectory.rotations[ends], trajectory.centres[ends])
    else:
        assert len(trajectory) == FRAMES.size
        ends = slice(None)
        got_r, got_c = _relative_motion(trajectory.rotations, trajectory.centres)
    want_r, want_c = _relative_motion(project_to_rotation(matrices[:, :3, :3])[ends], matrices[ends, :3, 3])
    np.testing.assert_allclose(got_r, want_r, atol=1e-5)
    np.testing.assert_allclose(got_c, want_c, atol=1e-6 * max(1.0, np.abs(want_c).max()) + 1e-9)
    if formats.resolve_format(name).carries_intrinsics != "none":
        # The scene's render resolution (percentage applied).
        assert (trajectory.intrinsics.width, trajectory.intrinsics.height) == (320, 180)


def test_export_active_camera_and_nothing_to_export(calibrated, tmp_path):
    scene, _ = calibrated
    other = add_camera("Other", (1.0, 2.0, 3.0), (0.0, 0.0, 0.0))
    keyframe_locations(other, [1, 20], [(1.0, 2.0, 3.0), (2.0, 2.0, 3.0)])
    bpy.context.view_layer.objects.active = other
    path = tmp_path / "active.json"
    assert bpy.ops.parascale.export_poses(filepath=str(path), preset="parascale", camera="ACTIVE") == {"FINISHED"}
    trajectory = formats.read_trajectory(path)
    np.testing.assert_allclose(trajectory.centres[[0, -1]], [(1.0, 2.0, 3.0), (2.0, 2.0, 3.0)], atol=1e-6)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    from parascale.tools.blender_install import ensure_enabled

    ensure_enabled()
    with pytest.raises(RuntimeError, match="no camera to export"):
        bpy.ops.parascale.export_poses(filepath=str(tmp_path / "none.json"), preset="parascale")


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_export_onto_a_folder_or_under_a_file_says_so_plainly(calibrated, tmp_path, where):
    blocker = tmp_path / "taken.json"
    blocker.write_text("user data")
    (tmp_path / "folder.json").mkdir()
    path = {"a folder": tmp_path / "folder.json", "under a file": blocker / "poses.json"}[where]
    expected = {"a folder": "is a folder, not a file name to write", "under a file": "is a file, not a folder"}[where]
    listing = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(RuntimeError, match=expected) as error:
        bpy.ops.parascale.export_poses(filepath=str(path), preset="parascale")
    message = str(error.value)
    assert message.count("\n") <= 1 and "Errno" not in message and ".parascale-tmp" not in message
    assert sorted(str(p) for p in tmp_path.rglob("*")) == listing and blocker.read_text() == "user data"


def _file_trajectory(n: int = 30) -> Trajectory:
    t = np.linspace(0.0, 1.0, n)
    centres = np.stack([2 * np.cos(2 * t), 2 * np.sin(2 * t) - 5, 1 + 0.5 * t], axis=1)
    return Trajectory(look_at(centres, np.array([[0.0, 0.0, 0.5]] * n)), centres, lens=np.linspace(30, 40, n),
                      intrinsics=Intrinsics(width=1280, height=720), fps=24.0)


@pytest.mark.parametrize("fmt", ["parascale", "realestate10k", "colmap", "transforms", "nerfstudio"])
def test_import_a_pose_file_as_a_camera(addon_scene, tmp_path, fmt):
    scene = addon_scene
    scene.frame_start, scene.frame_end = 11, 40
    trajectory = _file_trajectory()
    path = tmp_path / ("model" if fmt == "colmap" else f"poses{'.txt' if fmt == 'realestate10k' else '.json'}")
    formats.write_trajectory(path, trajectory, format=fmt)
    assert bpy.ops.parascale.import_poses(filepath=str(path)) == {"FINISHED"}
    camera = bpy.context.view_layer.objects.active
    assert camera.type == "CAMERA" and camera.get("parascale_imported") == str(path)
    matrices = world_matrices(scene, camera, np.arange(11, 41))
    np.testing.assert_allclose(matrices[:, :3, 3], trajectory.centres, atol=1e-5)
    np.testing.assert_allclose(matrices[:, :3, :3], trajectory.rotations, atol=1e-5)

    # The imported camera serves as the reference of a transfer.
    settings = scene.parascale
    settings.reference_camera = camera
    settings.reference_source, settings.target_source = "FIXED", "FIXED"
    settings.reference_depth, settings.target_depth = 5.0, 0.05
    settings.target_start = add_camera("Start", (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}


def test_import_keeps_the_file_frames_when_asked(addon_scene, tmp_path):
    trajectory = _file_trajectory(5).replace(frames=np.arange(100, 105))
    path = tmp_path / "poses.json"
    formats.write_trajectory(path, trajectory, format="parascale")
    assert bpy.ops.parascale.import_poses(filepath=str(path), use_scene_start=False) == {"FINISHED"}
    camera = bpy.context.view_layer.objects.active
    np.testing.assert_allclose(world_matrices(addon_scene, camera, np.arange(100, 105))[:, :3, 3],
                               trajectory.centres, atol=1e-6)


def test_a_bad_file_is_reported_and_changes_nothing(addon_scene, tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("https://example.com\n0 0.5 0.9 0.5 0.5 0 0 1 0 0\n")
    names = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match="broken.txt"):
        bpy.ops.parascale.import_poses(filepath=str(path))
    with pytest.raises(RuntimeError, match="no such file"):
        bpy.ops.parascale.import_poses(filepath=str(tmp_path / "missing.json"))
    assert sorted(o.name for o in bpy.data.objects) == names


def test_import_with_depth_serves_as_a_reference_of_known_parallax(addon_scene, tmp_path):
    """An external pose estimate with its own depths (arbitrary common scale): imported together, the
    'Imported' reference source gives Pi_t = step / depth, and the per-frame transfer realizes exactly it."""
    scene = addon_scene
    scene.frame_start, scene.frame_end = 1, 30
    trajectory = _file_trajectory()
    depths = np.linspace(4.0, 2.5, len(trajectory))
    pose_path, depth_path = tmp_path / "estimate.json", tmp_path / "estimate_depth.txt"
    formats.write_trajectory(pose_path, trajectory, format="parascale")
    depth_path.write_text("\n".join(f"{d:.17g}" for d in depths) + "\n")
    assert bpy.ops.parascale.import_poses(filepath=str(pose_path), depth_path=str(depth_path)) == {"FINISHED"}
    camera = bpy.context.view_layer.objects.active
    settings = scene.parascale
    settings.reference_camera, settings.reference_source = camera, "IMPORTED"
    settings.target_source, settings.target_depth = "FIXED", 0.02
    settings.target_start = add_camera("Start", (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    from parascale.parascale_blender.transfer_record import load

    record = load(bpy.data.objects[f"{camera.name}.ParaScale"])
    expected = np.linalg.norm(np.diff(trajectory.centres, axis=0), axis=1) / depths[1:]
    np.testing.assert_allclose(record.pi_reference, expected, rtol=1e-5)
    np.testing.assert_allclose(record.pi_realized, expected, rtol=1e-5)
    np.testing.assert_allclose(record.depth_reference, depths, rtol=1e-12)


def test_a_folder_of_depth_maps_is_reduced_with_the_scenes_statistic(addon_scene, tmp_path):
    """Depth maps imported with the poses become one depth per frame with the scene's Depth Statistic, and
    the imported depth remembers it: a transfer against a target measured with the other statistic is
    refused in one line, and nothing is written."""
    from parascale.core.statistics import representative_depth

    scene = addon_scene
    scene.frame_start, scene.frame_end = 1, 30
    trajectory = _file_trajectory()
    pose_path, folder = tmp_path / "estimate.json", tmp_path / "maps"
    formats.write_trajectory(pose_path, trajectory, format="parascale")
    folder.mkdir()
    rng = np.random.default_rng(3)
    maps = []
    for i in range(len(trajectory)):  # a near wall over 40% of each map, a far one behind: median != smooth
        depth = np.where(rng.random((18, 32)) < 0.4, 2.0 + 0.01 * i, 9.0 + 0.05 * i)
        np.save(folder / f"frame_{i}.npy", depth)
        maps.append(depth)
    scene.parascale.depth_statistic = "SMOOTH"
    assert bpy.ops.parascale.import_poses(filepath=str(pose_path), depth_path=str(folder)) == {"FINISHED"}
    camera = bpy.context.view_layer.objects.active
    from parascale.parascale_blender.depth_sources import IMPORTED_DEPTH

    stored = camera[IMPORTED_DEPTH]
    smooth = [representative_depth(m.ravel(), statistic="smooth") for m in maps]
    median = [representative_depth(m.ravel(), statistic="median") for m in maps]
    assert stored["statistic"] == "smooth"
    np.testing.assert_allclose(list(stored["depth"]), smooth, rtol=1e-12)
    assert np.max(np.abs(np.log(np.array(smooth) / np.array(median)))) > 0.05  # the choice matters here

    settings = scene.parascale
    target = new_collection("Target")
    add_box("Wall", (0.0, 5.0, 0.0), (20.0, 0.2, 20.0), target)
    settings.reference_camera, settings.reference_source = camera, "IMPORTED"
    settings.target_source, settings.target_collection = "GEOMETRY", target
    settings.target_start = add_camera("Start", (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    settings.depth_statistic = "MEDIAN"
    names = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match="reference depth uses the smooth statistic and the target depth the median"):
        bpy.ops.parascale.transfer_camera_move()
    assert sorted(o.name for o in bpy.data.objects) == names
    settings.depth_statistic = "SMOOTH"
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}


def test_import_with_a_wrong_depth_file_or_without_depth_is_refused(addon_scene, tmp_path):
    trajectory = _file_trajectory()
    pose_path, depth_path = tmp_path / "estimate.json", tmp_path / "short.txt"
    formats.write_trajectory(pose_path, trajectory, format="parascale")
    depth_path.write_text("1.0\n2.0\n")
    names = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match="2 depth values for the 30 poses"):
        bpy.ops.parascale.import_poses(filepath=str(pose_path), depth_path=str(depth_path))
    assert sorted(o.name for o in bpy.data.objects) == names
    # Imported without depth: the 'Imported' source says what to do, and nothing is written.
    assert bpy.ops.parascale.import_poses(filepath=str(pose_path)) == {"FINISHED"}
    camera = bpy.context.view_layer.objects.active
    settings = addon_scene.parascale
    settings.reference_camera, settings.reference_source = camera, "IMPORTED"
    settings.target_source, settings.target_depth = "FIXED", 0.02
    settings.target_start = add_camera("Start", (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    names = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match="has no imported depth"):
        bpy.ops.parascale.transfer_camera_move()
    assert sorted(o.name for o in bpy.data.objects) == names


# ------------------------------------------------------------------ loader contracts on real cameras

SHAPES = {"landscape": (1280, 720), "portrait": (720, 1280), "square": (1024, 1024), "four-three": (1024, 768),
          "scope": (2048, 858)}


def _shot(scene, width: int, height: int, shift: tuple[float, float], frames: int = 24):
    """A camera trucking past a subject over `frames` frames, rendered at width x height with a lens shift."""
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    camera = add_camera("Shot", (0.0, -10.0, 1.5), (0.0, 0.0, 1.0), lens=35.0)
    camera.data.shift_x, camera.data.shift_y = shift
    steps = np.arange(1, frames + 1)
    keyframe_locations(camera, steps, np.stack([0.1 * (steps - 1), -10.0 + 0.05 * (steps - 1),
                                                1.5 + 0.0 * steps], axis=1), target=(0.0, 0.0, 1.0))
    scene.camera = camera
    bpy.context.view_layer.objects.active = camera
    return camera


def _blender_model_pixels(scene, camera, points: np.ndarray, model: tuple[int, int]) -> np.ndarray:
    """Blender's own projection (world_to_camera_view) of world points at the current frame, in render
    pixels from the top-left corner, then resized to cover the model frame and centre-cropped."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    render = scene.render
    width, height = render.resolution_x, render.resolution_y
    ndc = np.array([tuple(world_to_camera_view(scene, camera, Vector(tuple(p))))[:2] for p in points])
    pixels = np.stack([ndc[:, 0] * width, (1.0 - ndc[:, 1]) * height], axis=1)
    return cover_crop_pixels(pixels, width, height, *model)


def _file_model_pixels(path, points: np.ndarray, model: tuple[int, int], clip: tuple[int, int] | None = None,
                       preset: str = "") -> np.ndarray:
    """Where the loader's camera of frame 0 (CameraCtrl's intrinsics, AC3D's rescale from a paired clip
    of size `clip`, or ComfyUI-AnimateDiff-Evolved's port; the file's w2c) puts world points."""
    if preset == "comfyui-animatediff":
        loaded = comfyui_animatediff_camera(path, *model)[0].astype(np.float64)
    else:
        loaded = ac3d_intrinsics(path, *clip, *model) if clip else cameractrl_intrinsics(path, *model)
    fx, fy, cx, cy = loaded[0]
    w2c = cameractrl_rows(path)[0, 7:].reshape(3, 4)
    cam = points @ w2c[:, :3].T + w2c[:, 3]
    return np.stack([fx * cam[:, 0] / cam[:, 2] + cx, fy * cam[:, 1] / cam[:, 2] + cy], axis=1)


SUBJECT_POINTS = np.array([[x, y, z] for x in (-2.0, 0.0, 2.5) for y in (-1.0, 1.0) for z in (0.0, 1.0, 2.5)])


SHIFTS = {"centred": (0.0, 0.0), "shifted": (0.12, -0.08)}
# Every frame shape, centred and shifted, for Wan and ComfyUI; every shape shifted for the rest of the family.
CONTRACT_CASES = [(preset, shape, shift) for preset in ("wan21", "comfyui-animatediff") for shape in SHAPES
                  for shift in SHIFTS] + [
    (preset, shape, "shifted") for preset in ("cameractrl-svd", "ac3d", "wan22-5b", "cameractrl-animatediff")
    for shape in SHAPES]


@pytest.mark.parametrize(("preset", "shape", "shift"), CONTRACT_CASES)
def test_exported_intrinsics_match_blender_projection_in_the_model_frame(addon_scene, tmp_path, preset, shape,
                                                                          shift):
    scene = addon_scene
    width, height = SHAPES[shape]
    camera = _shot(scene, width, height, SHIFTS[shift])
    path = tmp_path / "camera.txt"
    assert bpy.ops.parascale.export_poses(filepath=str(path), preset=preset, camera="ACTIVE") == {"FINISHED"}
    chosen = formats.PRESETS[preset]
    model = chosen.portrait if height > width and chosen.portrait else chosen.resolution
    assert f"model_width={model[0]}&model_height={model[1]}" in path.read_text().splitlines()[0]
    scene.frame_set(1)
    want = _blender_model_pixels(scene, camera, SUBJECT_POINTS, model)
    got = _file_model_pixels(path, SUBJECT_POINTS, model, (width, height) if preset == "ac3d" else None, preset)
    assert np.abs(got - want).max() < 0.5


def _fcurve_matrices(camera, times: np.ndarray) -> np.ndarray:
    """The camera's world matrix at fractional times read straight from its F-curves (fcurve.evaluate:
    location and XYZ Euler, no parent): an oracle independent of frame_set."""
    from mathutils import Euler, Matrix, Vector
    from parascale.parascale_blender.compat import action_fcurves

    curves = {(c.data_path, c.array_index): c for c in action_fcurves(camera)}
    out = []
    for time in times:
        location = Vector([curves["location", i].evaluate(time) for i in range(3)])
        rotation = Euler([curves["rotation_euler", i].evaluate(time) for i in range(3)], "XYZ")
        out.append(np.array(Matrix.Translation(location) @ rotation.to_matrix().to_4x4()))
    return np.array(out)


@pytest.fixture
def bezier_roll(addon_scene):
    """A 10-unit Bezier move with roll over frames 1..48 (two keys each, Blender's default easing)."""
    scene = addon_scene
    scene.frame_start, scene.frame_end = 1, 48
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 1280, 720, 100
    camera = add_camera("Roll", (0.0, -10.0, 1.5), (0.0, 0.0, 1.0), lens=35.0)
    camera.keyframe_insert("location", frame=1)
    camera.keyframe_insert("rotation_euler", frame=1)
    camera.location = (8.0, -4.0, 3.0)
    camera.rotation_euler = (camera.rotation_euler[0] + 0.2, 0.5, camera.rotation_euler[2] + 0.9)
    camera.keyframe_insert("location", frame=48)
    camera.keyframe_insert("rotation_euler", frame=48)
    scene.camera = camera
    bpy.context.view_layer.objects.active = camera
    return scene, camera


def test_resampled_export_follows_blenders_own_curves_at_subframes(bezier_roll, tmp_path):
    scene, camera = bezier_roll
    path = tmp_path / "wan.txt"
    assert bpy.ops.parascale.export_poses(filepath=str(path), preset="wan21", camera="ACTIVE") == {"FINISHED"}
    times = np.linspace(1.0, 48.0, 81)
    oracle = _fcurve_matrices(camera, times)
    # What the loader gets (c2w of every frame in frame 0's OpenCV camera axes) against the oracle's.
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    want = np.linalg.inv(oracle[0] @ flip) @ oracle @ flip
    got = cameractrl_relative_c2w(path)
    length = float(np.linalg.norm(np.diff(oracle[:, :3, 3], axis=0), axis=1).sum())
    assert length > 9.0
    assert np.linalg.norm(got[:, :3, 3] - want[:, :3, 3], axis=1).max() < 1e-6 * length
    assert np.abs(got[:, :3, :3] - want[:, :3, :3]).max() < 1e-6
    # A piecewise-linear resampling of the whole frames is measurably off the curves (what this replaces).
    whole = world_matrices(scene, camera, np.arange(1, 49))
    linear = np.stack([np.interp(times, np.arange(1, 49), whole[:, 0, 3]),
                       np.interp(times, np.arange(1, 49), whole[:, 1, 3])], axis=1)
    assert np.abs(linear - oracle[:, :2, 3]).max() > 1e-4
    assert "fps=16.0" in path.read_text().splitlines()[0]


# Every ported loader (tests/loaders.py) on the Bezier move with roll: what it reads against Blender's own
# evaluation of the camera at the same times (1e-6 of the path length).
PORTED = {"wan21": "camera.txt", "ac3d": "camera.txt", "comfyui-animatediff": "camera.txt",
          "motionctrl": "poses.json", "motionctrl-svd": "poses.json",
          "recammaster": "camera_extrinsics.json", "uni3c": "cam_info.json", "nerfstudio": "camera_path.json"}


@pytest.mark.parametrize("preset", list(PORTED))
def test_each_ported_loader_reads_blenders_own_curves(bezier_roll, tmp_path, preset):
    scene, camera = bezier_roll
    path = tmp_path / PORTED[preset]
    assert bpy.ops.parascale.export_poses(filepath=str(path), preset=preset, camera="ACTIVE") == {"FINISHED"}
    read, step = poses_as_read(preset, path)
    count = formats.PRESETS[preset].frames or 48
    oracle = _fcurve_matrices(camera, np.linspace(1.0, 48.0, count)[::step])
    want = relative_c2w(oracle)
    length = float(np.linalg.norm(np.diff(oracle[:, :3, 3], axis=0), axis=1).sum())
    assert len(read) == len(want) and length > 9.0 / step
    assert np.linalg.norm(read[:, :3, 3] - want[:, :3, 3], axis=1).max() < 1e-6 * length
    assert np.abs(read[:, :3, :3] - want[:, :3, :3]).max() < 1e-6


@pytest.mark.parametrize("shape", list(SHAPES))
def test_uni3c_and_nerfstudio_intrinsics_against_blender_projection(addon_scene, tmp_path, shape):
    """Uni3C scales the pixel camera to its frame (its frames are resized the same way): within half a pixel.
    nerfstudio gets the focal; its centred principal point is off by exactly what the report says."""
    scene = addon_scene
    width, height = SHAPES[shape]
    camera = _shot(scene, width, height, (0.12, -0.08))
    scene.frame_set(1)
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    ndc = np.array([tuple(world_to_camera_view(scene, camera, Vector(tuple(p))))[:2] for p in SUBJECT_POINTS])
    render_pixels = np.stack([ndc[:, 0] * width, (1.0 - ndc[:, 1]) * height], axis=1)

    def projected(k: np.ndarray, c2w: np.ndarray) -> np.ndarray:
        cam = (SUBJECT_POINTS - c2w[:3, 3]) @ c2w[:3, :3]  # Blender camera axes
        x, y = cam[:, 0] / -cam[:, 2], -cam[:, 1] / -cam[:, 2]
        return np.stack([k[0] * x + k[2], k[1] * y + k[3]], axis=1)

    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "cam_info.json"), preset="uni3c",
                                          camera="ACTIVE") == {"FINISHED"}
    model = uni3c_model_size(width, height)
    k, _ = uni3c_camera(tmp_path / "cam_info.json", *model)
    w2c0 = np.array(json.loads((tmp_path / "cam_info.json").read_text())["extrinsic"][0])
    c2w0 = np.linalg.inv(w2c0) @ np.diag([1.0, -1.0, -1.0, 1.0])
    got = projected(np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]]), c2w0)
    assert np.abs(got - render_pixels * (np.array(model) / (width, height))).max() < 0.5

    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "camera_path.json"), preset="nerfstudio",
                                          camera="ACTIVE") == {"FINISHED"}
    c2w, focal, centre, size = nerfstudio_cameras(tmp_path / "camera_path.json")
    assert size == (width, height)
    got = projected(np.array([focal[0], focal[0], *centre]), np.vstack([c2w[0], [0, 0, 0, 1]]))
    offset = got - render_pixels  # the same for every point: only the principal point is lost
    assert np.abs(offset - offset[0]).max() < 0.5
    np.testing.assert_allclose(np.abs(offset[0]), [0.12 * max(width, height), 0.08 * max(width, height)], atol=0.5)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_colmap_export_read_by_pycolmap_projects_like_blender(addon_scene, tmp_path, shape):
    """pycolmap's own reader and projection (Reconstruction, Image.project_point) on the add-on's COLMAP
    export of a shifted camera: every frame's pixels are Blender's world_to_camera_view (lossless format;
    the tolerance is mathutils' float32)."""
    import pycolmap  # a dev dependency (pyproject's dev extra), installed in every test venv
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    scene = addon_scene
    width, height = SHAPES[shape]
    camera = _shot(scene, width, height, (0.12, -0.08))
    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "sparse"), preset="colmap",
                                          camera="ACTIVE") == {"FINISHED"}
    reconstruction = pycolmap.Reconstruction(str(tmp_path / "sparse"))
    images = sorted(reconstruction.images.values(), key=lambda image: image.name)
    assert len(images) == scene.frame_end - scene.frame_start + 1
    for frame, image in zip((1, 12, 24), (images[0], images[11], images[23]), strict=True):
        cam = reconstruction.cameras[image.camera_id]
        assert cam.model.name == "PINHOLE" and (cam.width, cam.height) == (width, height)
        scene.frame_set(frame)
        ndc = np.array([tuple(world_to_camera_view(scene, camera, Vector(tuple(p))))[:2] for p in SUBJECT_POINTS])
        want = np.stack([ndc[:, 0] * width, (1.0 - ndc[:, 1]) * height], axis=1)
        got = np.array([image.project_point(p) for p in SUBJECT_POINTS])
        assert np.abs(got - want).max() < 1e-3


def test_export_model_size_override(addon_scene, tmp_path):
    scene = addon_scene
    camera = _shot(scene, 720, 1280, (0.1, 0.0))
    path = tmp_path / "wan.txt"
    assert bpy.ops.parascale.export_poses(filepath=str(path), preset="wan21", camera="ACTIVE",
                                          model_size="832x480") == {"FINISHED"}
    assert "model_width=832&model_height=480" in path.read_text().splitlines()[0]
    scene.frame_set(1)
    want = _blender_model_pixels(scene, camera, SUBJECT_POINTS, (832, 480))
    assert np.abs(_file_model_pixels(path, SUBJECT_POINTS, (832, 480)) - want).max() < 0.5
    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "auto.txt"), preset="wan21",
                                          camera="ACTIVE") == {"FINISHED"}
    assert "model_width=480&model_height=832" in (tmp_path / "auto.txt").read_text().splitlines()[0]
    with pytest.raises(RuntimeError, match="Model Size: expected WIDTHxHEIGHT"):
        bpy.ops.parascale.export_poses(filepath=str(tmp_path / "bad.txt"), preset="wan21", camera="ACTIVE",
                                       model_size="83x")
    assert not (tmp_path / "bad.txt").exists()


def test_export_report_carries_the_warnings_with_numbers(addon_scene, tmp_path, capfd):
    scene = addon_scene
    _shot(scene, 1280, 720, (0.1, 0.0))
    capfd.readouterr()
    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "p"), preset="nerfstudio",
                                          camera="ACTIVE") == {"FINISHED"}
    text = "".join(capfd.readouterr())
    assert "nerfstudio camera_path has no principal point" in text and "128.0 px in x and 0.0 px in y" in text
    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "c"), preset="cami2v",
                                          camera="ACTIVE") == {"FINISHED"}
    text = "".join(capfd.readouterr())
    assert "CamI2V's inference ignores the file's intrinsics" in text and "focal off by up to" in text
    assert "24 -> 16 frames" in text and "timing fit" in text
    for preset in ("motionctrl", "motionctrl-svd", "recammaster"):
        assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / preset), preset=preset,
                                              camera="ACTIVE") == {"FINISHED"}
        text = "".join(capfd.readouterr())
        assert f"{preset}: no intrinsics in the file" in text
        assert " px in x and 0.0 px in y off centre" in text
    assert "scales translations by 3/1/4" not in text and "focal " in text and "from the nearest" in text
    # Uni3C's ray grid: one model pixel in x, in render pixels and degrees.
    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "cam_info.json"), preset="uni3c",
                                          camera="ACTIVE") == {"FINISHED"}
    text = "".join(capfd.readouterr())
    model = uni3c_model_size(1280, 720)
    fx = scene.camera.data.lens / scene.camera.data.sensor_width * 1280 * model[0] / 1280
    assert "uni3c: its camera embedding's ray grid puts x at i - 0.5" in text
    assert f"1 px at {model[0]}x{model[1]} = {1280 / model[0]:.2f} px of this 1280x720 render" in text
    assert f"= {np.degrees(np.arctan(1 / fx)):.3f} deg" in text
    # Wan carries this camera: nothing to warn about.
    assert bpy.ops.parascale.export_poses(filepath=str(tmp_path / "w"), preset="wan21",
                                          camera="ACTIVE") == {"FINISHED"}
    assert "Warning" not in "".join(capfd.readouterr())


def test_export_keep_speed_holds_the_last_pose(addon_scene, tmp_path):
    scene = addon_scene
    camera = _shot(scene, 1280, 720, (0.0, 0.0))
    path = tmp_path / "s.txt"
    assert bpy.ops.parascale.export_poses(filepath=str(path), preset="wan21", camera="ACTIVE",
                                          timing="speed") == {"FINISHED"}
    back = formats.read_trajectory(path)
    whole = world_matrices(scene, camera, np.arange(1, 25))
    np.testing.assert_allclose(back.centres[:24] - back.centres[0], whole[:, :3, 3] - whole[0, :3, 3], atol=1e-5)
    np.testing.assert_allclose(back.centres[24:], np.broadcast_to(back.centres[23], (57, 3)), atol=1e-9)
