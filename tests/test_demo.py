"""`make demo` end to end (examples/demo.py) into a temporary folder: every output exists and is sane."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import demo  # noqa: E402
from parascale.core.formats import FORMATS, PRESETS, read_trajectory  # noqa: E402


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, addon):
    out = tmp_path_factory.mktemp("demo")
    assert demo.main(["--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    return out, summary


def test_every_output_exists(demo_run):
    out, summary = demo_run
    for name in ("parascale_demo.blend", "pi_per_frame.png", "summary.json", "summary.md",
                 "parascale_preview_sheet.png", "parascale_preview.mp4"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert summary["preview"] == [str(out / "parascale_preview.mp4"), str(out / "parascale_preview_sheet.png")]
    assert set(summary["pose_files"]) == set(PRESETS)


def test_pi_plot_and_preview_are_images(demo_run):
    out, _ = demo_run
    with Image.open(out / "pi_per_frame.png") as plot:
        assert plot.format == "PNG" and plot.size[0] >= 400 and plot.size[1] >= 200
        pixels = np.asarray(plot.convert("RGB"))
        assert pixels.std() > 10  # not blank
    clip = bpy.data.movieclips.load(str(out / "parascale_preview.mp4"))
    try:  # every frame of the move, three panels side by side above their captions and the Pi graph
        assert clip.frame_duration == demo.FRAMES
        assert clip.size[0] >= 3 * demo.PREVIEW_WIDTH and clip.size[1] > demo.PREVIEW_HEIGHT
        size = tuple(clip.size)
    finally:
        bpy.data.movieclips.remove(clip)
    with Image.open(out / "parascale_preview_sheet.png") as sheet:
        # the composed frames, one above the other
        assert sheet.size[0] == size[0] and sheet.size[1] >= demo.PREVIEW_SHEET_FRAMES * size[1]


def test_pose_files_parse_back_for_every_preset(demo_run):
    out, summary = demo_run
    for name, preset in PRESETS.items():
        path = out / "poses" / name / FORMATS[preset.format].default_name
        assert summary["pose_files"][name] and all(p.startswith(str(path)) for p in summary["pose_files"][name])
        trajectory = read_trajectory(path)
        assert len(trajectory) == (preset.frames or demo.FRAMES), name
        if preset.format not in ("motionctrl",):  # MotionCtrl is relative to frame 0 by definition
            steps = np.linalg.norm(np.diff(trajectory.centres, axis=0), axis=1)
            # the calibrated move is desk-sized: about half a metre in all, never kilometres
            assert 0.3 < steps.sum() < 1.0, name


def test_blend_holds_every_camera_and_the_calibrated_path(demo_run):
    out, _ = demo_run
    written = read_trajectory(out / "poses" / "parascale" / FORMATS["parascale"].default_name)
    bpy.ops.wm.open_mainfile(filepath=str(out / "parascale_demo.blend"))
    names = {obj.name for obj in bpy.data.objects if obj.type == "CAMERA"}
    assert {"GalaxyCam", "DeskCam", "GalaxyCam.ParaScale", "GalaxyCam.Global", "GalaxyCam.Uncalibrated"} <= names
    scene = bpy.context.scene
    camera = bpy.data.objects["GalaxyCam.ParaScale"]
    centres = []
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        centres.append(np.array(camera.matrix_world.translation))
    np.testing.assert_allclose(np.array(centres), written.centres, atol=1e-6)
    for name in ("GalaxyCam.ParaScale", "GalaxyCam.Global", "GalaxyCam.Uncalibrated"):
        assert "parascale" in bpy.data.objects[name].keys()  # each keeps its transfer record
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_summary_numbers(demo_run):
    _, summary = demo_run
    modes = summary["modes"]
    ln_k = abs(summary["ln_k"])
    assert ln_k > 5  # a galaxy onto a desk: the scales differ by orders of magnitude
    per_frame, global_, uncalibrated = modes["PER_FRAME"], modes["GLOBAL"], modes["UNCALIBRATED"]
    assert per_frame["pce"] < 0.02 and per_frame["frames_without_depth"] == 0
    assert per_frame["pi_total_realized"] == pytest.approx(per_frame["pi_total_reference"], rel=0.02)
    assert global_["pce"] > per_frame["pce"]
    # Uncalibrated: off by the scale ratio, PCE ~ |ln k|; the camera flies out of the desk scene.
    assert uncalibrated["pce_at_start_depth"] == pytest.approx(ln_k, rel=0.1)
    assert uncalibrated["farthest_from_start"] > 1000 * per_frame["farthest_from_start"]
    assert per_frame["scale_min"] < per_frame["scale_max"]  # the desk's depth changes along the move
