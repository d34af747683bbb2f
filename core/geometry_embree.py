"""The Geometry depth source on Intel Embree (the `embreex` package), and the choice of backend.

`GeometryDepth` (core/geometry.py) is the reference implementation: pure numpy, exact float64 depth at
every pixel centre, available everywhere. `EmbreeGeometryDepth` measures the same statistic (the median
depth over the probe's pixel centres that see the mesh) by casting one ray per pixel centre with Embree,
which is 10 to 30 times faster on large meshes. `embreex` is optional: imported only when a probe is built,
and `geometry_depth(backend="auto")` falls back to numpy wherever it is missing (Apple Silicon has no
wheel; the add-on bundles wheels for Linux x86-64, Windows x64 and macOS x86-64).

What differs from the numpy probe, and why it does not matter for the statistic:
- Embree computes in float32. The mesh and the rays are taken relative to the mesh's centre (float64
  subtraction first), so the error is float32's relative 6e-8 of the scene's extent, a few 1e-7 of the
  depth for a camera inside the scene; tests bound the agreement with the numpy probe.
- The near plane: each ray starts on the probe's near plane (origin moved along the ray), as the numpy
  probe clips triangles there.
- Both see both sides of a triangle (no back-face culling).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from .depth import DepthProbe, Views
from .errors import DepthError
from .geometry import DEFAULT_RESOLUTION, GeometryDepth, prepared_mesh, probe_intrinsics, seen_statistic
from .statistics import DEFAULT_STATISTIC, normalize_statistic, statistic_label

BACKENDS = ("auto", "embree", "numpy")
# Embree reports a miss as a distance of about 1e37 (its "infinity" in float32); any hit is far nearer.
MISS_DISTANCE = 1e30


def _embreex() -> tuple[ModuleType, ModuleType] | None:
    """embreex's scene and mesh modules, or None when the package is missing or cannot load."""
    try:
        scene = importlib.import_module("embreex.rtcore_scene")
        mesh = importlib.import_module("embreex.mesh_construction")
    except (ImportError, OSError):  # not installed, blocked, or its shared library does not load here
        return None
    return scene, mesh


def embree_available() -> bool:
    """Whether the Embree backend can be used in this Python."""
    return _embreex() is not None


class EmbreeGeometryDepth(DepthProbe):
    """Median depth of the visible surface of a triangle mesh per view, by one Embree ray per pixel centre
    of the probe image (`resolution` pixels along the longer side). Same statistic, same NaN where no
    pixel sees the mesh, as GeometryDepth."""

    name = "geometry"

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, resolution: int = DEFAULT_RESOLUTION,
                 near: float | None = None, statistic: str = DEFAULT_STATISTIC):
        self.statistic = normalize_statistic(statistic)
        modules = _embreex()
        if modules is None:
            raise DepthError("the Embree backend is not available (install the embreex package)")
        scene_module, mesh_module = modules
        vertices, triangles, near = prepared_mesh(vertices, triangles, resolution, near)
        used = vertices[np.unique(triangles)]
        # float32 keeps ~7 digits: relative to the centre, what is kept is the detail, not the offset.
        self.origin = (used.max(axis=0) + used.min(axis=0)) / 2.0
        self.resolution = int(resolution)
        self.near = near
        self.triangle_count = int(triangles.shape[0])
        self._camera_rays: dict[tuple, np.ndarray] = {}
        self._scene = scene_module.EmbreeScene()
        mesh_module.TriangleMesh(self._scene, np.ascontiguousarray(vertices - self.origin, dtype=np.float32),
                                 np.ascontiguousarray(triangles, dtype=np.int32))

    @classmethod
    def from_meshes(cls, meshes: list[tuple[np.ndarray, np.ndarray]], resolution: int = DEFAULT_RESOLUTION,
                    near: float | None = None, statistic: str = DEFAULT_STATISTIC) -> EmbreeGeometryDepth:
        vertices, triangles = GeometryDepth.concatenated(meshes)
        return cls(vertices, triangles, resolution=resolution, near=near, statistic=statistic)

    def describe(self) -> str:
        return (f"geometry {self.triangle_count} triangles at {self.resolution} px (Embree)"
                f"{statistic_label(self.statistic)}")

    def _rays(self, views: Views, index: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Origins (on the near plane, relative to the mesh centre) and directions (world axes, unit
        component along the view axis, so the distance along a ray is the depth) of view `index`."""
        intrinsics = probe_intrinsics(views, index, self.resolution)
        width, height = intrinsics[:2]
        camera = self._camera_rays.get(intrinsics)
        if camera is None:  # a clip keeps one frame and lens for many poses: the grid is built once
            fx, fy, cx, cy = intrinsics[2:]
            u = np.arange(width, dtype=np.float64) + 0.5
            v = np.arange(height, dtype=np.float64) + 0.5
            camera = np.empty((height, width, 3))
            camera[..., 0] = ((u - cx) / fx)[None, :]
            camera[..., 1] = ((cy - v) / fy)[:, None]
            camera[..., 2] = -1.0  # Blender cameras look down -z
            camera = camera.reshape(-1, 3).astype(np.float32)
            if len(self._camera_rays) > 64:  # an animated lens: keep the cache small
                self._camera_rays.clear()
            self._camera_rays[intrinsics] = camera
        # float32 from here on: what Embree takes (the centre's offset is taken off in float64 first).
        directions = camera @ np.asarray(views.rotations[index], dtype=np.float32).T
        start = (np.asarray(views.centres[index], dtype=np.float64) - self.origin).astype(np.float32)
        origins = start + np.float32(self.near) * directions
        return origins, directions, width, height

    def depth_map(self, views: Views, index: int = 0) -> np.ndarray:
        """The (H, W) depth map of view `index` (row 0 = top of the image), np.inf where nothing is hit."""
        origins, directions, width, height = self._rays(views, index)
        return self._cast(origins, directions).reshape(height, width)

    def _cast(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        distance = np.asarray(self._scene.run(np.ascontiguousarray(origins, dtype=np.float32),
                                              np.ascontiguousarray(directions, dtype=np.float32),
                                              query="DISTANCE"), dtype=np.float64)
        return np.where(distance < MISS_DISTANCE, self.near + distance, np.inf)

    def __call__(self, views: Views) -> np.ndarray:
        # One Embree call per view: measured no faster when many views share a call (bench/geometry.py).
        return np.array([seen_statistic(self.depth_map(views, i), self.statistic) for i in range(len(views))],
                        dtype=np.float64)


def geometry_depth(vertices: np.ndarray, triangles: np.ndarray, resolution: int = DEFAULT_RESOLUTION,
                   near: float | None = None, backend: str = "auto", statistic: str = DEFAULT_STATISTIC
                   ) -> DepthProbe:
    """The Geometry depth source on the chosen backend: "embree" (fails when it is not installed), "numpy"
    (core/geometry.py, everywhere), or "auto": Embree when it is available, else numpy."""
    if backend not in BACKENDS:
        raise DepthError(f"unknown geometry backend {backend!r} (choose one of {', '.join(BACKENDS)})")
    if backend == "embree" or (backend == "auto" and embree_available()):
        return EmbreeGeometryDepth(vertices, triangles, resolution=resolution, near=near, statistic=statistic)
    return GeometryDepth(vertices, triangles, resolution=resolution, near=near, statistic=statistic)
