"""The developer tooling in tools/ (parascale.tools): the extension build with Blender's own command line,
the throw-away Blender user folder, the Cycles depth pass, and the scene builders tests and benchmarks use."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from parascale.tools.blender_install import use_throwaway_user_folder
from parascale.tools.blender_scenes import add_camera as add_scene_camera
from parascale.tools.blender_scenes import build_set, keyframe_locations, world_matrices
from parascale.tools.cycles_depth import median_depth, render_depth
from parascale.tools.extension_build import REPO_ROOT, ExtensionBuildError, build_extension, main
from test_geometry_cycles import add_box, add_camera, place


def test_build_script_writes_the_zip(tmp_path):
    assert main([str(tmp_path / "ext")]) == 0
    assert (tmp_path / "ext" / "parascale-0.1.0.zip").is_file()


def test_build_rejects_a_broken_manifest(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "__init__.py").write_text("")
    text = (REPO_ROOT / "blender_manifest.toml").read_text().replace('type = "add-on"', 'type = "gadget"')
    (source / "blender_manifest.toml").write_text(text)
    with pytest.raises(ExtensionBuildError, match="validate failed"):
        build_extension(tmp_path / "out", source_dir=source)


def test_extension_build_runs_as_a_module(tmp_path):
    """`make extension` runs it this way."""
    done = subprocess.run([sys.executable, "-m", "parascale.tools.extension_build", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "parascale-0.1.0.zip").is_file()


def test_throwaway_user_folder_points_blender_there(monkeypatch):
    monkeypatch.setenv("BLENDER_USER_RESOURCES", "unchanged")
    monkeypatch.setenv("HOME", "unchanged")
    folder = use_throwaway_user_folder("parascale-tools-test-")
    assert folder.is_dir() and (folder / "home").is_dir() and folder.name.startswith("parascale-tools-test-")
    assert os.environ["BLENDER_USER_RESOURCES"] == str(folder)
    assert os.environ["HOME"] == str(folder / "home")
    assert use_throwaway_user_folder() != folder  # a new folder each call


def test_render_depth_restores_the_scene(empty_scene):
    add_box((1, 1, 1), (0, 5, 0))
    cam = add_camera(empty_scene)
    place(cam, (0, 0, 0), (0, 5, 0))
    empty_scene.frame_current = 7

    def snapshot() -> dict:
        owners = {"render": empty_scene.render, "image": empty_scene.render.image_settings,
                  "cycles": empty_scene.cycles, "layer": empty_scene.view_layers[0]}
        state = {(k, p.identifier): getattr(o, p.identifier) for k, o in owners.items()
                 for p in o.bl_rna.properties if not p.is_readonly and p.type not in {"POINTER", "COLLECTION"}}
        state["camera"] = empty_scene.camera
        state["frame"] = empty_scene.frame_current
        return state

    before = snapshot()
    depth = render_depth(empty_scene, cam, 3, 64, 36)
    after = snapshot()
    assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {}
    # The box front face at depth 4.5 fills the middle; row 0 is the top of the image.
    assert median_depth(depth) == pytest.approx(4.5, rel=1e-5)
    assert np.isinf(depth[0, 0]) and np.isfinite(depth[18, 32])
    assert np.isnan(median_depth(np.full((4, 4), np.inf)))


def test_render_depth_restores_the_frame_after_an_error(empty_scene):
    cam = add_camera(empty_scene)
    empty_scene.frame_current = 5
    with pytest.raises(ValueError):  # raised after the engine was switched to Cycles
        render_depth(empty_scene, cam, 2, "wide", 36)
    assert empty_scene.frame_current == 5 and empty_scene.render.engine != "CYCLES"


def test_build_set_and_world_matrices(empty_scene):
    collection = build_set("Set", 0.01)
    assert sorted(o.name for o in collection.objects) == ["Set.Box0", "Set.Box1", "Set.Box2", "Set.Ground",
                                                          "Set.Wall"]
    corners = np.array([v.co[:] for o in collection.objects if o.name == "Set.Wall" for v in o.data.vertices])
    assert corners[:, 1] == pytest.approx([4.0] * 4) and corners[:, 2].max() == pytest.approx(4.0)
    cam = add_scene_camera("Cam", (0, -10, 1), target=(0, 0, 1))
    keyframe_locations(cam, [1, 11], [(0, -10, 1), (5, -10, 1)])
    empty_scene.frame_set(3)
    matrices = world_matrices(empty_scene, cam, [1, 6, 11])
    assert empty_scene.frame_current == 3
    np.testing.assert_allclose(matrices[:, :3, 3], [[0, -10, 1], [2.5, -10, 1], [5, -10, 1]], atol=1e-5)
    forward = -matrices[0, :3, 2]
    np.testing.assert_allclose(forward, [0, 1, 0], atol=1e-6)
