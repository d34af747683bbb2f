"""Issue 17 with real footage as the reference: the installed operator's Strength and Depth Statistic with
the Tracking depth (the bundles of Blender's own camera solve of a rendered clip, tests/footage.py)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import bpy
import footage as F
import numpy as np
import pytest
from parascale.core.depth import Views
from parascale.parascale_blender import tracking
from parascale.parascale_blender.scene_reading import read_camera_trajectory
from parascale.tools.blender_install import module_name
from parascale.tools.blender_scenes import add_camera, world_matrices

FRAMES = np.arange(1, F.N_FRAMES + 1)


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> F.Footage:
    return F.solve_footage(tmp_path_factory.mktemp("footage"))


@pytest.fixture
def solved_scene(footage: F.Footage, addon: object) -> bpy.types.Scene:
    from parascale.tools.blender_install import ensure_enabled

    scene = F.open_solved(footage)
    ensure_enabled()
    settings = scene.parascale
    settings.reference_camera = bpy.data.objects[F.SOLVED_CAMERA]
    settings.reference_source = "TRACKING"
    settings.tracking_clip = bpy.data.movieclips[0]
    settings.tracking_min_bundles = 8
    # Near the origin: float32 keyframes keep steps of ~1e-3 to a few 1e-7 there.
    settings.target_start = add_camera("Start", (0.01, 0.0, 0.01), (0.01, 1.0, 0.01), clip_start=1e-4)
    settings.target_source, settings.target_depth = "FIXED", 0.3
    return scene


@pytest.mark.parametrize("statistic", ["MEDIAN", "SMOOTH"])
def test_tracking_reference_with_strength(solved_scene, statistic):
    scene = solved_scene
    settings = scene.parascale
    settings.depth_statistic = statistic
    # The reference's depth as the add-on's tracking probe computes it with that statistic.
    reference = read_camera_trajectory(scene, settings.reference_camera, FRAMES)
    probe = tracking.tracking_depth_probe(scene, settings, reference)
    assert probe.statistic == statistic.lower()
    depth = probe(Views.of(reference))
    pi_reference = np.linalg.norm(np.diff(reference.centres, axis=0), axis=1) / depth[1:]
    record_module = importlib.import_module(f"{module_name()}.parascale_blender.transfer_record")
    for g in (0.5, 2.0):
        settings.strength = g
        assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
        out = bpy.data.objects[f"{F.SOLVED_CAMERA}.ParaScale"]
        record = record_module.load(out)
        assert record.strength == g and statistic.lower() in record.source_reference
        np.testing.assert_allclose(record.pi_reference, pi_reference, rtol=1e-5)
        # The fixed target depth: the written camera's steps are g Pi_t x 0.3, read back from Blender.
        out_m = world_matrices(scene, out, FRAMES)
        steps = np.linalg.norm(np.diff(out_m[:, :3, 3], axis=0), axis=1)
        np.testing.assert_allclose(steps / 0.3, g * pi_reference, rtol=1e-4)
    # The two statistics give different reference depths on real bundles (so both sides must agree).
    names = ("tracking_clip", "tracking_object", "tracking_min_bundles", "tracking_markers_only", "reference_camera")
    other_settings = SimpleNamespace(**{name: getattr(settings, name) for name in names},
                                     depth_statistic="SMOOTH" if statistic == "MEDIAN" else "MEDIAN")
    other = tracking.tracking_depth_probe(scene, other_settings, reference)
    assert np.max(np.abs(np.log(other(Views.of(reference)) / depth))) > 1e-4
