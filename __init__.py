"""ParaScale: transfer a camera move between scenes of different scale, preserving the Parallax Number.

The repository root is both the Blender extension and the Python package `parascale`. Importing it
does not import bpy: the Blender glue is loaded only when Blender calls register().
"""

__version__ = "0.1.0"


def register() -> None:
    from .parascale_blender import register as register_blender

    register_blender()


def unregister() -> None:
    from .parascale_blender import unregister as unregister_blender

    unregister_blender()
