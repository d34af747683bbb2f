"""Build the core depth probes (core.depth.DepthProbe) of both scenes from the add-on settings.

The scene geometry is read at the scene's current frame (the caller sets the first frame of the range):
the scenes are taken as static; the cameras are what moves.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.depth import BoundsDepth, DepthProbe, FixedDepth, PerFrameDepth
from ..core.errors import DepthError, frame_list
from ..core.poses import Trajectory
from .scene_reading import CameraSamples, read_collection_bounds, read_collection_mesh

# Per-frame depth imported with a pose file (Import Camera Poses), stored on the imported camera:
# {"frames", "depth", "source"}.
IMPORTED_DEPTH = "parascale_imported_depth"


def collection_probe(scene: bpy.types.Scene, source: str, collection: bpy.types.Collection | None,
                     resolution: int, side: str) -> DepthProbe:
    """GEOMETRY (median visible depth of the collection's evaluated meshes) or BOUNDS (depth of its
    world bounding-box centre) probe of a collection. `side` ("reference"/"target") names it in errors."""
    if collection is None:
        raise DepthError(f"choose a {side} collection for the {source.lower()} {side} depth")
    if source == "BOUNDS":
        lo, hi = read_collection_bounds(scene, collection)
        return BoundsDepth((lo + hi) / 2.0)
    from ..core.geometry_embree import geometry_depth

    vertices, triangles = read_collection_mesh(scene, collection)
    # Embree where its bundled wheel is installed (blender_manifest.toml), else the numpy z-buffer.
    return geometry_depth(vertices, triangles, resolution=int(resolution))


def reference_depth_probe(scene: bpy.types.Scene, settings: object, trajectory: Trajectory,
                          samples: CameraSamples) -> DepthProbe:
    """The reference scene's depth source: GEOMETRY/BOUNDS of the reference collection, FOCUS (the
    reference camera's focus depth at each frame), FIXED, or TRACKING (the solved clip's bundles)."""
    source = settings.reference_source
    if source in ("GEOMETRY", "BOUNDS"):
        return collection_probe(scene, source, settings.reference_collection, settings.geometry_resolution,
                                "reference")
    if source == "FOCUS":
        return PerFrameDepth(samples.focus_depth, name="focus")
    if source == "FIXED":
        return FixedDepth(settings.reference_depth)
    if source == "TRACKING":
        from .tracking import tracking_depth_probe

        return tracking_depth_probe(scene, settings, trajectory)
    if source == "IMPORTED":
        return imported_depth_probe(settings.reference_camera, trajectory)
    raise DepthError(f"unknown reference depth source {source!r}")


def imported_depth_probe(camera: bpy.types.Object, trajectory: Trajectory) -> PerFrameDepth:
    """The per-frame depth stored on a camera by Import Camera Poses (with a depth file), for the frames of
    `trajectory`; every frame must have been imported."""
    stored = camera.get(IMPORTED_DEPTH) if camera is not None else None
    if stored is None:
        raise DepthError(f"'{getattr(camera, 'name', '')}' has no imported depth: import its pose file with a "
                         "depth file (Import Camera Poses > Depth), or choose another reference depth")
    frames = np.asarray(list(stored["frames"]), dtype=np.int64)
    depth = np.asarray(list(stored["depth"]), dtype=np.float64)
    wanted = np.rint(trajectory.frames).astype(np.int64)
    index = np.clip(np.searchsorted(frames, wanted), 0, frames.size - 1)
    absent = wanted[frames[index] != wanted]
    if absent.size:
        raise DepthError(f"no imported depth at frame {frame_list(absent)} of '{camera.name}' (imported frames "
                         f"{frames[0]}-{frames[-1]})")
    return PerFrameDepth(depth[index], name=f"imported {stored.get('source', 'depth')}")


def target_depth_probe(scene: bpy.types.Scene, settings: object, start_samples: CameraSamples) -> DepthProbe:
    """The target scene's depth source, a function of any pose: GEOMETRY/BOUNDS of the target
    collection, FOCUS (the target start camera's focus depth at the first frame), or FIXED."""
    source = settings.target_source
    if source in ("GEOMETRY", "BOUNDS"):
        return collection_probe(scene, source, settings.target_collection, settings.geometry_resolution, "target")
    if source == "FOCUS":
        depth = float(start_samples.focus_depth[0])
        if not np.isfinite(depth):
            raise DepthError("the target start camera has no focus distance (set its depth of field focus "
                             "distance or focus object)")
        return FixedDepth(depth)
    if source == "FIXED":
        return FixedDepth(settings.target_depth)
    raise DepthError(f"unknown target depth source {source!r}")
