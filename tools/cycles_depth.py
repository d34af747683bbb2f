"""Cycles Z-pass depth maps for tests and benchmarks: the independent oracle the geometry depth source is checked
against. Renders the scene through a camera into a temporary multilayer OpenEXR and reads its Depth pass.

Every render setting it touches is saved before and restored afterwards (also on error), so the user's
scene is left as it was; only Blender's transient "Render Result" image reflects the render.
Works on Blender 4.2, 4.5 and 5.0 (the EXR layout differs: see `_read_depth`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import bpy
import numpy as np
import OpenEXR

from ..core.statistics import DEFAULT_STATISTIC, representative_depth
from ..parascale_blender.compat import set_multilayer_exr_output

# Cycles writes about 1e10 where a pixel's ray hits nothing; anything beyond this is "no geometry".
NO_HIT_DEPTH = 1e9

# (owner path from the scene, attribute) of every setting render_depth may change, in restore order:
# on 5.0 the media type must be set back before the file format it constrains, the format before its
# colour depth and codec.
_IMAGE_SETTINGS = ("media_type", "file_format", "color_depth", "exr_codec", "color_management")
_RENDER_SETTINGS = ("engine", "resolution_x", "resolution_y", "resolution_percentage", "pixel_aspect_x",
                    "pixel_aspect_y", "filepath", "use_file_extension", "use_compositing", "use_sequencer",
                    "use_single_layer", "use_border", "use_persistent_data", "film_transparent")
_CYCLES_SETTINGS = ("samples", "use_adaptive_sampling", "use_denoising", "seed", "use_animated_seed",
                    "filter_width", "device", "pixel_filter_type", "use_auto_tile", "max_bounces")


def _save(owner: Any, names: tuple[str, ...]) -> list[tuple[Any, str, Any]]:
    return [(owner, name, getattr(owner, name)) for name in names if hasattr(owner, name)]


def _restore(saved: list[tuple[Any, str, Any]]) -> None:
    for owner, name, value in saved:
        if getattr(owner, name) != value:
            setattr(owner, name, value)


def _read_depth(path: Path, width: int, height: int) -> np.ndarray:
    """The Depth channel of a multilayer EXR: 5.0 writes one part per pass (the part whose name holds
    "Depth"), 4.x a single part with a channel such as `ViewLayer.Depth.Z`."""
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        for part in exr.parts:
            for name, channel in part.channels.items():
                if "Depth" in name or "Depth" in part.name():
                    pixels = np.asarray(channel.pixels, dtype=np.float64)
                    if pixels.shape != (height, width):
                        raise RuntimeError(f"depth channel {name!r} has shape {pixels.shape}, "
                                           f"expected {(height, width)}")
                    return pixels
        names = [(part.name(), list(part.channels)) for part in exr.parts]
    raise RuntimeError(f"no Depth pass in {path}: {names}")


def render_depth(scene: bpy.types.Scene, camera_obj: bpy.types.Object, frame: int, width: int, height: int,
                 samples: int = 1) -> np.ndarray:
    """Cycles Z-pass depth (along the view axis) of `scene` seen by `camera_obj` at `frame`, an (H, W)
    float64 array with row 0 at the top of the image and np.inf where the pixel sees no geometry.

    The pixel filter is narrowed to its minimum so each pixel's depth is taken at the pixel centre.
    """
    view_layer = scene.view_layers[0] if bpy.context.scene != scene else bpy.context.view_layer
    render = scene.render
    saved = (_save(render.image_settings, _IMAGE_SETTINGS) + _save(render, _RENDER_SETTINGS)
             + _save(view_layer, ("use_pass_z",)) + _save(scene, ("camera",)))
    frame_before = (scene.frame_current, scene.frame_subframe)
    saved_cycles: list[tuple[Any, str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="parascale-depth-") as folder:
        try:
            render.engine = "CYCLES"
            saved_cycles = _save(scene.cycles, _CYCLES_SETTINGS)
            cycles = scene.cycles
            cycles.device = "CPU"
            cycles.samples = int(samples)
            cycles.use_adaptive_sampling = False
            cycles.use_denoising = False
            cycles.seed = 0
            cycles.use_animated_seed = False
            cycles.filter_width = 0.01
            cycles.max_bounces = 0
            render.resolution_x = int(width)
            render.resolution_y = int(height)
            render.resolution_percentage = 100
            render.pixel_aspect_x = 1.0
            render.pixel_aspect_y = 1.0
            render.use_border = False
            render.use_compositing = False
            render.use_sequencer = False
            render.use_single_layer = True
            render.use_persistent_data = False
            render.use_file_extension = True
            render.filepath = str(Path(folder) / "depth")
            set_multilayer_exr_output(scene)
            view_layer.use_pass_z = True
            scene.camera = camera_obj
            scene.frame_set(int(frame))
            bpy.ops.render.render(write_still=True, scene=scene.name, layer=view_layer.name)
            written = sorted(Path(folder).glob("depth*.exr"))
            if not written:
                raise RuntimeError(f"Cycles wrote no EXR into {folder}")
            depth = _read_depth(written[0], int(width), int(height))
        finally:
            _restore(saved_cycles)
            _restore(saved)
            scene.frame_set(frame_before[0], subframe=frame_before[1])
    return np.where(depth < NO_HIT_DEPTH, depth, np.inf)


def statistic_depth(depth_map: np.ndarray, statistic: str = DEFAULT_STATISTIC) -> float:
    """The depth statistic (core.statistics: 'median' or 'smooth') over the pixels that see geometry; NaN
    when none does. The measuring side of what the Geometry probe computes."""
    return float(representative_depth(np.asarray(depth_map, dtype=np.float64).reshape(-1), statistic=statistic))


def median_depth(depth_map: np.ndarray) -> float:
    """Median over the pixels that see geometry; NaN when none does."""
    return statistic_depth(depth_map, "median")
