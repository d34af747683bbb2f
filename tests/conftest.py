"""Shared test set-up. Blender's user resources point at a temporary folder before bpy is imported
anywhere, so no test touches a real user profile and extensions install into a throw-away repo."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

_USER_DIR = Path(tempfile.mkdtemp(prefix="parascale-blender-user-"))
os.environ["BLENDER_USER_RESOURCES"] = str(_USER_DIR)
os.environ["HOME"] = str(_USER_DIR / "home")
(_USER_DIR / "home").mkdir(exist_ok=True)

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
    from addon import install_extension

    return install_extension()


@pytest.fixture
def addon_scene(addon, empty_scene):
    """An empty factory scene with the installed add-on enabled (read_factory_settings loads factory
    preferences, which disables extensions: it is enabled again here); returns the scene."""
    from addon import ensure_enabled

    ensure_enabled()
    return empty_scene
