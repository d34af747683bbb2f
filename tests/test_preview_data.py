"""What the viewport overlay draws, computed from real transferred cameras in real Blender and checked
against numbers read independently from Blender (matrix_world at each frame, the sets' bounding boxes)."""

from __future__ import annotations

import re

import bpy
import numpy as np
import pytest
from parascale.parascale_blender import compat, preview_data
from parascale.parascale_blender.transfer_record import RECORD_KEY, load
from parascale.tools.blender_scenes import world_matrices
from test_preview_scene import FRAMES, build_transferred_scene


def bounds_centre(collection: bpy.types.Collection) -> np.ndarray:
    """Centre of the world bounding box of a collection's objects (their bound_box corners)."""
    corners = np.concatenate([np.einsum("ij,nj->ni", np.array(o.matrix_world),
                                        np.hstack([np.array(o.bound_box), np.ones((8, 1))]))[:, :3]
                              for o in collection.objects])
    return (corners.min(axis=0) + corners.max(axis=0)) / 2.0


def depths_along_view(matrices: np.ndarray, point: np.ndarray) -> np.ndarray:
    forward = -matrices[:, :3, 2] / np.linalg.norm(matrices[:, :3, 2], axis=1, keepdims=True)
    return np.einsum("ni,ni->n", point - matrices[:, :3, 3], forward)


@pytest.fixture
def transferred(addon_scene):
    # A target 5x larger than the reference, turned and moved: the uncalibrated move stays in front of
    # it (a finite Pi every frame) but is too weak.
    built = build_transferred_scene(k=5.0, yaw_degrees=30.0)
    built.scene.parascale.show_overlay = True
    return built


def state_at(built, frame: int) -> preview_data.PreviewState:
    built.scene.frame_set(frame)
    state = preview_data.preview_state(built.scene)
    assert state is not None and state.camera == built.camera.name
    return state


def test_the_calibrated_polyline_runs_through_the_camera_centres(transferred):
    built = transferred
    camera = world_matrices(built.scene, built.camera, FRAMES)
    for frame in (FRAMES[0], FRAMES[3], FRAMES[-1]):
        built.scene.frame_set(int(frame))
        world = preview_data.overlay(built.scene, (800, 600)).world
        calibrated = world[1]
        assert calibrated.shader == "POLYLINE_SMOOTH_COLOR" and calibrated.kind == "LINE_STRIP"
        scale = np.abs(camera[:, :3, 3]).max()
        assert np.abs(calibrated.positions - camera[:, :3, 3]).max() < 1e-6 * scale + 1e-6
        # The current-frame cross is centred on the camera's position now.
        cross = world[2].positions
        i = int(frame - FRAMES[0])
        assert np.allclose(cross.mean(axis=0), camera[i, :3, 3], atol=1e-5)


def test_the_reference_polyline_is_reanchored_and_scaled_by_the_global_scale(transferred):
    built = transferred
    reference = world_matrices(built.scene, built.reference, FRAMES)
    camera = world_matrices(built.scene, built.camera, FRAMES)
    q = camera[0, :3, :3] @ reference[0, :3, :3].T  # R'_0 R_0^T, from Blender's own matrices
    d_ref = depths_along_view(reference[:1], bounds_centre(built.reference_collection))[0]
    d_target = depths_along_view(camera[:1], bounds_centre(built.target_collection))[0]
    expected = camera[0, :3, 3] + (d_target / d_ref) * (reference[:, :3, 3] - reference[0, :3, 3]) @ q.T
    built.scene.frame_set(int(FRAMES[2]))
    path = preview_data.overlay(built.scene, (800, 600)).world[0]
    assert path.shader == "POLYLINE_SMOOTH_COLOR" and path.kind == "LINE_STRIP"
    assert np.allclose(path.positions, expected, rtol=0, atol=2e-5 * np.abs(expected).max())
    # Shapes compare: the turn by Q is really there (30 degrees about z).
    assert np.isclose(np.degrees(np.arccos((np.trace(q) - 1) / 2)), 30.0, atol=1e-3)


def test_path_colours_follow_pi_on_a_perceptual_ramp(transferred):
    from matplotlib import colormaps

    record = load(transferred.camera)
    world = preview_data.overlay(transferred.scene, (800, 600)).world
    lo, hi = preview_data.pi_range(record.pi_reference, record.pi_realized)
    for prim, pi in ((world[0], record.pi_reference), (world[1], record.pi_realized)):
        per_vertex = np.concatenate([pi[:1], pi])
        colours = prim.colours.astype(np.float64)
        assert colours.shape == (FRAMES.size, 4)
        order = np.argsort(per_vertex)
        luminance = colours[order, :3] @ np.array([0.2126, 0.7152, 0.0722])
        assert np.all(np.diff(luminance) >= -1e-6)
        assert luminance[-1] - luminance[0] > 0.05  # Pi varies along this move, so does the colour
        # The ramp is viridis (log Pi across the clip's range), checked against matplotlib.
        position = (np.log(per_vertex) - np.log(lo)) / (np.log(hi) - np.log(lo))
        assert np.abs(colours[:, :3] - colormaps["viridis"](position)[:, :3]).max() < 0.025


def test_depth_marker_sits_at_the_target_depth_along_the_view_axis(transferred):
    built = transferred
    frame = int(FRAMES[4])
    state = state_at(built, frame)
    matrix = np.array(built.camera.matrix_world)
    forward = -matrix[:3, 2] / np.linalg.norm(matrix[:3, 2])
    record = load(built.camera)
    depth = record.depth_target[frame - FRAMES[0]]
    marker = preview_data.depth_marker(state)
    assert np.allclose(marker, matrix[:3, 3] + depth * forward, atol=1e-9)
    # Bounds depth: the marker lies in the plane through the target's bounding-box centre.
    centre = bounds_centre(built.target_collection)
    assert abs(np.dot(marker - centre, forward)) < 1e-5 * depth + 1e-6 * np.abs(centre).max()
    drawn = preview_data.overlay(built.scene, (800, 600)).world[-1]
    assert drawn.kind == "LINES" and np.allclose(drawn.positions[:2], [matrix[:3, 3], marker], atol=1e-6)


def test_graph_fills_its_panel_on_a_log_scale(transferred):
    built = transferred
    frame = int(FRAMES[5])
    built.scene.frame_set(frame)
    size = (800, 600)
    screen = preview_data.overlay(built.scene, size).screen
    x0, y0, w, h = preview_data.graph_rect(*size)
    assert (x0, y0) == (preview_data.GRAPH_MARGIN,) * 2 and w <= 0.45 * size[0] and h <= 0.3 * size[1]
    background, reference, realized, uncalibrated, marker = screen
    assert background.shader == "UNIFORM_COLOR" and background.kind == "TRIS"
    assert np.allclose(background.positions[:, :2].min(axis=0), (x0, y0))
    assert np.allclose(background.positions[:, :2].max(axis=0), (x0 + w, y0 + h))
    record = load(built.camera)
    series = (record.pi_reference, record.pi_realized, record.pi_uncalibrated)
    lo, hi = min(s.min() for s in series), max(s.max() for s in series)
    pad = preview_data.GRAPH_PADDING
    xs = x0 + (FRAMES[1:] - FRAMES[0]) / (FRAMES[-1] - FRAMES[0]) * w
    for prim, pi in zip((reference, realized, uncalibrated), series, strict=True):
        assert prim.kind == "LINE_STRIP" and prim.positions.shape == (FRAMES.size - 1, 3)
        ys = y0 + pad + (np.log(pi) - np.log(lo)) / (np.log(hi) - np.log(lo)) * (h - 2 * pad)
        assert np.allclose(prim.positions[:, 0], xs, atol=1e-3)
        assert np.allclose(prim.positions[:, 1], ys, atol=1e-3)
    all_y = np.concatenate([p.positions[:, 1] for p in (reference, realized, uncalibrated)])
    assert np.isclose(all_y.min(), y0 + pad, atol=1e-3) and np.isclose(all_y.max(), y0 + h - pad, atol=1e-3)
    x_frame = x0 + (frame - FRAMES[0]) / (FRAMES[-1] - FRAMES[0]) * w
    assert np.allclose(marker.positions[:, 0], x_frame, atol=1e-3)
    # The uncalibrated move in a 5x larger set is too weak: it runs below.
    assert np.all(uncalibrated.positions[:, 1] < realized.positions[:, 1] - 0.2 * (h - 2 * pad))


def _number(lines: list[str], label: str) -> float:
    text = " ".join(lines)
    match = re.search(re.escape(label) + r" ([-+0-9.e]+)", text)
    assert match, (label, lines)
    return float(match.group(1))


def test_readout_lines_carry_the_frame_numbers(transferred):
    built = transferred
    reference = world_matrices(built.scene, built.reference, FRAMES)
    camera = world_matrices(built.scene, built.camera, FRAMES)
    d_ref = depths_along_view(reference, bounds_centre(built.reference_collection))
    d_target = depths_along_view(camera, bounds_centre(built.target_collection))
    pi_ref = np.linalg.norm(np.diff(reference[:, :3, 3], axis=0), axis=1) / d_ref[1:]
    pi_real = np.linalg.norm(np.diff(camera[:, :3, 3], axis=0), axis=1) / d_target[1:]
    frame = int(FRAMES[3])
    i = frame - int(FRAMES[0])
    lines = preview_data.readout_lines(state_at(built, frame))
    assert lines[0] == f"ParaScale {built.camera.name} (per-frame)"
    assert f"frame {frame}" in lines
    assert _number(lines, "Pi reference") == pytest.approx(pi_ref[i - 1], rel=1e-3)
    assert _number(lines, "realized") == pytest.approx(pi_real[i - 1], rel=1e-3)
    assert _number(lines, "depth reference") == pytest.approx(d_ref[i], rel=1e-3)
    assert _number(lines, "target") == pytest.approx(d_target[i], rel=1e-3)
    assert _number(lines, "scale") == pytest.approx(d_target[i] / d_ref[i], rel=1e-3)
    record = load(built.camera)
    assert _number(lines, "Pi uncalibrated") == pytest.approx(record.pi_uncalibrated[i - 1], rel=1e-3)
    assert _number(lines, "PCE") == pytest.approx(record.pce, rel=1e-3, abs=1e-12)
    assert record.pce < 1e-3  # calibrated: the realized Pi is the reference's
    # The HUD shows the same lines, top-down from the upper left.
    labels = preview_data.overlay(built.scene, (800, 600)).labels
    assert [label.text for label in labels[:len(lines)]] == lines
    assert all(a.y > b.y for a, b in zip(labels[:len(lines)], labels[1:len(lines)], strict=False))
    # The first frame has no step: no Pi, no scale.
    first = preview_data.readout_lines(state_at(built, int(FRAMES[0])))
    assert "Pi reference -  realized -" in first and "scale -" in first


def test_editing_a_keyframe_makes_the_camera_stale(transferred):
    built = transferred
    state_at(built, int(FRAMES[2]))
    assert not preview_data.preview_state(built.scene).stale
    curve = compat.find_fcurve(built.camera, "location", 1)
    key = curve.keyframe_points[5]
    original = key.co.y
    key.co.y = original + 0.05 * abs(original) + 1e-3
    curve.update()
    state = preview_data.preview_state(built.scene)
    assert state.stale
    lines = preview_data.readout_lines(state)
    assert lines[-1] == preview_data.STALE_MESSAGE and "stale" in lines[-1].lower()
    drawn = preview_data.overlay(built.scene, (800, 600))
    assert drawn.world == () and drawn.screen == ()
    assert [label.text for label in drawn.labels] == lines
    curve.keyframe_points[5].co.y = original  # update() may move the points: fetch the key again
    curve.update()
    assert not preview_data.preview_state(built.scene).stale


def test_moving_the_camera_by_other_means_is_stale_too(transferred):
    built = transferred
    state_at(built, int(FRAMES[2]))
    holder = bpy.data.objects.new("Holder", None)
    built.scene.collection.objects.link(holder)
    holder.location = (0.0, 0.0, 0.01)
    built.camera.parent = holder
    bpy.context.view_layer.update()
    assert preview_data.preview_state(built.scene).stale


def test_nothing_is_drawn_without_data(transferred):
    built = transferred
    scene = built.scene
    built.scene.frame_set(int(FRAMES[2]))
    assert not preview_data.overlay(scene, (800, 600)).is_empty
    # Overlay off for this scene.
    scene.parascale.show_overlay = False
    assert preview_data.overlay(scene, (800, 600)).is_empty
    scene.parascale.show_overlay = True
    # Outside the transferred frames: the paths, no markers, and the readout says so.
    scene.frame_set(int(FRAMES[-1]) + 5)
    outside = preview_data.overlay(scene, (800, 600))
    assert len(outside.world) == 2 and "outside the transfer" in outside.labels[1].text
    scene.frame_set(int(FRAMES[2]))
    # An unreadable record (a list cut short) and a removed record.
    stored = built.camera[RECORD_KEY]
    stored["pi_realized"] = list(stored["pi_realized"])[:-1]
    assert load(built.camera) is None and preview_data.overlay(scene, (800, 600)).is_empty
    del built.camera[RECORD_KEY]
    assert preview_data.overlay(scene, (800, 600)).is_empty
    assert preview_data.readout_lines(preview_data.preview_state(scene)) == []


def test_a_deleted_camera_leaves_nothing_to_draw(transferred):
    built = transferred
    bpy.data.objects.remove(built.camera)
    assert preview_data.find_transferred_camera(bpy.context.scene) is None
    assert preview_data.overlay(bpy.context.scene, (800, 600)).is_empty


def test_the_active_camera_wins_over_others(transferred):
    built = transferred
    other = built.camera.copy()
    other.name = "Another.ParaScale"
    built.scene.collection.objects.link(other)
    assert preview_data.find_transferred_camera(built.scene, active=other) == other
    assert preview_data.find_transferred_camera(built.scene, active=built.reference) == built.camera


def test_with_a_strength_dial_the_graph_and_readout_follow_the_aim(addon_scene):
    """At strength g the realized Pi follows g x the reference's: the graph's reference curve is that aim
    (its legend says x g), and the readout and the preview's captions give both numbers."""
    from parascale.parascale_blender import preview_render

    built = build_transferred_scene(k=5.0, yaw_degrees=30.0, strength=2.0)
    built.scene.parascale.show_overlay = True
    record = load(built.camera)
    assert record.strength == 2.0
    np.testing.assert_allclose(preview_data.graph_series(record)["reference"], 2.0 * record.pi_reference)
    # The realized Pi lies on the aim, not on the reference's own.
    np.testing.assert_allclose(record.pi_realized, 2.0 * record.pi_reference, rtol=1e-3)
    frame = int(FRAMES[5])
    built.scene.frame_set(frame)
    overlay = preview_data.overlay(built.scene, (800, 600))
    assert "reference x 2" in [label.text for label in overlay.labels]
    lines = preview_data.readout_lines(state_at(built, frame))
    i = frame - int(FRAMES[0])
    assert _number(lines, "Pi reference") == pytest.approx(record.pi_reference[i - 1], rel=1e-3)
    assert _number(lines, "x 2 =") == pytest.approx(2.0 * record.pi_reference[i - 1], rel=1e-3)
    captions = preview_render.make_captions(record, np.array([i]), np.array(["seen"]))[0]
    calibrated = next(c for c in captions if c.panel == "calibrated")
    assert f"= {preview_data.fmt(2.0 * record.pi_reference[i - 1])})" in calibrated.pi_line
