"""Shared test set-up. Blender's user resources point at a temporary folder before bpy is imported
anywhere, so no test touches a real user profile and extensions install into a throw-away repo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings
from parascale.tools.blender_install import use_throwaway_user_folder

use_throwaway_user_folder()

# CI draws the same hypothesis examples on every run, so a red CI can be reproduced and a green one is not
# luck; a developer's run draws new ones (and finds new faults: fix them, then add them as plain tests).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Test-only helpers (footage, gpu_recorder) are imported by name from this folder.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "tests"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Any test module that imports bpy is Blender-facing: run it on every supported Blender release.
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and "bpy" in vars(module):
            item.add_marker(pytest.mark.blender)


@pytest.fixture
def empty_scene():
    """Blender reset to an empty factory scene; returns bpy.context.scene."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


@pytest.fixture(scope="session")
def addon():
    """The ParaScale extension, built once per test process and installed the way users install it
    (Blender's Install from Disk, into the temporary user repository, enabled); the installed module
    `bl_ext.user_default.parascale`. Use `addon_scene` for a fresh scene with the add-on enabled."""
    from parascale.tools.blender_install import install_extension

    return install_extension()


@pytest.fixture
def addon_scene(addon, empty_scene):
    """An empty factory scene with the installed add-on enabled (read_factory_settings loads factory
    preferences, which disables extensions: it is enabled again here); returns the scene."""
    from parascale.tools.blender_install import ensure_enabled

    ensure_enabled()
    return empty_scene
