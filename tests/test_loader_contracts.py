"""Each preset's loader contract, checked with the consumers' own arithmetic (tests/loaders.py) on files
written by core.formats and by the command line: intrinsics at the model's frame within half a pixel of
the render's camera after resize-to-cover and centre crop, for every frame shape, with and without lens
shift; warnings with numbers where a consumer cannot carry the camera; the smooth resampling's error."""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from loaders import (
    ac3d_frame_indices,
    ac3d_intrinsics,
    cameractrl_intrinsics,
    cameractrl_rays,
    cameractrl_relative_c2w,
    cami2v_intrinsics,
    cami2v_w2c,
    comfyui_animatediff_camera,
    comfyui_ray_pixels,
    cover_crop_pixels,
    motionctrl_rt,
    motionctrl_svd_rt,
    nerfstudio_cameras,
    poses_as_read,
    relative_c2w,
    uni3c_camera,
    uni3c_model_size,
    uni3c_ray_pixels,
)
from parascale.core import formats
from parascale.core.cli import main
from parascale.core.errors import TrajectoryError
from parascale.core.formats import PRESETS, read_trajectory, write_trajectory
from parascale.core.formats.contracts import recammaster_training_focals
from parascale.core.poses import Intrinsics, Trajectory, look_at, resample

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from resampling import MOVES, eased_arc, resampling_errors  # noqa: E402  (bench/resampling.py: the README's figures)

# 16:9, 9:16, 1:1, 4:3, 2.39:1
SHAPES = {"landscape": (1280, 720), "portrait": (720, 1280), "square": (1024, 1024), "four-three": (1024, 768),
          "scope": (2048, 858)}
SHIFTS = {"centred": (0.0, 0.0), "shifted": (0.11, -0.07)}
CAMERACTRL_PRESETS = [name for name, p in PRESETS.items() if p.contract == "cameractrl"]


def _trajectory(width: int, height: int, shift: tuple[float, float], n: int = 30, lens: float = 35.0) -> Trajectory:
    u = np.linspace(0.0, 1.0, n)
    centres = np.stack([4.0 * u, -10.0 + 3.0 * u, 1.5 + 0.5 * u], axis=1)
    rotations = look_at(centres, np.array([0.0, 0.0, 1.0]))
    intrinsics = Intrinsics(width=width, height=height, shift_x=shift[0], shift_y=shift[1])
    return Trajectory(rotations, centres, fps=24.0, lens=lens, intrinsics=intrinsics)


def _projection_error(truth_render: np.ndarray, loader_model: np.ndarray, width: int, height: int,
                      model: tuple[int, int]) -> float:
    """Largest pixel distance, over a grid of camera-space directions, between where the render's camera
    puts a point in the model frame (projected in the render, then resized and cropped like the frames)
    and where the loader's camera puts it."""
    x, y = np.meshgrid(np.linspace(-0.6, 0.6, 7), np.linspace(-0.4, 0.4, 5))
    fx, fy, cx, cy = truth_render
    render_pixels = np.stack([fx * x + cx, fy * y + cy], axis=-1)
    want = cover_crop_pixels(render_pixels, width, height, *model)
    lfx, lfy, lcx, lcy = loader_model
    got = np.stack([lfx * x + lcx, lfy * y + lcy], axis=-1)
    return float(np.abs(got - want).max())


def _model_size(preset: str, width: int, height: int) -> tuple[int, int]:
    chosen = PRESETS[preset]
    if height > width and chosen.portrait:
        return chosen.portrait
    return chosen.resolution  # type: ignore[return-value]


@pytest.mark.parametrize("shift", list(SHIFTS))
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("preset", CAMERACTRL_PRESETS)
def test_cameractrl_family_loaders_reconstruct_the_render_camera(tmp_path, preset, shape, shift):
    width, height = SHAPES[shape]
    trajectory = _trajectory(width, height, SHIFTS[shift])
    path = tmp_path / "camera.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # this family carries the camera: nothing to warn about
        write_trajectory(path, trajectory, preset)
    model = _model_size(preset, width, height)
    loaded = cameractrl_intrinsics(path, *model)
    assert len(loaded) == PRESETS[preset].frames
    truth = trajectory.pixel_intrinsics()[0]
    assert _projection_error(truth, loaded[0], width, height, model) < 0.5
    assert np.ptp(loaded, axis=0).max() < 1e-9  # one lens over the clip
    # The lossless description survives next to it: the sidecar brings back the render's camera.
    back = read_trajectory(path)
    assert (back.intrinsics.width, back.intrinsics.height) == (width, height)
    np.testing.assert_allclose(back.pixel_intrinsics()[0], truth, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shift", list(SHIFTS))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_ac3d_loader_reconstructs_the_render_camera_from_the_paired_clip(tmp_path, shape, shift):
    """AC3D rescales from the ratio of the clip paired with the file (a clip of the render's size)."""
    width, height = SHAPES[shape]
    trajectory = _trajectory(width, height, SHIFTS[shift], n=49)
    path = tmp_path / "camera.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_trajectory(path, trajectory, "ac3d")
    np.testing.assert_array_equal(ac3d_frame_indices(len(cameractrl_intrinsics(path, 720, 480))), np.arange(49))
    loaded = ac3d_intrinsics(path, width, height)
    truth = trajectory.pixel_intrinsics()[0]
    assert _projection_error(truth, loaded[0], width, height, (720, 480)) < 0.5
    if shape != "landscape":  # the CameraCtrl 1280x720 assumption would be off for this frame
        assert _projection_error(truth, cameractrl_intrinsics(path, 720, 480)[0], width, height, (720, 480)) > 0.5
    np.testing.assert_allclose(read_trajectory(path).pixel_intrinsics()[0], truth, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shift", list(SHIFTS))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_comfyui_animatediff_loader_is_cameractrls_arithmetic_and_reconstructs_the_camera(tmp_path, shape, shift):
    """ComfyUI-AnimateDiff-Evolved's Load CameraCtrl Poses + prepare_pose_embedding, ported on its own: it
    gives CameraCtrl's intrinsics, relative poses and ray grid for the same file, and the render's camera in
    the model frame (the latent's size x 8: 384x256, or 256x384 for a portrait render)."""
    width, height = SHAPES[shape]
    trajectory = _trajectory(width, height, SHIFTS[shift])
    path = tmp_path / "camera.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_trajectory(path, trajectory, "comfyui-animatediff")
    model = _model_size("comfyui-animatediff", width, height)
    assert model == ((256, 384) if height > width else (384, 256))
    intrinsic, relative = comfyui_animatediff_camera(path, *model)
    assert len(intrinsic) == len(relative) == 16
    truth = trajectory.pixel_intrinsics()[0]
    assert _projection_error(truth, intrinsic[0].astype(np.float64), width, height, model) < 0.5
    # CameraCtrl's arithmetic: the same numbers (up to the float32 it computes in).
    np.testing.assert_allclose(intrinsic, cameractrl_intrinsics(path, *model), rtol=1e-6)
    np.testing.assert_allclose(relative, cameractrl_relative_c2w(path), atol=2e-6)
    i, j = comfyui_ray_pixels(*model)
    fx, fy, cx, cy = intrinsic[0].astype(np.float64)
    directions = np.stack(np.broadcast_arrays((i[None, :] - cx) / fx, (j[:, None] - cy) / fy, 1.0), axis=-1)
    np.testing.assert_allclose(directions, cameractrl_rays(intrinsic[0].astype(np.float64), *model), atol=1e-12)
    # The render's own normalized intrinsics (what this preset wrote before) miss for any other shape.
    write_trajectory(tmp_path / "plain.txt", trajectory, format="realestate10k")
    plain = comfyui_animatediff_camera(tmp_path / "plain.txt", *model)[0][0].astype(np.float64)
    assert (_projection_error(truth, plain, width, height, model) > 0.5) == (shape != "landscape" or shift != "centred")


def test_the_render_normalized_values_were_wrong_for_portrait(tmp_path):
    """The issue's case: a portrait 720x1280 camera read at 832x480 by VideoX-Fun. Its true focal there is
    2054 px; the render's plain normalized intrinsics gave 2107 x 667; the contract gives 2054 x 2054."""
    trajectory = _trajectory(720, 1280, (0.0, 0.0), n=81, lens=50.0)
    plain = tmp_path / "plain.txt"
    write_trajectory(plain, trajectory, format="realestate10k")
    np.testing.assert_allclose(cameractrl_intrinsics(plain, 832, 480)[0, :2], [2107, 667], atol=1)
    fitted = tmp_path / "wan.txt"
    write_trajectory(fitted, trajectory, "wan21", resolution=(832, 480))
    np.testing.assert_allclose(cameractrl_intrinsics(fitted, 832, 480)[0, :2], [2054.3, 2054.3], atol=0.5)


def test_wan_follows_the_render_orientation_or_takes_a_resolution(tmp_path):
    portrait = _trajectory(720, 1280, (0.05, 0.0), n=81)
    write_trajectory(tmp_path / "auto.txt", portrait, "wan21")
    assert "model_width=480&model_height=832" in (tmp_path / "auto.txt").read_text().splitlines()[0]
    write_trajectory(tmp_path / "forced.txt", portrait, "wan21", resolution=(832, 480))
    loaded = cameractrl_intrinsics(tmp_path / "forced.txt", 832, 480)
    assert _projection_error(portrait.pixel_intrinsics()[0], loaded[0], 720, 1280, (832, 480)) < 0.5


def test_relative_poses_through_the_cameractrl_loader_match_the_trajectory(tmp_path):
    trajectory = _trajectory(1280, 720, (0.0, 0.0), n=81)
    write_trajectory(tmp_path / "c.txt", trajectory, "wan21")
    relative = cameractrl_relative_c2w(tmp_path / "c.txt")
    rotation, translation = trajectory.w2c_opencv()
    w2c0 = np.eye(4)
    w2c0[:3, :3], w2c0[:3, 3] = rotation[0], translation[0]
    c2w = np.tile(np.eye(4), (len(trajectory), 1, 1))
    c2w[:, :3, :3] = np.swapaxes(rotation, 1, 2)
    c2w[:, :3, 3] = trajectory.centres
    np.testing.assert_allclose(relative, w2c0 @ c2w, atol=1e-9)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_cami2v_ignores_the_intrinsics_and_the_export_says_by_how_much(tmp_path, shape):
    width, height = SHAPES[shape]
    trajectory = _trajectory(width, height, (0.08, 0.0))
    with pytest.warns(UserWarning) as caught:
        write_trajectory(tmp_path / "c.txt", trajectory, "cami2v")
    [message] = [str(w.message) for w in caught]
    used = cami2v_intrinsics(width, height, 256, 256)
    scale = max(256 / width, 256 / height)
    fx = trajectory.pixel_intrinsics()[0, 0] * scale
    assert f"fx = fy = {used[0]:g} px" in message and f"fx {fx:.1f}" in message
    assert f"focal off by up to {abs(fx - used[0]):.1f} px" in message
    # The poses CamI2V does read are the trajectory's (resampled to 16 frames).
    back = resample(trajectory, 16, method="smooth")
    rotation, translation = back.w2c_opencv()
    np.testing.assert_allclose(cami2v_w2c(tmp_path / "c.txt")[:, :, :3], rotation, atol=1e-12)
    np.testing.assert_allclose(cami2v_w2c(tmp_path / "c.txt")[:, :, 3], translation, atol=1e-9)


def test_nerfstudio_warns_with_the_principal_point_it_loses(tmp_path):
    trajectory = _trajectory(1280, 720, (0.1, 0.0))
    with pytest.warns(UserWarning, match=r"128\.0 px in x and 0\.0 px in y"):
        write_trajectory(tmp_path / "camera_path.json", trajectory, "nerfstudio")


def _model_camera(trajectory: Trajectory, model: tuple[int, int]) -> np.ndarray:
    i = trajectory.intrinsics
    return formats.contracts.intrinsics_in_model_frame(trajectory.pixel_intrinsics()[0], i.width, i.height, *model)


def test_motionctrl_loaders_read_relative_poses_and_the_lens_loss_is_warned(tmp_path):
    trajectory = _trajectory(1280, 720, (0.1, 0.0), n=30)
    for preset, model in (("motionctrl", (256, 256)), ("motionctrl-svd", (1024, 576))):
        path = tmp_path / f"{preset}.json"
        with pytest.warns(UserWarning) as caught:
            write_trajectory(path, trajectory, preset)
        [message] = [str(w.message) for w in caught]
        fx, fy, cx, cy = _model_camera(trajectory, model)
        assert f"{preset}: no intrinsics in the file" in message
        assert f"fx {fx:.1f}, fy {fy:.1f} px" in message and f"{abs(cx - model[0] / 2):.1f} px in x" in message
        resampled = resample(trajectory, PRESETS[preset].frames, method="smooth")
        read, _ = poses_as_read(preset, path)
        np.testing.assert_allclose(read, relative_c2w(resampled.matrices()), atol=1e-9)
    # load_camera_pose takes the rows as they are: frame 0 is [I|0]
    np.testing.assert_allclose(motionctrl_rt(tmp_path / "motionctrl.json")[0], np.eye(4)[:3], atol=1e-12)
    # get_RT stretches the translations by (3, 1, 4): said in the warning, undone in poses_as_read
    assert "scales translations by 3/1/4 (x/y/z)" in message
    raw = np.array(motionctrl_rt(tmp_path / "motionctrl-svd.json"))
    np.testing.assert_allclose(motionctrl_svd_rt(tmp_path / "motionctrl-svd.json")[:, :, 3],
                               raw[:, :, 3] * np.array([3.0, 1.0, 4.0]), atol=1e-9)


def test_recammaster_loader_reads_every_fourth_frame_and_the_lens_loss_is_warned(tmp_path):
    trajectory = _trajectory(720, 1280, (0.0, 0.05), n=40, lens=24.0)
    path = tmp_path / "camera_extrinsics.json"
    with pytest.warns(UserWarning) as caught:
        write_trajectory(path, trajectory, "recammaster")
    [message] = [str(w.message) for w in caught]
    fx = _model_camera(trajectory, (832, 480))[0]
    focals = recammaster_training_focals(832, 480)
    np.testing.assert_allclose(focals, np.array([18, 24, 35, 50]) / 23.76 * 832)
    assert f"(fx {'/'.join(f'{f:.0f}' for f in focals)} px at 832x480)" in message
    assert f"focal {np.abs(focals - fx).min():.1f} px from the nearest" in message
    read, step = poses_as_read("recammaster", path)
    assert len(read) == 21 and step == 4
    resampled = resample(trajectory, 81, method="smooth")
    np.testing.assert_allclose(read, relative_c2w(resampled.matrices()[::4]), atol=1e-9)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_uni3c_loader_scales_the_pixel_camera_to_its_frame(tmp_path, shape):
    width, height = SHAPES[shape]
    trajectory = _trajectory(width, height, (0.1, -0.05), n=30)
    path = tmp_path / "cam_info.json"
    with pytest.warns(UserWarning) as caught:
        write_trajectory(path, trajectory, "uni3c")
    model = uni3c_model_size(width, height)  # the reference image is the render's first frame
    k, relative = uni3c_camera(path, *model)
    fx, fy, cx, cy = trajectory.pixel_intrinsics()[0]
    sx, sy = model[0] / width, model[1] / height  # its frames are resized the same way (no crop)
    np.testing.assert_allclose(k[[0, 1, 0, 1], [0, 1, 2, 2]], [fx * sx, fy * sy, cx * sx, cy * sy], atol=0.5)
    # Its ray grid: y through the pixel centres, x one model pixel left of them, whatever the file says.
    # The warning states that pixel in render pixels and in degrees at the principal point.
    xs, ys = uni3c_ray_pixels(*model)
    np.testing.assert_allclose(ys - (np.arange(model[1]) + 0.5), 0.0)
    np.testing.assert_allclose(xs - (np.arange(model[0]) + 0.5), -1.0)
    column = int(np.argmin(np.abs(np.arange(model[0]) + 0.5 - k[0, 2])))
    true_x, grid_x = (column + 0.5 - k[0, 2]) / k[0, 0], (xs[column] - k[0, 2]) / k[0, 0]
    degrees = np.degrees(abs(np.arctan(true_x) - np.arctan(grid_x)))
    [message] = [str(w.message) for w in caught]
    assert f"1 px at {model[0]}x{model[1]} = {width / model[0]:.2f} px of this {width}x{height} render" in message
    stated = float(re.search(r"render = ([0-9.]+) deg;", message).group(1))
    assert abs(stated - degrees) <= 6e-4 and "x at i - 0.5 (y at j + 0.5)" in message
    assert len(relative) == 81
    np.testing.assert_allclose(relative[0], np.eye(4), atol=1e-12)
    read, _ = poses_as_read("uni3c", path)
    np.testing.assert_allclose(read, relative_c2w(resample(trajectory, 81, method="smooth").matrices()), atol=1e-9)


def test_nerfstudio_loader_gets_the_focal_and_loses_only_the_principal_point(tmp_path):
    trajectory = _trajectory(1024, 768, (0.1, -0.05), n=12)
    path = tmp_path / "camera_path.json"
    with pytest.warns(UserWarning) as caught:
        write_trajectory(path, trajectory, "nerfstudio")
    c2w, focal, centre, size = nerfstudio_cameras(path)
    fx, fy, cx, cy = trajectory.pixel_intrinsics()[0]
    assert size == (1024, 768)
    np.testing.assert_allclose(focal, fy, atol=1e-6)
    np.testing.assert_allclose(c2w, trajectory.matrices()[:, :3], atol=1e-12)
    [message] = [str(w.message) for w in caught]
    assert f"{abs(cx - centre[0]):.1f} px in x and {abs(cy - centre[1]):.1f} px in y" in message


# The presets whose loaders were ported; the command line's conversions go through each.
PORTED = ["wan21", "ac3d", "cameractrl-svd", "comfyui-animatediff", "motionctrl", "motionctrl-svd", "recammaster",
          "uni3c", "nerfstudio"]


@pytest.mark.parametrize("preset", PORTED)
def test_command_line_conversions_read_back_through_each_loader_follow_the_curve(tmp_path, preset, capsys):
    frames = np.arange(48.0)
    rotations, centres = _curved_move(frames, 47.0)
    source = tmp_path / "in.json"
    write_trajectory(source, Trajectory(rotations, centres, frames=frames, fps=24.0,
                                        intrinsics=Intrinsics(width=1280, height=720)), format="parascale")
    suffix = {"recammaster": ".json", "motionctrl": ".json", "motionctrl-svd": ".json", "uni3c": ".json",
              "nerfstudio": ".json"}.get(preset, ".txt")
    out = tmp_path / (("cam_info" if preset == "uni3c" else "camera_path" if preset == "nerfstudio" else "c")
                      + suffix)
    assert main(["convert", str(source), str(out), "--preset", preset]) == 0
    capsys.readouterr()
    read, step = poses_as_read(preset, out)
    count = PRESETS[preset].frames or 48
    want_r, want_c = _curved_move(np.linspace(0.0, 47.0, count)[::step], 47.0)
    matrices = np.tile(np.eye(4), (len(want_c), 1, 1))
    matrices[:, :3, :3], matrices[:, :3, 3] = want_r, want_c
    want = relative_c2w(matrices)
    length = float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())
    assert np.linalg.norm(read[:, :3, 3] - want[:, :3, 3], axis=1).max() < SMOOTH_CENTRE_BOUND * length
    assert np.abs(read[:, :3, :3] - want[:, :3, :3]).max() < 2 * SMOOTH_ROTATION_BOUND  # composed with frame 0's


def test_command_line_warns_and_summarizes_the_export(tmp_path, capsys):
    source = tmp_path / "in.json"
    write_trajectory(source, _trajectory(720, 1280, (0.1, 0.0), n=48), format="parascale")
    assert main(["convert", str(source), str(tmp_path / "c.txt"), "--preset", "cami2v"]) == 0
    out, err = capsys.readouterr()
    assert err.count("parascale: warning: cami2v: CamI2V's inference ignores") == 1
    assert "48 -> 16 frames" in out and "timing fit" in out and "intrinsics for 256x256" in out
    assert main(["convert", str(source), str(tmp_path / "p.json"), "--preset", "nerfstudio"]) == 0
    _, err = capsys.readouterr()
    assert "parascale: warning: nerfstudio camera_path has no principal point" in err and " px in x" in err
    assert main(["convert", str(source), str(tmp_path / "cam_info.json"), "--preset", "uni3c"]) == 0
    out, err = capsys.readouterr()
    assert err.count("parascale: warning: uni3c: its camera embedding's ray grid puts x at i - 0.5") == 1
    assert "1 px at 448x800 = 1.61 px of this 720x1280 render = " in err and "intrinsics for 448x800" in out
    for preset in ("motionctrl", "recammaster"):
        assert main(["convert", str(source), str(tmp_path / f"{preset}.json"), "--preset", preset]) == 0
        out, err = capsys.readouterr()
        assert err.count(f"parascale: warning: {preset}: no intrinsics in the file") == 1
        assert " px in x and " in err and "model frame" in out and "..." not in err
    assert main(["convert", str(source), str(tmp_path / "w.txt"), "--preset", "wan21", "--model-size", "832x480"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "81 frames at 16 fps" in out and "intrinsics for 832x480" in out
    loaded = cameractrl_intrinsics(tmp_path / "w.txt", 832, 480)
    truth = read_trajectory(source).pixel_intrinsics()[0]
    assert _projection_error(truth, loaded[0], 720, 1280, (832, 480)) < 0.5
    assert main(["convert", str(source), str(tmp_path / "s.txt"), "--preset", "wan21", "--timing", "speed"]) == 0
    out, _ = capsys.readouterr()
    assert "timing speed" in out and "the last pose held 33 frames" in out


# ------------------------------------------------------------------------------------- timing

def test_timing_fit_keeps_the_move_and_speed_keeps_the_step(tmp_path):
    trajectory = _trajectory(1280, 720, (0.0, 0.0), n=49)
    fit = formats.export_plan(trajectory, "wan21")
    assert fit.fps == 16.0 and fit.frame_ratio == pytest.approx(48 / 80)
    np.testing.assert_allclose(fit.times[[0, -1]], [0, 48])
    speed = formats.export_plan(trajectory, "wan21", timing="speed")
    np.testing.assert_allclose(speed.times[:49], np.arange(49))
    assert np.all(speed.times[49:] == 48) and speed.frame_ratio == 1.0
    write_trajectory(tmp_path / "s.txt", trajectory, "wan21", timing="speed")
    back = read_trajectory(tmp_path / "s.txt")
    np.testing.assert_allclose(np.diff(back.centres[:49], axis=0), np.diff(trajectory.centres, axis=0), atol=1e-9)
    assert "fps=16.0" in (tmp_path / "s.txt").read_text().splitlines()[0]
    with pytest.raises(TrajectoryError, match="timing"):
        formats.export_plan(trajectory, "wan21", timing="slow")


# ---------------------------------------------------------------------------- smooth resampling

# The bounds the README states for the command line's smooth interpolant on curved moves sampled at 48 whole
# frames and resampled to 81, 49 and 16 (bench/resampling.py measures them): centre error as a fraction of the
# path length, rotation-entry error. Eased arc with roll: measured up to 7e-6 and 8e-6 (piecewise linear 3e-4,
# 4e-4); orbit with roll (7.5 degrees a frame): 3e-5 and 1.7e-4 (linear 4e-4, 1.5e-3).
BOUNDS = {"eased arc with roll": (2e-5, 2e-5), "orbit with roll": (5e-5, 3e-4)}
SMOOTH_CENTRE_BOUND, SMOOTH_ROTATION_BOUND = BOUNDS["eased arc with roll"]
_curved_move = eased_arc


@pytest.mark.parametrize("move", list(BOUNDS))
@pytest.mark.parametrize("count", [81, 49, 16])
def test_smooth_resampling_stays_within_the_stated_bound(move, count):
    smooth, linear = resampling_errors(MOVES[move], count, "smooth"), resampling_errors(MOVES[move], count, "linear")
    assert smooth[0] < BOUNDS[move][0] and smooth[1] < BOUNDS[move][1]
    assert smooth[0] < linear[0] / 5 and smooth[1] < linear[1] / 5  # the line cuts the corners; the curve does not


@pytest.mark.parametrize("count", [81, 16])
def test_smooth_resampling_follows_a_curved_move(count):
    frames = np.arange(48.0)
    rotations, centres = _curved_move(frames, 47.0)
    trajectory = Trajectory(rotations, centres, frames=frames)
    times = np.linspace(0, 47, count)
    want_r, want_c = _curved_move(times, 47.0)
    length = trajectory.path_length()
    smooth = resample(trajectory, count, method="smooth")
    linear = resample(trajectory, count, method="linear")
    smooth_centre = np.linalg.norm(smooth.centres - want_c, axis=1).max() / length
    linear_centre = np.linalg.norm(linear.centres - want_c, axis=1).max() / length
    assert smooth_centre < SMOOTH_CENTRE_BOUND
    assert np.abs(smooth.rotations - want_r).max() < SMOOTH_ROTATION_BOUND
    if count == 81:  # in between whole frames the line cuts the corner; the curve does not
        assert smooth_centre < linear_centre / 5
    # Tangent-continuous: velocity has no jumps at the original frames.
    dense = resample(trajectory, 470 * 2 + 1, method="smooth")
    velocity = np.diff(dense.centres, axis=0)
    assert np.abs(np.diff(velocity, axis=0)).max() < 5 * np.abs(velocity).max() / 470


def test_transfer_summary_states_the_pi_per_output_frame(tmp_path, capsys):
    source = tmp_path / "in.json"
    write_trajectory(source, _trajectory(1280, 720, (0.0, 0.0), n=49), format="parascale")
    out_path = tmp_path / "out.txt"
    assert main(["transfer", str(source), "--ref-depth", "5", "--target-depth", "2", "--preset", "wan21",
                 "-o", str(out_path)]) == 0
    out = capsys.readouterr().out
    total = read_trajectory(source).path_length() / 5.0  # fixed depth 5: Pi_total = path length / 5
    assert "49 -> 81 frames at 16 fps, timing fit" in out
    assert f"Pi per output frame {total / 80:.4g} on average (Pi_total {total:.4g} kept)" in out


# ------------------------------------------------------------------------ batch and transfer --json

def test_batch_takes_timing_and_model_size_from_the_command_line_and_the_manifest(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write_trajectory(folder / f"{name}.txt", _trajectory(720, 1280, (0.05, 0.0), n=49))
    rows = [{"reference": "a.txt", "timing": "speed"}, {"reference": "b.txt", "model_size": "832x480"},
            {"reference": "c.txt"}]
    manifest = folder / "clips.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), str(out), "--ref-depth", "5", "--target-depth", "2", "--preset", "wan21",
                 "--jobs", "1", "--model-size", "704x1280"]) == 0
    capsys.readouterr()
    url = {name: (out / f"{name}.txt").read_text().splitlines()[0] for name in ("a", "b", "c")}
    assert "model_width=704&model_height=1280" in url["a"] and "model_width=704&model_height=1280" in url["c"]
    assert "model_width=832&model_height=480" in url["b"]
    loaded = cameractrl_intrinsics(out / "b.txt", 832, 480)
    truth = read_trajectory(folder / "b.txt").pixel_intrinsics()[0]
    assert _projection_error(truth, loaded[0], 720, 1280, (832, 480)) < 0.5
    speed, fit = read_trajectory(out / "a.txt"), read_trajectory(out / "c.txt")
    np.testing.assert_allclose(speed.centres[49:], np.broadcast_to(speed.centres[48], (32, 3)), atol=1e-9)
    assert np.linalg.norm(np.diff(fit.centres[48:], axis=0), axis=1).min() > 1e-3  # fit: still moving
    # The command line's --timing is every row's default; bad values stop the batch before it starts.
    alone = tmp_path / "alone"
    alone.mkdir()
    write_trajectory(alone / "a.txt", _trajectory(720, 1280, (0.05, 0.0), n=49))
    assert main(["batch", str(alone), str(tmp_path / "out2"), "--ref-depth", "5", "--target-depth", "2",
                 "--preset", "wan21", "--timing", "speed"]) == 0
    held = read_trajectory(tmp_path / "out2" / "a.txt")
    np.testing.assert_allclose(held.centres[49:], np.broadcast_to(held.centres[48], (32, 3)), atol=1e-9)
    capsys.readouterr()
    for bad, says in (({"reference": "a.txt", "model_size": "83x"}, "model_size: expected WIDTHxHEIGHT"),
                      ({"reference": "a.txt", "timing": "slow"}, "timing must be one of fit, speed")):
        manifest.write_text(json.dumps(bad) + "\n")
        assert main(["batch", str(manifest), str(tmp_path / "out3"), "--ref-depth", "5", "--target-depth", "2",
                     "--preset", "wan21"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("parascale: error: ") and says in err and "Traceback" not in err
        assert not (tmp_path / "out3" / "a.txt").exists()


@pytest.mark.parametrize("timing", ["fit", "speed"])
def test_transfer_json_carries_the_export_summary(tmp_path, capsys, timing):
    source = tmp_path / "in.json"
    write_trajectory(source, _trajectory(1280, 720, (0.1, 0.0), n=49), format="parascale")
    assert main(["transfer", str(source), "--ref-depth", "5", "--target-depth", "2", "--preset", "recammaster",
                 "--timing", timing, "-o", str(tmp_path / "out.json"), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    export = report["export"]
    assert export["format"] == "recammaster" and export["frames_written"] == 81 and export["timing"] == timing
    assert export["source_frames"] == 49 and export["fps"] == 16.0 and export["model_size"] == [832, 480]
    assert [w.split(":")[0] for w in export["warnings"]] == ["recammaster"]
    assert "parascale: warning: recammaster: no intrinsics in the file" in captured.err  # still on stderr
    per_output = np.array(export["pi_per_output_frame"])
    source_steps = np.linalg.norm(np.diff(read_trajectory(source).centres, axis=0), axis=1) / 5.0
    assert len(per_output) == 80
    if timing == "fit":  # the whole move in 80 steps: Pi_total kept
        assert per_output.sum() == pytest.approx(source_steps.sum(), rel=1e-9)
        np.testing.assert_allclose(per_output, source_steps.sum() / 80, rtol=1e-6)  # this move is uniform
    else:  # one source step per output step, then the held pose
        np.testing.assert_allclose(per_output[:48], source_steps, rtol=1e-9)
        assert np.all(per_output[48:] == 0)
    assert export["pi_total_written"] == pytest.approx(per_output.sum())
