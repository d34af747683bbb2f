"""Each preset's loader contract, checked with the consumers' own arithmetic (tests/loaders.py) on files
written by core.formats and by the command line: intrinsics at the model's frame within half a pixel of
the render's camera after resize-to-cover and centre crop, for every frame shape, with and without lens
shift; warnings with numbers where a consumer cannot carry the camera; the smooth resampling's error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from loaders import (
    cameractrl_intrinsics,
    cameractrl_relative_c2w,
    cami2v_intrinsics,
    cami2v_w2c,
    cover_crop_pixels,
)
from parascale.core import formats
from parascale.core.cli import main
from parascale.core.errors import TrajectoryError
from parascale.core.formats import PRESETS, read_trajectory, write_trajectory
from parascale.core.poses import Intrinsics, Trajectory, look_at, resample

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

# The bound the README states for the command line's smooth interpolant on a curved move sampled at whole
# frames (an eased arc with roll over 48 frames, resampled to 81 and 16): centres within 2e-5 of the path
# length, rotation entries within 2e-5 (measured 7e-6 and 9e-6; piecewise linear: 3e-4 and 4e-4).
SMOOTH_CENTRE_BOUND = 2e-5
SMOOTH_ROTATION_BOUND = 2e-5


def _curved_move(times: np.ndarray, last: float) -> tuple[np.ndarray, np.ndarray]:
    s = times / last
    eased = 3 * s**2 - 2 * s**3  # Bezier-like ease in and out
    angle = 1.2 * eased
    centres = np.stack([5.0 * np.sin(angle), -5.0 * np.cos(angle) + 5.0, 0.8 * eased], axis=1)
    forward = np.stack([np.cos(angle), np.sin(angle), -0.1 * np.ones_like(angle)], axis=1)
    base = look_at(centres, centres + forward)
    roll = 0.4 * eased
    c, s_ = np.cos(roll), np.sin(roll)
    about_z = np.zeros((len(times), 3, 3))
    about_z[:, 0, 0], about_z[:, 0, 1], about_z[:, 1, 0], about_z[:, 1, 1], about_z[:, 2, 2] = c, -s_, s_, c, 1
    return base @ about_z, centres


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
