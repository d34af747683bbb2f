"""Issue 17 in Blender: the installed operator's Strength (the written camera realizes g x the reference's
parallax at every frame) with every depth source the add-on measures, and its Depth Statistic (median or
smooth, the same on both sides), checked against the test's own measurements of the written camera."""

from __future__ import annotations

import importlib

import bpy
import numpy as np
import pytest
from parascale.tools.blender_install import module_name
from parascale.tools.blender_scenes import (
    oracle_geometry_depths,
    two_sets_transfer,
    world_matrices,
)

FRAMES = np.arange(1, 13)
TARGET_SCALE = 1e-4


def _record(obj):
    return importlib.import_module(f"{module_name()}.parascale_blender.transfer_record").load(obj)


def _oracle_pi(scene, camera, collection, statistic: str) -> np.ndarray:
    """Pi of `camera` over FRAMES: its evaluated centres, and the numpy Geometry probe (the add-on runs the
    Embree one) on the test's own meshes at the add-on's probe resolution."""
    matrices = world_matrices(scene, camera, FRAMES)
    depth = oracle_geometry_depths(scene, collection, matrices, camera.data.lens, statistic)
    return np.linalg.norm(np.diff(matrices[:, :3, 3], axis=0), axis=1) / depth[1:]


@pytest.fixture
def two_sets(addon_scene):
    scene = addon_scene
    return (scene, *two_sets_transfer(scene, FRAMES, 1e-2, TARGET_SCALE))


@pytest.mark.parametrize("statistic", ["MEDIAN", "SMOOTH"])
def test_geometry_transfer_realizes_strength_times_the_reference(two_sets, statistic, capfd):
    scene, reference_set, target_set, reference, _ = two_sets
    scene.parascale.depth_statistic = statistic
    pi_reference = _oracle_pi(scene, reference, reference_set, statistic.lower())
    for g in (0.5, 2.0):
        scene.parascale.strength = g
        assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
        out = bpy.data.objects["Ref.ParaScale"]
        record = _record(out)
        assert record.strength == g
        assert statistic.lower() in record.source_target or statistic == "MEDIAN"
        # The add-on's own figures (the written float32 camera): the solve's 1e-6 and float32 keyframes, or, at a
        # frame the solve reports as not converged, the small jump a pixel crossing an edge makes (~1e-5 here).
        np.testing.assert_allclose(record.pi_realized, g * record.pi_reference, rtol=1e-4)
        assert record.pce < 1e-5
        # ... and the test's own measurement of the written camera: numpy probe (the add-on ran Embree).
        np.testing.assert_allclose(_oracle_pi(scene, out, target_set, statistic.lower()), g * pi_reference,
                                   rtol=1e-4)
        text = capfd.readouterr()
        report = text.out + text.err
        assert f"x {g:g} = {g * record.pi_reference.sum():.4g}" in report, report


@pytest.mark.parametrize("source", ["BOUNDS", "FIXED", "FOCUS"])
def test_one_value_sources_realize_strength_times_the_reference(two_sets, source):
    scene, reference_set, target_set, reference, start = two_sets
    settings = scene.parascale
    settings.reference_source = settings.target_source = source
    # Target depths like the start camera's distance from the target set (0.04): steps of ~1e-3 there keep
    # float32 keyframes a few 1e-6 of a step.
    settings.reference_depth, settings.target_depth = 4.0, 0.04
    reference.data.dof.focus_distance, start.data.dof.focus_distance = 4.0, 0.04
    plain = None
    for g in (1.0, 0.5, 3.0):
        settings.strength = g
        assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
        out = bpy.data.objects["Ref.ParaScale"]
        record = _record(out)
        out_m = world_matrices(scene, out, FRAMES)
        np.testing.assert_allclose(record.pi_realized, g * record.pi_reference, rtol=2e-5)
        # Independently: the written camera's steps against the recorded target depth at its poses ...
        steps = np.linalg.norm(np.diff(out_m[:, :3, 3], axis=0), axis=1)
        np.testing.assert_allclose(steps / record.depth_target[1:], g * record.pi_reference, rtol=2e-5)
        if plain is None:
            plain = out_m
        elif source != "BOUNDS":
            # ... and with a depth that does not depend on the pose, the steps are g times the plain ones.
            np.testing.assert_allclose(steps, g * np.linalg.norm(np.diff(plain[:, :3, 3], axis=0), axis=1),
                                       rtol=2e-5)


def test_strength_in_global_and_uncalibrated_modes(two_sets):
    scene, *_ = two_sets
    settings = scene.parascale
    for mode in ("GLOBAL", "UNCALIBRATED"):
        settings.mode, settings.strength = mode, 1.0
        assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
        plain = world_matrices(scene, bpy.data.objects["Ref.ParaScale"], FRAMES)[:, :3, 3]
        settings.strength = 2.5
        assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
        strong = world_matrices(scene, bpy.data.objects["Ref.ParaScale"], FRAMES)[:, :3, 3]
        np.testing.assert_allclose(strong - strong[0], 2.5 * (plain - plain[0]), rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_a_bad_strength_is_one_error_line_and_changes_nothing(two_sets, bad):
    scene, *_ = two_sets
    scene.parascale.strength = bad
    objects = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match="the strength must lie within") as error:
        bpy.ops.parascale.transfer_camera_move()
    assert str(error.value).count("\n") <= 1 and "Traceback" not in str(error.value)
    assert sorted(o.name for o in bpy.data.objects) == objects


def test_text_is_not_a_strength(two_sets):
    scene, *_ = two_sets
    with pytest.raises(TypeError):
        scene.parascale.strength = "strong"
    assert scene.parascale.strength == 1.0

