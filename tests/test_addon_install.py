"""The extension as users get it: Blender's own build and validation of the manifest, the zip's contents,
Install from Disk into a (temporary) user repository, and clean register/unregister cycles."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import bpy
import numpy as np
import pytest
from parascale.tools.blender_install import built_zip, ensure_enabled, module_name
from parascale.tools.extension_build import REPO_ROOT, manifest

OUR_CLASSES = ("PARASCALE_OT_transfer_camera_move", "PARASCALE_OT_export_poses",
               "PARASCALE_OT_import_poses", "VIEW3D_PT_parascale")


def test_manifest_fields():
    info = manifest()
    assert info["schema_version"] == "1.0.0"
    assert (info["id"], info["name"], info["version"], info["type"]) == ("parascale", "ParaScale", "0.1.0", "add-on")
    assert len(info["tagline"]) < 64 and not info["tagline"].endswith(".")
    assert info["blender_version_min"] == "4.2.0"
    assert info["license"] == ["SPDX:GPL-3.0-or-later"]
    assert {"Camera", "Animation"} <= set(info["tags"])
    assert "files" in info["permissions"] and not info["permissions"]["files"].endswith(".")
    assert info["maintainer"]


def test_zip_holds_the_addon_and_nothing_else():
    names = zipfile.ZipFile(built_zip()).namelist()
    for required in ("blender_manifest.toml", "__init__.py", "core/parallax.py", "core/depth.py",
                     "core/geometry_embree.py", "wheels/embreex-4.4.0.post1-cp311-cp311-win_amd64.whl",
                     "parascale_blender/__init__.py", "parascale_blender/operators.py",
                     "parascale_blender/camera_writing.py", "parascale_blender/transfer_record.py"):
        assert required in names
    excluded = ("tests/", "tools/", "bench/", "docs/", "examples/", ".ci/", ".venv", "out/", ".git", "__pycache__")
    assert not [n for n in names if any(n.startswith(e) or f"/{e}" in n for e in excluded)]
    assert not [n for n in names if n in ("Makefile", "pyproject.toml") or ".egg-info" in n or n.endswith(".pyc")]


def test_installed_like_a_user_install(addon_scene, addon):
    assert addon.__name__ == module_name() == "bl_ext.user_default.parascale"
    installed = Path(addon.__file__).resolve()
    user_resources = Path(bpy.utils.resource_path("USER")).resolve()
    assert installed.is_relative_to(user_resources), (installed, user_resources)
    assert not installed.is_relative_to(REPO_ROOT)
    assert (installed.parent / "blender_manifest.toml").is_file()
    assert hasattr(bpy.types.Scene, "parascale")
    # One undo step per run (bpy.ops.ed.undo cannot run headless: its poll fails without an undo stack).
    assert {"REGISTER", "UNDO"} <= set(bpy.types.PARASCALE_OT_transfer_camera_move.bl_options)


def test_the_bundled_embree_wheel_is_installed_for_this_platform(addon_scene, addon):
    """Install from Disk puts the wheel the manifest bundles for this platform into Blender's extension
    site-packages, and the installed add-on's Geometry source measures with it."""
    import importlib
    import platform

    site = Path(bpy.utils.user_resource("EXTENSIONS", path=".local")) / "lib"
    installed = sorted(site.glob("python3*/site-packages/embreex-*.dist-info"))
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        assert not installed  # no wheel for this platform: the numpy z-buffer measures
        return
    assert [p.name for p in installed] == ["embreex-4.4.0.post1.dist-info"]
    assert sorted(installed[0].parent.glob("embreex/rtcore_scene*"))
    backend = importlib.import_module(f"{module_name()}.core.geometry_embree")
    probe = backend.geometry_depth(np.array([[0.0, 5, 0], [1, 5, 0], [0, 5, 1]]), np.array([[0, 1, 2]]))
    assert probe.describe().endswith("(Embree)")


def _settings_class_registered() -> bool:
    module = sys.modules.get(f"{module_name()}.parascale_blender.properties")
    return bool(module is not None and module.ParaScaleSettings.is_registered)


def _ours(obj: object) -> bool:
    return str(getattr(obj, "__module__", "")).startswith(module_name())


def _footprint() -> dict[str, object]:
    """Everything registration could leave behind: any class registered from the add-on's modules (ours
    and those other parts of the add-on append), handlers defined in them, the scene property, the
    operators and the File menu entries."""
    registered_classes = sorted(name for name in dir(bpy.types) if _ours(getattr(bpy.types, name, None)))
    handlers = sorted(f"{name}:{getattr(function, '__qualname__', function)}" for name in dir(bpy.app.handlers)
                      if isinstance(getattr(bpy.app.handlers, name), list)
                      for function in getattr(bpy.app.handlers, name) if _ours(function))
    menus = {menu: len(getattr(bpy.types, menu)._dyn_ui_initialize())
             for menu in ("TOPBAR_MT_file_export", "TOPBAR_MT_file_import")}
    return {
        "classes": sorted(name for name in OUR_CLASSES if hasattr(bpy.types, name)),
        "all_classes": registered_classes,
        "scene_property": hasattr(bpy.types.Scene, "parascale"),
        "scene_rna": "parascale" in bpy.types.Scene.bl_rna.properties,
        "settings_class": _settings_class_registered(),
        "operators": sorted(dir(bpy.ops.parascale)),
        "handlers": handlers,
        "menus": menus,
    }


def test_register_unregister_register_leaves_no_residue(addon_scene):
    import addon_utils

    registered = _footprint()
    assert registered["classes"] == sorted(OUR_CLASSES) and registered["scene_property"]
    assert set(OUR_CLASSES) <= set(registered["all_classes"])
    addon_utils.disable(module_name(), default_set=True)
    unregistered = _footprint()
    assert unregistered["classes"] == [] and not unregistered["scene_property"]
    assert not unregistered["scene_rna"] and not unregistered["settings_class"]
    assert unregistered["operators"] == []
    assert {k: v - 1 for k, v in registered["menus"].items()} == unregistered["menus"]
    # Handlers of any part of the add-on (the preview overlay's load_post) are gone with it.
    assert unregistered["all_classes"] == [] and unregistered["handlers"] == []
    ensure_enabled()
    assert _footprint() == registered
    # The module's own register/unregister twice in a row are also clean.
    module = sys.modules[module_name()]
    module.unregister()
    assert _footprint() == unregistered
    module.register()
    assert _footprint() == registered
    bpy.context.scene.parascale.mode = "GLOBAL"
    assert bpy.context.scene.parascale.mode == "GLOBAL"


def test_a_broken_submodule_fails_loudly_and_leaves_nothing(addon_scene, addon):
    package = sys.modules[f"{module_name()}.parascale_blender"]
    registered = _footprint()
    addon.unregister()
    package.SUBMODULES.append("preview_does_not_exist")
    try:
        with pytest.raises(ModuleNotFoundError, match="preview_does_not_exist"):
            addon.register()
        assert _footprint()["all_classes"] == [] and not hasattr(bpy.types.Scene, "parascale")
    finally:
        package.SUBMODULES.remove("preview_does_not_exist")
        addon.register()
    assert _footprint() == registered


def test_factory_reset_then_fixture_reenables(addon_scene):
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    ensure_enabled()
    assert hasattr(bpy.context.scene, "parascale")
    assert addon_utils.check(module_name())[1]
