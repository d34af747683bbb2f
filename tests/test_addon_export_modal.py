"""Export Camera Poses as the UI runs it: after the file browser, a modal run in steps between timer events
(whole frames read, then the preset's subframe times evaluated), with progress, status text and Esc or
right-click to cancel with nothing written and the frame restored. As in test_addon_modal, the steps run on
the real scene; only the UI around them (window, window manager, timer, events) is stood in."""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from parascale.core import formats
from parascale.tools.blender_install import module_name
from test_addon_io import bezier_roll  # noqa: F401 (the fixture moving_camera builds on)
from test_addon_modal import StandInWindowManager, operator_shell, run_to_end, stand_in_context

FRAMES = 48
WAN_FRAMES = formats.PRESETS["wan21"].frames  # 81 subframe times after the 48 whole frames
# The frame (and subframe) the user is on: every run must leave it so.
USER_FRAME, USER_SUBFRAME = 7, 0.25


def io_operators():
    return importlib.import_module(f"{module_name()}.parascale_blender.io_operators")


class FileSelectWindowManager(StandInWindowManager):
    def fileselect_add(self, operator):
        self.calls.append(("file browser",))


@pytest.fixture
def moving_camera(request):
    """test_addon_io's Bezier move with roll over 48 frames, with an animated lens; the user on frame 7.25."""
    scene, camera = request.getfixturevalue("bezier_roll")
    camera.data.keyframe_insert("lens", frame=1)
    camera.data.lens = 50.0
    camera.data.keyframe_insert("lens", frame=FRAMES)
    scene.frame_set(USER_FRAME, subframe=USER_SUBFRAME)
    return scene


def export_shell(path, preset):
    """The export operator's own functions on a stand-in instance with its properties, and a stand-in
    context (the file browser included)."""
    shell = operator_shell(io_operators().PARASCALE_OT_export_poses, filepath=str(path), preset=preset,
                           camera="ACTIVE", sidecar=True, timing="fit", model_size="", filename_ext="",
                           check_extension=None)
    context, statuses = stand_in_context(active_object=bpy.context.active_object, blend_data=bpy.data)
    context.window_manager = FileSelectWindowManager()
    return shell, context, statuses


def start_from_the_file_browser(shell, context) -> None:
    """What the UI does: invoke opens the file browser, which calls execute once the file is chosen."""
    assert shell.invoke(context, SimpleNamespace(type="LEFTMOUSE")) == {"RUNNING_MODAL"}
    assert context.window_manager.calls == [("file browser",)]
    assert shell.execute(context) == {"RUNNING_MODAL"}


def user_frame_kept(scene) -> bool:
    return scene.frame_current == USER_FRAME and abs(scene.frame_subframe - USER_SUBFRAME) < 1e-6


def parsed(path):
    trajectory = formats.read_trajectory(path)
    return trajectory.matrices(), trajectory.frames, trajectory.fps, trajectory.intrinsics


@pytest.mark.parametrize(("preset", "name", "output_frames"), [("wan21", "wan.txt", WAN_FRAMES),
                                                              ("parascale", "poses.json", 0)])
def test_the_modal_export_shows_progress_and_writes_the_synchronous_file(moving_camera, tmp_path, preset, name,
                                                                          output_frames):
    scene = moving_camera
    synchronous = tmp_path / "sync" / name
    synchronous.parent.mkdir()
    assert bpy.ops.parascale.export_poses(filepath=str(synchronous), preset=preset, camera="ACTIVE") == {"FINISHED"}
    assert user_frame_kept(scene)

    chunked = tmp_path / "modal" / name
    chunked.parent.mkdir()
    shell, context, statuses = export_shell(chunked, preset)
    start_from_the_file_browser(shell, context)
    assert not any(chunked.parent.iterdir())
    assert shell.modal(context, SimpleNamespace(type="MOUSEMOVE")) == {"PASS_THROUGH"}  # the viewport stays live
    result = run_to_end(shell, context)
    assert result == {"FINISHED"}
    calls = context.window_manager.calls
    total = FRAMES + output_frames
    updates = [c[1] for c in calls if c[0] == "update"]
    begins = [c[1:] for c in calls if c[0] == "begin"]
    # One step a timer event here (budget 0): every whole frame read, every output frame evaluated.
    assert updates == list(range(1, total + 1))[:len(updates)] and len(updates) >= total - 1
    assert begins == ([(0, FRAMES), (0, total)] if output_frames else [(0, FRAMES)])
    assert ("timer removed", "timer") in calls and calls[-1] == ("end",) and statuses[-1] is None
    assert "ParaScale: exporting: reading frame 12 of 48" in statuses[11] and "(Esc to cancel)" in statuses[11]
    if output_frames:
        assert any(s and f"evaluating output frame 40 of {WAN_FRAMES}" in s for s in statuses)
        assert all("s left" in s for s in statuses[1:-1])
    assert user_frame_kept(scene)
    assert shell.reports[-1][0] == "INFO" and f"to {name}" in shell.reports[-1][1]

    # The same file: the same values parsed back, and the same sidecar.
    (sync_matrices, sync_frames, sync_fps, sync_intrinsics), (matrices, frames, fps, intrinsics) = \
        parsed(synchronous), parsed(chunked)
    assert len(frames) == (output_frames or FRAMES)
    np.testing.assert_allclose(matrices, sync_matrices, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(frames, sync_frames)
    assert fps == sync_fps and intrinsics == sync_intrinsics
    assert sorted(p.name for p in chunked.parent.iterdir()) == sorted(p.name for p in synchronous.parent.iterdir())
    for sidecar in synchronous.parent.glob("*.meta.json"):
        assert json.loads(sidecar.read_text()) == json.loads((chunked.parent / sidecar.name).read_text())


CANCEL_POINTS = {"before any step": 0, "some frames read": 5, "all frames read": FRAMES,
                 "half the output frames": FRAMES + WAN_FRAMES // 2, "every step, not yet written": FRAMES + WAN_FRAMES}


@pytest.mark.parametrize("key", ["ESC", "RIGHTMOUSE"])
@pytest.mark.parametrize("after", list(CANCEL_POINTS))
def test_cancel_writes_nothing_and_restores_the_frame(moving_camera, tmp_path, after, key):
    scene = moving_camera
    path = tmp_path / "out" / "wan.txt"
    path.parent.mkdir()
    shell, context, statuses = export_shell(path, "wan21")
    start_from_the_file_browser(shell, context)
    while shell._run.done < CANCEL_POINTS[after]:
        assert shell.modal(context, SimpleNamespace(type="TIMER")) == {"RUNNING_MODAL"}
    assert shell._run.done == CANCEL_POINTS[after]
    assert shell.modal(context, SimpleNamespace(type=key)) == {"CANCELLED"}
    assert not any(path.parent.iterdir())  # no file, no sidecar, no temporary file
    assert user_frame_kept(scene)
    assert shell.reports == [("WARNING", "ParaScale: export cancelled; nothing was written")]
    calls = context.window_manager.calls
    assert ("timer removed", "timer") in calls and calls[-1] == ("end",) and (not statuses or statuses[-1] is None)


def test_an_error_at_the_write_is_one_line_and_writes_nothing(moving_camera, tmp_path):
    scene = moving_camera
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    shell, context, statuses = export_shell(blocker / "poses.json", "parascale")
    start_from_the_file_browser(shell, context)
    result = run_to_end(shell, context)
    assert result == {"CANCELLED"} and len(shell.reports) == 1 and shell.reports[0][0] == "ERROR"
    assert "\n" not in shell.reports[0][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a file"] and user_frame_kept(scene)
    assert context.window_manager.calls[-1] == ("end",) and statuses[-1] is None


def test_execute_without_the_file_browser_runs_at_once(moving_camera, tmp_path):
    """A script calling the operator (EXEC_DEFAULT) in the UI: synchronous, no timer, no progress."""
    path = tmp_path / "wan.txt"
    shell, context, _ = export_shell(path, "wan21")
    assert shell.execute(context) == {"FINISHED"}
    assert path.exists() and context.window_manager.calls == []
    assert user_frame_kept(moving_camera)
