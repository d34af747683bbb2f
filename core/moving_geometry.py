"""The Geometry depth source of a scene that moves: measured at every frame against the scene as it is at
that frame, at the cost of what moves only.

A scene is split once into its static part (built into one probe, as for a still scene) and its moving
part: the objects whose evaluated transform or geometry changes over the clip (the add-on finds them with
Blender's own depsgraph updates). The moving part's world triangles are read for a frame when that frame
is measured, through a callback (the add-on sets the frame and reads the evaluated meshes), and built into
a small probe, kept while the frame is being solved. An object that only moves (its geometry is the same,
its transform changes: a car, a door) is built once in its own axes instead, and at each frame the rays
are taken into those axes with the inverse of its world matrix (`rigid`, `rigid_at`): the distance along a
ray is the same in both, so nothing is rebuilt (Embree backend; the numpy z-buffer rebuilds it in world
space at each frame). A pixel's depth is the nearer of the two parts'; the
statistic is the same median over the pixels that see something, so a still scene gives exactly what
the single probe gives.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .depth import DepthProbe, Views
from .errors import DepthError
from .geometry import DEFAULT_RESOLUTION, NEAR_FRACTION, GeometryDepth, probe_intrinsics, seen_statistic
from .geometry_embree import EmbreeGeometryDepth, geometry_depth, placeable
from .statistics import DEFAULT_STATISTIC, normalize_statistic, statistic_label

# (vertices (V, 3), triangles (T, 3)) in world space, or None when the moving part shows nothing then.
Mesh = tuple[np.ndarray, np.ndarray]
MovingMeshAt = Callable[[int], Mesh | None]
# The world matrices (R, 4, 4) of the rigid parts at frame index k (NaN rows: that part is absent then).
RigidMatricesAt = Callable[[int], np.ndarray]


class MovingGeometryDepth(DepthProbe):
    """Median depth of the visible surface of a static mesh plus a moving one read per frame. `moving_at(k)`
    gives the moving part's world triangles at frame index k (the views' `indices`). `extent` sets the near
    plane (NEAR_FRACTION of it), the same for both parts; default: the static mesh's."""

    name = "geometry"

    def __init__(self, static: Mesh | None, moving_at: MovingMeshAt, resolution: int = DEFAULT_RESOLUTION,
                 backend: str = "auto", extent: float | None = None, label: str = "moving objects",
                 statistic: str = DEFAULT_STATISTIC, rigid: list[Mesh] | None = None,
                 rigid_at: RigidMatricesAt | None = None):
        self.statistic = normalize_statistic(statistic)
        if extent is None:
            if static is None:
                raise DepthError("give the scene's extent when nothing in it is static")
            used = np.asarray(static[0], dtype=np.float64)[np.unique(np.asarray(static[1]))]
            extent = float(np.linalg.norm(used.max(axis=0) - used.min(axis=0)))
        if not (np.isfinite(extent) and extent > 0):
            raise DepthError(f"the scene's extent must be finite and positive, got {extent}")
        self.near = NEAR_FRACTION * extent
        self.resolution = int(resolution)
        self.backend = backend
        self.static = None if static is None else geometry_depth(*static, resolution=self.resolution,
                                                                 near=self.near, backend=backend,
                                                                 statistic=self.statistic)
        self.moving_at = moving_at
        self.label = label
        self._frame: int | None = None
        self._moving: DepthProbe | None = None
        self.frames_read = 0
        # Rigid parts: each built once in its own axes (`rigid`: local triangles), placed per frame by
        # `rigid_at`. Only where rays can be cast in those axes (Embree); else rebuilt in world space.
        self._rigid_meshes = list(rigid or [])
        if self._rigid_meshes and rigid_at is None:
            raise DepthError("rigid parts need their world matrices per frame (rigid_at)")
        self.rigid_at = rigid_at
        self.rigid: list[EmbreeGeometryDepth] = []
        self._matrices: np.ndarray | None = None
        if self._rigid_meshes:
            built = [geometry_depth(*mesh, resolution=self.resolution, near=self.near, backend=backend)
                     for mesh in self._rigid_meshes]
            if all(isinstance(part, EmbreeGeometryDepth) for part in built):
                self.rigid = built  # type: ignore[assignment]

    def describe(self) -> str:
        static = self.static.describe() if self.static is not None else "nothing static"
        label = statistic_label(self.statistic) if self.static is None else ""  # the static part's says it
        rigid = f" ({len(self.rigid)} moving rigidly, built once)" if self.rigid else ""
        return f"{static}, and the {self.label} read at every frame{rigid}{label}"

    def moving_probe(self, frame_index: int) -> DepthProbe | None:
        """The moving part's probe at a frame index (read and built once while that frame is asked for)."""
        if self._frame != frame_index:
            mesh = self.moving_at(int(frame_index))
            self.frames_read += 1
            self._matrices = None
            if self._rigid_meshes:
                self._matrices = np.asarray(self.rigid_at(int(frame_index)), dtype=np.float64).reshape(-1, 4, 4)
                if self._matrices.shape[0] != len(self._rigid_meshes):
                    raise DepthError(f"{self._matrices.shape[0]} world matrices for {len(self._rigid_meshes)} "
                                     "rigid parts")
                if not self.rigid:  # no rays in local axes here: the rigid parts join the moved meshes
                    placed = [(v @ m[:3, :3].T + m[:3, 3], t)
                              for (v, t), m in zip(self._rigid_meshes, self._matrices, strict=True)
                              if placeable(m)]
                    parts = placed + ([mesh] if mesh is not None else [])
                    mesh = GeometryDepth.concatenated(parts) if parts else None
            self._moving = None if mesh is None else geometry_depth(
                *mesh, resolution=self.resolution, near=self.near, backend=self.backend)
            self._frame = int(frame_index)
        return self._moving

    def depth_map(self, views: Views, index: int = 0) -> np.ndarray:
        """The (H, W) depth map of view `index` against the scene at that view's frame."""
        moving = self.moving_probe(int(views.indices[index]))
        maps = [p.depth_map(views, index) for p in (self.static, moving) if p is not None]
        if self.rigid:
            maps += [part.placed_depth_map(views, index, matrix)
                     for part, matrix in zip(self.rigid, self._matrices, strict=True) if placeable(matrix)]
        if not maps:  # nothing static, and the moving part is absent at this frame: nothing is seen
            width, height = probe_intrinsics(views, index, self.resolution)[:2]
            return np.full((height, width), np.inf)
        return maps[0] if len(maps) == 1 else np.minimum.reduce(maps)

    def __call__(self, views: Views) -> np.ndarray:
        return np.array([seen_statistic(self.depth_map(views, i), self.statistic) for i in range(len(views))],
                        dtype=np.float64)
