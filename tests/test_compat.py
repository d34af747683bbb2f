"""compat: the animation API across 4.2 (Action.fcurves), 4.4+ slotted actions and 5.0 (no
Action.fcurves), and the multilayer EXR setting. Runs on every supported Blender."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from parascale.parascale_blender import compat


def _empty(name: str = "Empty") -> bpy.types.Object:
    obj = bpy.data.objects.new(name, None)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def test_version_flags_match_the_running_blender(empty_scene):
    assert compat.BLENDER_VERSION == tuple(bpy.app.version)
    assert compat.HAS_SLOTTED_ACTIONS == ("layers" in bpy.types.Action.bl_rna.properties)
    if bpy.app.version >= (5, 0, 0):
        assert "fcurves" not in bpy.types.Action.bl_rna.properties


def test_bulk_write_reads_back_and_evaluates_exactly(empty_scene):
    obj = _empty()
    frames = np.arange(-3, 97)
    values = np.sin(frames * 0.37) * 5.0 + 2.0
    fcurve = compat.ensure_fcurve(obj, "location", 1, "Object Transforms")
    compat.write_keyframes(fcurve, frames, values)
    read_frames, read_values = compat.read_keyframes(fcurve)
    np.testing.assert_array_equal(read_frames, frames)
    np.testing.assert_allclose(read_values, values, rtol=1e-6, atol=1e-6)
    assert {k.interpolation for k in fcurve.keyframe_points} == {"LINEAR"}
    # Exact at every integer frame, and linear in between.
    for frame, value in zip(frames[::17], values[::17], strict=True):
        empty_scene.frame_set(int(frame))
        assert obj.location[1] == pytest.approx(float(np.float32(value)), abs=1e-6)
    assert fcurve.evaluate(10.5) == pytest.approx((values[13] + values[14]) / 2, abs=1e-5)
    assert fcurve.group is not None and fcurve.group.name == "Object Transforms"


def test_rewrite_replaces_keys_and_other_interpolations(empty_scene):
    obj = _empty()
    fcurve = compat.ensure_fcurve(obj, "rotation_euler", 2)
    compat.write_keyframes(fcurve, np.arange(10), np.arange(10.0))
    compat.write_keyframes(fcurve, np.arange(3) + 5, [1.0, -1.0, 4.0], interpolation="CONSTANT")
    frames, values = compat.read_keyframes(fcurve)
    np.testing.assert_array_equal(frames, [5, 6, 7])
    np.testing.assert_array_equal(values, [1.0, -1.0, 4.0])
    assert fcurve.evaluate(5.9) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 frames for 2 values"):
        compat.write_keyframes(fcurve, [1, 2, 3], [1.0, 2.0])


def test_action_access_is_per_datablock(empty_scene):
    obj = _empty()
    camera = bpy.data.cameras.new("Cam")
    assert compat.action_fcurves(obj) == [] and compat.find_fcurve(obj, "location", 0) is None
    location = [compat.ensure_fcurve(obj, "location", i) for i in range(3)]
    lens = compat.ensure_fcurve(camera, "lens", 0)
    assert compat.ensure_fcurve(obj, "location", 2) == location[2]  # found, not duplicated
    assert {(f.data_path, f.array_index) for f in compat.action_fcurves(obj)} == {("location", i) for i in range(3)}
    assert [(f.data_path, f.array_index) for f in compat.action_fcurves(camera)] == [("lens", 0)]
    assert compat.find_fcurve(camera, "lens") == lens
    assert obj.animation_data.action != camera.animation_data.action
    if compat.HAS_SLOTTED_ACTIONS:
        assert obj.animation_data.action_slot is not None
        assert obj.animation_data.action_slot.target_id_type == "OBJECT"
        assert camera.animation_data.action_slot.target_id_type == "CAMERA"
    else:
        assert len(obj.animation_data.action.fcurves) == 3


def test_keys_drive_the_datablock(empty_scene):
    camera_data = bpy.data.cameras.new("Cam")
    camera = bpy.data.objects.new("Cam", camera_data)
    empty_scene.collection.objects.link(camera)
    compat.write_keyframes(compat.ensure_fcurve(camera_data, "lens", 0), [1, 11], [20.0, 70.0])
    empty_scene.frame_set(6)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    assert camera.evaluated_get(depsgraph).data.lens == pytest.approx(45.0)


def test_remove_animation_deletes_an_unused_action(empty_scene):
    obj, other = _empty("A"), _empty("B")
    compat.ensure_fcurve(obj, "location", 0)
    action = obj.animation_data.action
    name = action.name
    other.animation_data_create()
    other.animation_data.action = action
    compat.remove_animation(obj)
    assert obj.animation_data is None and name in bpy.data.actions  # still used by B
    compat.remove_animation(other)
    assert name not in bpy.data.actions
    compat.remove_animation(other)  # nothing to remove: no error


def test_multilayer_exr_output(empty_scene):
    compat.set_multilayer_exr_output(empty_scene)
    settings = empty_scene.render.image_settings
    if bpy.app.version >= (5, 0, 0):
        assert settings.media_type == "MULTI_LAYER_IMAGE" and settings.file_format.startswith("OPEN_EXR")
    else:
        assert settings.file_format == "OPEN_EXR_MULTILAYER"
    assert settings.color_depth == "32"


def test_png_output_and_format_settings_order(empty_scene):
    compat.set_multilayer_exr_output(empty_scene)
    compat.set_png_output(empty_scene)
    settings = empty_scene.render.image_settings
    assert (settings.file_format, settings.color_mode, settings.color_depth) == ("PNG", "RGB", "8")
    names = compat.image_format_settings()
    assert all(hasattr(settings, name) for name in names)
    # Restoring in this order puts back what was there (5.0: media type before the format it constrains).
    saved = [(name, getattr(settings, name)) for name in names]
    compat.set_multilayer_exr_output(empty_scene)
    for name, value in saved:
        setattr(settings, name, value)
    assert settings.file_format == "PNG"
    assert (names[0] == "media_type") == (bpy.app.version >= (5, 0, 0))
