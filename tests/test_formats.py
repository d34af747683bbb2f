"""Pose files (core/formats/) and depth inputs (core/pointcloud.py): round trips, the consumers' own
conventions read back the way their loaders read them, malformed files, pycolmap as an independent
reader, atomic output."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pycolmap
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parascale.core import fileio
from parascale.core.depth import PointsDepth, Views
from parascale.core.errors import OutputFileError, PoseFileError, TrajectoryError
from parascale.core.formats import (
    FORMATS,
    PRESETS,
    RELATIVE_FRAME0_ROTATION,
    format_for_output,
    preset_descriptions,
    read_colmap,
    read_motionctrl,
    read_nerfstudio,
    read_parascale,
    read_realestate10k,
    read_recammaster,
    read_trajectory,
    read_transfer_result,
    read_transforms,
    read_uni3c,
    sidecar_path,
    sniff_format,
    write_colmap,
    write_motionctrl,
    write_nerfstudio,
    write_parascale,
    write_realestate10k,
    write_recammaster,
    write_trajectory,
    write_transforms,
    write_uni3c,
)
from parascale.core.parallax import transfer
from parascale.core.pointcloud import per_frame_median_depths, read_depth_values, read_points, unproject_depth_map
from parascale.core.poses import Intrinsics, Trajectory, look_at, reanchor
from scipy.spatial.transform import Rotation

TOL = 1e-9


# ----------------------------------------------------------------------------------------------- data

def random_trajectory(seed: int, n: int = 12, animated_lens: bool = True, shift: bool = True,
                      fit: str = "AUTO", width: int = 640, height: int = 360, integer_frames: bool = True,
                      pixel_aspect: float = 1.0) -> Trajectory:
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(n, random_state=seed).as_matrix()
    centres = rng.uniform(-50, 50, size=(n, 3))
    lens = np.linspace(24.0, 70.0, n) if animated_lens else 35.0
    frames = 3 + 2 * np.arange(n) if integer_frames else np.cumsum(rng.uniform(0.3, 2.0, n))
    intrinsics = Intrinsics(sensor_width=rng.uniform(10, 50), sensor_height=rng.uniform(8, 30), sensor_fit=fit,
                            shift_x=rng.uniform(-0.4, 0.4) if shift else 0.0,
                            shift_y=rng.uniform(-0.4, 0.4) if shift else 0.0, width=width, height=height,
                            pixel_aspect_y=pixel_aspect)
    return Trajectory(rotations, centres, frames=frames, fps=float(rng.choice([16, 24, 25, 30])), lens=lens,
                      intrinsics=intrinsics, clip_start=0.05, clip_end=500.0)


def assert_same_poses(a: Trajectory, b: Trajectory, tol: float = TOL) -> None:
    scale = max(1.0, float(np.abs(a.centres).max()))
    np.testing.assert_allclose(b.rotations, a.rotations, atol=tol)
    np.testing.assert_allclose(b.centres, a.centres, atol=tol * scale)


def assert_same_pixel_intrinsics(a: Trajectory, b: Trajectory, tol: float = TOL) -> None:
    assert (b.intrinsics.width, b.intrinsics.height) == (a.intrinsics.width, a.intrinsics.height)
    np.testing.assert_allclose(b.pixel_intrinsics(), a.pixel_intrinsics(), rtol=tol, atol=tol)


def assert_lossless(a: Trajectory, b: Trajectory) -> None:
    assert_same_poses(a, b)
    assert_same_pixel_intrinsics(a, b)
    np.testing.assert_allclose(b.frames, a.frames, atol=TOL)
    np.testing.assert_allclose(b.lens, a.lens, rtol=TOL)
    assert b.fps == pytest.approx(a.fps, rel=TOL)
    assert b.intrinsics.sensor_fit == a.intrinsics.sensor_fit
    for name in ("sensor_width", "sensor_height", "width", "height", "pixel_aspect_x", "pixel_aspect_y"):
        assert getattr(b.intrinsics, name) == pytest.approx(getattr(a.intrinsics, name), rel=TOL)
    assert b.intrinsics.shift_x == pytest.approx(a.intrinsics.shift_x, abs=TOL)
    assert b.intrinsics.shift_y == pytest.approx(a.intrinsics.shift_y, abs=TOL)
    assert (b.clip_start, b.clip_end) == pytest.approx((a.clip_start, a.clip_end), rel=TOL)


trajectories = st.builds(
    random_trajectory, seed=st.integers(0, 2**31), n=st.integers(2, 20), animated_lens=st.booleans(),
    shift=st.booleans(), fit=st.sampled_from(["AUTO", "HORIZONTAL", "VERTICAL"]),
    width=st.integers(16, 4096), height=st.integers(16, 4096), integer_frames=st.booleans(),
    pixel_aspect=st.sampled_from([1.0, 1.0, 2.0, 0.5]),
)
HYPOTHESIS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ round trips

@HYPOTHESIS
@given(trajectory=trajectories)
def test_realestate10k_round_trip_with_sidecar_is_lossless(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camera.txt"
        written = write_realestate10k(path, trajectory)
        assert written == [path, sidecar_path(path)]
        assert_lossless(trajectory, read_realestate10k(path))


@HYPOTHESIS
@given(trajectory=trajectories)
def test_realestate10k_without_sidecar_keeps_poses_and_intrinsics(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camera.txt"
        write_realestate10k(path, trajectory, sidecar=False)
        back = read_realestate10k(path)
        assert_same_poses(trajectory, back)
        assert_same_pixel_intrinsics(trajectory, back)  # W x H from the URL line
        assert back.fps == pytest.approx(trajectory.fps)


@HYPOTHESIS
@given(trajectory=trajectories)
def test_motionctrl_round_trip(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "poses.json"
        write_motionctrl(path, trajectory)
        assert_lossless(trajectory, read_motionctrl(path))
        sidecar_path(path).unlink()
        relative = read_motionctrl(path)
        # Without the sidecar: the documented default anchor of relative poses.
        expected = reanchor(trajectory, RELATIVE_FRAME0_ROTATION, np.zeros(3))
        assert_same_poses(expected, relative)
        np.testing.assert_allclose(relative.centres[0], 0.0, atol=1e-12)
        np.testing.assert_allclose(relative.rotations[0], RELATIVE_FRAME0_ROTATION, atol=1e-12)
        assert relative.fps == 24.0 and np.all(relative.lens == 50.0)


@HYPOTHESIS
@given(trajectory=trajectories)
def test_recammaster_round_trip(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "extrinsics.json"
        write_recammaster(path, trajectory)
        assert_lossless(trajectory, read_recammaster(path))
        sidecar_path(path).unlink()
        back = read_recammaster(path)
        assert_same_poses(trajectory, back)
        np.testing.assert_array_equal(back.frames, np.arange(len(trajectory)))


@HYPOTHESIS
@given(trajectory=trajectories)
def test_uni3c_round_trip(trajectory: Trajectory) -> None:
    trajectory = trajectory.replace(lens=float(trajectory.lens[0]))  # one intrinsic matrix per file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cam_info.json"
        write_uni3c(path, trajectory)
        back = read_uni3c(path)
        assert_same_poses(trajectory, back)
        assert_same_pixel_intrinsics(trajectory, back)


@HYPOTHESIS
@given(trajectory=trajectories)
def test_nerfstudio_round_trip(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camera_path.json"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write_nerfstudio(path, trajectory)
        back = read_nerfstudio(path)
        assert_same_poses(trajectory, back)
        # The format carries the vertical fov: fy per frame (nerfstudio renders square pixels, centred).
        np.testing.assert_allclose(back.pixel_intrinsics()[:, 1], trajectory.pixel_intrinsics()[:, 1], rtol=TOL)
        np.testing.assert_allclose(back.intrinsics.vertical_fov(back.lens),
                                   trajectory.intrinsics.vertical_fov(trajectory.lens), rtol=TOL)
        assert back.fps == trajectory.fps


@HYPOTHESIS
@given(trajectory=trajectories)
def test_transforms_round_trip(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "transforms.json"
        write_transforms(path, trajectory)
        back = read_transforms(path)
        assert_same_poses(trajectory, back)
        assert_same_pixel_intrinsics(trajectory, back)
        if np.all(trajectory.frames == np.round(trajectory.frames)):
            np.testing.assert_array_equal(back.frames, trajectory.frames)


@HYPOTHESIS
@given(trajectory=trajectories)
def test_colmap_round_trip(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "sparse"
        write_colmap(model, trajectory)
        back = read_colmap(model)
        assert_same_poses(trajectory, back)
        assert_same_pixel_intrinsics(trajectory, back)


@HYPOTHESIS
@given(trajectory=trajectories)
def test_parascale_round_trip_of_a_trajectory_is_lossless(trajectory: Trajectory) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.json"
        write_parascale(path, trajectory)
        back = read_parascale(path)
        assert_lossless(trajectory, back)
        np.testing.assert_array_equal(back.centres, trajectory.centres)  # bit-exact, not just close
        with pytest.raises(PoseFileError, match="plain trajectory"):
            read_transfer_result(path)


def test_parascale_round_trip_of_a_transfer_result_is_lossless(tmp_path: Path) -> None:
    reference = random_trajectory(3, n=15)
    points = np.random.default_rng(0).normal(size=(400, 3)) * 30
    result = transfer(reference, np.linspace(4.0, 6.0, 15), PointsDepth(points), mode="global")
    path = tmp_path / "result.json"
    write_trajectory(path, result, "parascale")
    back = read_transfer_result(path)
    assert_lossless(result.trajectory, back.trajectory)
    assert back.mode == result.mode
    for name in ("pi_reference", "pi_realized", "depth_reference", "depth_target", "scale", "converged",
                 "iterations"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name), err_msg=name)
    assert (back.source_reference, back.source_target) == (result.source_reference, result.source_target)
    assert back.missing_target_frames == result.missing_target_frames
    assert json.loads(path.read_text())["transfer"]["summary"]["mode"] == "global"


def test_parascale_keeps_nan_realized_parallax_as_null(tmp_path: Path) -> None:
    reference = random_trajectory(4, n=6)
    result = transfer(reference, 5.0, 3.0, mode="uncalibrated")
    realized = result.pi_realized.copy()
    realized[2] = np.nan
    depth_target = result.depth_target.copy()
    depth_target[3] = np.nan
    from dataclasses import replace
    result = replace(result, pi_realized=realized, depth_target=depth_target, missing_target_frames=[3])
    path = tmp_path / "r.json"
    write_parascale(path, result)
    assert "NaN" not in path.read_text()
    back = read_transfer_result(path)
    np.testing.assert_array_equal(back.pi_realized, realized)
    np.testing.assert_array_equal(back.depth_target, depth_target)


def test_read_trajectory_sniffs_every_format(tmp_path: Path) -> None:
    trajectory = random_trajectory(5, animated_lens=False, shift=False)
    names = {"realestate10k": "a.txt", "motionctrl": "m.json", "recammaster": "r.json", "uni3c": "cam_info.json",
             "nerfstudio": "camera_path.json", "transforms": "transforms.json", "colmap": "sparse",
             "parascale": "p.json"}
    assert set(names) == set(FORMATS)
    for name, file in names.items():
        path = tmp_path / file
        write_trajectory(path, trajectory, format=name)
        assert sniff_format(path) == name
        assert_same_poses(trajectory, read_trajectory(path))
    assert sniff_format(tmp_path / "sparse" / "images.txt") == "colmap"
    with pytest.raises(PoseFileError, match="sidecar"):
        read_trajectory(sidecar_path(tmp_path / "a.txt"))


def test_output_format_follows_the_name() -> None:
    assert format_for_output("x/clip.txt") == "realestate10k"
    assert format_for_output("camera_path.json") == "nerfstudio"
    assert format_for_output("transforms_train.json") == "transforms"
    assert format_for_output("cam_info.json") == "uni3c"
    assert format_for_output("clip.json") == "parascale"
    assert format_for_output("out/sparse") == "colmap"
    with pytest.raises(TrajectoryError):
        format_for_output("clip.abc")


# ---------------------------------------------------------------------------------------------- presets

def test_presets_resample_to_the_consumer_frame_count(tmp_path: Path) -> None:
    trajectory = random_trajectory(6, n=30)
    expected = {"cameractrl-animatediff": 16, "cameractrl-svd": 14, "cameractrl-svdxt": 25, "ac3d": 49,
                "wan21": 81, "wan22-a14b": 81, "wan22-5b": 121, "motionctrl": 16, "motionctrl-svd": 14,
                "recammaster": 81}
    for name, count in expected.items():
        assert PRESETS[name].frames == count
        path = tmp_path / f"{name}.out"
        write_trajectory(path, trajectory, name)
        back = read_trajectory(path, PRESETS[name].format)
        assert len(back) == count, name
        # The move keeps its ends and its duration.
        assert_same_poses(trajectory.replace(rotations=trajectory.rotations[[0, -1]],
                                             centres=trajectory.centres[[0, -1]], frames=None, lens=35.0),
                          back.replace(rotations=back.rotations[[0, -1]], centres=back.centres[[0, -1]],
                                       frames=None, lens=35.0), tol=1e-7)
        # Timing "fit": the whole move in the model's clip, played at the model's fps where it has one,
        # else over the clip's own duration.
        if PRESETS[name].fps:
            assert back.fps == PRESETS[name].fps, name
        else:
            duration = (back.frames[-1] - back.frames[0]) / back.fps
            assert duration == pytest.approx((trajectory.frames[-1] - trajectory.frames[0]) / trajectory.fps)
    for name in ("wan21", "wan22-a14b", "wan22-5b", "ac3d", "recammaster", "uni3c"):
        assert (PRESETS[name].frames - 1) % 4 == 0
    with pytest.raises(TrajectoryError, match="4k\\+1"):
        write_trajectory(tmp_path / "bad.txt", trajectory, preset="wan21", frames=80)
    assert not (tmp_path / "bad.txt").exists()
    # A format name keeps the frame count; the same name as a preset resamples.
    write_trajectory(tmp_path / "keep.json", trajectory, format="motionctrl")
    assert len(read_motionctrl(tmp_path / "keep.json")) == 30
    descriptions = preset_descriptions()
    assert set(PRESETS) <= set(descriptions) and "realestate10k" in descriptions and "transforms" in descriptions


def test_a_transfer_result_is_not_resampled_into_a_parascale_file(tmp_path: Path) -> None:
    result = transfer(random_trajectory(7, n=10), 5.0, 2.0)
    with pytest.raises(TrajectoryError, match="resampled"):
        write_trajectory(tmp_path / "r.json", result, format="parascale", frames=16)
    assert list(tmp_path.iterdir()) == []
    write_trajectory(tmp_path / "r.txt", result, preset="cameractrl-animatediff")
    assert len(read_realestate10k(tmp_path / "r.txt")) == 16


# ------------------------------------------------------------------------------------------ conventions

def moving_camera(truck: float = 0.0, rise: float = 0.0, push: float = 0.0, n: int = 9,
                  width: int = 1280, height: int = 720) -> Trajectory:
    """A level camera at (1, -6, 1.5) looking along +Y (Blender's z-up world) that trucks right (+X),
    rises (+Z) and pushes in (+Y)."""
    u = np.linspace(0.0, 1.0, n)[:, None]
    centres = np.array([1.0, -6.0, 1.5]) + u * np.array([truck, push, rise])
    rotations = np.repeat(look_at(np.zeros(3), np.array([0.0, 1.0, 0.0])), n, axis=0)
    return Trajectory(rotations, centres, lens=35.0, intrinsics=Intrinsics(width=width, height=height))


def loader_relative_w2c(path: Path, fmt: str) -> np.ndarray:
    """The 4x4 w2c poses relative to frame 0, parsed the way each consumer's loader parses the file."""
    if fmt == "realestate10k":
        lines = path.read_text().split("\n")
        assert lines[0].startswith("https://")
        rows = [line.split(" ") for line in lines[1:]]
        assert all(len(r) == 19 for r in rows)
        w2c = np.tile(np.eye(4), (len(rows), 1, 1))
        w2c[:, :3, :4] = np.array([[float(v) for v in r[7:]] for r in rows]).reshape(-1, 3, 4)
    elif fmt == "motionctrl":
        rt = np.array(json.loads(path.read_text()), dtype=float).reshape(-1, 3, 4)
        w2c = np.tile(np.eye(4), (len(rt), 1, 1))
        w2c[:, :3] = rt
    elif fmt == "uni3c":
        w2c = np.array(json.loads(path.read_text())["extrinsic"])
    else:
        raise AssertionError(fmt)
    return w2c @ np.linalg.inv(w2c[0])


@pytest.mark.parametrize("fmt", ["realestate10k", "motionctrl", "uni3c"])
def test_signs_of_truck_rise_and_push_match_the_videox_fun_presets(tmp_path: Path, fmt: str) -> None:
    cases = {"truck right": (dict(truck=2.0), 0, -1), "up": (dict(rise=2.0), 1, +1),
             "push in": (dict(push=2.0), 2, -1)}
    for label, (move, axis, sign) in cases.items():
        path = tmp_path / f"{fmt}-{axis}.out"
        write_trajectory(path, moving_camera(**move), format=fmt)
        t_last = loader_relative_w2c(path, fmt)[-1, :3, 3]
        assert np.sign(t_last[axis]) == sign, (label, t_last)
        assert abs(t_last[axis]) == pytest.approx(2.0)
        assert np.abs(np.delete(t_last, axis)).max() < 1e-12, label
    combined = tmp_path / f"{fmt}-all.out"
    write_trajectory(combined, moving_camera(truck=1.0, rise=1.0, push=1.0), format=fmt)
    t_x, t_y, t_z = loader_relative_w2c(combined, fmt)[-1, :3, 3]
    assert t_x < 0 and t_y > 0 and t_z < 0


def test_reads_a_videox_fun_style_preset(tmp_path: Path) -> None:
    """VideoX-Fun's generated presets (e.g. asset/Pan_Right.txt): an empty first line, timestamp 0 on every
    row, 1280x720-normalized intrinsics, identity rotation and t_x decreasing for a pan to the right."""
    rows = [f"0 0.532139961 0.946026558 0.5 0.5 0 0 1.0 0.0 0.0 {-i / 54!r} 0.0 1.0 0.0 0.0 0.0 0.0 1.0 0.0"
            for i in range(81)]
    (tmp_path / "Pan_Right.txt").write_text("\n" + "\n".join(rows) + "\n")
    trajectory = read_trajectory(tmp_path / "Pan_Right.txt")
    assert len(trajectory) == 81 and trajectory.fps == 24.0
    np.testing.assert_array_equal(trajectory.frames, np.arange(81))
    fx, fy, cx, cy = trajectory.pixel_intrinsics()[0]
    assert fx == pytest.approx(fy, rel=1e-8) and (cx, cy) == (640.0, 360.0)
    # The camera moves along its own right axis: the sign convention of FORMATS.md read back.
    move = trajectory.centres[-1] - trajectory.centres[0]
    assert move @ trajectory.rotations[0][:, 0] == pytest.approx(80 / 54)
    assert np.linalg.norm(move) == pytest.approx(80 / 54)
    # Read for the frame the model renders: the same normalized intrinsics in that frame's pixels.
    wan = read_realestate10k(tmp_path / "Pan_Right.txt", width=832, height=480)
    assert (wan.intrinsics.width, wan.intrinsics.height) == (832, 480)
    np.testing.assert_allclose(wan.pixel_intrinsics()[0], [0.532139961 * 832, 0.946026558 * 480, 416, 240])


def test_camera_centre_recovered_from_each_file_is_the_blender_location(tmp_path: Path) -> None:
    trajectory = random_trajectory(8, n=7)
    location = trajectory.centres
    write_realestate10k(tmp_path / "a.txt", trajectory)
    rows = np.array([[float(v) for v in line.split(" ")] for line in (tmp_path / "a.txt").read_text().split("\n")[1:]])
    rt = rows[:, 7:].reshape(-1, 3, 4)
    np.testing.assert_allclose(-np.einsum("nji,nj->ni", rt[:, :, :3], rt[:, :, 3]), location, atol=1e-9)

    write_uni3c(tmp_path / "cam_info.json", trajectory.replace(lens=30.0))
    w2c = np.array(json.loads((tmp_path / "cam_info.json").read_text())["extrinsic"])
    np.testing.assert_allclose(np.linalg.inv(w2c)[:, :3, 3], location, atol=1e-9)

    write_recammaster(tmp_path / "r.json", trajectory)
    data = json.loads((tmp_path / "r.json").read_text())
    rows = [np.array(data[f"frame{i}"]["cam01"].replace("[", " ").replace("]", " ").split(), float).reshape(4, 4)
            for i in range(len(trajectory))]
    np.testing.assert_allclose(np.array([r[3, :3] for r in rows]) / 100.0, location, atol=1e-9)
    # Rows are forward, right, up: forward is the Blender camera's -Z axis.
    np.testing.assert_allclose(np.array([r[0, :3] for r in rows]), -trajectory.rotations[:, :, 2], atol=1e-12)

    with pytest.warns(UserWarning, match="lens shift is not written"):
        write_nerfstudio(tmp_path / "camera_path.json", trajectory)
    path = json.loads((tmp_path / "camera_path.json").read_text())["camera_path"]
    c2w = np.array([p["camera_to_world"] for p in path]).reshape(-1, 4, 4)
    np.testing.assert_allclose(c2w[:, :3, 3], location, atol=1e-12)
    np.testing.assert_allclose(c2w[:, :3, :3], trajectory.rotations, atol=1e-12)  # no axis flip

    write_transforms(tmp_path / "transforms.json", trajectory)
    frames = json.loads((tmp_path / "transforms.json").read_text())["frames"]
    np.testing.assert_allclose(np.array([f["transform_matrix"] for f in frames])[:, :3, 3], location, atol=1e-12)

    write_colmap(tmp_path / "sparse", trajectory)
    reconstruction = pycolmap.Reconstruction(str(tmp_path / "sparse"))
    centres = {image.name: image.projection_center() for image in reconstruction.images.values()}
    np.testing.assert_allclose(np.array([centres[k] for k in sorted(centres)]), location, atol=1e-9)


def test_principal_point_follows_lens_shift(tmp_path: Path) -> None:
    for shift_x, shift_y in ((0.2, 0.0), (0.0, 0.15), (-0.1, -0.3)):
        trajectory = moving_camera(truck=1.0).replace(
            intrinsics=Intrinsics(width=1280, height=720, shift_x=shift_x, shift_y=shift_y))
        write_realestate10k(tmp_path / "s.txt", trajectory)
        row = [float(v) for v in (tmp_path / "s.txt").read_text().split("\n")[1].split(" ")]
        # Shifting the frame right moves the optical axis left in the image (cx < W/2); shifting it up
        # moves the axis down (image rows grow downwards: cy > H/2). S = W for a landscape AUTO fit.
        assert row[3] == pytest.approx(0.5 - shift_x)
        assert row[4] == pytest.approx(0.5 + shift_y * 1280 / 720)
        write_colmap(tmp_path / "sparse", trajectory)
        camera = next(iter(pycolmap.Reconstruction(str(tmp_path / "sparse")).cameras.values()))
        assert camera.principal_point_x == pytest.approx(640 - shift_x * 1280)
        assert camera.principal_point_y == pytest.approx(360 + shift_y * 1280)


@pytest.mark.parametrize("fit", ["AUTO", "HORIZONTAL", "VERTICAL"])
@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (500, 500)])
def test_vertical_fov_and_focal_agree_for_every_fit(tmp_path: Path, fit: str, size: tuple[int, int]) -> None:
    width, height = size
    lens, sensor_width, sensor_height = 40.0, 36.0, 20.0
    intrinsics = Intrinsics(sensor_width=sensor_width, sensor_height=sensor_height, sensor_fit=fit, width=width,
                            height=height)
    trajectory = moving_camera(truck=1.0).replace(intrinsics=intrinsics, lens=lens)
    # FORMATS.md: vertical fov = 2 atan(effective sensor height / (2 lens)).
    if fit == "VERTICAL":
        effective_height = sensor_height
    elif fit == "HORIZONTAL" or width >= height:
        effective_height = sensor_width * height / width
    else:  # AUTO on a portrait frame fits the sensor width to the height
        effective_height = sensor_width
    vfov = 2 * np.degrees(np.arctan(effective_height / (2 * lens)))
    write_nerfstudio(tmp_path / "camera_path.json", trajectory)
    entry = json.loads((tmp_path / "camera_path.json").read_text())["camera_path"][0]
    assert entry["fov"] == pytest.approx(vfov, rel=1e-12)
    assert entry["aspect"] == pytest.approx(width / height)
    write_transforms(tmp_path / "transforms.json", trajectory)
    data = json.loads((tmp_path / "transforms.json").read_text())
    assert np.degrees(data["camera_angle_y"]) == pytest.approx(vfov, rel=1e-12)
    assert data["fl_y"] == pytest.approx(height / (2 * np.tan(np.radians(vfov) / 2)), rel=1e-12)
    assert data["fl_x"] == pytest.approx(data["fl_y"])  # square pixels: fx = fy
    write_realestate10k(tmp_path / "c.txt", trajectory)
    row = [float(v) for v in (tmp_path / "c.txt").read_text().split("\n")[1].split(" ")]
    assert row[1] * width == pytest.approx(data["fl_x"]) and row[2] * height == pytest.approx(data["fl_y"])


# ------------------------------------------------------------------------------------------- pycolmap

def test_colmap_model_reads_in_pycolmap_with_the_same_poses_and_cameras(tmp_path: Path) -> None:
    trajectory = random_trajectory(9, n=10)
    points = np.random.default_rng(1).normal(size=(20, 3))
    write_colmap(tmp_path / "sparse", trajectory, points=points)
    reconstruction = pycolmap.Reconstruction(str(tmp_path / "sparse"))
    assert reconstruction.num_images() == 10 and reconstruction.num_points3D() == 20
    images = sorted(reconstruction.images.values(), key=lambda image: image.name)
    rotation, translation = trajectory.w2c_opencv()
    pixel = trajectory.pixel_intrinsics()
    for i, image in enumerate(images):
        pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
        np.testing.assert_allclose(pose.rotation.matrix(), rotation[i], atol=1e-9)
        np.testing.assert_allclose(pose.translation, translation[i], atol=1e-9)
        np.testing.assert_allclose(image.projection_center(), trajectory.centres[i], atol=1e-9)
        camera = reconstruction.cameras[image.camera_id]
        assert camera.model.name == "PINHOLE" and (camera.width, camera.height) == (640, 360)
        np.testing.assert_allclose(camera.params, pixel[i], rtol=1e-12)
    stored = np.array(sorted(p.xyz.tolist() for p in reconstruction.points3D.values()))
    np.testing.assert_allclose(stored, np.array(sorted(points.tolist())), atol=1e-12)
    # And a model pycolmap writes reads back in ParaScale.
    out = tmp_path / "rewritten"
    out.mkdir()
    reconstruction.write_text(str(out))
    assert_same_poses(trajectory, read_colmap(out))
    assert_same_pixel_intrinsics(trajectory, read_colmap(out))
    np.testing.assert_allclose(np.array(sorted(read_points(out / "points3D.txt").tolist())),
                               np.array(sorted(points.tolist())), atol=1e-12)


# ------------------------------------------------------------------------------------- malformed files

def good_re10k_lines(tmp_path: Path) -> list[str]:
    write_realestate10k(tmp_path / "good.txt", random_trajectory(10, n=4), sidecar=False)
    return (tmp_path / "good.txt").read_text().split("\n")


def expect_error(path: Path, where: str, what: str, reader=read_trajectory) -> PoseFileError:
    with pytest.raises(PoseFileError) as caught:
        reader(path)
    error = caught.value
    message = str(error)
    assert "\n" not in message
    assert str(path) in message and where in message and what in message, message
    return error


def test_malformed_realestate10k_files_name_file_line_and_fault(tmp_path: Path) -> None:
    lines = good_re10k_lines(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines[:2] + [lines[2] + " 7"] + lines[3:]))
    expect_error(bad, "line 3", "expected 19 numbers, got 20")
    bad.write_text("\n".join(lines[:3] + [lines[3].rsplit(" ", 1)[0]]))
    expect_error(bad, "line 4", "expected 19 numbers, got 18")
    fields = lines[2].split(" ")
    fields[9] = "nan"
    bad.write_text("\n".join(lines[:2] + [" ".join(fields)] + lines[3:]))
    expect_error(bad, "line 3", "NaN or infinite value in column 10")
    fields = lines[2].split(" ")
    fields[7] = "1.5"  # r11 scaled: not a rotation
    bad.write_text("\n".join(lines[:2] + [" ".join(fields)] + lines[3:]))
    expect_error(bad, "line 3", "not orthonormal")
    fields = lines[2].split(" ")
    fields[7:10] = [str(-float(v)) for v in fields[7:10]]  # one axis flipped: a reflection
    bad.write_text("\n".join(lines[:2] + [" ".join(fields)] + lines[3:]))
    expect_error(bad, "line 3", "det -1")
    bad.write_text("")
    expect_error(bad, "line 1", "empty file", read_realestate10k)
    bad.write_text("\n".join(lines[1:]))
    expect_error(bad, "line 1", "URL line", read_realestate10k)
    fields = lines[3].split(" ")
    fields[0] = "0"  # earlier than line 3
    bad.write_text("\n".join(lines[:3] + [" ".join(fields)]))
    expect_error(bad, "line 4", "timestamps must increase", read_realestate10k)
    bad.write_text("\n".join(lines[:2] + [lines[2].replace(" ", " x", 1)] + lines[3:]))
    expect_error(bad, "line 3", "not a number")
    bad.write_text(lines[0])
    expect_error(bad, "line 2", "no pose lines", read_realestate10k)


def test_malformed_json_files_name_file_key_and_fault(tmp_path: Path) -> None:
    trajectory = random_trajectory(11, n=4, animated_lens=False)
    good = tmp_path / "cam_info.json"
    write_uni3c(good, trajectory)
    text = good.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(text[: len(text) // 2])
    expect_error(bad, "line 1", "truncated JSON")
    data = json.loads(text)
    bad.write_text(json.dumps({**data, "focal": 3}))
    expect_error(bad, "focal", "unknown key")
    bad.write_text(json.dumps({k: v for k, v in data.items() if k != "width"}))
    expect_error(bad, "width", "missing key", read_uni3c)
    broken = json.loads(text)
    broken["extrinsic"][2][1][1] = 3.0
    bad.write_text(json.dumps(broken))
    expect_error(bad, "extrinsic[2]", "not orthonormal")
    bad.write_text(text.replace(str(data["extrinsic"][1][0][3]), "NaN", 1))
    expect_error(bad, "", "NaN is not a number JSON allows")

    write_parascale(tmp_path / "p.json", trajectory)
    data = json.loads((tmp_path / "p.json").read_text())
    bad.write_text(json.dumps({**data, "lense": [1, 2]}))
    expect_error(bad, "lense", "unknown key")
    bad.write_text(json.dumps({**data, "format_version": 99}))
    expect_error(bad, "format_version", "unsupported version")
    bad.write_text(json.dumps({**data, "centres": data["centres"][:-1]}))
    expect_error(bad, "centres", "expected 4 x 3 numbers, got 3 x 3")
    bad.write_text(json.dumps({**data, "intrinsics": {**data["intrinsics"], "sensor_fit": "DIAGONAL"}}))
    expect_error(bad, "intrinsics", "sensor fit must be one of")

    write_motionctrl(tmp_path / "m.json", trajectory, sidecar=False)
    rows = json.loads((tmp_path / "m.json").read_text())
    bad.write_text(json.dumps(rows[:2] + [rows[2][:11]] + rows[3:]))
    expect_error(bad, "[2]", "expected 12 numbers, got 11", read_motionctrl)

    write_motionctrl(tmp_path / "m2.json", trajectory)
    side = json.loads(sidecar_path(tmp_path / "m2.json").read_text())
    sidecar_path(tmp_path / "m2.json").write_text(json.dumps({**side, "width": 999}))
    expect_error(sidecar_path(tmp_path / "m2.json"), "width", "differs from intrinsics.width",
                 lambda path: read_motionctrl(tmp_path / "m2.json"))

    write_recammaster(tmp_path / "r.json", trajectory, sidecar=False)
    data = json.loads((tmp_path / "r.json").read_text())
    bad.write_text(json.dumps({**data, "frames": 3}))
    expect_error(bad, "frames", "unknown key", read_recammaster)
    data["frame1"]["cam01"] = "[1 0 0 0] [0 1 0 0] [0 0 1 0]"
    bad.write_text(json.dumps(data))
    expect_error(bad, "frame1.cam01", "expected 4 bracketed rows, got 3", read_recammaster)

    write_nerfstudio(tmp_path / "camera_path.json", trajectory.replace(intrinsics=Intrinsics()))
    data = json.loads((tmp_path / "camera_path.json").read_text())
    data["camera_path"][1]["fov"] = -3
    bad.write_text(json.dumps(data))
    expect_error(bad, "camera_path[1].fov", "must be positive")


def test_malformed_colmap_model(tmp_path: Path) -> None:
    write_colmap(tmp_path / "sparse", random_trajectory(12, n=3))
    images = tmp_path / "sparse" / "images.txt"
    lines = images.read_text().split("\n")
    index = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    fields = lines[index].split()
    fields[1] = "3.0"
    lines[index] = " ".join(fields)
    images.write_text("\n".join(lines))
    expect_error(tmp_path / "sparse", f"line {index + 1}", "quaternion is not unit length")
    cameras = tmp_path / "sparse" / "cameras.txt"
    cameras.write_text(cameras.read_text().replace("PINHOLE", "OPENCV_FISHEYE"))
    expect_error(tmp_path / "sparse", "line 4", "camera model OPENCV_FISHEYE is not supported")


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    expect_error(tmp_path / "nothere.txt", "", "no such file")
    (tmp_path / "x.bin").write_bytes(b"\0")
    expect_error(tmp_path / "x.bin", "", "unrecognized pose file type")
    (tmp_path / "x.json").write_text('{"hello": 1}')
    expect_error(tmp_path / "x.json", "", "unrecognized pose JSON")


# ------------------------------------------------------------------------------------------ atomic output

def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "camera.txt"
    target.write_text("old content")
    trajectory = random_trajectory(13)
    real_replace = os.replace
    calls = []

    def failing_replace(source: str, destination: str) -> None:
        calls.append(destination)
        if len(calls) == 2:  # the pose file went in, the sidecar fails
            raise OSError(28, "No space left on device")
        real_replace(source, destination)

    # A failure while writing the temporaries: nothing at all is replaced.
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where a folder is needed")
    with pytest.raises(OutputFileError, match="blocked is a file, not a folder"):
        fileio.atomic_write_files({target: "new", blocker / "inner.txt": "x"})
    assert target.read_text() == "old content"
    monkeypatch.setattr(fileio.os, "replace", failing_replace)
    # The user's path is named, never the temporary file.
    with pytest.raises(OutputFileError, match=r"camera\.txt\.meta\.json: cannot be written: no space left") as caught:
        write_realestate10k(target, trajectory)
    assert fileio.TEMP_PREFIX not in str(caught.value)
    monkeypatch.undo()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(fileio.TEMP_PREFIX)]
    assert leftovers == []
    # Each file is whole: the pose file is complete and readable, the sidecar was never half-written.
    assert not sidecar_path(target).exists()
    assert_same_poses(trajectory, read_realestate10k(target))


def test_failed_colmap_write_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fail_third(handle: int) -> None:
        calls.append(handle)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(fileio.os, "fsync", fail_third)
    with pytest.raises(OutputFileError, match="Input/output"):
        write_colmap(tmp_path / "new" / "sparse", random_trajectory(16))
    assert list(tmp_path.iterdir()) == []


def test_uni3c_warns_that_an_animated_lens_is_written_as_frame_0s(tmp_path: Path) -> None:
    trajectory = random_trajectory(17, animated_lens=True)
    with pytest.warns(UserWarning, match="animated focal length"):
        write_uni3c(tmp_path / "cam_info.json", trajectory)
    fx = json.loads((tmp_path / "cam_info.json").read_text())["intrinsic"][0][0]
    assert fx == pytest.approx(trajectory.pixel_intrinsics()[0, 0])


def test_interrupted_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "clip.json"
    write_parascale(target, random_trajectory(14))
    before = target.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        write_parascale(target, random_trajectory(15))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.json"]


# ------------------------------------------------------------------------------------------ point clouds

def write_ply(path: Path, points: np.ndarray, encoding: str) -> None:
    """A PLY with extra vertex properties (normals, colours) and a face element, as exporters write them."""
    n = len(points)
    header = ["ply", f"format {encoding} 1.0", "comment made by a test", f"element vertex {n}",
              "property double x", "property float nx", "property double y", "property double z",
              "property uchar red", "element face 1", "property list uchar int vertex_indices", "end_header"]
    if encoding == "ascii":
        rows = [f"{p[0]!r} 0.5 {p[1]!r} {p[2]!r} 200" for p in points] + ["3 0 1 2"]
        path.write_text("\n".join(header + rows) + "\n")
        return
    order = "<" if encoding == "binary_little_endian" else ">"
    dtype = np.dtype([("x", order + "f8"), ("nx", order + "f4"), ("y", order + "f8"), ("z", order + "f8"),
                      ("red", "u1")])
    table = np.zeros(n, dtype=dtype)
    table["x"], table["y"], table["z"], table["red"] = points[:, 0], points[:, 1], points[:, 2], 7
    face = np.array([3], dtype="u1").tobytes() + np.array([0, 1, 2], dtype=order + "i4").tobytes()
    path.write_bytes(("\n".join(header) + "\n").encode() + table.tobytes() + face)


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_point_clouds(tmp_path: Path, encoding: str) -> None:
    points = np.random.default_rng(2).normal(size=(50, 3)) * 10
    write_ply(tmp_path / "cloud.ply", points, encoding)
    np.testing.assert_array_equal(read_points(tmp_path / "cloud.ply"), points)


def test_other_point_cloud_files(tmp_path: Path) -> None:
    points = np.random.default_rng(3).normal(size=(30, 3))
    np.save(tmp_path / "cloud.npy", points)
    np.testing.assert_array_equal(read_points(tmp_path / "cloud.npy"), points)
    (tmp_path / "cloud.xyz").write_text("# x y z r g b\n" + "\n".join(f"{p[0]!r} {p[1]!r} {p[2]!r} 1 2 3"
                                                                       for p in points))
    np.testing.assert_array_equal(read_points(tmp_path / "cloud.xyz"), points)
    (tmp_path / "points3D.txt").write_text("# header\n" + "\n".join(
        f"{i + 1} {p[0]!r} {p[1]!r} {p[2]!r} 10 20 30 0.5 1 4 2 7" for i, p in enumerate(points)))
    np.testing.assert_array_equal(read_points(tmp_path / "points3D.txt"), points)


def test_malformed_point_clouds(tmp_path: Path) -> None:
    points = np.random.default_rng(4).normal(size=(10, 3))
    write_ply(tmp_path / "c.ply", points, "binary_little_endian")
    raw = (tmp_path / "c.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(raw[:-100])
    expect_error(tmp_path / "t.ply", "vertex", "truncated", read_points)
    (tmp_path / "n.ply").write_bytes(raw.replace(b"property double z", b"property double w"))
    expect_error(tmp_path / "n.ply", "line 4", "no property z", read_points)
    np.save(tmp_path / "bad.npy", np.ones((4, 2)))
    expect_error(tmp_path / "bad.npy", "", "shape (P, 3)", read_points)
    (tmp_path / "bad.xyz").write_text("1 2 3\n4 5\n")
    expect_error(tmp_path / "bad.xyz", "line 2", "expected x y z", read_points)
    (tmp_path / "nan.xyz").write_text("1 2 3\nnan 5 6\n")
    expect_error(tmp_path / "nan.xyz", "line 2", "NaN", read_points)


def test_depth_map_unprojection_in_both_pixel_conventions() -> None:
    width, height, depth_value = 64, 36, 4.0
    trajectory = moving_camera(truck=1.0, width=width, height=height)
    fx, fy, cx, cy = trajectory.pixel_intrinsics()[0]  # ParaScale/Blender: pixel edges at integers
    depth = np.full((height, width), depth_value)
    depth[0, 0] = 1e10  # Blender's "nothing hit"
    depth[1, 1] = np.nan
    for origin, principal in (("corner", (cx, cy)), ("center", (cx - 0.5, cy - 0.5))):
        points = unproject_depth_map(depth, fx, fy, *principal, trajectory.rotations[0], trajectory.centres[0],
                                     pixel_origin=origin)
        assert len(points) == width * height - 2
        probe = PointsDepth(points)
        views = Views.of(trajectory).take(0)
        d, inside = probe.visible_depths(views)
        np.testing.assert_allclose(d, depth_value, rtol=1e-12)  # every point at the map's z-depth
        assert inside.all()  # and inside the frame it came from
        # Pixel (row 3, column 5) lands on the centre of that pixel when projected back.
        cam = (points - trajectory.centres[0]) @ trajectory.rotations[0]
        u = cx + fx * cam[:, 0] / -cam[:, 2]
        v = cy - fy * cam[:, 1] / -cam[:, 2]
        np.testing.assert_allclose(np.sort(np.unique(np.round(u, 9)))[:3], [0.5, 1.5, 2.5])
        np.testing.assert_allclose(np.sort(np.unique(np.round(v, 9)))[:3], [0.5, 1.5, 2.5])


def test_per_frame_depths_from_a_folder_and_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "depth"
    folder.mkdir()
    for frame in (1, 2, 10):  # natural order: 1, 2, 10
        depth = np.full((6, 8), float(frame))
        depth[0] = 1e10
        np.save(folder / f"frame_{frame}.npy", depth)
    np.save(folder / "frame_11.npy", np.full((6, 8), 1e10))
    np.testing.assert_array_equal(per_frame_median_depths(folder)[:3], [1.0, 2.0, 10.0])
    assert np.isnan(per_frame_median_depths(folder)[3])
    (tmp_path / "d.txt").write_text("# depth per frame\n1.5\n2.5\n")
    np.testing.assert_array_equal(read_depth_values(tmp_path / "d.txt"), [1.5, 2.5])
    (tmp_path / "e.txt").write_text("1.5\n-2\n")
    expect_error(tmp_path / "e.txt", "line 2", "finite and positive", read_depth_values)
