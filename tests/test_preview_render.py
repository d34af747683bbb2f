"""The rendered side-by-side preview in real Blender (Workbench, headless): with a target that is the
reference set scaled by k, the calibrated panel renders the reference panel's frames while the
uncalibrated one visibly does not; the PNG and GIF it writes decode (PIL as the independent reader) to
exactly the composed rows; the user's scene is left as it was; operator and command line."""

from __future__ import annotations

import subprocess
import sys

import bpy
import numpy as np
import pytest
from parascale.core.errors import TrajectoryError
from parascale.parascale_blender import compat, preview_render
from PIL import Image
from test_preview_scene import FRAMES, build_transferred_scene

WIDTH, HEIGHT = 96, 54


def scene_snapshot(scene: bpy.types.Scene) -> dict:
    """Everything the preview touches, and the file's contents by kind."""
    render, image, shading, view = (scene.render, scene.render.image_settings, scene.display.shading,
                                    scene.view_settings)
    values = {f"render.{n}": getattr(render, n) for n in (
        "engine", "resolution_x", "resolution_y", "resolution_percentage", "filepath", "film_transparent",
        "use_compositing", "use_sequencer", "pixel_aspect_x", "pixel_aspect_y", "dither_intensity")}
    values |= {f"image.{n}": getattr(image, n) for n in compat.image_format_settings()}
    values |= {f"shading.{n}": getattr(shading, n) for n in ("light", "color_type", "show_cavity", "show_shadows",
                                                             "show_object_outline")}
    values |= {f"view.{n}": getattr(view, n) for n in ("view_transform", "look", "exposure", "gamma")}
    values |= {"camera": scene.camera.name if scene.camera else None, "frame": scene.frame_current,
               "render_aa": scene.display.render_aa}
    values |= {f"hide_render.{c.name}": c.hide_render for c in bpy.data.collections}
    for kind in ("objects", "cameras", "actions", "images", "meshes", "materials"):
        values[kind] = sorted(item.name for item in getattr(bpy.data, kind))
    return values


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame, mean |a - b| over pixels and channels as a fraction of the 0..255 range."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=(1, 2, 3)) / 255.0


@pytest.mark.parametrize("k", [1e-3, 1e3])
def test_calibrated_panel_matches_the_reference_and_uncalibrated_does_not(addon_scene, tmp_path, k):
    built = build_transferred_scene(k=k)
    scene = built.scene
    scene.frame_set(3)
    before = scene_snapshot(scene)
    result = preview_render.render_preview(scene, built.camera, tmp_path, width=WIDTH, height=HEIGHT, max_frames=8)
    assert scene_snapshot(scene) == before  # settings restored, temporary camera and images gone

    assert list(result.frames) == list(FRAMES)
    assert result.hidden == {"reference": "Target", "others": "Reference"}  # from the scene's settings
    reference = result.panels["reference"]
    assert reference.shape == (FRAMES.size, HEIGHT, WIDTH, 3)
    calibrated = mean_abs_difference(result.panels["calibrated"], reference)
    uncalibrated = mean_abs_difference(result.panels["uncalibrated"], reference)
    print(f"\nk={k:g}: calibrated vs reference per frame (% of range) {np.round(100 * calibrated, 3).tolist()}"
          f"\nk={k:g}: uncalibrated vs reference per frame (% of range) {np.round(100 * uncalibrated, 3).tolist()}")
    assert np.all(calibrated < 0.01)
    # The same first frame (the start pose is shared), then the uncalibrated move drifts away visibly.
    assert uncalibrated[0] < 0.01
    assert uncalibrated[1:].mean() > 0.04 and uncalibrated[-1] > 0.1
    assert np.all(uncalibrated[2:] > 0.03)
    # The reference panel is a real picture, not an empty frame.
    assert reference.std() > 10

    # Each panel's Pi readout comes from the record: reference and calibrated agree.
    assert np.isnan(result.pi["reference"][0])
    assert np.allclose(result.pi["calibrated"][1:], result.pi["reference"][1:], rtol=1e-9)


@pytest.fixture
def rendered(addon_scene, tmp_path):
    built = build_transferred_scene(k=1e3)
    return built, preview_render.render_preview(built.scene, built.camera, tmp_path, width=64, height=36,
                                                max_frames=4)


def test_contact_sheet_and_gif_hold_the_captioned_rows(rendered):
    built, result = rendered
    rows = result.rows
    assert list(result.frames) == [1, 3, 6, 8]  # 4 frames evenly spread, first and last kept
    band = preview_render.caption_height()
    panel_width = 64 + preview_render.SEPARATOR
    assert rows.shape == (4, 36 + band, 3 * 64 + 2 * preview_render.SEPARATOR, 3)
    sheet = np.asarray(Image.open(result.sheet_path).convert("RGB"))
    assert np.array_equal(sheet, preview_render.stacked(rows))
    # Panels in order reference | uncalibrated | calibrated, each with its caption drawn in the band.
    for p, name in enumerate(preview_render.PANELS):
        assert np.array_equal(rows[:, :36, p * panel_width:p * panel_width + 64], result.panels[name])
        text = preview_render.caption_text(name, int(result.frames[1]), result.pi[name][1])
        mask = preview_render.text_mask(text)[:, :64 - 2]  # cut at the panel's edge
        left = p * panel_width + 2
        ink = rows[1, 36 + 2:36 + 2 + mask.shape[0], left:left + mask.shape[1]]
        assert np.all(ink[mask] == preview_render.CAPTION_COLOUR)
        assert np.all(ink[~mask] == preview_render.BACKGROUND)
    assert preview_render.caption_text("calibrated", 3, result.pi["calibrated"][1]).startswith("F3 CAL PI 0.")
    gif = Image.open(result.gif_path)
    assert gif.n_frames == 4 and gif.info.get("loop") == 0
    palette = preview_render.gif_palette()
    for i in range(4):
        gif.seek(i)
        decoded = np.asarray(gif.convert("RGB"))
        assert np.array_equal(decoded, palette[preview_render.quantize(rows[i])])
    # Palette error stays within half a level step per channel.
    assert np.abs(palette[preview_render.quantize(rows)].astype(int) - rows.astype(int)).max() <= 255 / 5 / 2 + 1


def test_lzw_and_png_writers_against_pil(tmp_path):
    rng = np.random.default_rng(3)
    # Random data fills the 4096-entry code table many times over (clear codes); flat data makes long runs.
    noisy = rng.integers(0, 256, size=(2, 120, 150, 3), dtype=np.uint8)
    flat = np.zeros((1, 120, 150, 3), dtype=np.uint8)
    flat[0, 40:80] = (250, 10, 10)
    for frames in (noisy, flat):
        path = tmp_path / "t.gif"
        preview_render.write_gif(path, frames, delay_cs=5)
        gif = Image.open(path)
        assert gif.n_frames == frames.shape[0]
        for i in range(frames.shape[0]):
            gif.seek(i)
            expected = preview_render.gif_palette()[preview_render.quantize(frames[i])]
            assert np.array_equal(np.asarray(gif.convert("RGB")), expected)
    assert len(preview_render.lzw_encode(bytes(5000))) < 200
    image = rng.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    preview_render.write_png(tmp_path / "t.png", image)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "t.png").convert("RGB")), image)


def test_render_refuses_a_stale_or_unrecorded_camera(addon_scene, tmp_path):
    built = build_transferred_scene(k=1e3)
    before = scene_snapshot(built.scene)
    built.camera.animation_data_clear()
    with pytest.raises(TrajectoryError, match="stale"):
        preview_render.render_preview(built.scene, built.camera, tmp_path)
    with pytest.raises(TrajectoryError, match="no ParaScale transfer record"):
        preview_render.render_preview(built.scene, built.reference, tmp_path)
    after = scene_snapshot(built.scene)
    assert {k: v for k, v in after.items() if k != "actions"} == {k: v for k, v in before.items() if k != "actions"}
    assert not list(tmp_path.iterdir())


def test_operator_renders_from_the_sidebar(addon_scene, tmp_path):
    built = build_transferred_scene(k=1e-3)
    out = tmp_path / "out"
    assert bpy.ops.parascale.render_preview(directory=str(out), width=48, height=27, max_frames=3) == {"FINISHED"}
    assert (out / "parascale_preview_sheet.png").is_file() and (out / "parascale_preview.gif").is_file()
    assert Image.open(out / "parascale_preview.gif").n_frames == 3
    bpy.data.objects.remove(built.camera)
    with pytest.raises(RuntimeError, match="no transferred camera"):
        bpy.ops.parascale.render_preview(directory=str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("where", ["a file", "under a file", "cannot be created"])
def test_operator_refuses_a_folder_it_cannot_write(addon_scene, tmp_path, where):
    """One ERROR line naming the folder, no traceback, no errno; the scene and the file system unchanged.
    (Tests run as root in CI, where permission bits do not stop a write: a name longer than the file
    system allows stands in for a folder that cannot be created.)"""
    built = build_transferred_scene(k=1e-3)
    blocker = tmp_path / "taken"
    blocker.write_text("user data")
    out = {"a file": blocker, "under a file": blocker / "sub" / "dir",
           "cannot be created": tmp_path / ("x" * 300) / "out"}[where]
    expected = {"a file": "is a file, not a folder", "under a file": "is a file, not a folder",
                "cannot be created": "cannot be"}[where]
    before = scene_snapshot(built.scene)
    listing = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(RuntimeError, match=expected) as error:
        bpy.ops.parascale.render_preview(directory=str(out), width=48, height=27, max_frames=3)
    message = str(error.value)
    assert message.count("\n") <= 1 and "Traceback" not in message and "Errno" not in message
    assert scene_snapshot(built.scene) == before
    assert sorted(str(p) for p in tmp_path.rglob("*")) == listing and blocker.read_text() == "user data"


def test_command_line(addon_scene, tmp_path):
    build_transferred_scene(k=1e3)
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    saved = blend.read_bytes()
    command = [sys.executable, "-m", "parascale.parascale_blender.preview_render", str(blend),
               "--camera", "RefCam.ParaScale", "--out", str(tmp_path / "cli"), "--width", "48", "--height", "27",
               "--max-frames", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote" in done.stdout and (tmp_path / "cli" / "parascale_preview.gif").is_file()
    # The add-on is not enabled in that process: the collections to hide still come from the file.
    assert "hidden while the reference renders: Target; while the others render: Reference" in done.stdout
    # The calibrated panel matches the reference panel here too.
    sheet = np.asarray(Image.open(tmp_path / "cli" / "parascale_preview_sheet.png").convert("RGB")).astype(float)
    gap = preview_render.SEPARATOR
    first_row = sheet[:27]
    assert np.abs(first_row[:, :48] - first_row[:, 2 * (48 + gap):2 * (48 + gap) + 48]).mean() / 255 < 0.01
    assert blend.read_bytes() == saved  # the .blend is never saved
    failed = subprocess.run(command[:5] + ["NoSuchCamera"] + command[6:], capture_output=True, text=True,
                            timeout=300)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == f"parascale preview: {blend}: no object named 'NoSuchCamera'"
