"""The "geometry" depth source (METHOD.md "Depth sources"): the median depth of the visible surface of a
triangle mesh over the image, i.e. the statistic of a rendered depth map, computed by a small z-buffer
rasterizer in pure numpy (it runs inside stock Blender: no scipy, no numba).

How a pose is rasterized (`GeometryDepth.depth_map`):
- The probe image is `resolution` pixels along its longer side; the view's pixel intrinsics are scaled
  to it per axis, so the frustum is exactly the view's. A pixel sees the surface at its centre (like a
  Cycles depth pass with the narrowest pixel filter); triangles are two-sided.
- At construction the triangles are sorted along a Morton curve of their centroids and cut into
  clusters of `CLUSTER_SIZE` neighbours (an oriented bounding box along their principal axes) and groups
  of `CLUSTERS_PER_GROUP` clusters (a bounding sphere). Per pose, a group is dropped when its sphere is
  behind the near plane, outside the frustum, or its projected bounds enclose no pixel centre; then a
  cluster is dropped when the projection of its box, linearized at its centre with a proven bound on the
  second-order rest, encloses no pixel centre. At probe resolution most triangles of a dense mesh are
  sub-pixel, so most clusters fall between pixel centres.
- The triangles of the kept clusters are screened in float32 (corner offsets from their cluster centre,
  so the screen is precise anywhere in the world, with a safety margin). Those whose bounds may enclose
  a pixel centre go to the exact stage in float64: near-plane clipping, the pixel centres in the bounds
  (one directly, several enumerated), edge-function inside test, perspective-correct depth, and a
  z-buffer minimum (np.minimum.at: fast in numpy >= 1.25, measured faster here than a sort). The depth
  of a pixel is therefore a smooth function of the pose (no float32 noise), which the per-frame
  transfer's fixed-point solve relies on.
- Memory: construction works in slices of `BUILD_CHUNK` triangles, a call in slices of `SCREEN_CHUNK`
  screened triangles and `CANDIDATE_CHUNK` pixel candidates. The probe keeps about 120 bytes per
  triangle (float64 corners, float32 offsets, cluster bounds).
- Speed (bench/geometry.py, 2 shared cores): a few ms per pose at 10k-100k triangles, about 20 ms at 1M
  triangles filling the view.

Near-plane rule: geometry at depth <= `near` is clipped away; a triangle crossing the plane depth = near
is clipped exactly (Sutherland-Hodgman against that one plane, giving one or two triangles), so a large
ground triangle passing under the camera is still seen where it is in front. The default `near` is 1e-6
of the mesh's bounding-box diagonal.
"""

from __future__ import annotations

import numpy as np

from .depth import DepthProbe, Views
from .errors import DepthError
from .statistics import DEFAULT_STATISTIC, normalize_statistic, representative_depth, statistic_label

# Default probe image size, in pixels along the longer side (128 x 72 for a 16:9 frame). It matches a
# Cycles depth pass of the same size to ~1e-7 and one at 160 x 90 to within 2% on the occluded test
# scenes (a median that sits on an occlusion edge moves a little with resolution), at a few ms per pose.
DEFAULT_RESOLUTION = 128
# The largest probe image: 4096 x 2304 for 16:9, a z-buffer of 75 MB plus bounded chunks per call. A depth
# statistic gains nothing past a few hundred pixels; a typo (60000) would ask for tens of GB.
MAX_PROBE_RESOLUTION = 4096
# Triangles per culling cluster: small enough that a dense mesh's clusters mostly fall between pixel
# centres, large enough that the per-cluster test is cheap.
CLUSTER_SIZE = 8
# Clusters per group: groups (spheres) cull what is outside the frustum before clusters are looked at.
CLUSTERS_PER_GROUP = 8
# Triangles whose bounds are built at once (bounds the temporary memory of the construction).
BUILD_CHUNK = 1 << 16
# Triangles screened at once, and pixel-centre candidates tested at once by the exact stage (both bound
# the temporary memory of a call).
SCREEN_CHUNK = 1 << 18
CANDIDATE_CHUNK = 1 << 18
# Relative growth of every bounding sphere and box, so that float64 rounding never leaves a corner out.
BOUND_INFLATION = 1e-9
# Default near plane as a fraction of the mesh's bounding-box diagonal.
NEAR_FRACTION = 1e-6
# Safety margin of the float32 screen, in pixels (plus a relative part): a triangle the screen rejects
# is at least this far from every pixel centre, so float32 rounding never drops a visible triangle.
SCREEN_MARGIN = 1e-2
SCREEN_MARGIN_RELATIVE = 1e-5


def _validated_mesh(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        vertices = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DepthError(f"mesh vertices must be numbers: {error}") from None
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise DepthError(f"mesh vertices must have shape (V, 3), got {vertices.shape}")
    triangles = np.asarray(triangles)
    if triangles.size == 0:
        raise DepthError("a geometry depth source needs at least one triangle (the mesh is empty)")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise DepthError(f"mesh triangles must have shape (F, 3), got {triangles.shape}")
    if not np.issubdtype(triangles.dtype, np.integer):
        raise DepthError(f"mesh triangle indices must be integers, got {triangles.dtype}")
    if not np.all(np.isfinite(vertices)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(vertices), axis=1))[0])
        raise DepthError(f"mesh vertex {bad} is not finite: {vertices[bad].tolist()}")
    low, high = int(triangles.min()), int(triangles.max())
    if low < 0 or high >= vertices.shape[0]:
        bad = low if low < 0 else high
        raise DepthError(f"mesh triangle index {bad} is out of range for {vertices.shape[0]} vertices")
    return vertices, triangles.astype(np.int64)


def _morton_order(points: np.ndarray) -> np.ndarray:
    """Indices sorting points along a 3-D Morton (Z-order) curve, 10 bits per axis, on cubic cells (so
    that consecutive points are close in space even when the mesh is flat)."""
    low = points.min(axis=0)
    span = max(float((points.max(axis=0) - low).max()), 1e-300)
    cells = np.minimum((points - low) / span * 1024.0, 1023.0).astype(np.int64)
    code = np.zeros(points.shape[0], dtype=np.int64)
    for bit in range(10):
        for axis in range(3):
            code |= ((cells[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind="stable")


def probe_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """Probe image (width, height): `resolution` along the longer side, the aspect kept."""
    scale = resolution / max(width, height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def prepared_mesh(vertices: np.ndarray, triangles: np.ndarray, resolution: int, near: float | None
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """What every Geometry backend checks and keeps: the validated mesh without zero-area triangles, and the
    near plane (default NEAR_FRACTION of the mesh's extent). Raises DepthError on a bad mesh or setting."""
    vertices, triangles = _validated_mesh(vertices, triangles)
    if not (isinstance(resolution, int | np.integer) and resolution >= 1):
        raise DepthError(f"the probe resolution must be a positive integer, got {resolution!r}")
    if resolution > MAX_PROBE_RESOLUTION:
        raise DepthError(f"the probe resolution {resolution} px is above the limit of {MAX_PROBE_RESOLUTION} px")
    # Zero-area triangles cover no pixel centre; dropping them keeps the edge functions well defined.
    edge_a = vertices[triangles[:, 1]] - vertices[triangles[:, 0]]
    edge_b = vertices[triangles[:, 2]] - vertices[triangles[:, 0]]
    triangles = triangles[np.any(np.cross(edge_a, edge_b) != 0, axis=1)]
    del edge_a, edge_b
    if triangles.shape[0] == 0:
        raise DepthError("every triangle of the mesh has zero area")
    used = vertices[np.unique(triangles)]
    extent = float(np.linalg.norm(used.max(axis=0) - used.min(axis=0)))
    if near is None:
        near = NEAR_FRACTION * extent
    if not (np.isfinite(near) and near > 0):
        raise DepthError(f"the near plane must be finite and positive, got {near}")
    return vertices, triangles, float(near)


def probe_intrinsics(views: Views, index: int, resolution: int) -> tuple[int, int, float, float, float, float]:
    """(width, height, fx, fy, cx, cy) of view `index` at probe resolution: the view's pixel intrinsics
    scaled to the probe image (pixel centres at i + 0.5)."""
    width, height = probe_size(views.width, views.height, resolution)
    fx, fy, cx, cy = np.asarray(views.pixel_intrinsics[index], dtype=np.float64)
    sx, sy = width / views.width, height / views.height
    return width, height, fx * sx, fy * sy, cx * sx, cy * sy


def seen_statistic(depth: np.ndarray, statistic: str = DEFAULT_STATISTIC) -> float:
    """The Geometry statistic of a depth map: the named statistic (core.statistics: the median by default)
    over the pixels that see something (finite); NaN when none does."""
    return float(representative_depth(np.asarray(depth).reshape(-1), statistic=statistic))


class GeometryDepth(DepthProbe):
    """Median (or another `statistic`, core.statistics) depth of the visible surface of a triangle mesh
    (world coordinates), per view: a z-buffer rasterization through each view's pinhole camera at
    `resolution` pixels along the longer side. Occlusion counts, pixels that see nothing are excluded, NaN
    where no pixel sees geometry."""

    name = "geometry"

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, resolution: int = DEFAULT_RESOLUTION,
                 near: float | None = None, statistic: str = DEFAULT_STATISTIC):
        vertices, triangles, near = prepared_mesh(vertices, triangles, resolution, near)
        self.statistic = normalize_statistic(statistic)
        self.resolution = int(resolution)
        self.near = float(near)
        self.triangle_count = int(triangles.shape[0])

        order = _morton_order(vertices[triangles].mean(axis=1))
        group_size = CLUSTER_SIZE * CLUSTERS_PER_GROUP
        pad = (-order.size) % group_size  # repeat the last triangle: a duplicate changes no minimum
        triangles = triangles[np.concatenate([order, np.full(pad, order[-1])])]
        groups = triangles.shape[0] // group_size
        # Exact-stage data: one row of 9 per triangle (corner-major, Morton order): a triangle's corners
        # are gathered from one or two cache lines.
        self.corners = np.empty((triangles.shape[0], 9))
        self.group_centres = np.empty((groups, 3))
        self.group_radii = np.empty(groups)
        # Per-pose cluster data are laid out as fields x (group, cluster in group), triangle offsets as
        # fields x (cluster, triangle in cluster), so that taking the kept groups or clusters copies
        # contiguous blocks and every operation after that runs over contiguous rows.
        self.cluster_fields = np.empty((16, groups, CLUSTERS_PER_GROUP))
        self.offsets = np.empty((9, groups * CLUSTERS_PER_GROUP, CLUSTER_SIZE), dtype=np.float32)
        # Built in slices of groups, so the temporaries stay small for a mesh of millions of triangles.
        step = max(1, BUILD_CHUNK // group_size)
        for first in range(0, groups, step):
            last = min(groups, first + step)
            corners = vertices[triangles[first * group_size:last * group_size]]
            self.corners[first * group_size:last * group_size] = corners.reshape(-1, 9)
            self._build_bounds(corners, first, last)

    def _build_bounds(self, corners: np.ndarray, first: int, last: int) -> None:
        """Bounds of groups first..last-1 from their triangles' corners (M, 3, 3)."""
        # Groups of CLUSTERS_PER_GROUP clusters: bounding spheres, the coarse cull.
        grouped = corners.reshape(last - first, -1, 3)
        centre = (grouped.min(axis=1) + grouped.max(axis=1)) / 2.0
        self.group_centres[first:last] = centre
        radius = np.linalg.norm(grouped - centre[:, None, :], axis=2).max(axis=1)
        self.group_radii[first:last] = radius * (1.0 + BOUND_INFLATION)  # rounding never leaves a corner out
        # Clusters: oriented bounding boxes along the principal axes of their corners (tight for the
        # nearly flat patches of a dense mesh, whose projection a sphere would overestimate).
        clustered = corners.reshape(-1, CLUSTER_SIZE * 3, 3)
        spread = clustered - clustered.mean(axis=1, keepdims=True)
        _, axes = np.linalg.eigh(np.einsum("kpi,kpj->kij", spread, spread))
        axes = np.swapaxes(axes, 1, 2)  # (K, 3 axes, 3 coordinates)
        along = np.einsum("kpi,kai->kpa", clustered, axes)
        low, high = along.min(axis=1), along.max(axis=1)
        half = (high - low) / 2.0 + BOUND_INFLATION * (high - low).max(axis=1, keepdims=True)
        centres = np.einsum("ka,kai->ki", (high + low) / 2.0, axes)
        fields = np.concatenate([centres.T, axes.reshape(-1, 9).T, half.T, np.linalg.norm(half, axis=1)[None]])
        self.cluster_fields[:, first:last] = fields.reshape(16, -1, CLUSTERS_PER_GROUP)
        # Triangle corners relative to their cluster's centre, float32 (precise anywhere in the world).
        offsets = (clustered - centres[:, None, :]).reshape(-1, CLUSTER_SIZE, 9)
        clusters = slice(first * CLUSTERS_PER_GROUP, last * CLUSTERS_PER_GROUP)
        self.offsets[:, clusters] = np.transpose(offsets, (2, 0, 1))

    @classmethod
    def from_meshes(cls, meshes: list[tuple[np.ndarray, np.ndarray]], resolution: int = DEFAULT_RESOLUTION,
                    near: float | None = None, statistic: str = DEFAULT_STATISTIC) -> GeometryDepth:
        """One probe over several meshes, each (vertices, triangles) in world coordinates."""
        vertices, triangles = cls.concatenated(meshes)
        return cls(vertices, triangles, resolution=resolution, near=near, statistic=statistic)

    @staticmethod
    def concatenated(meshes: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Several meshes as one (vertices, triangles), each checked."""
        checked = [_validated_mesh(v, t) for v, t in meshes if np.asarray(t).size]
        if not checked:
            raise DepthError("a geometry depth source needs at least one triangle (no mesh has any)")
        offsets = np.cumsum([0] + [v.shape[0] for v, _ in checked[:-1]])
        return (np.concatenate([v for v, _ in checked]),
                np.concatenate([t + o for (_, t), o in zip(checked, offsets, strict=True)]))

    def describe(self) -> str:
        return f"geometry {self.triangle_count} triangles at {self.resolution} px{statistic_label(self.statistic)}"

    def __call__(self, views: Views) -> np.ndarray:
        return np.array([seen_statistic(self.depth_map(views, i), self.statistic) for i in range(len(views))],
                        dtype=np.float64)

    def depth_map(self, views: Views, index: int = 0) -> np.ndarray:
        """The probe's (H, W) depth map of view `index` (row 0 = top of the image), np.inf where the pixel
        sees nothing."""
        width, height, fx, fy, cx, cy = probe_intrinsics(views, index, self.resolution)
        camera = _Camera(np.asarray(views.rotations[index], dtype=np.float64),
                         np.asarray(views.centres[index], dtype=np.float64), fx, fy, cx, cy, width, height,
                         self.near)
        zbuffer = np.full(width * height, np.inf)
        groups = self._screen_groups(camera)
        # Slices of the kept groups, so the per-call memory does not grow with the mesh.
        step = max(1, SCREEN_CHUNK // (CLUSTER_SIZE * CLUSTERS_PER_GROUP))
        for first in range(0, groups.size, step):
            triangles = self._screen(camera, groups[first:first + step])
            if triangles.size:
                self._rasterize(camera, triangles, zbuffer)
        return zbuffer.reshape(height, width)

    def _screen(self, camera: _Camera, groups: np.ndarray) -> np.ndarray:
        """Indices of the triangles of `groups` that may cover a pixel centre in front of the near plane:
        a superset, screened per cluster (oriented boxes, float64), then per triangle (float32)."""
        fields = np.take(self.cluster_fields, groups, axis=1).reshape(16, -1)
        clusters = (groups[:, None] * CLUSTERS_PER_GROUP + np.arange(CLUSTERS_PER_GROUP)).reshape(-1)
        world_to_camera = camera.rotation.T
        x, y, z = world_to_camera @ (fields[0:3] - camera.centre[:, None])
        depth = -z
        half, radius = fields[12:15], fields[15]
        in_front = depth - radius > camera.near
        with np.errstate(divide="ignore", invalid="ignore"):
            # Projection linearized at the box centre (Jacobian rows (f/d)(1, 0, x/d) and
            # -(f/d)(0, 1, y/d)), its exact extent over the box, plus a bound on the second-order rest:
            # f r^2 (1 + |x|/d) / (d (d - r)) for any point within r of the centre.
            slope_x, slope_y = x / depth, y / depth
            extent_x = np.zeros_like(depth)
            extent_y = np.zeros_like(depth)
            for axis in range(3):
                ax, ay, az = world_to_camera @ fields[3 + 3 * axis:6 + 3 * axis]
                extent_x += half[axis] * np.abs(ax + slope_x * az)
                extent_y += half[axis] * np.abs(ay + slope_y * az)
            rest = radius * radius / (depth * (depth - radius))
            half_u = camera.fx * (extent_x / depth + rest * (1.0 + np.abs(slope_x)))
            half_v = camera.fy * (extent_y / depth + rest * (1.0 + np.abs(slope_y)))
            centre_u = camera.cx + camera.fx * slope_x
            centre_v = camera.cy - camera.fy * slope_y
        hits = camera.covers_centre(centre_u - half_u, centre_u + half_u, centre_v - half_v, centre_v + half_v)
        keep = np.where(in_front, hits, depth + radius > camera.near)
        clusters = clusters[keep]
        if clusters.size == 0:
            return clusters
        offsets = np.take(self.offsets, clusters, axis=1)  # (9, cluster, triangle in cluster)
        rotation32 = world_to_camera.astype(np.float32)
        base = np.stack([x[keep], y[keep], z[keep]]).astype(np.float32)[:, :, None]  # cluster centres
        # Screen coordinates shifted by half a pixel, so that pixel centres sit on integers.
        fx, fy = np.float32(camera.fx), np.float32(-camera.fy)
        u_shift, v_shift = np.float32(camera.cx - 0.5), np.float32(camera.cy - 0.5)
        u_lo = u_hi = v_lo = v_hi = d_lo = d_hi = np.empty(0, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for k in range(3):
                corner = (rotation32 @ offsets[3 * k:3 * k + 3].reshape(3, -1)).reshape(3, clusters.size, -1)
                corner += base
                cam_x, cam_y, cam_z = corner.reshape(3, -1)
                inverse = np.float32(-1.0) / cam_z
                u = cam_x * inverse * fx + u_shift
                v = cam_y * inverse * fy + v_shift
                if k == 0:
                    u_lo, u_hi, v_lo, v_hi, d_lo, d_hi = u, u, v, v, cam_z, cam_z
                else:
                    u_lo, u_hi = np.minimum(u_lo, u), np.maximum(u_hi, u)
                    v_lo, v_hi = np.minimum(v_lo, v), np.maximum(v_hi, v)
                    d_lo, d_hi = np.maximum(d_lo, cam_z), np.minimum(d_hi, cam_z)  # z = -depth
        near_or_behind = d_lo >= -2.0 * camera.near  # the nearest corner, as z
        # float32 rounding of a bound inside or near the image is far below this margin; a bound far
        # outside decides nothing.
        margin = np.float32(SCREEN_MARGIN + SCREEN_MARGIN_RELATIVE * (max(camera.width, camera.height)
                                                                      + abs(camera.cx) + abs(camera.cy)))
        hits = ((np.ceil(u_lo - margin) <= np.floor(u_hi + margin)) & (u_hi >= -margin)
                & (u_lo <= camera.width - 1 + margin)
                & (np.ceil(v_lo - margin) <= np.floor(v_hi + margin)) & (v_hi >= -margin)
                & (v_lo <= camera.height - 1 + margin))
        wanted = (hits & ~near_or_behind) | (near_or_behind & (d_hi < -0.5 * camera.near))
        index = (clusters[:, None] * CLUSTER_SIZE + np.arange(CLUSTER_SIZE)).reshape(-1)
        return index[wanted]

    def _screen_groups(self, camera: _Camera) -> np.ndarray:
        """Groups whose bounding sphere may hold a visible pixel centre in front of the near plane."""
        x, y, z = camera.rotation.T @ (self.group_centres.T - camera.centre[:, None])
        radius = self.group_radii
        depth = -z
        keep = depth + radius > camera.near
        in_front = depth - radius > camera.near
        # Groups wholly in front: the projection of the sphere lies inside that of its bounding cube.
        with np.errstate(divide="ignore", invalid="ignore"):
            near_side, far_side = 1.0 / (depth - radius), 1.0 / (depth + radius)
            x_lo = np.minimum((x - radius) * near_side, (x - radius) * far_side)
            x_hi = np.maximum((x + radius) * near_side, (x + radius) * far_side)
            y_lo = np.minimum((y - radius) * near_side, (y - radius) * far_side)
            y_hi = np.maximum((y + radius) * near_side, (y + radius) * far_side)
        hits = camera.covers_centre(camera.cx + camera.fx * x_lo, camera.cx + camera.fx * x_hi,
                                    camera.cy - camera.fy * y_hi, camera.cy - camera.fy * y_lo)
        keep &= ~in_front | hits
        # Groups crossing the near plane: keep unless wholly outside a side plane of the frustum.
        for normal in camera.side_normals():
            keep &= normal[0] * x + normal[1] * y + normal[2] * z < radius
        return np.flatnonzero(keep)

    def _rasterize(self, camera: _Camera, index: np.ndarray, zbuffer: np.ndarray) -> None:
        """Exact stage, float64: clip at the near plane, enumerate pixel centres, z-buffer. Arrays are
        (corner, ..., triangle) so that every operation runs over contiguous rows."""
        world = self.corners[index].T.reshape(3, 3, -1) - camera.centre[None, :, None]
        # A BLAS product: its rounding depends on the CPU's kernel and on how many triangles share the call
        # (a few ulps); written out elementwise it would not, but costs 35% of a 1M-triangle pose.
        cam = np.matmul(camera.rotation.T, world)  # (corner, xyz, triangle)
        whole = np.all(-cam[:, 2] > camera.near, axis=0)
        if not np.all(whole):
            # Few triangles reach the near plane: clip them as (M, 3, 3) and append their pieces.
            pieces = _clip_near(np.transpose(cam[:, :, ~whole], (2, 0, 1)), camera.near)
            cam = np.concatenate([cam[:, :, whole], np.transpose(pieces, (1, 2, 0))], axis=2)
        d = -cam[:, 2]
        u = camera.cx + camera.fx * cam[:, 0] / d
        v = camera.cy - camera.fy * cam[:, 1] / d
        first_x, last_x, first_y, last_y = camera.centre_ranges(u.min(axis=0), u.max(axis=0),
                                                                v.min(axis=0), v.max(axis=0))
        span_x = np.maximum(last_x - first_x + 1, 0)
        counts = span_x * np.maximum(last_y - first_y + 1, 0)
        live = np.flatnonzero(counts > 0)
        if live.size == 0:
            return
        u, v, d = u[:, live], v[:, live], d[:, live]
        first_x, first_y, span_x, counts = first_x[live], first_y[live], span_x[live], counts[live]
        # Edge functions e_k(p) = a_k px + b_k py + c_k for the edge opposite corner k; their sum is
        # twice the signed screen area, and e_k / area are the screen barycentrics.
        nxt, prv = [1, 2, 0], [2, 0, 1]
        edges = np.stack([v[nxt] - v[prv], u[prv] - u[nxt], u[nxt] * v[prv] - u[prv] * v[nxt]])
        area = edges[0, 0] * u[0] + edges[1, 0] * v[0] + edges[2, 0]
        # Oriented so that inside means every e_k >= 0 (two-sided); 1/depth weights per corner.
        sign = np.where(area < 0, -1.0, 1.0)
        edges *= sign
        with np.errstate(divide="ignore"):
            weights = 1.0 / (d * (area * sign))  # area 0 (edge-on): inf weights, never inside below
        edges[:, :, area == 0] = -1.0
        # Most triangles of a dense mesh enclose a single pixel centre: test it without enumeration.
        single = counts == 1
        _z_test(zbuffer, camera.width, first_x[single], first_y[single], edges[:, :, single], weights[:, single])
        multiple = np.flatnonzero(~single)
        edges, weights = edges[:, :, multiple], weights[:, multiple]
        first_x, first_y, span_x, counts = first_x[multiple], first_y[multiple], span_x[multiple], counts[multiple]
        ends = np.cumsum(counts)
        starts = ends - counts
        chunk_start = 0
        while chunk_start < multiple.size:
            # Whole triangles per chunk, at most CANDIDATE_CHUNK candidates (one triangle may exceed it).
            chunk_end = int(np.searchsorted(ends, starts[chunk_start] + CANDIDATE_CHUNK, side="right"))
            chunk_end = max(chunk_end, chunk_start + 1)
            sel = np.arange(chunk_start, chunk_end)
            chunk_start = chunk_end
            owner = np.repeat(sel, counts[sel])
            # Row and column of each candidate inside its triangle's box (float division: exact here,
            # and much faster than integer divmod).
            local = (np.arange(owner.size) - (starts[owner] - starts[sel[0]])).astype(np.float64)
            span = span_x[owner].astype(np.float64)
            row = np.floor((local + 0.5) / span)
            column = local - row * span
            _z_test(zbuffer, camera.width, first_x[owner] + column.astype(np.int64),
                    first_y[owner] + row.astype(np.int64), np.take(edges, owner, axis=2),
                    np.take(weights, owner, axis=1))


def _z_test(zbuffer: np.ndarray, width: int, px: np.ndarray, py: np.ndarray, edges: np.ndarray,
            weights: np.ndarray) -> None:
    """Candidates (pixel px, py of a triangle with edge coefficients (3, 3, n) and 1/depth weights
    (3, n)): those inside lower the z-buffer to their perspective-correct depth."""
    if px.size == 0:
        return
    e = edges[0] * (px + 0.5) + edges[1] * (py + 0.5) + edges[2]  # (corner, candidate)
    inside = np.flatnonzero(np.minimum(np.minimum(e[0], e[1]), e[2]) >= 0)
    if inside.size == 0:
        return
    # 1/depth is affine in the screen: sum_k b_k / d_k with b_k = e_k / area (in the weights).
    inverse = (e[:, inside] * weights[:, inside]).sum(axis=0)
    np.minimum.at(zbuffer, py[inside] * width + px[inside], 1.0 / inverse)


class _Camera:
    """One view at probe resolution: world-to-camera (row form: cam = (X - C) @ R), pixel intrinsics."""

    def __init__(self, rotation: np.ndarray, centre: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                 width: int, height: int, near: float):
        self.rotation, self.centre = rotation, centre
        self.fx, self.fy, self.cx, self.cy = fx, fy, cx, cy
        self.width, self.height, self.near = width, height, near

    def centre_ranges(self, u_lo: np.ndarray, u_hi: np.ndarray, v_lo: np.ndarray, v_hi: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """First and last pixel column and row whose centre (i + 0.5) lies in the bounds, inside the
        image (first > last when none). Non-finite bounds give an empty range."""
        with np.errstate(invalid="ignore"):
            first_x = np.ceil(np.clip(u_lo - 0.5, -1.0, self.width)).astype(np.int64)
            last_x = np.floor(np.clip(u_hi - 0.5, -1.0, self.width)).astype(np.int64)
            first_y = np.ceil(np.clip(v_lo - 0.5, -1.0, self.height)).astype(np.int64)
            last_y = np.floor(np.clip(v_hi - 0.5, -1.0, self.height)).astype(np.int64)
        bad = ~(np.isfinite(u_lo) & np.isfinite(u_hi) & np.isfinite(v_lo) & np.isfinite(v_hi))
        first_x = np.maximum(first_x, 0)
        last_x = np.where(bad, -1, np.minimum(last_x, self.width - 1))
        first_y = np.maximum(first_y, 0)
        last_y = np.where(bad, -1, np.minimum(last_y, self.height - 1))
        return first_x, last_x, first_y, last_y

    def covers_centre(self, u_lo: np.ndarray, u_hi: np.ndarray, v_lo: np.ndarray, v_hi: np.ndarray) -> np.ndarray:
        """Whether the bounds enclose a pixel centre of the image (same rule as `centre_ranges`, in the
        bounds' own float type; NaN bounds enclose none)."""
        return ((np.ceil(u_lo - 0.5) <= np.floor(u_hi - 0.5)) & (u_hi >= 0.5) & (u_lo <= self.width - 0.5)
                & (np.ceil(v_lo - 0.5) <= np.floor(v_hi - 0.5)) & (v_hi >= 0.5) & (v_lo <= self.height - 0.5))

    def side_normals(self) -> list[np.ndarray]:
        """Outward unit normals (camera axes) of the four side planes of the frustum."""
        left, right = -self.cx / self.fx, (self.width - self.cx) / self.fx  # x / depth at the frame edges
        bottom, top = (self.cy - self.height) / self.fy, self.cy / self.fy  # y / depth
        # A point is inside when x <= right * depth, with depth = -z: x + right * z <= 0, and so on.
        normals = [np.array([1.0, 0.0, right]), np.array([-1.0, 0.0, -left]),
                   np.array([0.0, 1.0, top]), np.array([0.0, -1.0, -bottom])]
        return [n / np.linalg.norm(n) for n in normals]


def _clip_near(corners: np.ndarray, near: float) -> np.ndarray:
    """Triangles (camera axes, (M, 3, 3)) clipped to depth > near: wholly in front kept, wholly behind
    dropped, crossing ones cut into one triangle (one corner in front) or two (two corners in front)."""
    depth = -corners[:, :, 2]
    front = depth > near
    count = front.sum(axis=1)
    pieces = [corners[count == 3]]
    for n_front in (1, 2):
        sel = np.flatnonzero(count == n_front)
        if sel.size == 0:
            continue
        # Roll each triangle so that its odd corner (the one in front, or the one behind) comes first.
        odd = np.argmax(front[sel] if n_front == 1 else ~front[sel], axis=1)
        roll = (odd[:, None] + np.arange(3)) % 3
        p = np.take_along_axis(corners[sel], roll[:, :, None], axis=1)
        d = np.take_along_axis(depth[sel], roll, axis=1)
        t1 = ((d[:, 0] - near) / (d[:, 0] - d[:, 1]))[:, None]
        t2 = ((d[:, 0] - near) / (d[:, 0] - d[:, 2]))[:, None]
        q1 = p[:, 0] + (p[:, 1] - p[:, 0]) * t1  # on the near plane, along edge 0-1
        q2 = p[:, 0] + (p[:, 2] - p[:, 0]) * t2  # along edge 0-2
        if n_front == 1:
            pieces.append(np.stack([p[:, 0], q1, q2], axis=1))
        else:
            pieces.append(np.stack([q1, p[:, 1], p[:, 2]], axis=1))
            pieces.append(np.stack([q1, p[:, 2], q2], axis=1))
    return np.concatenate(pieces)
