"""The point of ParaScale, end to end in Blender: a move in a set 1000 units wide, transferred by the
installed operator (GEOMETRY depth on both sides) to a set 0.01 units wide. The new camera's realized
parallax, measured independently with the geometry probe on the test's own meshes and with Cycles depth
renders, matches the reference's frame by frame; the uncalibrated transfer misses it by the scale."""

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
from parascale.tools.cycles_depth import median_depth, render_depth

pytestmark = pytest.mark.slow

FRAMES = np.arange(1, 14)
REFERENCE_SCALE, TARGET_SCALE = 1.0, 1e-5  # sets 1000 and 0.01 units wide
RENDER_SIZE = (160, 90)


def _geometry_depths(collection, matrices: np.ndarray, lens: np.ndarray, scene) -> np.ndarray:
    return oracle_geometry_depths(scene, collection, matrices, lens)


def _cycles_depths(scene, camera, frames, visible, hidden) -> np.ndarray:
    hidden.hide_render, visible.hide_render = True, False
    try:
        return np.array([median_depth(render_depth(scene, camera, int(f), *RENDER_SIZE, samples=1)) for f in frames])
    finally:
        hidden.hide_render = False


def _steps(matrices: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(matrices[:, :3, 3], axis=0), axis=1)


@pytest.fixture
def two_sets(addon_scene):
    scene = addon_scene
    return (scene, *two_sets_transfer(scene, FRAMES, REFERENCE_SCALE, TARGET_SCALE))


def test_thousand_to_one_hundredth(two_sets):
    scene, reference_set, target_set, reference, start = two_sets
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    out = bpy.data.objects["Ref.ParaScale"]
    ref_m, out_m = world_matrices(scene, reference, FRAMES), world_matrices(scene, out, FRAMES)
    lens = np.full(FRAMES.size, 50.0)

    # Independent measurement 1: the geometry probe on the test's own meshes.
    pi_reference = _steps(ref_m) / _geometry_depths(reference_set, ref_m, lens, scene)[1:]
    pi_realized = _steps(out_m) / _geometry_depths(target_set, out_m, lens, scene)[1:]
    np.testing.assert_allclose(pi_realized / pi_reference, 1.0, atol=0.02)
    # Independent measurement 2: Cycles depth renders (each set rendered alone).
    pi_reference_cycles = _steps(ref_m) / _cycles_depths(scene, reference, FRAMES, reference_set, target_set)[1:]
    pi_realized_cycles = _steps(out_m) / _cycles_depths(scene, out, FRAMES, target_set, reference_set)[1:]
    ratio = pi_realized_cycles / pi_reference_cycles
    assert np.abs(ratio - 1.0).max() < 0.02, ratio

    record_module = importlib.import_module(f"{module_name()}.parascale_blender.transfer_record")
    record = record_module.load(out)
    assert not record_module.is_stale(record, out_m[:, :3, 3])
    scale = record.scale
    assert 1e-6 < scale.min() < scale.max() < 1e-4  # the move shrank by about the ratio of the sets
    assert scale.max() / scale.min() > 1.01  # ... by a different factor at each frame (per-frame mode)
    # The clip range follows the scale, so the miniature is not clipped away.
    assert out.data.clip_start < 1e-5 * reference.data.clip_start * 10

    # Uncalibrated transfer: the raw steps, 1/scale times too long at every frame.
    bpy.context.scene.parascale.mode = "UNCALIBRATED"
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    raw_m = world_matrices(scene, out, FRAMES)
    np.testing.assert_allclose(_steps(raw_m), _steps(ref_m), rtol=1e-4)
    # Against the target depth along the calibrated path, its parallax is off by exactly 1/scale.
    pi_uncalibrated = _steps(raw_m) / _geometry_depths(target_set, out_m, lens, scene)[1:]
    np.testing.assert_allclose(pi_uncalibrated / pi_reference, 1.0 / scale, rtol=0.02)
    # And from where it actually goes it leaves the miniature at once: no depth at all.
    assert np.all(np.isnan(_geometry_depths(target_set, raw_m, lens, scene)[2:]))
