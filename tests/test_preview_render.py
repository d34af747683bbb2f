"""The rendered side-by-side preview in real Blender (Workbench, headless): with a target that is the
reference set scaled by k, the calibrated panel renders the reference panel's frames while the
uncalibrated one visibly does not; the MP4 Blender writes opens in Blender with every frame at the composed
size; the contact sheet (PIL as the independent reader) holds the panels; the captions carry the record's
numbers; the user's scene is left as it was, also after Esc; operator and command line.

Every Blender this project supports (4.2.23, 4.5.15, 5.0.1 bpy wheels) is built with FFmpeg:
`test_every_supported_blender_writes_the_mp4` fails on one that is not, rather than skipping."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from parascale.core.errors import TrajectoryError
from parascale.parascale_blender import compat, preview_data, preview_render
from parascale.parascale_blender.transfer_record import load
from PIL import Image
from test_preview_scene import FRAMES, build_transferred_scene

WIDTH, HEIGHT = 64, 36


def scene_snapshot(scene: bpy.types.Scene) -> dict:
    """Everything the preview could touch, and the file's contents by kind."""
    render, image, shading, view = (scene.render, scene.render.image_settings, scene.display.shading,
                                    scene.view_settings)
    values = {f"render.{n}": getattr(render, n) for n in (
        "engine", "resolution_x", "resolution_y", "resolution_percentage", "filepath", "film_transparent",
        "use_compositing", "use_sequencer", "pixel_aspect_x", "pixel_aspect_y", "dither_intensity", "fps")}
    values |= {f"image.{n}": getattr(image, n) for n in compat.image_format_settings()}
    values |= {f"shading.{n}": getattr(shading, n) for n in ("light", "color_type", "show_cavity", "show_shadows",
                                                             "show_object_outline")}
    values |= {f"view.{n}": getattr(view, n) for n in ("view_transform", "look", "exposure", "gamma")}
    values |= {"camera": scene.camera.name if scene.camera else None, "frame": scene.frame_current,
               "range": (scene.frame_start, scene.frame_end), "render_aa": scene.display.render_aa,
               "sequencer": scene.sequence_editor is not None}
    values |= {f"hide_render.{c.name}": c.hide_render for c in bpy.data.collections}
    values |= {f"exclude.{layer.name}": layer.exclude for layer in scene.view_layers[0].layer_collection.children}
    for kind in ("scenes", "objects", "cameras", "actions", "images", "meshes", "materials", "curves", "worlds",
                 "movieclips"):
        values[kind] = sorted(item.name for item in getattr(bpy.data, kind))
    return values


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, mean |a - b| over pixels and channels as a fraction of the 0..255 range."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=(1, 2, 3)) / 255.0


def sheet_panels(result: preview_render.PreviewRender) -> dict[str, np.ndarray]:
    """Each panel's pixels on every row of the contact sheet (rows, H, W, 3), read with PIL."""
    sheet = np.asarray(Image.open(result.sheet_path).convert("RGB"))
    layout = result.layout
    assert sheet.shape == (result.sheet_frames.size * (layout.height + preview_render.GAP) - preview_render.GAP,
                           layout.width, 3)
    out = {}
    for p, panel in enumerate(preview_render.PANELS):
        top, bottom, left, right = layout.panel_box(p)
        out[panel] = np.stack([sheet[r * (layout.height + preview_render.GAP) + top:
                                     r * (layout.height + preview_render.GAP) + bottom, left:right]
                               for r in range(result.sheet_frames.size)])
    return out


@pytest.mark.parametrize("k", [1e-3, 1e3])
def test_calibrated_panel_matches_the_reference_and_uncalibrated_does_not(addon_scene, tmp_path, k):
    built = build_transferred_scene(k=k)
    scene = built.scene
    scene.frame_set(3)
    before = scene_snapshot(scene)
    result = preview_render.render_preview(scene, built.camera, tmp_path, width=WIDTH, height=HEIGHT,
                                           sheet_frames=FRAMES.size, graph=False)
    assert scene_snapshot(scene) == before  # settings as they were; temporary scenes, camera, images gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parascale_preview.mp4", "parascale_preview_sheet.png"]

    assert list(result.frames) == list(FRAMES) and list(result.sheet_frames) == list(FRAMES)
    assert result.hidden == {"reference": "Target", "others": "Reference"}  # from the scene's settings
    panels = sheet_panels(result)
    reference = panels["reference"]
    assert reference.shape == (FRAMES.size, HEIGHT, WIDTH, 3)
    calibrated = mean_abs_difference(panels["calibrated"], reference)
    uncalibrated = mean_abs_difference(panels["uncalibrated"], reference)
    print(f"\nk={k:g}: calibrated vs reference per frame (% of range) {np.round(100 * calibrated, 3).tolist()}"
          f"\nk={k:g}: uncalibrated vs reference per frame (% of range) {np.round(100 * uncalibrated, 3).tolist()}")
    assert np.all(calibrated < 0.01)
    # The same first frame (the start pose is shared), then the uncalibrated move drifts away visibly.
    assert uncalibrated[0] < 0.01
    assert uncalibrated[1:].mean() > 0.04 and uncalibrated[-1] > 0.1
    assert np.all(uncalibrated[2:] > 0.03)
    assert reference.std() > 10  # a real picture, not an empty frame

    # Each panel's Pi comes from the record: reference and calibrated agree (to the float32 rounding of the
    # written keyframes: the record's realized Pi is the camera as Blender stores it).
    assert np.isnan(result.pi["reference"][0])
    assert np.allclose(result.pi["calibrated"][1:], result.pi["reference"][1:], rtol=5e-3)
    record = load(built.camera)
    assert np.allclose(result.pi["calibrated"][1:], record.pi_realized, rtol=1e-12)


def test_mp4_opens_in_blender_with_every_frame_at_the_composed_size(addon_scene, tmp_path):
    built = build_transferred_scene(k=1e3)
    built.scene.render.fps = 12
    result = preview_render.render_preview(built.scene, built.camera, tmp_path, width=WIDTH, height=HEIGHT,
                                           frame_start=2, frame_end=7, sheet_frames=3)
    layout = result.layout
    assert layout.width == 3 * WIDTH + 2 * preview_render.GAP
    assert layout.height == HEIGHT + layout.caption_height + layout.graph_height and layout.graph_height > 0
    assert layout.width % 2 == 0 and layout.height % 2 == 0  # H.264 needs an even frame size
    assert result.movie_path == tmp_path / "parascale_preview.mp4"
    assert result.movie_path.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    clip = bpy.data.movieclips.load(str(result.movie_path))
    try:
        assert clip.frame_duration == 6 and tuple(clip.size) == (layout.width, layout.height)
        assert clip.fps == pytest.approx(12)
    finally:
        bpy.data.movieclips.remove(clip)
    assert list(result.frames) == [2, 3, 4, 5, 6, 7] and list(result.sheet_frames) == [2, 4, 7]
    with Image.open(result.sheet_path) as sheet:
        assert sheet.size == (layout.width, 3 * layout.height + 2 * preview_render.GAP)


def test_every_supported_blender_writes_the_mp4():
    assert bpy.app.build_options.codec_ffmpeg and compat.HAS_FFMPEG, bpy.app.version_string


def test_captions_carry_the_record_numbers_into_text_strips(addon_scene, tmp_path):
    built = build_transferred_scene(k=1e3)
    record = load(built.camera)
    job = preview_render.PreviewJob(built.scene, built.camera, tmp_path / "out", width=WIDTH, height=HEIGHT)
    before = {kind: sorted(x.name for x in getattr(bpy.data, kind)) for kind in ("scenes", "objects", "cameras")}
    job.start()
    try:
        while not job.step():
            pass
        composition = job.compose()
        texts = {}
        for strip in compat.sequencer_strips(composition):
            if strip.type == "TEXT":
                texts.setdefault(int(strip.frame_final_start), []).append(strip.text)
        for row, frame in enumerate(FRAMES):
            shown = texts[int(frame)]
            assert f"Reference \u00b7 frame {frame}" in shown
            assert f"Calibrated (per-frame) \u00b7 frame {frame}" in shown
            assert f"Uncalibrated (s = 1) \u00b7 frame {frame}" in shown
            if row == 0:
                assert sum("first frame" in t for t in shown) == 3
                continue
            ref, cal = preview_data.fmt(record.pi_reference[row - 1]), preview_data.fmt(record.pi_realized[row - 1])
            uncal = preview_data.fmt(record.pi_uncalibrated[row - 1])
            assert f"\u03a0 {ref}" in shown
            assert f"\u03a0 {cal}  (reference {ref})" in shown
            assert f"\u03a0 {uncal}  (reference {ref})" in shown
        # A strip the user reads has the text strips' real font size, not a bitmap font.
        assert all(strip.font_size >= 6 for strip in compat.sequencer_strips(composition) if strip.type == "TEXT")
    finally:
        job.cancel()
    assert {kind: sorted(x.name for x in getattr(bpy.data, kind)) for kind in ("scenes", "objects", "cameras")} \
        == before
    assert not (tmp_path / "out").exists()


def test_uncalibrated_panel_says_when_its_camera_left_the_scene(addon_scene, tmp_path):
    """k = 1e-3: the uncalibrated camera makes the reference's 1000x too large steps and looks past the tiny
    target after the first frame; its panel is black there and the preview says why."""
    built = build_transferred_scene(k=1e-3)
    result = preview_render.render_preview(built.scene, built.camera, tmp_path, width=WIDTH, height=HEIGHT,
                                           sheet_frames=FRAMES.size, graph=False)
    assert result.visibility[0] == preview_render.SEES_THE_SCENE
    assert set(result.visibility[1:]) == {preview_render.LEFT_THE_SCENE}
    for row, captions in enumerate(result.captions):
        warnings = {c.panel: c.warning for c in captions}
        assert warnings["reference"] == warnings["calibrated"] == ""
        assert warnings["uncalibrated"] == ("" if row == 0 else "The camera has left the scene")
    # On the sheet the warning is written over the (otherwise empty) uncalibrated panel in its colour.
    panels = sheet_panels(result)["uncalibrated"].astype(int)
    warning_rgb = np.round(np.array(preview_render.WARNING_COLOUR[:3]) * 255)
    near_warning = (np.abs(panels - warning_rgb).max(axis=-1) < 60).reshape(FRAMES.size, -1).sum(axis=1)
    assert near_warning[0] == 0 and np.all(near_warning[1:] >= 3)


def test_camera_sees_distinguishes_clip_range_from_empty_view(addon_scene):
    built = build_transferred_scene(k=1e3)
    scene, camera = built.scene, built.camera
    scene.frame_set(int(FRAMES[0]))
    assert preview_render.camera_sees(scene, camera) == preview_render.SEES_THE_SCENE
    clip = camera.data.clip_end
    camera.data.clip_end = camera.data.clip_start * 1.01  # the scene lies beyond the clip range
    scene.frame_set(int(FRAMES[0]))  # re-evaluate
    assert preview_render.camera_sees(scene, camera) == preview_render.BEYOND_CLIP_RANGE
    camera.data.clip_end = clip
    for obj in built.target_collection.objects:  # nothing left to see
        obj.hide_set(False)
    built.scene.collection.children.unlink(built.target_collection)
    built.scene.collection.children.unlink(built.reference_collection)
    scene.frame_set(int(FRAMES[0]))
    assert preview_render.camera_sees(scene, camera) == preview_render.LEFT_THE_SCENE


def test_render_refuses_bad_input_and_changes_nothing(addon_scene, tmp_path):
    built = build_transferred_scene(k=1e3)
    before = scene_snapshot(built.scene)
    with pytest.raises(TrajectoryError, match="not within the transfer's frames 1..8"):
        preview_render.render_preview(built.scene, built.camera, tmp_path, frame_start=0, frame_end=4)
    with pytest.raises(TrajectoryError, match="engine 'CYCLES'"):
        preview_render.render_preview(built.scene, built.camera, tmp_path, engine="CYCLES")
    with pytest.raises(TrajectoryError, match="no ParaScale transfer record"):
        preview_render.render_preview(built.scene, built.reference, tmp_path)
    assert scene_snapshot(built.scene) == before
    built.camera.animation_data_clear()
    with pytest.raises(TrajectoryError, match="stale"):
        preview_render.render_preview(built.scene, built.camera, tmp_path)
    assert not list(tmp_path.iterdir())


class StandInWindowManager:
    """Stands in for the window manager's progress indicator only (no UI runs headless)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def progress_begin(self, low: int, high: int) -> None:
        self.calls.append(("begin", low, high))

    def progress_update(self, value: int) -> None:
        self.calls.append(("update", value))

    def progress_end(self) -> None:
        self.calls.append(("end",))


def test_interactive_run_shows_progress_and_finishes(addon_scene, tmp_path):
    from parascale.parascale_blender.preview_draw import PreviewProgress

    built = build_transferred_scene(k=1e3)
    before = scene_snapshot(built.scene)
    job = preview_render.PreviewJob(built.scene, built.camera, tmp_path / "out", width=WIDTH, height=HEIGHT,
                                    frame_start=1, frame_end=3, graph=False)
    window_manager = StandInWindowManager()
    run = PreviewProgress(job, window_manager)
    run.begin()
    assert run.handle("MOUSEMOVE") == {"PASS_THROUGH"}
    states = [run.handle("TIMER") for _ in range(job.total)]
    assert states[:-1] == [{"RUNNING_MODAL"}] * (job.total - 1) and states[-1] == {"FINISHED"}
    assert window_manager.calls == [("begin", 0, 9)] + [("update", i) for i in range(1, 9)] + [("end",)]
    assert run.result.movie_path.is_file() and run.result.sheet_path.is_file()
    assert scene_snapshot(built.scene) == before


def test_escape_cancels_and_leaves_nothing_behind(addon_scene, tmp_path):
    from parascale.parascale_blender.preview_draw import PreviewProgress

    built = build_transferred_scene(k=1e3)
    built.scene.frame_set(5)
    before = scene_snapshot(built.scene)
    window_manager = StandInWindowManager()
    run = PreviewProgress(preview_render.PreviewJob(built.scene, built.camera, tmp_path / "new" / "out",
                                                    width=WIDTH, height=HEIGHT), window_manager)
    run.begin()
    assert any(scene.name.startswith(preview_render.TEMPORARY_PREFIX) for scene in bpy.data.scenes)
    assert run.handle("TIMER") == {"RUNNING_MODAL"} and run.handle("TIMER") == {"RUNNING_MODAL"}
    assert run.handle("ESC") == {"CANCELLED"}
    assert window_manager.calls[-1] == ("end",)
    assert scene_snapshot(built.scene) == before
    assert not list(tmp_path.iterdir())  # the folders it created are gone too


def test_operator_modal_shell_with_stand_in_events(addon_scene, tmp_path):
    """The operator's invoke and modal methods, driven with stand-ins for what only a UI has (a window, the
    event timer, the modal handler, events); the job, the rendering and the files are real."""
    from parascale.parascale_blender.preview_draw import PARASCALE_OT_render_preview as operator

    build_transferred_scene(k=1e3)
    reports: list[tuple] = []
    window_manager = StandInWindowManager()
    window_manager.event_timer_add = lambda step, window=None: ("timer", step)
    window_manager.event_timer_remove = lambda timer: window_manager.calls.append(("timer removed", timer))
    window_manager.modal_handler_add = lambda op: window_manager.calls.append(("modal handler",))
    context = SimpleNamespace(scene=bpy.context.scene, active_object=None, window=object(),
                              window_manager=window_manager)
    shell = SimpleNamespace(directory=str(tmp_path / "out"), width=WIDTH, height=HEIGHT, use_transfer_range=False,
                            frame_start=2, frame_end=4, engine="WORKBENCH", sheet_frames=2, show_graph=True,
                            report=lambda kind, text: reports.append((kind, text)))
    shell._job = lambda context: operator._job(shell, context)
    shell.execute = lambda context: operator.execute(shell, context)
    assert operator.invoke(shell, context, SimpleNamespace(type="NONE")) == {"RUNNING_MODAL"}
    assert ("modal handler",) in window_manager.calls
    state = {"RUNNING_MODAL"}
    while state == {"RUNNING_MODAL"}:
        state = operator.modal(shell, context, SimpleNamespace(type="TIMER"))
    assert state == {"FINISHED"} and ("timer removed", ("timer", 0.01)) in window_manager.calls
    assert reports[-1][0] == {"INFO"} and "parascale_preview.mp4" in reports[-1][1]
    assert (tmp_path / "out" / "parascale_preview.mp4").is_file()
    # Esc in the middle of a second run: a warning, nothing written.
    assert operator.invoke(shell, context, SimpleNamespace(type="NONE")) == {"RUNNING_MODAL"}
    (tmp_path / "out" / "parascale_preview.mp4").unlink()
    assert operator.modal(shell, context, SimpleNamespace(type="TIMER")) == {"RUNNING_MODAL"}
    assert operator.modal(shell, context, SimpleNamespace(type="ESC")) == {"CANCELLED"}
    assert reports[-1] == ({"WARNING"}, "preview cancelled: nothing written")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["parascale_preview_sheet.png"]


def test_operator_renders_from_the_sidebar(addon_scene, tmp_path):
    built = build_transferred_scene(k=1e-3)
    out = tmp_path / "out"
    assert bpy.ops.parascale.render_preview(directory=str(out), width=48, height=28, use_transfer_range=False,
                                            frame_start=1, frame_end=3) == {"FINISHED"}
    assert (out / "parascale_preview_sheet.png").is_file() and (out / "parascale_preview.mp4").is_file()
    with pytest.raises(RuntimeError, match="not within the transfer's frames"):
        bpy.ops.parascale.render_preview(directory=str(tmp_path / "range"), use_transfer_range=False,
                                         frame_start=5, frame_end=20)
    assert not (tmp_path / "range").exists()
    bpy.data.objects.remove(built.camera)
    with pytest.raises(RuntimeError, match="no transferred camera"):
        bpy.ops.parascale.render_preview(directory=str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()


def test_eevee_option_sets_up_eevee_panel_scenes(addon_scene, tmp_path):
    """EEVEE's first render compiles its shaders (minutes on this software-GL test machine), so the option
    is checked on the panel scenes it sets up, not by rendering."""
    built = build_transferred_scene(k=1e3)
    built.scene.view_settings.exposure = 0.5
    before = scene_snapshot(built.scene)
    job = preview_render.PreviewJob(built.scene, built.camera, tmp_path / "out", width=WIDTH, height=HEIGHT,
                                    engine="EEVEE")
    job.start()
    try:
        engines = {scene.render.engine for scene in job.panel_scenes.values()}
        assert engines == {compat.eevee_engine()}
        # EEVEE panels keep the user's colour management (Workbench panels use Standard).
        assert {scene.view_settings.exposure for scene in job.panel_scenes.values()} == {0.5}
    finally:
        job.cancel()
    assert scene_snapshot(built.scene) == before and not (tmp_path / "out").exists()


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
        bpy.ops.parascale.render_preview(directory=str(out), width=48, height=28)
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
               "--camera", "RefCam.ParaScale", "--out", str(tmp_path / "cli"), "--width", "48", "--height", "28",
               "--sheet-frames", "2", "--no-graph"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote" in done.stdout and (tmp_path / "cli" / "parascale_preview.mp4").is_file()
    # The add-on is not enabled in that process: the collections to hide still come from the file.
    assert "hidden while the reference renders: Target; while the others render: Reference" in done.stdout
    # The calibrated panel matches the reference panel here too.
    sheet = np.asarray(Image.open(tmp_path / "cli" / "parascale_preview_sheet.png").convert("RGB")).astype(float)
    gap = preview_render.GAP
    first_row = sheet[:28]
    assert np.abs(first_row[:, :48] - first_row[:, 2 * (48 + gap):2 * (48 + gap) + 48]).mean() / 255 < 0.01
    assert blend.read_bytes() == saved  # the .blend is never saved
    failed = subprocess.run(command[:5] + ["NoSuchCamera"] + command[6:], capture_output=True, text=True,
                            timeout=300)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == f"parascale preview: {blend}: no object named 'NoSuchCamera'"
