"""Build the core depth probes (core.depth.DepthProbe) of both scenes from the add-on settings.

A collection is read at the scene's current frame (the caller sets the first frame of the range). What in
it moves over the range (the objects Blender re-evaluated while the cameras were sampled:
scene_reading.recording_moving_objects) is measured at every frame: Geometry reads the moving part's
meshes when the solve measures that frame (core.moving_geometry), Bounds reads the box at every frame.
A collection where nothing moves costs what it always did.
"""

from __future__ import annotations

from collections.abc import Generator

import bpy
import numpy as np

from ..core.depth import BoundsDepth, DepthProbe, FixedDepth, PerFrameDepth
from ..core.errors import DepthError, frame_list
from ..core.poses import Trajectory
from ..core.statistics import DEFAULT_STATISTIC, normalize_statistic
from .scene_reading import (
    CameraSamples,
    MovingObjects,
    collection_moves,
    preserved_frame,
    read_collection_bounds,
    read_collection_mesh,
    read_rigid_parts,
    rigid_world_matrices,
)

# Per-frame depth imported with a pose file (Import Camera Poses), stored on the imported camera:
# {"frames", "depth", "source"}.
IMPORTED_DEPTH = "parascale_imported_depth"


def collection_probe(scene: bpy.types.Scene, source: str, collection: bpy.types.Collection | None,
                     resolution: int, side: str, frames: np.ndarray | None = None,
                     moving: frozenset[str] = frozenset(), statistic: str = DEFAULT_STATISTIC) -> DepthProbe:
    """GEOMETRY (the `statistic`, median by default, of the visible depth of the collection's evaluated
    meshes) or BOUNDS (depth of its world bounding-box centre: one point, no statistic) probe of a
    collection, measured at each of `frames` where some of it is among the `moving` objects. `side`
    ("reference"/"target") names it in errors."""
    if collection is None:
        raise DepthError(f"choose a {side} collection for the {source.lower()} {side} depth")
    animated = frames is not None and collection_moves(scene, collection, moving)
    if source == "BOUNDS":
        if not animated:
            lo, hi = read_collection_bounds(scene, collection)
            return BoundsDepth((lo + hi) / 2.0)
        centres = []
        with preserved_frame(scene):
            for frame in frames:
                scene.frame_set(int(frame))
                lo, hi = read_collection_bounds(scene, collection)
                centres.append((lo + hi) / 2.0)
        return BoundsDepth(np.array(centres))
    from ..core.geometry_embree import geometry_depth

    if not animated:
        # Embree where its bundled wheel is installed (blender_manifest.toml), else the numpy z-buffer.
        return geometry_depth(*read_collection_mesh(scene, collection), resolution=int(resolution),
                              statistic=statistic)
    from ..core.moving_geometry import MovingGeometryDepth

    static = read_collection_mesh(scene, collection, moving, "static", required=False)
    # Objects that only move (not deforming: scene_reading.MovingObjects) are built once in their own axes
    # and placed at each frame by their world matrix; the rest of the moving part is read per frame.
    rigid_names, rigid_meshes = read_rigid_parts(scene, collection, moving)
    # The rest of the moving part: everything moving but the parts just built (an object that only moves but
    # is hidden now was not built: it is read per frame with the rest).
    moving = MovingObjects(moving, frozenset(moving) - frozenset(rigid_names))
    first = read_collection_mesh(scene, collection, moving, "deforming", required=False)
    first_matrices = rigid_world_matrices(scene, collection, rigid_names)
    blocks = [m[0] for m in (static, first) if m is not None]
    blocks += [v @ m[:3, :3].T + m[:3, 3] for (v, _), m in zip(rigid_meshes, first_matrices, strict=True)
               if np.all(np.isfinite(m))]
    if not blocks:
        raise DepthError(f"the collection '{collection.name}' holds no visible geometry")
    corners = np.concatenate(blocks)
    extent = float(np.linalg.norm(corners.max(axis=0) - corners.min(axis=0)))

    def at_frame(index: int) -> None:
        # Called by the solve on the main thread, inside the operator's preserved frame.
        if scene.frame_current != int(frames[index]) or scene.frame_subframe != 0.0:
            scene.frame_set(int(frames[index]))

    def moving_at(index: int) -> tuple[np.ndarray, np.ndarray] | None:
        if index == 0:
            return first
        at_frame(index)
        return read_collection_mesh(scene, collection, moving, "deforming", required=False)

    def rigid_at(index: int) -> np.ndarray:
        if index == 0:
            return first_matrices
        at_frame(index)
        return rigid_world_matrices(scene, collection, rigid_names)

    return MovingGeometryDepth(static, moving_at, resolution=int(resolution), extent=extent,
                               label=f"moving objects of '{collection.name}'", statistic=statistic,
                               rigid=rigid_meshes, rigid_at=rigid_at if rigid_names else None)


def depth_statistic(settings: object) -> str:
    """The core statistic name of the settings' Depth Statistic (the same for both sides)."""
    return normalize_statistic(settings.depth_statistic)


def reference_depth_probe(scene: bpy.types.Scene, settings: object, trajectory: Trajectory,
                          samples: CameraSamples, moving: frozenset[str] = frozenset()) -> DepthProbe:
    """The reference scene's depth source: GEOMETRY/BOUNDS of the reference collection, FOCUS (the
    reference camera's focus depth at each frame), FIXED, or TRACKING (the solved clip's bundles)."""
    source = settings.reference_source
    if source in ("GEOMETRY", "BOUNDS"):
        return collection_probe(scene, source, settings.reference_collection, settings.geometry_resolution,
                                "reference", samples.frames, moving, depth_statistic(settings))
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


def reference_depth_probe_steps(scene: bpy.types.Scene, settings: object, trajectory: Trajectory,
                                samples: CameraSamples, moving: frozenset[str] = frozenset(),
                                solve: object | None = None) -> Generator[int, None, DepthProbe]:
    """`reference_depth_probe` in steps: a TRACKING reference reads its clip's tracks a chunk a step
    (tracking.track_chunks of tracking.tracks_to_read steps) unless `solve` (tracking.SolveData) has been
    read already; the other sources take none."""
    if settings.reference_source == "TRACKING":
        from .tracking import tracking_depth_probe_steps

        return (yield from tracking_depth_probe_steps(scene, settings, trajectory, solve=solve))
    return reference_depth_probe(scene, settings, trajectory, samples, moving)


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
    probe = PerFrameDepth(depth[index], name=f"imported {stored.get('source', 'depth')}")
    if "statistic" in stored:  # reduced from depth maps at import: the target must use the same statistic
        probe.statistic = normalize_statistic(stored["statistic"])
    return probe


def target_depth_probe(scene: bpy.types.Scene, settings: object, start_samples: CameraSamples,
                       frames: np.ndarray | None = None, moving: frozenset[str] = frozenset()) -> DepthProbe:
    """The target scene's depth source, a function of any pose: GEOMETRY/BOUNDS of the target
    collection, FOCUS (the target start camera's focus depth at the first frame), or FIXED."""
    source = settings.target_source
    if source in ("GEOMETRY", "BOUNDS"):
        return collection_probe(scene, source, settings.target_collection, settings.geometry_resolution, "target",
                                frames, moving, depth_statistic(settings))
    if source == "FOCUS":
        depth = float(start_samples.focus_depth[0])
        if not np.isfinite(depth):
            raise DepthError("the target start camera has no focus distance (set its depth of field focus "
                             "distance or focus object)")
        return FixedDepth(depth)
    if source == "FIXED":
        return FixedDepth(settings.target_depth)
    raise DepthError(f"unknown target depth source {source!r}")
