"""Keep Subject Framed through the installed add-on: an orbit round a statue transferred onto a desk whose
cup sits off the start view's centre. The written camera keeps the cup where the statue was in the frame
(checked with Blender's own bpy_extras.object_utils.world_to_camera_view on the written camera) and keeps
Pi per frame; bad subjects are refused in one line with nothing changed."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector
from parascale.tools.blender_install import module_name
from parascale.tools.blender_scenes import add_box, add_camera, keyframe_locations, new_collection, world_matrices

FRAMES = np.arange(1, 21)
STATUE = (0.0, 0.0, 1.0)
DESK_BOX = (-0.05, 0.02, 0.0)  # the desk's BOUNDS centre, off the cup: its depth turns with the view
DESK_CENTRE = (0.0, 0.0, 0.02)
CUP = (0.09, 0.05, 0.04)
START = (0.35, -0.45, 0.2)


def _orbit(frames: np.ndarray) -> np.ndarray:
    angle = np.linspace(-0.8, 0.8, frames.size)
    return np.stack([10 * np.cos(angle), 10 * np.sin(angle), 3 + 0.8 * angle], axis=1)


def _add_empty(name: str, location) -> bpy.types.Object:
    empty = bpy.data.objects.new(name, None)
    empty.location = location
    bpy.context.scene.collection.objects.link(empty)
    return empty


@pytest.fixture
def orbit(addon_scene):
    scene = addon_scene
    scene.frame_start, scene.frame_end = int(FRAMES[0]), int(FRAMES[-1])
    scene.render.resolution_x, scene.render.resolution_y = 960, 540
    reference_set = new_collection("StatueSet")
    add_box("Statue", STATUE, (2.0, 2.0, 2.0), reference_set)
    desk_set = new_collection("DeskSet")
    add_box("Desk", DESK_BOX, (0.3, 0.2, 0.02), desk_set)
    reference = add_camera("Orbit", _orbit(FRAMES)[0], STATUE, lens=35.0, clip_end=200.0)
    keyframe_locations(reference, FRAMES, _orbit(FRAMES), target=STATUE)
    start = add_camera("DeskStart", START, DESK_CENTRE, lens=35.0, clip_start=1e-4, clip_end=10.0)
    settings = scene.parascale
    settings.reference_camera, settings.target_start = reference, start
    settings.reference_source, settings.reference_collection = "BOUNDS", reference_set
    settings.target_source, settings.target_collection = "BOUNDS", desk_set
    settings.keep_subject_framed = True
    settings.reference_subject = _add_empty("StatueSubject", STATUE)
    settings.target_subject = _add_empty("Cup", CUP)
    return SimpleNamespace(scene=scene, settings=settings, reference=reference, start=start)


def _framing_errors(scene, camera, point, reference, reference_point) -> np.ndarray:
    """Blender's own projection of each subject through its camera, frame by frame: the distance between
    the two image positions as a fraction of the frame width."""
    aspect = scene.render.resolution_y / scene.render.resolution_x
    errors = []
    current = scene.frame_current
    for frame in FRAMES:
        scene.frame_set(int(frame))
        target = world_to_camera_view(scene, camera, Vector(point))
        seen = world_to_camera_view(scene, reference, Vector(reference_point))
        assert target.z > 0 and seen.z > 0
        errors.append(np.hypot(target.x - seen.x, (target.y - seen.y) * aspect))
    scene.frame_set(current)
    return np.array(errors)


def _depth_along_view(matrices: np.ndarray, point) -> np.ndarray:
    forward = -matrices[:, :3, 2] / np.linalg.norm(matrices[:, :3, 2], axis=1, keepdims=True)
    return np.einsum("ni,ni->n", np.asarray(point) - matrices[:, :3, 3], forward)


def _pi(matrices: np.ndarray, depth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(matrices[:, :3, 3], axis=0), axis=1) / depth[1:]


def _module(name: str):
    return importlib.import_module(f"{module_name()}.parascale_blender.{name}")


def test_written_camera_keeps_the_cup_where_the_statue_was_and_pi_per_frame(orbit):
    scene = orbit.scene
    # The paper's transfer (rotation untouched) lets the cup wander off the statue's place.
    orbit.settings.keep_subject_framed = False
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    plain = bpy.data.objects["Orbit.ParaScale"]
    assert _module("transfer_record").load(plain).framing_error is None
    assert np.median(_framing_errors(scene, plain, CUP, orbit.reference, STATUE)) > 0.05

    orbit.settings.keep_subject_framed = True
    outcome = _module("operators").transfer_camera_move(bpy.context)
    written = bpy.data.objects["Orbit.ParaScale"]
    errors = _framing_errors(scene, written, CUP, orbit.reference, STATUE)
    assert errors.max() < 0.005

    # Pi per frame kept, from the written camera's evaluated matrices: the desk box's depth along its view.
    reference_m = world_matrices(scene, orbit.reference, FRAMES)
    written_m = world_matrices(scene, written, FRAMES)
    pi_reference = _pi(reference_m, _depth_along_view(reference_m, STATUE))
    pi_written = _pi(written_m, _depth_along_view(written_m, DESK_BOX))
    np.testing.assert_allclose(pi_written, pi_reference, rtol=1e-4)

    # The record and the report carry the per-frame framing error and rotation change.
    record = _module("transfer_record").load(written)
    assert record.framing_error.shape == record.rotation_change.shape == (FRAMES.size,)
    np.testing.assert_allclose(record.framing_error, errors, atol=1e-4)
    assert np.median(record.rotation_change) > 1.0
    messages = [message for _, message in outcome.report_lines()]
    assert any("subject kept framed: framing error at most" in m and "target subject (0.09, 0.05, 0.04) given" in m
               for m in messages), messages


def test_target_subject_found_by_depth_along_the_start_view(orbit):
    orbit.settings.target_subject = None
    outcome = _module("operators").transfer_camera_move(bpy.context)
    framing = outcome.result.framing
    found = framing.target_subject[0]
    # On the start's central ray (the statue is centred in the reference), at the desk box's depth.
    start_m = np.array(orbit.start.matrix_world)
    forward = -start_m[:3, 2] / np.linalg.norm(start_m[:3, 2])
    depth = float(np.dot(np.array(DESK_BOX) - start_m[:3, 3], forward))
    np.testing.assert_allclose(found, start_m[:3, 3] + depth * forward, atol=1e-6)
    assert framing.rotation_change_deg[0] < 1e-3
    written = bpy.data.objects["Orbit.ParaScale"]
    assert _framing_errors(orbit.scene, written, found, orbit.reference, STATUE).max() < 0.005


def _snapshot() -> dict:
    return {"objects": sorted(o.name for o in bpy.data.objects), "cameras": sorted(c.name for c in bpy.data.cameras),
            "actions": sorted(a.name for a in bpy.data.actions)}


def _subject_at_camera(orbit) -> None:
    empty = _add_empty("OnCamera", (0.0, 0.0, 0.0))
    empty.parent = orbit.reference
    orbit.settings.reference_subject = empty


def _subject_behind(orbit) -> None:
    orbit.settings.reference_subject.location = tuple(2 * _orbit(FRAMES)[0] - np.array(STATUE))


def _target_subject_elsewhere(orbit) -> None:
    other = bpy.data.scenes.new("Elsewhere")
    cup = bpy.data.objects.new("FarCup", None)
    other.collection.objects.link(cup)
    orbit.settings.target_subject = cup


def _nan_subject(orbit) -> None:
    orbit.settings.target_subject.location = (float("nan"), 0.0, 0.0)


def _no_subject(orbit) -> None:
    orbit.settings.reference_subject = None


@pytest.mark.parametrize("spoil, expected", [
    (_no_subject, "choose a reference subject"),
    (_subject_at_camera, r"reference subject is at the reference camera's centre at frame 1, 2, 3"),
    (_subject_behind, "reference subject is behind the reference camera at frame 1"),
    (_target_subject_elsewhere, "target subject 'FarCup' is not in the scene"),
    (_nan_subject, "'Cup' has a non-finite position at frame 1"),
])
def test_bad_subjects_are_refused_in_one_line_with_nothing_changed(orbit, spoil, expected):
    spoil(orbit)
    before = _snapshot()
    frame = orbit.scene.frame_current
    with pytest.raises(RuntimeError, match=expected) as error:
        bpy.ops.parascale.transfer_camera_move()
    assert len(str(error.value).strip().splitlines()) == 1
    assert _snapshot() == before and orbit.scene.frame_current == frame


class _Layout:
    """A stand-in UI layout recording which settings the panel shows (each must exist)."""

    def __init__(self, shown: list[str]):
        self.shown = shown
        self.use_property_split = self.use_property_decorate = False

    def prop(self, data, name, **_):
        assert hasattr(data, name), name
        self.shown.append(name)

    def box(self, **_):
        return self

    row = column = box

    def label(self, **_):
        pass

    def operator(self, *_, **__):
        pass


@pytest.mark.parametrize("on", [False, True])
def test_panel_shows_the_subjects_when_keep_subject_framed_is_on(orbit, on):
    orbit.settings.keep_subject_framed = on
    shown: list[str] = []
    panel = SimpleNamespace(layout=_Layout(shown))
    _module("panels").VIEW3D_PT_parascale.draw(panel, bpy.context)
    assert "keep_subject_framed" in shown
    assert ({"reference_subject", "target_subject"} <= set(shown)) == on
    assert ({"reference_subject", "target_subject"} & set(shown) == set()) == (not on)
