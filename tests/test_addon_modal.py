"""Transfer Camera Move as the UI runs it: a modal operator that works in steps between timer events, shows
progress and status text, and cancels on Esc with the scene exactly as it was. The stepping logic
(ChunkedTransfer) runs on the real scene; only the UI shell around it (window, timer, event) is stood in,
since Blender has no event loop headless."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from parascale.tools.blender_install import module_name
from parascale.tools.blender_scenes import add_box, add_camera, keyframe_locations, new_collection
from test_addon_operator import _snapshot

FRAMES = np.arange(1, 21)


def operators():
    return importlib.import_module(f"{module_name()}.parascale_blender.operators")


def record_of(obj):
    return importlib.import_module(f"{module_name()}.parascale_blender.transfer_record").load(obj)


@pytest.fixture
def geometry_move(addon_scene):
    """A reference moving past a box (BOUNDS) onto a small target set measured by GEOMETRY: a per-frame
    solve that takes a few probe evaluations per frame."""
    scene = addon_scene
    scene.frame_start, scene.frame_end = int(FRAMES[0]), int(FRAMES[-1])
    reference_set = new_collection("ReferenceSet")
    add_box("Subject", (0.0, 10.0, 2.0), (4.0, 4.0, 4.0), reference_set)
    target_set = new_collection("TargetSet")
    add_box("Near", (0.0, 0.012, 0.0), (0.004, 0.004, 0.004), target_set)
    add_box("Far", (0.006, 0.03, 0.002), (0.01, 0.004, 0.01), target_set)
    u = (FRAMES - 1) / (FRAMES[-1] - 1)
    reference = add_camera("Ref", (0.0, -20.0, 3.0), (0.0, 10.0, 2.0), clip_end=200.0)
    keyframe_locations(reference, FRAMES, np.stack([4 * u, -20 + 6 * u, 3 + np.sin(3 * u)], axis=1),
                       target=(0.0, 10.0, 2.0))
    start = add_camera("Start", (0.0, -0.02, 0.004), (0.0, 0.02, 0.002), clip_start=1e-5, clip_end=1.0)
    settings = scene.parascale
    settings.reference_camera, settings.reference_source, settings.reference_collection = reference, "BOUNDS", \
        reference_set
    settings.target_start, settings.target_source, settings.target_collection = start, "GEOMETRY", target_set
    scene.frame_set(4)  # evaluates the new objects: their world matrices are what the snapshots compare
    return scene


def test_a_chunked_run_gives_the_synchronous_camera(geometry_move):
    scene = geometry_move
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    written = bpy.data.objects["Ref.ParaScale"]
    synchronous = record_of(written)
    bpy.data.objects.remove(written)
    run = operators().ChunkedTransfer(bpy.context)
    seen, statuses = [], []
    outcome = None
    while outcome is None:
        outcome = run.advance(0.0)  # one step per call
        seen.append(run.done)
        statuses.append(run.status())
    # Reading, the reference depth, solving, then the uncalibrated comparison: four steps per frame.
    assert seen == sorted(seen) and seen[-1] == run.total == 4 * FRAMES.size
    assert any("reading frame" in s for s in statuses) and any("solving frame 10 of 20" in s for s in statuses)
    assert any("measuring the reference depth at frame" in s for s in statuses)
    assert any("uncalibrated comparison at frame" in s for s in statuses)
    assert all("Esc to cancel" in s for s in statuses)
    chunked = record_of(outcome.camera)
    for name in ("centres", "scale", "pi_realized", "depth_target"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(synchronous, name), rtol=1e-12, err_msg=name)
    assert scene.frame_current == 4


@pytest.mark.parametrize("after", ["nothing", "some frames read", "half the solve", "the last step"])
def test_cancel_at_any_point_leaves_the_scene_as_it_was(geometry_move, after):
    scene = geometry_move
    before = _snapshot(scene)
    run = operators().ChunkedTransfer(bpy.context)
    stop = {"nothing": 0, "some frames read": 5, "half the solve": FRAMES.size + 8,
            "the last step": run.total - 1}[after]
    while run.done < stop:
        assert run.advance(0.0) is None
    run.cancel()
    assert _snapshot(scene) == before
    assert not [h for h in bpy.app.handlers.frame_change_post if "parascale" in getattr(h, "__module__", "")]


class StandInWindowManager:
    def __init__(self):
        self.calls: list[tuple] = []

    def progress_begin(self, low, high):
        self.calls.append(("begin", low, high))

    def progress_update(self, value):
        self.calls.append(("update", value))

    def progress_end(self):
        self.calls.append(("end",))

    def event_timer_add(self, interval, window=None):
        self.calls.append(("timer", interval))
        return "timer"

    def event_timer_remove(self, timer):
        self.calls.append(("timer removed", timer))

    def modal_handler_add(self, operator):
        self.calls.append(("modal",))


def operator_shell(cls, **attributes):
    """A stand-in instance running the operator's own functions (invoke, execute, finish_run, ...: those
    `cls` defines) and the shared modal shell (chunked_run.ModalRun), with `attributes` (the operator's
    properties) set; reports are kept."""
    modal_run = importlib.import_module(f"{module_name()}.parascale_blender.chunked_run").ModalRun

    class Shell(modal_run):
        STEP_BUDGET, TIMER_INTERVAL = 0.0, cls.TIMER_INTERVAL
        CANCELLED_MESSAGE, ERRORS = cls.CANCELLED_MESSAGE, cls.ERRORS

        def __init__(self):
            self.reports = []
            for name, value in attributes.items():
                setattr(self, name, value)

        def report(self, levels, message):
            self.reports.append((sorted(levels)[0], message))

    for name, value in vars(cls).items():
        if callable(value) and not name.startswith("__") and not isinstance(value, type):
            setattr(Shell, name, value)
    return Shell()


def stand_in_context(**extra):
    """A context whose scene and view layer are real while the window, window manager and workspace are
    stand-ins; the status texts set are collected."""
    statuses = []
    context = SimpleNamespace(scene=bpy.context.scene, view_layer=bpy.context.view_layer, window=object(),
                              window_manager=StandInWindowManager(),
                              workspace=SimpleNamespace(status_text_set=statuses.append), **extra)
    return context, statuses


def run_to_end(shell, context) -> set[str]:
    """Timer events until the modal run stops; what it returned then."""
    result = {"RUNNING_MODAL"}
    while result == {"RUNNING_MODAL"}:
        result = shell.modal(context, SimpleNamespace(type="TIMER"))
    return result


def shell_and_context():
    """The operator's own invoke/modal functions on a stand-in instance, and a stand-in context."""
    return operator_shell(operators().PARASCALE_OT_transfer_camera_move), *stand_in_context()


def test_the_modal_operator_shows_progress_and_finishes(geometry_move):
    shell, context, statuses = shell_and_context()
    assert shell.invoke(context, SimpleNamespace(type="LEFTMOUSE")) == {"RUNNING_MODAL"}
    assert "Ref.ParaScale" not in bpy.data.objects
    assert shell.modal(context, SimpleNamespace(type="MOUSEMOVE")) == {"PASS_THROUGH"}  # the viewport stays live
    result = run_to_end(shell, context)
    assert result == {"FINISHED"}
    calls = context.window_manager.calls
    updates = [c[1] for c in calls if c[0] == "update"]
    assert calls[0] == ("begin", 0, 4 * FRAMES.size) and updates == sorted(updates) and len(updates) > 20
    assert calls[-2:] == [("timer removed", "timer"), ("end",)] or ("end",) in calls[-3:]
    assert statuses[-1] is None and any(s and "solving frame" in s for s in statuses)
    assert "Ref.ParaScale" in bpy.data.objects and shell.reports[0][0] == "INFO"


def test_esc_cancels_and_changes_nothing(geometry_move):
    scene = geometry_move
    before = _snapshot(scene)
    shell, context, statuses = shell_and_context()
    shell.invoke(context, SimpleNamespace(type="LEFTMOUSE"))
    for _ in range(FRAMES.size + 5):  # into the solve
        assert shell.modal(context, SimpleNamespace(type="TIMER")) == {"RUNNING_MODAL"}
    assert shell.modal(context, SimpleNamespace(type="ESC")) == {"CANCELLED"}
    assert _snapshot(scene) == before
    assert ("timer removed", "timer") in context.window_manager.calls and statuses[-1] is None
    assert shell.reports == [("WARNING", "ParaScale: transfer cancelled; nothing was changed")]


def test_bad_input_in_the_modal_run_is_one_error_line(geometry_move):
    scene = geometry_move
    scene.parascale.target_collection = new_collection("Empty")
    before = _snapshot(scene)
    shell, context, _ = shell_and_context()
    shell.invoke(context, SimpleNamespace(type="LEFTMOUSE"))
    result = run_to_end(shell, context)
    assert result == {"CANCELLED"} and len(shell.reports) == 1 and shell.reports[0][0] == "ERROR"
    assert "holds no visible geometry" in shell.reports[0][1]
    assert _snapshot(scene) == before


def test_without_a_window_the_operator_runs_at_once(geometry_move):
    """Scripts and background mode: invoke runs the whole transfer synchronously."""
    assert bpy.ops.parascale.transfer_camera_move("INVOKE_DEFAULT") == {"FINISHED"}
    assert "Ref.ParaScale" in bpy.data.objects
