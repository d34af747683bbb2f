"""Transfer Camera Move with a TRACKING reference as the UI runs it: the clip's tracks are read in steps
(tracking.read_solve_steps, a step per tracking.TRACK_CHUNK tracks) once, before the frames are read (the
suspect solve frames, which can shorten the range, come from it), with status text, so a large clip (seconds:
bench/tracking_read.py) keeps the UI responsive and can be cancelled. The clip is solved by Blender from
synthetic markers (tools.blender_scenes.solved_tracking_clip)."""

from __future__ import annotations

import importlib

import bpy
import numpy as np
import pytest
from parascale.core.parallax import run_steps
from parascale.tools.blender_install import module_name
from parascale.tools.blender_scenes import add_box, add_camera, new_collection, solved_tracking_clip
from test_addon_operator import _snapshot

FRAMES, TRACKS = 30, 250


def addon_module(name: str):
    return importlib.import_module(f"{module_name()}.parascale_blender.{name}")


@pytest.fixture
def tracking_move(addon_scene, tmp_path):
    """A solved clip of 250 tracks over 30 frames as the reference (its Camera Solver camera), onto a box
    measured by BOUNDS from a target start camera."""
    scene = addon_scene
    clip, solved_camera = solved_tracking_clip(TRACKS, FRAMES, tmp_path)
    target_set = new_collection("TargetSet")
    add_box("Set", (0.0, 0.0, 1.0), (2.0, 2.0, 2.0), target_set)
    start = add_camera("Start", (0.0, -12.0, 1.5), (0.0, 0.0, 1.0))
    settings = scene.parascale
    settings.reference_camera, settings.reference_source, settings.tracking_clip = solved_camera, "TRACKING", clip
    settings.tracking_min_bundles = 8
    settings.target_start, settings.target_source, settings.target_collection = start, "BOUNDS", target_set
    scene.frame_set(4)
    return scene


def test_read_solve_steps_a_chunk_of_tracks_at_a_time(tracking_move):
    tracking = addon_module("tracking")
    clip = tracking_move.parascale.tracking_clip
    seen = []
    solve = run_steps(tracking.read_solve_steps(clip), seen.append)
    assert seen == list(range(tracking.track_chunks(TRACKS))) == [0, 1, 2]
    assert solve.bundles.shape == (TRACKS, 3) and solve.marker_frames.size == TRACKS * FRAMES
    assert tracking.tracks_to_read(tracking_move, tracking_move.parascale) == TRACKS


def test_a_chunked_tracking_transfer_reads_the_tracks_in_steps_and_gives_the_synchronous_camera(tracking_move,
                                                                                                 monkeypatch):
    operators, transfer_record = addon_module("operators"), addon_module("transfer_record")
    tracking = addon_module("tracking")
    # The clip is read once per transfer: the suspect frames and the reference depth share the read.
    reads = []
    read_solve_steps = tracking.read_solve_steps

    def counted(*args, **kwargs):
        reads.append(args)
        return (yield from read_solve_steps(*args, **kwargs))

    monkeypatch.setattr(tracking, "read_solve_steps", counted)
    assert bpy.ops.parascale.transfer_camera_move() == {"FINISHED"}
    written = bpy.data.objects["Solved.ParaScale"]
    synchronous = transfer_record.load(written)
    bpy.data.objects.remove(written)
    run = operators.ChunkedTransfer(bpy.context)
    # 3 chunks of tracks, frames read, the reference depth, the solve, the uncalibrated comparison.
    assert run.total == 4 * FRAMES + 3
    seen, statuses, outcome = [], [], None
    while outcome is None:
        outcome = run.advance(0.0)  # one step per call
        seen.append(run.done)
        statuses.append(run.status())
    # Every chunk of tracks read (once), every frame read, then the solve (a BOUNDS target solves all frames
    # at once), then the uncalibrated comparison measured in steps.
    assert seen[:FRAMES + 3] == list(range(1, FRAMES + 4)) and seen == sorted(seen) and seen[-1] == run.total
    assert statuses[0].startswith(f"ParaScale: reading the clip's tracks 100 of {TRACKS}, ")
    assert statuses[2].startswith(f"ParaScale: reading the clip's tracks {TRACKS} of {TRACKS}, ")
    assert statuses[3].startswith(f"ParaScale: reading frame 1 of {FRAMES}, ")
    assert statuses[FRAMES + 2].startswith(f"ParaScale: reading frame {FRAMES} of {FRAMES}, ")
    assert any(s.startswith(f"ParaScale: measuring the reference depth at frame {FRAMES} of {FRAMES}, ")
               for s in statuses)
    assert any(s.startswith(f"ParaScale: solving frame {FRAMES} of {FRAMES}, ") for s in statuses)
    assert any("measuring the uncalibrated comparison at frame" in status for status in statuses)
    chunked = transfer_record.load(outcome.camera)
    for name in ("centres", "scale", "pi_realized", "depth_reference"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(synchronous, name), rtol=1e-12, err_msg=name)
    assert np.isfinite(chunked.depth_reference).all()
    assert tracking_move.frame_current == 4
    assert len(reads) == 2  # the synchronous transfer and the chunked one, once each


@pytest.mark.parametrize("read", [1, 2, 3])
def test_cancel_while_reading_the_clip_leaves_the_scene_as_it_was(tracking_move, read):
    before = _snapshot(tracking_move)
    run = addon_module("operators").ChunkedTransfer(bpy.context)
    while run.done < read:
        assert run.advance(0.0) is None
    assert run.position()[0] == "reading the clip's tracks"
    run.cancel()
    assert _snapshot(tracking_move) == before
