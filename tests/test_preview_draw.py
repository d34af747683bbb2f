"""The overlay's drawing shell against the recording stand-in for `gpu` (Blender refuses to draw in
background mode), the stand-in's own rules checked against each Blender release's binary, and the draw
handlers' life cycle through the installed add-on with the real bpy.app.handlers."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from gpu_recorder import ALL_RELEASES, LEGACY_SHADERS, SHADERS, GpuUsageError, Recorder, portable_shaders
from parascale.tools.blender_install import module_name
from test_preview_scene import FRAMES, build_transferred_scene

RELEASE = "{}.{}".format(*bpy.app.version[:2])


def installed(name: str):
    """A module of the installed extension (bl_ext.user_default.parascale.parascale_blender.<name>)."""
    return sys.modules[f"{module_name()}.parascale_blender.{name}"]


def view3d_override() -> dict:
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "WINDOW")
    return {"window": window, "area": area, "region": region}


# --------------------------------------------------------------------------------- the stand-in itself


def _blender_binary_strings(names: list[str]) -> dict[str, bool]:
    """Whether each name appears as a NUL-terminated C string in this Blender's own binary."""
    # bpy.__file__ is Blender's scripts module; the compiled module sits a few folders up.
    binary = next(f for folder in Path(bpy.__file__).parents for f in folder.glob("__init__*")
                  if f.suffix in (".so", ".pyd"))
    with open(binary, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return {name: data.find(b"\x00" + name.encode() + b"\x00") >= 0 for name in names}


def test_shader_table_matches_this_blender_release():
    """Every builtin shader the stand-in knows exists in this release exactly when the table says so,
    and the removed 2D_/3D_ names do not."""
    assert RELEASE in ALL_RELEASES
    found = _blender_binary_strings(list(SHADERS) + list(LEGACY_SHADERS))
    for name, (_, _, releases) in SHADERS.items():
        assert found[name] == (RELEASE in releases), (name, RELEASE)
    assert not any(found[name] for name in LEGACY_SHADERS)
    names = _blender_binary_strings(["viewportSize", "lineWidth", "color", "pos", "texCoord"])
    assert all(names.values()), names


def test_recorder_rejects_what_blender_rejects():
    recorder = Recorder()
    for name in ("3D_UNIFORM_COLOR", "2D_SMOOTH_COLOR", "POINT_UNIFORM_COLOR", "UNIFORM_COLOUR"):
        with pytest.raises(GpuUsageError):
            recorder.from_builtin(name)
    line = recorder.from_builtin("POLYLINE_UNIFORM_COLOR")
    with pytest.raises(GpuUsageError, match="no uniform"):
        line.uniform_float("colour", (1, 1, 1, 1))
    with pytest.raises(GpuUsageError, match="takes 2 floats"):
        line.uniform_float("viewportSize", (800.0,))
    pos = np.zeros((4, 3))
    with pytest.raises(GpuUsageError, match="draws lines only"):
        recorder.batch_for_shader(line, "TRIS", {"pos": pos[:3]})
    with pytest.raises(GpuUsageError, match="takes attributes"):
        recorder.batch_for_shader(line, "LINES", {"position": pos})
    with pytest.raises(GpuUsageError, match="do not make LINES"):
        recorder.batch_for_shader(line, "LINES", {"pos": pos[:3]})
    with pytest.raises(GpuUsageError, match=r"needs \(N, 3\)"):
        recorder.batch_for_shader(line, "LINES", {"pos": pos[:, :2]})
    smooth = recorder.from_builtin("POLYLINE_SMOOTH_COLOR")
    with pytest.raises(GpuUsageError, match="differ in length"):
        recorder.batch_for_shader(smooth, "LINE_STRIP", {"pos": pos, "color": np.ones((3, 4))})
    batch = recorder.batch_for_shader(line, "LINE_STRIP", {"pos": pos})
    line.bind()
    line.uniform_float("viewportSize", (800.0, 600.0))
    line.uniform_float("color", (1.0, 1.0, 1.0, 1.0))
    with pytest.raises(GpuUsageError, match="uniforms not set"):
        batch.draw(line)
    line.uniform_float("lineWidth", 2.0)
    batch.draw(line)
    assert recorder.draws[-1].shader == "POLYLINE_UNIFORM_COLOR"
    with pytest.raises(GpuUsageError, match="no dpi"):
        recorder.blf.size(0, 12, 72)
    assert "UNIFORM_COLOR" in portable_shaders() and "POINT_UNIFORM_COLOR" not in portable_shaders()


# ------------------------------------------------------------------------------------------ the shell


@pytest.fixture
def overlay_on(addon_scene):
    built = build_transferred_scene(k=5.0)
    built.scene.parascale.show_overlay = True
    built.scene.frame_set(int(FRAMES[3]))
    return built


def draw_everything(monkeypatch) -> Recorder:
    draw = installed("preview_draw")
    recorder = Recorder().install(monkeypatch, draw)
    with bpy.context.temp_override(**view3d_override()):
        draw.draw_world()
        draw.draw_screen()
    return recorder


def test_shell_draws_the_overlay_with_valid_batches(overlay_on, monkeypatch):
    data = installed("preview_data")
    override = view3d_override()
    size = (override["region"].width, override["region"].height)
    recorder = draw_everything(monkeypatch)
    expected = data.overlay(overlay_on.scene, size)
    primitives = list(expected.world) + list(expected.screen)
    assert len(recorder.draws) == len(primitives) >= 8
    for call, prim in zip(recorder.draws, primitives, strict=True):
        assert call.shader == prim.shader and call.kind == prim.kind
        assert np.allclose(call.content["pos"], prim.positions)
        if prim.colours is not None:
            assert np.allclose(call.content["color"], prim.colours)
        if call.shader.startswith("POLYLINE_"):
            assert call.uniforms["viewportSize"] == tuple(map(float, size))
            assert call.uniforms["lineWidth"][0] > 0
    assert {c.shader for c in recorder.draws} <= set(portable_shaders())
    assert {"POLYLINE_SMOOTH_COLOR", "POLYLINE_UNIFORM_COLOR", "UNIFORM_COLOR"} == {c.shader for c in recorder.draws}
    assert [t.text for t in recorder.texts] == [label.text for label in expected.labels]
    assert recorder.texts[1].text == f"frame {int(FRAMES[3])}"
    assert recorder.state[0] == ("blend", "ALPHA") and recorder.state[-1] == ("blend", "NONE")


def test_shell_draws_only_the_stale_readout(overlay_on, monkeypatch):
    overlay_on.camera.animation_data_clear()  # edited after the transfer: now it stands still
    recorder = draw_everything(monkeypatch)
    assert recorder.draws == []
    assert recorder.texts[-1].text == installed("preview_data").STALE_MESSAGE


@pytest.mark.parametrize("remove", ["camera", "record", "overlay_off"])
def test_shell_draws_nothing_and_raises_nothing_without_data(overlay_on, monkeypatch, remove):
    if remove == "camera":
        bpy.data.objects.remove(overlay_on.camera)
    elif remove == "record":
        del overlay_on.camera["parascale"]
    else:
        overlay_on.scene.parascale.show_overlay = False
    recorder = draw_everything(monkeypatch)
    assert recorder.draws == [] and recorder.texts == []


# --------------------------------------------------------------------------------------- the handlers


def _ours_in_load_post() -> list:
    draw = installed("preview_draw")
    return [h for h in bpy.app.handlers.load_post if getattr(h, "__module__", "") == draw.__name__]


def test_handlers_follow_the_overlay_flag_idempotently(addon_scene):
    draw = installed("preview_draw")
    assert not draw.draw_handlers_installed()
    assert len(_ours_in_load_post()) == 1
    addon_scene.parascale.show_overlay = True  # the property's update callback syncs
    assert draw.draw_handlers_installed()
    handles = dict(draw._draw_handles)
    assert set(handles) == {"world", "screen"}
    draw.sync_draw_handlers()
    draw.install_draw_handlers()
    assert draw._draw_handles == handles  # nothing added twice
    addon_scene.parascale.show_overlay = False
    assert not draw.draw_handlers_installed()
    for handle in handles.values():  # really gone from Blender: removing again is refused
        with pytest.raises(ValueError):
            bpy.types.SpaceView3D.draw_handler_remove(handle, "WINDOW")
    draw.remove_draw_handlers()  # and removing twice is harmless
    # The sidebar's toggle operator.
    assert bpy.ops.parascale.toggle_overlay() == {"FINISHED"}
    assert addon_scene.parascale.show_overlay and draw.draw_handlers_installed()
    assert bpy.ops.parascale.toggle_overlay() == {"FINISHED"}
    assert not addon_scene.parascale.show_overlay and not draw.draw_handlers_installed()


def test_file_load_syncs_the_handlers(addon_scene, tmp_path):
    draw = installed("preview_draw")
    on, off = tmp_path / "on.blend", tmp_path / "off.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(off), copy=True)
    addon_scene.parascale.show_overlay = True
    bpy.ops.wm.save_as_mainfile(filepath=str(on), copy=True)
    addon_scene.parascale.show_overlay = False
    assert not draw.draw_handlers_installed()
    bpy.ops.wm.open_mainfile(filepath=str(on))
    assert len(_ours_in_load_post()) == 1  # @persistent: it survives the load
    assert bpy.context.scene.parascale.show_overlay and draw.draw_handlers_installed()
    bpy.ops.wm.open_mainfile(filepath=str(off))
    assert not draw.draw_handlers_installed()
    assert len(_ours_in_load_post()) == 1


def test_unregister_removes_everything(addon_scene):
    import addon_utils

    draw = installed("preview_draw")
    addon_scene.parascale.show_overlay = True
    handles = list(draw._draw_handles.values())
    assert handles and hasattr(bpy.types, "PARASCALE_PT_parallax_readout")
    addon_utils.disable(module_name(), default_set=True)
    try:
        assert not draw.draw_handlers_installed() and _ours_in_load_post() == []
        for handle in handles:
            with pytest.raises(ValueError):
                bpy.types.SpaceView3D.draw_handler_remove(handle, "WINDOW")
        assert not hasattr(bpy.types, "PARASCALE_PT_parallax_readout")
        assert not hasattr(bpy.ops.parascale, "render_preview") or "render_preview" not in dir(bpy.ops.parascale)
    finally:
        addon_utils.enable(module_name(), default_set=True)
    assert len(_ours_in_load_post()) == 1
