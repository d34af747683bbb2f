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
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np

from .depth import DepthProbe, Views
from .errors import DepthError
from .geometry import DEFAULT_RESOLUTION, GeometryDepth, prepared_mesh, probe_intrinsics, seen_statistic
from .statistics import DEFAULT_STATISTIC, normalize_statistic, statistic_label

BACKENDS = ("auto", "embree", "numpy")
# Embree reports a miss as a distance of about 1e37 (its "infinity" in float32); any hit is far nearer.
MISS_DISTANCE = 1e30
# A cast of at least this many rays is split across the cores: embreex releases the GIL while Embree casts
# (embreex >= 4.4), so the parts run at once. Below it, a thread's hand-off costs more than it saves.
PARALLEL_MIN_RAYS = 2048
# HitPlanes: how far inside its triangle (in barycentric units) a ray's moved hit must stay to be trusted.
EDGE_ROOM = 1e-5
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def cast_workers() -> int:
    """How many threads share a cast: the cores this process may run on (at most 8)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 8))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:  # the standard library's pool: stock Blender's Python has it
            _POOL = ThreadPoolExecutor(max_workers=max(1, cast_workers() - 1),
                                       thread_name_prefix="parascale-embree")
        return _POOL


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
        local = np.ascontiguousarray(vertices - self.origin, dtype=np.float32)
        triangles32 = np.ascontiguousarray(triangles, dtype=np.int32)
        mesh_module.TriangleMesh(self._scene, local, triangles32)  # Embree copies them into its own buffers
        # HitPlanes' dual edges: made at the first certificate (a probe only evaluated never needs them).
        self._mesh_for_dual: tuple[np.ndarray, np.ndarray] | None = (local, triangles32)
        self._dual_basis: np.ndarray | None = None
        self._committed = False
        self.workers = cast_workers()

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

    def placed_depth_map(self, views: Views, index: int, world_matrix: np.ndarray) -> np.ndarray:
        """The (H, W) depth map of view `index` against this mesh placed in the world by `world_matrix`
        (4 x 4, any invertible affine map): the rays are taken into the mesh's own axes, where the distance
        along each ray is the same (a linear map keeps the ray parameter). np.inf where nothing is hit."""
        matrix = np.asarray(world_matrix, dtype=np.float64)
        if not (matrix.shape == (4, 4) and placeable(matrix)):
            raise DepthError("a rigid part's world matrix must be a finite, invertible 4 x 4 matrix")
        inverse = np.linalg.inv(matrix)
        _, directions, width, height = self._rays(views, index)
        # Origins in float64 from the view's own centre (on the near plane), then into the mesh's axes.
        world_directions = directions.astype(np.float64)
        world_origins = np.asarray(views.centres[index], dtype=np.float64) + self.near * world_directions
        local_origins = world_origins @ inverse[:3, :3].T + inverse[:3, 3] - self.origin
        local_directions = world_directions @ inverse[:3, :3].T
        return self._cast(local_origins, local_directions).reshape(height, width)

    def depth_map(self, views: Views, index: int = 0) -> np.ndarray:
        """The (H, W) depth map of view `index` (row 0 = top of the image), np.inf where nothing is hit."""
        origins, directions, width, height = self._rays(views, index)
        return self._cast(origins, directions).reshape(height, width)

    @property
    def _dual(self) -> np.ndarray:
        """Each triangle's dual edge basis (`_dual_edges`), computed once when first asked for."""
        if self._dual_basis is None:
            self._dual_basis = _dual_edges(*self._mesh_for_dual)
            self._mesh_for_dual = None
        return self._dual_basis

    def run(self, origins: np.ndarray, directions: np.ndarray, dists: np.ndarray | None = None,
            query: str = "DISTANCE", output: bool = False) -> np.ndarray | dict[str, np.ndarray]:
        """embreex's scene.run on these rays, split across `workers` threads for a large cast (this thread
        casts the last part itself). Rays are independent, so the result is the same however it is split."""
        origins = np.ascontiguousarray(origins, dtype=np.float32)
        directions = np.ascontiguousarray(directions, dtype=np.float32)
        if dists is not None:
            dists = np.ascontiguousarray(dists, dtype=np.float32)
        options = {"query": query, "output": 1 if output else None}
        if not self._committed:  # embreex builds the BVH at the first cast: once, on this thread
            self._scene.run(origins[:1], directions[:1], query="DISTANCE")
            self._committed = True
        count = origins.shape[0]
        if self.workers == 1 or count < PARALLEL_MIN_RAYS:
            return self._scene.run(origins, directions, dists=dists, **options)
        bounds = np.linspace(0, count, self.workers + 1).astype(int)
        parts = [(origins[a:b], directions[a:b], None if dists is None else dists[a:b])
                 for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        futures = [_pool().submit(self._scene.run, o, d, dists=t, **options) for o, d, t in parts[:-1]]
        last = self._scene.run(*parts[-1][:2], dists=parts[-1][2], **options)
        results = [future.result() for future in futures] + [last]
        if isinstance(last, dict):
            return {key: np.concatenate([result[key] for result in results]) for key in last}
        return np.concatenate(results)

    def _cast(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        distance = np.asarray(self.run(origins, directions, query="DISTANCE"), dtype=np.float64)
        return np.where(distance < MISS_DISTANCE, self.near + distance, np.inf)

    def local_model(self, views: Views) -> HitPlanes | None:
        """The one view of `views` cast once and kept as the planes its rays hit (`HitPlanes`), for a solve
        that moves the camera along a line at fixed rotation; None for a statistic other than the median
        (every pixel's depth moves a smooth statistic: certifying it would take a full cast)."""
        if self.statistic != "median" or len(views) != 1:
            return None
        origins, directions, _, _ = self._rays(views, 0)
        hits = self.run(origins, directions, query="INTERSECT", output=True)
        return HitPlanes(self, np.asarray(views.centres[0], dtype=np.float64), origins, directions, hits)

    def __call__(self, views: Views) -> np.ndarray:
        # One Embree call per view: measured no faster when many views share a call (bench/geometry.py).
        return np.array([seen_statistic(self.depth_map(views, i), self.statistic) for i in range(len(views))],
                        dtype=np.float64)


def placeable(matrix: np.ndarray) -> bool:
    """Whether a rigid part's world matrix puts it in the scene at that frame: finite and invertible. An
    object hidden then (NaN) or scaled to nothing (an animated scale of 0, a common way to hide one) is
    absent: it sees nothing and hides nothing."""
    linear = np.asarray(matrix, dtype=np.float64)[:3, :3]
    return bool(np.all(np.isfinite(matrix)) and np.linalg.cond(linear) < 1e12)


class HitPlanes:
    """One cast of a view, kept as the plane of the triangle each pixel's ray hit, so the median depth at a
    nearby camera centre (same rotation) is known without a second full cast.

    Moving the camera by delta moves every ray's origin by delta; a ray that keeps its triangle (normal n)
    then meets it at depth z + dz with dz = -(n . delta) / (n . d), d the ray's direction (unit component
    along the view axis). The median of those depths is exact at the new centre when (1) every ray's new
    hit is still inside its triangle (checked with the barycentric coordinates; rays that leave it are cast
    again), and (2) nothing new comes in front of the rays whose rank could change: a ray nearer than the
    median only gets nearer when occluded, so only the rays at or beyond the median (and those that saw
    nothing) are tested, with one Embree occlusion query each up to the median depth (`certified`). Half
    the rays, up to the median: about half a cast, instead of the full one a second evaluation costs.
    """

    def __init__(self, probe: EmbreeGeometryDepth, centre: np.ndarray, origins: np.ndarray,
                 directions: np.ndarray, hits: dict[str, np.ndarray]):
        self.probe = probe
        self.centre = centre
        self.origins = origins
        self.directions = directions
        tfar = np.asarray(hits["tfar"], dtype=np.float64)
        self.prim = np.asarray(hits["primID"], dtype=np.int64)
        self.hit = (tfar < MISS_DISTANCE) & (self.prim >= 0)
        self.depth = np.where(self.hit, probe.near + tfar, np.inf)
        # float32 for what only moves a depth by a small change (dz is ~1e-6 of the depth in a solve, so its
        # float32 rounding is ~1e-13 of the depth): half the memory traffic of float64 on every ray.
        self.bary_u, self.bary_v = np.asarray(hits["u"], np.float32), np.asarray(hits["v"], np.float32)
        # (embreex leaves a miss's normal unset: whatever was in memory)
        normal = np.where(self.hit[:, None], np.asarray(hits["Ng"], dtype=np.float32), np.float32(0.0))
        along = np.einsum("ij,ij->i", normal, directions)
        # A ray that met its triangle edge-on has no stable plane: it is cast again whenever the centre moves.
        self.stable = self.hit & (np.abs(along) > 1e-5 * np.sqrt(np.einsum("ij,ij->i", normal, normal)))
        self.normal = normal / np.where(self.stable, along, np.inf)[:, None]  # 0 where not stable
        self.measured = seen_statistic(self.depth)  # what a call of the probe gives

    def _depth_change(self, delta: np.ndarray) -> np.ndarray:
        """dz per ray for a move of the centre by `delta` (rays on their planes)."""
        # einsum, not @: a (N, 3) x (3,) product is too small for BLAS to pay for its threads.
        return -np.einsum("ij,j->i", self.normal, np.asarray(delta, dtype=np.float32)).astype(np.float64)

    def fixed_point(self, start: np.ndarray, step: np.ndarray, aim: float, guess: float) -> float:
        """The s with D(start + s step) = s * aim under the planes (Newton on a piecewise-linear median,
        exact where it stops); NaN when the planes give no such s near `guess`."""
        rate = self._depth_change(step)  # dz per unit of s
        offset = start + guess * step - self.centre
        base = self.depth + self._depth_change(offset)
        s = guess
        for _ in range(16):
            depth = base + (s - guess) * rate
            value, slope = _seen_median_slope(depth, rate)
            if not np.isfinite(value) or not aim - slope > 0:
                return float("nan")
            s_next = s - (s * aim - value) / (aim - slope)
            if not s_next > 0:
                return float("nan")
            if abs(s_next - s) <= 1e-15 * s:
                return float(s_next)
            s = s_next
        return float(s)

    def certified(self, centre: np.ndarray, margin: float) -> float:
        """The median depth at `centre` (same rotation), exact as explained in the class's docstring, or NaN
        when it cannot be certified without a full cast (a new occluder in front of a ray at or beyond the
        median, or a ray that saw nothing now seeing something). `margin`: relative room kept in front of
        each tested hit so a ray does not find its own triangle (float32); an occluder nearer than that to
        the median moves it by less than `margin`."""
        probe = self.probe
        delta = np.asarray(centre, dtype=np.float64) - self.centre
        dz = self._depth_change(delta)
        depth = self.depth + dz
        # Where each stable ray meets its plane now, in its triangle's barycentric coordinates: the hit moves
        # by delta + dz d (in the plane), and the triangle's dual edges turn that into (du, dv).
        dual = probe._dual[np.where(self.stable, self.prim, 0)]
        moved = delta.astype(np.float32)[None, :] + dz.astype(np.float32)[:, None] * self.directions
        bu = self.bary_u + np.einsum("ij,ij->i", dual[:, 0], moved)
        bv = self.bary_v + np.einsum("ij,ij->i", dual[:, 1], moved)
        # Inside with room for float32 rounding (Embree's own u, v are float32): a ray that close to an edge
        # is cast again rather than trusted.
        inside = self.stable & (bu >= EDGE_ROOM) & (bv >= EDGE_ROOM) & (bu + bv <= 1.0 - EDGE_ROOM)
        depth = np.where(self.hit, depth, np.inf)
        shift = delta.astype(np.float32)
        again = np.flatnonzero(self.hit & ~inside)
        if again.size:  # left their triangle (or had no stable plane): cast again
            depth[again] = probe._cast(self.origins[again] + shift, self.directions[again])
        seen = np.isfinite(depth)
        if not seen.any():
            return float("nan")
        values = depth[seen]
        low_rank, high_rank = (values.size - 1) // 2, values.size // 2
        ordered = np.partition(values, (low_rank, high_rank))
        low, high = ordered[low_rank], ordered[high_rank]
        test = ~seen | (depth >= low)
        # Up to the nearer of the ray's own hit and the median's upper rank: a hit there changes a rank.
        reach = np.where(seen, np.minimum(depth, high) * (1.0 - margin), np.inf)[test] - probe.near
        reach = np.where(np.isfinite(reach), np.maximum(reach, 0.0), 1e37).astype(np.float32)
        occluded = probe.run(self.origins[test] + shift, self.directions[test], dists=reach, query="OCCLUDED")
        if np.any(np.asarray(occluded) != -1):
            return float("nan")
        return float(0.5 * (low + high))


def _dual_edges(vertices: np.ndarray, triangles: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Per triangle (T, 2, 3) float32: the dual basis (a_u, a_v) of its edges e1 = v1 - v0, e2 = v2 - v0, so
    a point moved by w within the triangle's plane moves its barycentric coordinates (u, v) by
    (a_u . w, a_v . w). 24 bytes a triangle (HitPlanes needs nothing else of the mesh); computed in float64
    a chunk at a time (bounded memory), the mesh's zero-area triangles having been dropped."""
    dual = np.empty((triangles.shape[0], 2, 3), dtype=np.float32)
    for start in range(0, triangles.shape[0], chunk):
        tri = triangles[start:start + chunk]
        origin = vertices[tri[:, 0]].astype(np.float64)
        e1, e2 = vertices[tri[:, 1]] - origin, vertices[tri[:, 2]] - origin
        g11, g12, g22 = (np.einsum("ij,ij->i", e1, e1), np.einsum("ij,ij->i", e1, e2), np.einsum("ij,ij->i", e2, e2))
        det = g11 * g22 - g12 * g12
        # A triangle degenerate in float64 (collinear to rounding) gets a NaN dual: its rays are cast again.
        det = np.where(det > 0, det, np.nan)
        dual[start:start + chunk, 0] = (g22[:, None] * e1 - g12[:, None] * e2) / det[:, None]
        dual[start:start + chunk, 1] = (g11[:, None] * e2 - g12[:, None] * e1) / det[:, None]
    return dual


def _seen_median_slope(depth: np.ndarray, rate: np.ndarray) -> tuple[float, float]:
    """The median of the finite depths and its rate (the mean rate of the one or two middle rays)."""
    seen = np.flatnonzero(np.isfinite(depth))
    if not seen.size:
        return float("nan"), float("nan")
    low_rank, high_rank = (seen.size - 1) // 2, seen.size // 2
    order = np.argpartition(depth[seen], (low_rank, high_rank))
    middle = seen[order[[low_rank, high_rank]]]
    return float(depth[middle].mean()), float(rate[middle].mean())


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
