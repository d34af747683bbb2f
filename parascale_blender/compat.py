"""Every Blender-version difference ParaScale depends on, in one place (4.2 LTS, 4.5 LTS, 5.0).

- 5.0 writes multilayer EXR through `media_type`; 4.x through the OPEN_EXR_MULTILAYER file format.
"""

from __future__ import annotations

import bpy

BLENDER_VERSION: tuple[int, int, int] = tuple(bpy.app.version)  # type: ignore[assignment]


def set_multilayer_exr_output(scene: bpy.types.Scene) -> None:
    """Make renders of `scene` write one multilayer OpenEXR (all passes, float)."""
    settings = scene.render.image_settings
    if BLENDER_VERSION >= (5, 0, 0):
        settings.file_format = "OPEN_EXR"
        settings.media_type = "MULTI_LAYER_IMAGE"
    else:
        settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
