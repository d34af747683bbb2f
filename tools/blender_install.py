"""Install the ParaScale extension into Blender the way users do (Install from Disk), for tests,
benchmarks and the demo. Blender reads its user folder when bpy is first imported: call
`use_throwaway_user_folder` before that, so the extension lands in a temporary folder and never in the
user's real profile."""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from types import ModuleType

from .extension_build import build_extension, manifest

REPO = "user_default"
_built_zip: Path | None = None


def use_throwaway_user_folder(prefix: str = "parascale-blender-user-") -> Path:
    """Point Blender's user resources (and HOME) at a new temporary folder; returns it. Call it before bpy
    is imported: Blender reads these once, at import."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / "home").mkdir()
    os.environ["BLENDER_USER_RESOURCES"] = str(folder)
    os.environ["HOME"] = str(folder / "home")
    return folder


def module_name() -> str:
    """The installed add-on's module: bl_ext.<repository>.<extension id>."""
    return f"bl_ext.{REPO}.{manifest()['id']}"


def built_zip() -> Path:
    """The extension zip, built once per process into a temporary folder."""
    global _built_zip
    if _built_zip is None or not _built_zip.is_file():
        _built_zip = build_extension(Path(tempfile.mkdtemp(prefix="parascale-extension-")))
    return _built_zip


def is_enabled() -> bool:
    import addon_utils

    return bool(addon_utils.check(module_name())[1])


def install_extension() -> ModuleType:
    """Install the built zip into the user repository with Blender's own operator (enabled on install)
    and return the installed module. Idempotent: an installed but disabled add-on is enabled again."""
    import bpy

    if not is_enabled():
        result = bpy.ops.extensions.package_install_files(filepath=str(built_zip()), repo=REPO,
                                                          enable_on_install=True)
        if result != {"FINISHED"}:
            raise RuntimeError(f"installing {built_zip()} returned {result}")
    return ensure_enabled()


def ensure_enabled() -> ModuleType:
    """Enable the installed add-on if something (read_factory_settings) disabled it; the module."""
    import addon_utils

    if not is_enabled():
        addon_utils.enable(module_name(), default_set=True, handle_error=_raise)
    if not is_enabled():
        raise RuntimeError(f"the add-on {module_name()} could not be enabled")
    return importlib.import_module(module_name())


def _raise(error: BaseException) -> None:
    raise error
