"""The installed Transfer Camera Move operator (bpy.ops.parascale.transfer_camera_move) on references
driven every way Blender can drive a camera, with cheap depth sources (BOUNDS, FIXED, FOCUS); checked
against independent reads of the scene (frame_set + matrix_world) and the core's definitions."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import bpy
import numpy as np
import pytest
from parascale.core.poses import project_to_rotation
from parascale.parascale_blender import compat
from parascale.tools.blender_install import module_name
from parascale.tools.blender_scenes import (
    add_box,
    add_camera,
    keyframe_locations,
    look_at_euler,
    new_collection,
    world_matrices,
)

FRAMES = np.arange(1, 25)


def _record(obj):
    return importlib.import_module(f"{module_name()}.parascale_blender.transfer_record").load(obj)


def _path(frames: np.ndarray) -> np.ndarray:
    u = (frames - frames[0]) / (frames[-1] - frames[0])
    return np.stack([4.0 * u, -20.0 + 6.0 * u + 2.0 * u**2, 3.0 + np.sin(3 * u)], axis=1)


@pytest.fixture
def move(addon_scene):
    """A reference camera moving over frames 1..24 towards a box at (0, 10, 2) (BOUNDS reference); a
    target start camera 0.05 units from a small box near the origin (BOUNDS target)."""
    scene = addon_scene
    scene.frame_start, scene.frame_end = int(FRAMES[0]), int(FRAMES[-1])
    scene.frame_set(5)
    reference_set = new_collection("ReferenceSet")
    add_box("Subject", (0.0, 10.0, 2.0), (4.0, 4.0, 4.0), reference_set)
    target_set = new_collection("TargetSet")
    add_box("Miniature", (0.0, 0.01, 0.0), (0.004, 0.004, 0.004), target_set)
    reference = add_camera("Ref", _path(FRAMES)[0], (0.0, 10.0, 2.0), clip_end=200.0)
    keyframe_locations(reference, FRAMES, _path(FRAMES), target=(0.0, 10.0, 2.0))
    # Aimed off the box centre, so the per-frame scale varies along the move.
    start = add_camera("Start", (0.01, -0.04, 0.005), (0.004, 0.01, 0.003), clip_start=1e-4, clip_end=1.0)
    settings = scene.parascale
    settings.reference_camera = reference
    settings.reference_source, settings.reference_collection = "BOUNDS", reference_set
    settings.target_start = start
    settings.target_source, settings.target_collection = "BOUNDS", target_set
    return SimpleNamespace(scene=scene, settings=settings, reference=reference, start=start,
                           reference_centre=np.array([0.0, 10.0, 2.0]), target_centre=np.array([0.0, 0.01, 0.0]))


def _depth_along_view(matrices: np.ndarray, point: np.ndarray) -> np.ndarray:
    forward = -matrices[:, :3, 2] / np.linalg.norm(matrices[:, :3, 2], axis=1, keepdims=True)
    return np.einsum("ni,ni->n", point - matrices[:, :3, 3], forward)


def _pi(matrices: np.ndarray, depth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(matrices[:, :3, 3], axis=0), axis=1) / depth[1:]


def _relative_rotations(matrices: np.ndarray) -> np.ndarray:
    r = project_to_rotation(matrices[:, :3, :3])
    return np.einsum("ji,njk->nik", r[0], r)


def _snapshot(scene) -> dict:
    """Everything a cancelled run must leave as it was."""
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        # As text: a NaN the hostile cases put into a matrix must compare equal to itself.
        "matrices": {o.name: np.array(o.matrix_world).round(9).astype(str).tolist() for o in bpy.data.objects},
        "cameras": sorted(c.name for c in bpy.data.cameras),
        "actions": sorted(a.name for a in bpy.data.actions),
        "frame": (scene.frame_current, scene.frame_subframe),
        "selected": sorted(o.name for o in bpy.context.view_layer.objects if o.select_get()),
        "active": getattr(bpy.context.view_layer.objects.active, "name", None),
        "keys": {a.name: len(a.fcurves) if hasattr(a, "fcurves") else len(a.layers) for a in bpy.data.actions},
    }


def _run() -> set[str]:
    return bpy.ops.parascale.transfer_camera_move()


def test_bounds_transfer_matches_the_reference_parallax(move, capfd):
    reference_before = world_matrices(move.scene, move.reference, FRAMES)
    assert move.scene.frame_current == 5
    assert _run() == {"FINISHED"}
    assert move.scene.frame_current == 5
    out = bpy.data.objects["Ref.ParaScale"]
    assert out.get("parascale_output") == "Ref" and out.type == "CAMERA" and out.parent is None
    assert bpy.context.view_layer.objects.active == out
    assert [o.name for o in bpy.context.view_layer.objects if o.select_get()] == ["Ref.ParaScale"]

    # The reference was not touched.
    np.testing.assert_array_equal(world_matrices(move.scene, move.reference, FRAMES), reference_before)

    # Independently measured: realized Pi of the new camera (bounds depth of the target box centre from
    # its evaluated matrices) equals the reference's (bounds depth of the subject) frame by frame.
    ref_m = reference_before
    out_m = world_matrices(move.scene, out, FRAMES)
    pi_reference = _pi(ref_m, _depth_along_view(ref_m, move.reference_centre))
    pi_realized = _pi(out_m, _depth_along_view(out_m, move.target_centre))
    np.testing.assert_allclose(pi_realized, pi_reference, rtol=1e-4)
    # Rotation untouched; the move starts at the target start pose.
    np.testing.assert_allclose(_relative_rotations(out_m), _relative_rotations(ref_m), atol=1e-5)
    np.testing.assert_allclose(out_m[0], np.array(move.start.matrix_world), atol=1e-6)

    record = _record(out)
    np.testing.assert_array_equal(record.frames, FRAMES)
    record_module = importlib.import_module(f"{module_name()}.parascale_blender.transfer_record")
    assert not record_module.is_stale(record, out_m[:, :3, 3])  # the float32 keys are what was recorded
    np.testing.assert_allclose(record.pi_reference, pi_reference, rtol=1e-5)
    np.testing.assert_allclose(record.pi_realized, pi_reference, rtol=1e-5)
    np.testing.assert_allclose(record.centres, out_m[:, :3, 3], atol=1e-6)
    np.testing.assert_allclose(record.reference_centres, ref_m[:, :3, 3], atol=1e-5)
    np.testing.assert_allclose(record.start_centre, np.array(move.start.matrix_world.translation), atol=1e-7)
    np.testing.assert_allclose(record.start_rotation, np.array(move.start.matrix_world)[:3, :3], atol=1e-6)
    np.testing.assert_allclose(record.depth_reference, _depth_along_view(ref_m, move.reference_centre), rtol=1e-5)
    np.testing.assert_allclose(record.depth_target, _depth_along_view(out_m, move.target_centre), rtol=1e-4)
    np.testing.assert_allclose(record.scale, record.depth_target[1:] / record.depth_reference[1:], rtol=1e-9)
    # The record's figures are the written camera's: float32 keyframes of steps ~1e-4 at ~1e-2 from the
    # origin add a few 1e-6 to the solve's 1e-6 (the independent measurement above agrees to 1e-4).
    assert record.pce < 1e-5 and record.bias == pytest.approx(1.0)
    np.testing.assert_allclose(record.pi_realized, _pi(out_m, record.depth_target), rtol=1e-6)
    assert record.mode == "PER_FRAME" and record.reference == "Ref"
    assert record.source_reference.startswith("bounds") and record.source_target.startswith("bounds")
    # The uncalibrated contrast: the reference's raw steps against the target depth (nothing in view after
    # the first few giant steps, so NaN there; where seen, off by far more than the ~1e-3 scale).
    finite = np.isfinite(record.pi_uncalibrated)
    assert record.pi_uncalibrated.shape == record.pi_reference.shape
    assert np.all(record.pi_uncalibrated[finite] > 50 * record.pi_reference[finite])
    report = capfd.readouterr()
    text = report.out + report.err
    assert "Pi_total reference" in text and "PCE" in text and "scale" in text


def test_global_and_uncalibrated_modes(move, capfd):
    move.settings.mode = "GLOBAL"
    assert _run() == {"FINISHED"}
    out = bpy.data.objects["Ref.ParaScale"]
    ref_m, out_m = world_matrices(move.scene, move.reference, FRAMES), world_matrices(move.scene, out, FRAMES)
    ref_steps = np.linalg.norm(np.diff(ref_m[:, :3, 3], axis=0), axis=1)
    out_steps = np.linalg.norm(np.diff(out_m[:, :3, 3], axis=0), axis=1)
    expected = (_depth_along_view(out_m[:1], move.target_centre)[0]
                / _depth_along_view(ref_m[:1], move.reference_centre)[0])
    np.testing.assert_allclose(out_steps / ref_steps, expected, rtol=1e-4)
    assert _record(out).mode == "GLOBAL"

    move.settings.mode = "UNCALIBRATED"
    assert _run() == {"FINISHED"}
    assert bpy.data.objects["Ref.ParaScale"] == out
    out_m = world_matrices(move.scene, out, FRAMES)
    np.testing.assert_allclose(np.linalg.norm(np.diff(out_m[:, :3, 3], axis=0), axis=1), ref_steps, rtol=1e-5)
    record = _record(out)
    np.testing.assert_array_equal(np.isnan(record.pi_uncalibrated), np.isnan(record.pi_realized))
    # The raw move flies past the miniature: the frames it leaves behind have no depth and are named.
    missing = FRAMES[np.flatnonzero(np.isnan(record.depth_target))]
    assert missing.size > 0
    text = "".join(capfd.readouterr())
    assert f"the target depth sees nothing at frame {missing[0]}, {missing[1]}" in text


def test_focus_and_fixed_sources(move):
    data = move.reference.data
    data.dof.use_dof = True
    for frame, distance in ((1, 12.0), (24, 6.0)):
        data.dof.focus_distance = distance
        data.dof.keyframe_insert("focus_distance", frame=frame)
    move.start.data.dof.focus_distance = 0.03
    move.settings.reference_source, move.settings.target_source = "FOCUS", "FOCUS"
    assert _run() == {"FINISHED"}
    record = _record(bpy.data.objects["Ref.ParaScale"])
    focus = []
    for frame in FRAMES:
        move.scene.frame_set(int(frame))
        focus.append(data.dof.focus_distance)
    focus = np.array(focus)
    move.scene.frame_set(5)
    np.testing.assert_allclose(record.depth_reference, focus, rtol=1e-6)
    np.testing.assert_allclose(record.scale, 0.03 / focus[1:], rtol=1e-6)

    # A focus object: its depth along the view axis, per frame.
    focus_target = bpy.data.objects.new("FocusTarget", None)
    move.scene.collection.objects.link(focus_target)
    focus_target.location = (0.0, 10.0, 2.0)
    data.dof.focus_object = focus_target
    assert _run() == {"FINISHED"}
    record = _record(bpy.data.objects["Ref.ParaScale"])
    ref_m = world_matrices(move.scene, move.reference, FRAMES)
    np.testing.assert_allclose(record.depth_reference, _depth_along_view(ref_m, move.reference_centre), rtol=1e-5)

    move.settings.reference_source, move.settings.target_source = "FIXED", "FIXED"
    move.settings.reference_depth, move.settings.target_depth = 8.0, 0.02
    assert _run() == {"FINISHED"}
    record = _record(bpy.data.objects["Ref.ParaScale"])
    np.testing.assert_allclose(record.scale, 0.02 / 8.0, rtol=1e-6)  # settings hold float32
    assert record.source_reference == "fixed 8" and record.source_target == "fixed 0.02"


def _check_follows_reference(move, frames=FRAMES):
    """Run, then: the output's relative rotations and per-frame parallax equal the reference's as Blender
    evaluates it (independent read)."""
    assert _run() == {"FINISHED"}
    out = bpy.data.objects["Ref.ParaScale"]
    ref_m, out_m = world_matrices(move.scene, move.reference, frames), world_matrices(move.scene, out, frames)
    np.testing.assert_allclose(_relative_rotations(out_m), _relative_rotations(ref_m), atol=2e-5)
    pi_reference = _pi(ref_m, _depth_along_view(ref_m, move.reference_centre))
    np.testing.assert_allclose(_pi(out_m, _depth_along_view(out_m, move.target_centre)), pi_reference, rtol=2e-4)
    return out, ref_m, out_m


def test_track_to_constraint_reference(move):
    move.reference.animation_data_clear()
    keyframe_locations(move.reference, FRAMES[::6], _path(FRAMES)[::6])
    aim = bpy.data.objects.new("Aim", None)
    move.scene.collection.objects.link(aim)
    keyframe_locations(aim, [1, 24], [(0.0, 10.0, 2.0), (3.0, 10.0, 0.0)])
    constraint = move.reference.constraints.new("TRACK_TO")
    constraint.target, constraint.track_axis, constraint.up_axis = aim, "TRACK_NEGATIVE_Z", "UP_Y"
    _, ref_m, _ = _check_follows_reference(move)
    # The constraint really turns the camera (the Euler curves alone do not).
    assert np.abs(_relative_rotations(ref_m)[-1] - np.eye(3)).max() > 0.05
    assert len(move.reference.constraints) == 1


def test_follow_path_constraint_reference(move):
    move.reference.animation_data_clear()
    move.reference.location = (0.0, 0.0, 0.0)
    move.reference.rotation_euler = (0.0, 0.0, 0.0)  # the constraint composes the object's own rotation
    curve = bpy.data.curves.new("Path", "CURVE")
    curve.dimensions = "3D"
    spline = curve.splines.new("POLY")
    points = [(-6.0, -20.0, 3.0, 1.0), (-2.0, -12.0, 4.0, 1.0), (2.0, -6.0, 3.0, 1.0)]
    spline.points.add(len(points) - 1)
    for point, co in zip(spline.points, points, strict=True):
        point.co = co
    path = bpy.data.objects.new("Path", curve)
    move.scene.collection.objects.link(path)
    constraint = move.reference.constraints.new("FOLLOW_PATH")
    constraint.target, constraint.use_fixed_location, constraint.use_curve_follow = path, True, True
    # The camera looks along the path (its -Z axis on the tangent), so the path also turns it.
    constraint.forward_axis, constraint.up_axis = "TRACK_NEGATIVE_Z", "UP_Y"
    for frame, value in ((1, 0.0), (24, 1.0)):
        constraint.offset_factor = value
        move.reference.keyframe_insert('constraints["Follow Path"].offset_factor', frame=frame)
    _, ref_m, _ = _check_follows_reference(move)
    assert np.abs(ref_m[-1, :3, 3] - ref_m[0, :3, 3]).max() > 5.0
    assert np.abs(_relative_rotations(ref_m)[-1] - np.eye(3)).max() > 0.05


def test_parented_and_scaled_reference(move):
    rig = bpy.data.objects.new("Rig", None)
    move.scene.collection.objects.link(rig)
    rig.scale = (2.0, 2.0, 2.0)
    for frame, angle in ((1, 0.0), (24, 0.4)):
        rig.rotation_euler = (0.0, 0.0, angle)
        rig.keyframe_insert("rotation_euler", frame=frame)
    move.reference.parent = rig
    move.reference.scale = (1.0, 3.0, 0.5)  # non-uniform: removed from the pose
    out, ref_m, out_m = _check_follows_reference(move)
    np.testing.assert_allclose(np.linalg.norm(out_m[:, :3, :3], axis=1), 1.0, atol=1e-6)
    assert tuple(out.scale) == (1.0, 1.0, 1.0)


def test_driver_driven_reference(move):
    move.reference.animation_data_clear()
    move.reference.rotation_euler = (np.pi / 2, 0.0, 0.0)
    move.reference.location = (0.0, -20.0, 2.0)
    driver = move.reference.driver_add("location", 0).driver
    driver.type, driver.expression = "SCRIPTED", "frame * 0.25"
    driver = move.reference.driver_add("location", 1).driver
    driver.type, driver.expression = "SCRIPTED", "-20 + frame * 0.3"
    _, ref_m, _ = _check_follows_reference(move)
    np.testing.assert_allclose(ref_m[:, 0, 3], FRAMES * 0.25, atol=1e-5)


def test_dolly_zoom_keeps_the_lens_curve(move):
    data = move.reference.data
    for frame, lens in ((1, 24.0), (10, 35.0), (24, 85.0)):
        data.lens = lens
        data.keyframe_insert("lens", frame=frame)
    out, _, _ = _check_follows_reference(move)
    lens_curve = compat.find_fcurve(out.data, "lens", 0)
    assert lens_curve is not None
    frames, values = compat.read_keyframes(lens_curve)
    np.testing.assert_array_equal(frames, FRAMES)
    expected = []
    for frame in FRAMES:
        move.scene.frame_set(int(frame))
        expected.append(move.reference.data.lens)
        assert out.evaluated_get(bpy.context.evaluated_depsgraph_get()).data.lens == pytest.approx(expected[-1],
                                                                                                   rel=1e-6)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert out.data.animation_data.action != data.animation_data.action


def test_frame_range_not_starting_at_one(move):
    move.settings.use_scene_range = False
    assert (move.settings.frame_start, move.settings.frame_end) == (1, 24)  # taken from the scene
    move.settings.frame_start, move.settings.frame_end = 7, 19
    out, _, _ = _check_follows_reference(move, np.arange(7, 20))
    record = _record(out)
    np.testing.assert_array_equal(record.frames, np.arange(7, 20))
    assert compat.read_keyframes(compat.find_fcurve(out, "location", 0))[0].tolist() == list(range(7, 20))
    assert move.scene.frame_current == 5

    move.settings.use_scene_range = True
    move.scene.frame_start, move.scene.frame_end = 101, 130
    move.reference.animation_data_clear()
    keyframe_locations(move.reference, np.arange(101, 131), _path(np.arange(101, 131)), target=(0.0, 10.0, 2.0))
    _check_follows_reference(move, np.arange(101, 131))


def test_quaternion_reference(move):
    move.reference.animation_data_clear()
    move.reference.rotation_mode = "QUATERNION"
    path = _path(FRAMES)
    for frame, location in zip(FRAMES[::4], path[::4], strict=True):
        move.reference.location = location
        move.reference.rotation_quaternion = look_at_euler(location, (0.0, 10.0, 2.0)).to_quaternion()
        move.reference.keyframe_insert("location", frame=int(frame))
        move.reference.keyframe_insert("rotation_quaternion", frame=int(frame))
    out, _, _ = _check_follows_reference(move)
    assert out.rotation_mode == "QUATERNION"


def test_axis_angle_reference_is_written_as_quaternions(move):
    move.reference.rotation_mode = "AXIS_ANGLE"
    move.reference.rotation_axis_angle = (1.4, 1.0, 0.1, 0.0)  # the Euler keys no longer apply
    out, _, _ = _check_follows_reference(move)
    assert out.rotation_mode == "QUATERNION"


def test_rerun_replaces_only_its_own_camera(move):
    impostor = add_camera("Ref.ParaScale", (1.0, 2.0, 3.0))
    assert _run() == {"FINISHED"}
    written = bpy.data.objects["Ref.ParaScale.001"]
    assert written.get("parascale_output") == "Ref"
    names = sorted(o.name for o in bpy.data.objects)
    move.settings.mode = "GLOBAL"
    assert _run() == {"FINISHED"}
    assert sorted(o.name for o in bpy.data.objects) == names
    assert bpy.data.objects["Ref.ParaScale.001"] == written and _record(written).mode == "GLOBAL"
    assert tuple(impostor.location) == (1.0, 2.0, 3.0) and impostor.animation_data is None
    assert len(bpy.data.cameras) == 4  # Ref, Start, the impostor, ours: the replaced data was removed


def _make_bad(move, case: str) -> str:
    """Break the set-up one way; return the expected message fragment."""
    settings = move.settings
    if case == "no reference":
        settings.reference_camera = None
        return "choose a reference camera"
    if case == "not a camera":
        empty = bpy.data.objects.new("NotACamera", None)
        move.scene.collection.objects.link(empty)
        settings.reference_camera = empty
        return "'NotACamera' is not a camera"
    if case == "no motion":
        move.reference.animation_data_clear()
        return "does not move"
    if case == "empty target collection":
        settings.target_collection = new_collection("Nothing")
        return "'Nothing' holds no visible geometry"
    if case == "no target collection":
        settings.target_collection = None
        return "choose a target collection"
    if case == "nothing in view":
        # The subject is behind the camera from frame 20 on.
        for frame in (20, 24):
            move.reference.location = (0.0, 14.0 + frame - 20, 2.0)
            move.reference.keyframe_insert("location", frame=frame)
        return "nothing is in view of the reference"
    if case == "reference as target start":
        settings.target_start = move.reference
        return "cannot also be the target start"
    if case == "no target start, no scene camera":
        settings.target_start = None
        move.scene.camera = None
        return "choose a target start camera"
    if case == "target start in another scene":
        other = bpy.data.scenes.new("Elsewhere")
        move.scene.collection.objects.unlink(move.start)
        other.collection.objects.link(move.start)
        return "is not in the scene 'Scene'"
    if case == "target focus without a distance":
        settings.target_source = "FOCUS"
        move.start.data.dof.focus_distance = 0.0
        return "no focus distance"
    if case == "tracking without a clip":
        settings.reference_source = "TRACKING"
        return "no movie clip chosen for the tracking depth"
    if case.startswith(("nan rotation", "inf rotation", "nan quaternion", "inf quaternion")):
        kind, channel = case.split()[0], case.split()[1]
        value = float(kind)  # "nan" or "inf"
        if channel == "quaternion":
            move.reference.rotation_mode = "QUATERNION"
            move.reference.rotation_quaternion = (value, 0.0, 0.0, 0.0)
            move.reference.keyframe_insert("rotation_quaternion", index=0, frame=12)
        else:
            axis = "xyz".index(case.split()[-1])
            rotation = list(move.reference.rotation_euler)
            rotation[axis] = value
            move.reference.rotation_euler = rotation
            move.reference.keyframe_insert("rotation_euler", index=axis, frame=12)
        return r"'Ref' has a non-finite transform or lens at frame .*12"
    if case == "inf location":
        move.reference.location = (float("inf"), 0.0, 0.0)
        move.reference.keyframe_insert("location", index=0, frame=12)
        return r"'Ref' has a non-finite transform or lens at frame .*12"
    if case == "nan in a parent":
        parent = bpy.data.objects.new("Rig", None)
        move.scene.collection.objects.link(parent)
        move.reference.parent = parent
        parent.location = (0.0, float("nan"), 0.0)
        parent.keyframe_insert("location", index=1, frame=3)
        return r"'Ref' has a non-finite transform or lens at frame 1"
    if case == "nan in the target start":
        move.start.rotation_euler = (float("nan"), 0.0, 0.0)
        return r"'Start' has a non-finite transform or lens at frame 1\b"
    if case in ("scene camera is an empty", "scene camera is a light"):
        data = None if case.endswith("empty") else bpy.data.lights.new("Lamp", "POINT")
        impostor = bpy.data.objects.new("Impostor", data)
        move.scene.collection.objects.link(impostor)
        settings.target_start = None
        move.scene.camera = impostor
        return "the scene camera 'Impostor' is not a camera: choose a Target Start camera"
    if case == "target sees nothing":
        settings.target_collection = new_collection("Elsewhere")
        add_box("Behind", (0.0, -5.0, 0.0), (0.01, 0.01, 0.01), settings.target_collection)
        return "target depth source"
    raise AssertionError(case)


BAD_CASES = ["no reference", "not a camera", "no motion", "empty target collection", "no target collection",
             "nothing in view", "reference as target start", "no target start, no scene camera",
             "target sees nothing", "tracking without a clip", "target start in another scene",
             "target focus without a distance", "nan rotation euler x", "nan rotation euler y",
             "nan rotation euler z", "inf rotation euler x", "nan quaternion w", "inf quaternion w", "inf location",
             "nan in a parent", "nan in the target start", "scene camera is an empty", "scene camera is a light"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_reported_and_changes_nothing(move, case):
    expected = _make_bad(move, case)
    move.scene.frame_set(5)
    before = _snapshot(move.scene)
    with pytest.raises(RuntimeError, match=expected) as error:
        _run()
    message = str(error.value)
    assert message.count("\n") <= 1 and message.startswith("Error:") and "Traceback" not in message
    assert _snapshot(move.scene) == before


def test_probe_resolution_has_a_hard_limit(move):
    """A typed 60000 is held at the limit the probe can allocate (4096 px, 75 MB of z-buffer); the core
    refuses more, naming the limit, before allocating anything."""
    from parascale.core.errors import DepthError
    from parascale.core.geometry import MAX_PROBE_RESOLUTION, GeometryDepth

    move.settings.geometry_resolution = 60000
    assert move.settings.geometry_resolution == MAX_PROBE_RESOLUTION == 4096
    with pytest.raises(DepthError, match="the probe resolution 60000 px is above the limit of 4096 px"):
        GeometryDepth(np.eye(3), np.array([[0, 1, 2]]), resolution=60000)


def test_nothing_in_view_names_the_frames(move):
    _make_bad(move, "nothing in view")
    with pytest.raises(RuntimeError, match=r"at frame 2[0-3], .*24"):
        _run()


def test_the_written_camera_cannot_be_its_own_start(move):
    assert _run() == {"FINISHED"}
    move.settings.target_start = bpy.data.objects["Ref.ParaScale"]
    before = _snapshot(move.scene)
    with pytest.raises(RuntimeError, match="is the camera ParaScale wrote"):
        _run()
    assert _snapshot(move.scene) == before


def test_scene_camera_is_the_default_target_start(move):
    move.settings.target_start = None
    move.scene.camera = move.start
    assert _run() == {"FINISHED"}
    out = bpy.data.objects["Ref.ParaScale"]
    np.testing.assert_allclose(world_matrices(move.scene, out, [1])[0], np.array(move.start.matrix_world), atol=1e-6)
    assert move.scene.camera == move.start


def test_float32_precision_warning(move, capfd):
    poses = importlib.import_module(f"{module_name()}.core.poses")  # the rule the operator warns with
    spacing, median = poses.float32_quantization(np.array([[1e6, 0, 0], [1e6 + 0.01, 0, 0], [1e6 + 0.02, 0, 0]]))
    assert spacing == pytest.approx(0.0625) and median == pytest.approx(0.01)
    # The miniature far from the origin: steps of ~1e-4 at coordinates of 1e4 (float32 spacing ~1e-3).
    offset = np.array([1e4, 0.0, 0.0])
    move.start.location = np.array(move.start.location) + offset
    for obj in move.settings.target_collection.objects:
        obj.location = np.array(obj.location) + offset
    capfd.readouterr()
    assert _run() == {"FINISHED"}
    text = "".join(capfd.readouterr())
    assert "float32 precision" in text and "keep the target scene near the origin" in text
    move.start.location = np.array(move.start.location) - offset
    for obj in move.settings.target_collection.objects:
        obj.location = np.array(obj.location) - offset
    assert _run() == {"FINISHED"}
    assert "float32 precision" not in "".join(capfd.readouterr())


def test_progress_is_reported_per_frame(move):
    operators = importlib.import_module(f"{module_name()}.parascale_blender.operators")
    seen = []
    outcome = operators.transfer_camera_move(bpy.context, progress=seen.append)
    steps = operators.progress_steps(bpy.context.scene, bpy.context.scene.parascale)
    # Per frame: reading, the reference depth, solving, and the uncalibrated comparison.
    assert steps == 4 * FRAMES.size
    assert seen[:FRAMES.size] == list(range(FRAMES.size))  # reading, frame by frame
    assert [step for step in seen if FRAMES.size <= step < 2 * FRAMES.size]  # the reference depth
    assert [step for step in seen if 2 * FRAMES.size <= step < 3 * FRAMES.size]  # the solve
    assert max(seen) == steps - 1 and seen == sorted(seen)  # the comparison's steps come last
    assert outcome.camera.name == "Ref.ParaScale" and outcome.result.mode == "per_frame"
    assert not outcome.precision_warning and [level for level, _ in outcome.report_lines()] == ["INFO"]


def test_undo_is_one_step():
    # bpy.ops.ed.undo cannot run headless (no undo stack: its poll fails), so only the flag is checked.
    assert {"REGISTER", "UNDO"} <= set(bpy.types.PARASCALE_OT_transfer_camera_move.bl_options)


def test_reference_in_a_scene_of_its_own(move):
    """A reference camera and its set kept in another Blender scene are read there (its own depsgraph and
    frames), and both scenes' current frames are left as they were."""
    main = move.scene
    other = bpy.data.scenes.new("ReferenceScene")
    for obj in (move.reference,):
        main.collection.objects.unlink(obj)
        other.collection.objects.link(obj)
    reference_set = move.settings.reference_collection
    main.collection.children.unlink(reference_set)
    other.collection.children.link(reference_set)
    other.frame_set(3)
    assert move.reference.name not in main.objects
    before = world_matrices(other, move.reference, FRAMES)
    assert _run() == {"FINISHED"}
    assert (main.frame_current, other.frame_current) == (5, 3)
    out = bpy.data.objects["Ref.ParaScale"]
    assert out.name in main.objects and out.name not in other.objects
    ref_m, out_m = world_matrices(other, move.reference, FRAMES), world_matrices(main, out, FRAMES)
    np.testing.assert_array_equal(ref_m, before)
    pi_reference = _pi(ref_m, _depth_along_view(ref_m, move.reference_centre))
    np.testing.assert_allclose(_pi(out_m, _depth_along_view(out_m, move.target_centre)), pi_reference, rtol=2e-4)
    np.testing.assert_allclose(_relative_rotations(out_m), _relative_rotations(ref_m), atol=2e-5)
