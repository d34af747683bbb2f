"""ParaScale inside Blender: thin glue over `core` (read poses and depth from Blender ->
core.parallax.transfer -> write a new keyframed camera).

Submodules with their own register()/unregister() are listed in SUBMODULES, in registration order;
other parts of the add-on (the viewport preview) append their module names here. An ImportError is
never swallowed: a broken module stops registration loudly, after undoing what was registered.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

SUBMODULES: list[str] = ["properties", "operators", "io_operators", "panels", "tracking",
                         "preview_draw"]

_registered: list[ModuleType] = []


def _module(name: str) -> ModuleType:
    return import_module(f".{name}", __name__)


def register() -> None:
    if _registered:
        unregister()
    try:
        for name in SUBMODULES:
            module = _module(name)
            module.register()
            _registered.append(module)
    except BaseException:
        unregister()
        raise


def unregister() -> None:
    while _registered:
        _registered.pop().unregister()
