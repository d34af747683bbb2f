"""Camera trajectories and the conversions between pose conventions.

Conventions (METHOD.md): a pose is a rotation R (camera-to-world, 3x3, det +1) and a centre C (world
position), in Blender camera axes: x right, y up, looking down -z. OpenCV axes are x right, y down,
z forward. Everything is float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import TrajectoryError, quote

# Blender/OpenGL camera axes <-> OpenCV camera axes: flip y and z (its own inverse).
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0])

# Blender keeps transforms in float32: its matrices are orthonormal only to ~1e-7, which we accept and
# project; anything further off is a real error.
ORTHONORMAL_TOLERANCE = 1e-4

SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")

# Magnitudes a trajectory may hold. Blender keys positions as float32 (largest 3.4e38, smallest normal
# 1.2e-38), and a transfer multiplies a depth ratio (up to MAX/MIN), a step and a position in float64:
# with every coordinate, depth, focal length and size within [MIN_MAGNITUDE, MAX_COORDINATE] no such
# product overflows or turns denormal, so bad numbers are refused here, by name, instead of overflowing
# later. A result that leaves the range is refused the same way.
MAX_COORDINATE = 1e30
MIN_MAGNITUDE = 1e-30
# Frame numbers and rates: frame / fps in microseconds (RealEstate10K timestamps) must fit an int64.
MAX_FRAME = 1e9
FPS_RANGE = (1e-3, 1e6)
# Blender's largest render resolution.
MAX_RESOLUTION = 65536


def in_range(values: np.ndarray | float, low: float, high: float) -> np.ndarray:
    """Whether each value is finite and low <= |value| <= high (NaN-safe, no warnings)."""
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return (magnitude >= low) & (magnitude <= high)


def positive_in_range(values: np.ndarray | float) -> np.ndarray:
    """Whether each value is a usable positive size (depth, focal length, sensor, clip distance):
    finite, in [MIN_MAGNITUDE, MAX_COORDINATE]."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (values > 0) & in_range(values, MIN_MAGNITUDE, MAX_COORDINATE)


# Blender stores keyframes as float32: warn when that storage moves the written positions by more than
# this fraction of the median step (the add-on and the command line use the same rule).
PRECISION_WARNING_FRACTION = 0.01


def float32_quantization(centres: np.ndarray) -> tuple[float, float]:
    """(largest float32 spacing of the path's coordinates, median non-zero step length): Blender stores
    the keyframes as float32, so steps near the spacing are lost."""
    centres = np.asarray(centres, dtype=np.float64)
    spacing = float(np.spacing(np.abs(centres).astype(np.float32)).max())
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    moving = steps[steps > 0]
    return spacing, float(np.median(moving)) if moving.size else 0.0


def float32_precision_warning(centres: np.ndarray) -> str | None:
    """The warning to give when float32 keyframes quantize the path by more than
    PRECISION_WARNING_FRACTION of its median step, else None."""
    quantization, median_step = float32_quantization(centres)
    if not quantization > PRECISION_WARNING_FRACTION * median_step:
        return None
    share = f"{100 * quantization / median_step:.3g}% of" if median_step > 0 else "more than"
    return (f"float32 precision: positions are quantized to {quantization:.3g}, {share} the median step "
            f"{median_step:.3g}; keep the target scene near the origin")


@dataclass(frozen=True)
class Intrinsics:
    """Camera sensor and render frame, Blender's way. `width` and `height` are the effective render size
    in pixels (resolution percentage applied). The focal length lives on the trajectory (it may be
    animated)."""

    sensor_width: float = 36.0
    sensor_height: float = 24.0
    sensor_fit: str = "AUTO"
    shift_x: float = 0.0
    shift_y: float = 0.0
    width: int = 1920
    height: int = 1080
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0

    def __post_init__(self) -> None:
        if self.sensor_fit not in SENSOR_FITS:
            raise TrajectoryError(f"sensor fit must be one of {', '.join(SENSOR_FITS)}, not {quote(self.sensor_fit)}")
        try:  # Python ints of any size and numpy scalars alike (a huge int is not a float64)
            values = tuple(float(v) for v in (self.sensor_width, self.sensor_height, self.width, self.height,
                                              self.pixel_aspect_x, self.pixel_aspect_y, self.shift_x, self.shift_y))
        except (TypeError, ValueError, OverflowError):
            raise TrajectoryError("sensor size, resolution, pixel aspect and shift must be numbers") from None
        shift, values = values[6:], values[:6]
        if not all(np.isfinite(v) and v > 0 for v in values):
            raise TrajectoryError("sensor size, resolution and pixel aspect must be finite and positive")
        if not np.all(positive_in_range(values)):
            raise TrajectoryError(f"sensor size and pixel aspect must lie within {MIN_MAGNITUDE:g} .. "
                                  f"{MAX_COORDINATE:g}")
        if max(self.width, self.height) > MAX_RESOLUTION:
            raise TrajectoryError(f"a render of {self.width} x {self.height} pixels is larger than Blender's "
                                  f"{MAX_RESOLUTION} x {MAX_RESOLUTION}")
        if not np.all(np.isfinite(shift)):
            raise TrajectoryError("lens shift must be finite")
        if not np.all(in_range(shift, 0.0, MAX_COORDINATE)):
            raise TrajectoryError(f"lens shift must lie within +-{MAX_COORDINATE:g}")

    def fitted_sensor(self) -> tuple[str, float, float]:
        """(fit actually used, sensor size in mm along it, reference side S in x pixels) as Blender
        computes the view plane (BKE_camera_params_compute_viewplane)."""
        ycor = self.pixel_aspect_y / self.pixel_aspect_x
        fit = self.sensor_fit
        if fit == "AUTO":
            fit = "HORIZONTAL" if self.pixel_aspect_x * self.width >= self.pixel_aspect_y * self.height else "VERTICAL"
            size = self.sensor_width
        else:
            size = self.sensor_width if fit == "HORIZONTAL" else self.sensor_height
        side = float(self.width) if fit == "HORIZONTAL" else ycor * float(self.height)
        return fit, float(size), side

    def pixel_intrinsics(self, lens: np.ndarray | float) -> np.ndarray:
        """fx, fy, cx, cy in pixels for each focal length (mm): shape (..., 4)."""
        lens = np.asarray(lens, dtype=np.float64)
        _, size, side = self.fitted_sensor()
        ycor = self.pixel_aspect_y / self.pixel_aspect_x
        fx = lens / size * side
        fy = fx / ycor
        cx = np.full_like(fx, self.width / 2.0 - self.shift_x * side)
        cy = np.full_like(fx, self.height / 2.0 + self.shift_y * side / ycor)
        return np.stack([fx, fy, cx, cy], axis=-1)

    def normalized_intrinsics(self, lens: np.ndarray | float) -> np.ndarray:
        """fx/W, fy/H, cx/W, cy/H: shape (..., 4)."""
        return self.pixel_intrinsics(lens) / np.array([self.width, self.height, self.width, self.height])

    def vertical_fov(self, lens: np.ndarray | float) -> np.ndarray:
        """Vertical field of view in radians."""
        fy = self.pixel_intrinsics(lens)[..., 1]
        return 2.0 * np.arctan(self.height / (2.0 * fy))

    def horizontal_fov(self, lens: np.ndarray | float) -> np.ndarray:
        """Horizontal field of view in radians."""
        fx = self.pixel_intrinsics(lens)[..., 0]
        return 2.0 * np.arctan(self.width / (2.0 * fx))

    @classmethod
    def lens_from_fx(cls, fx: np.ndarray | float, intrinsics: Intrinsics) -> np.ndarray:
        """The focal length in mm that gives `fx` pixels on `intrinsics`' sensor and frame."""
        _, size, side = intrinsics.fitted_sensor()
        return np.asarray(fx, dtype=np.float64) * size / side


def _as_rotations(rotations: np.ndarray, what: str = "rotations") -> np.ndarray:
    r = np.asarray(rotations, dtype=np.float64)
    if r.ndim != 3 or r.shape[1:] != (3, 3):
        raise TrajectoryError(f"{what} must have shape (N, 3, 3), got {r.shape}")
    if not np.all(np.isfinite(r)):
        bad = np.flatnonzero(~np.all(np.isfinite(r), axis=(1, 2)))
        raise TrajectoryError(f"{what} hold non-finite values at index {int(bad[0])}")
    error, det = rotation_defects(r)
    bad = np.flatnonzero((error > ORTHONORMAL_TOLERANCE) | (det < 0))
    if bad.size:
        i = int(bad[0])
        raise TrajectoryError(
            f"{what} at index {i} is not a rotation (orthonormality error {error[i]:.2g}, det {det[i]:.3g})"
        )
    # Re-project only what is off by more than float64 round-off (float32 matrices from Blender).
    off = error > 1e-12
    if np.any(off):
        r = r.copy()
        r[off] = project_to_rotation(r[off])
    return r


def rotation_defects(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 3x3 matrix of a batch: the orthonormality error max |R^T R - I| and the determinant."""
    return np.abs(np.matmul(np.swapaxes(r, 1, 2), r) - np.eye(3)).max(axis=(1, 2)), determinant3(r)


def pose_rotations(matrices: np.ndarray) -> np.ndarray:
    """Camera-to-world rotations of world matrices (N, 4, 4) or (N, 3, 4) with any scale (even non-uniform,
    mirrored or sheared through a parent) removed: the nearest rotation of each 3x3 block. A matrix with a
    zero axis has no orientation."""
    blocks = np.asarray(matrices, dtype=np.float64)[:, :3, :3]
    if not np.all(np.isfinite(blocks)):  # the SVD would fail with "did not converge", naming nothing
        raise TrajectoryError("a camera matrix holds NaN or infinite values: it has no orientation")
    if np.any(np.abs(determinant3(blocks)) < 1e-30):
        raise TrajectoryError("the camera is scaled to zero at some frame: it has no orientation")
    return project_to_rotation(blocks)


def determinant3(r: np.ndarray) -> np.ndarray:
    """Determinants of a batch of 3x3 matrices (the triple product; faster than np.linalg.det)."""
    return np.einsum("ni,ni->n", r[:, :, 0], np.cross(r[:, :, 1], r[:, :, 2]))


def project_to_rotation(r: np.ndarray) -> np.ndarray:
    """The nearest rotation matrix (polar decomposition via SVD), batched."""
    u, _, vt = np.linalg.svd(r)
    d = np.sign(np.linalg.det(u @ vt)).reshape(u.shape[:-2])
    u[..., :, 2] *= d[..., None]
    return u @ vt


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A camera animation: per-frame camera-to-world rotation and centre (Blender axes), frame numbers,
    frames per second, per-frame focal length (mm) and the sensor/frame intrinsics."""

    rotations: np.ndarray
    centres: np.ndarray
    frames: np.ndarray | None = None
    fps: float = 24.0
    lens: np.ndarray | float = 50.0
    intrinsics: Intrinsics = field(default_factory=Intrinsics)
    clip_start: float = 0.1
    clip_end: float = 1000.0

    def __post_init__(self) -> None:
        rotations = _as_rotations(self.rotations)
        centres = np.asarray(self.centres, dtype=np.float64)
        n = rotations.shape[0]
        if centres.shape != (n, 3):
            raise TrajectoryError(f"centres must have shape ({n}, 3) to match the rotations, got {centres.shape}")
        if n < 2:
            raise TrajectoryError(f"a trajectory needs at least two frames, got {n}")
        if not np.all(np.isfinite(centres)):
            i = int(np.flatnonzero(~np.all(np.isfinite(centres), axis=1))[0])
            raise TrajectoryError(f"centres hold non-finite values at index {i}")
        if not np.all(in_range(centres, 0.0, MAX_COORDINATE)):
            i = int(np.flatnonzero(~np.all(in_range(centres, 0.0, MAX_COORDINATE), axis=1))[0])
            raise TrajectoryError(f"centre at index {i} lies beyond {MAX_COORDINATE:g} from the origin (what "
                                  "float32 keyframes and the transfer's arithmetic can hold)")
        frames = np.arange(n, dtype=np.float64) if self.frames is None else np.asarray(self.frames, np.float64)
        if frames.shape != (n,):
            raise TrajectoryError(f"frames must have {n} entries, got shape {frames.shape}")
        if not np.all(np.isfinite(frames)) or np.any(np.diff(frames) <= 0):
            raise TrajectoryError("frame numbers must be finite and strictly increasing")
        if not np.all(in_range(frames, 0.0, MAX_FRAME)):
            raise TrajectoryError(f"frame numbers must lie within +-{MAX_FRAME:g}")
        lens = np.broadcast_to(np.asarray(self.lens, dtype=np.float64), (n,)).copy()
        if not np.all(np.isfinite(lens) & (lens > 0)):
            raise TrajectoryError("focal lengths must be finite and positive")
        if not np.all(positive_in_range(lens)):
            raise TrajectoryError(f"focal lengths must lie within {MIN_MAGNITUDE:g} .. {MAX_COORDINATE:g} mm")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise TrajectoryError(f"fps must be finite and positive, got {self.fps}")
        if not FPS_RANGE[0] <= self.fps <= FPS_RANGE[1]:
            raise TrajectoryError(f"fps must lie within {FPS_RANGE[0]:g} .. {FPS_RANGE[1]:g}, got {self.fps:g}")
        if not (0 < self.clip_start < self.clip_end and np.isfinite(self.clip_end)):
            raise TrajectoryError("clip range must satisfy 0 < clip_start < clip_end < inf")
        if not np.all(positive_in_range([self.clip_start, self.clip_end])):
            raise TrajectoryError(f"clip range must lie within {MIN_MAGNITUDE:g} .. {MAX_COORDINATE:g}")
        for name, value in (("rotations", rotations), ("centres", centres), ("frames", frames), ("lens", lens)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.rotations.shape[0]

    @property
    def n_frames(self) -> int:
        return self.rotations.shape[0]

    def replace(self, **changes: object) -> Trajectory:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def matrices(self) -> np.ndarray:
        """Camera-to-world 4x4 matrices in Blender axes, shape (N, 4, 4)."""
        return compose(self.rotations, self.centres)

    def steps(self) -> np.ndarray:
        """Per-frame translation C_t - C_{t-1}, shape (N-1, 3)."""
        return np.diff(self.centres, axis=0)

    def path_length(self) -> float:
        return float(np.linalg.norm(self.steps(), axis=1).sum())

    def relative_rotations(self) -> np.ndarray:
        """R_0^T R_t for every frame."""
        return np.matmul(self.rotations[0].T, self.rotations)

    def pixel_intrinsics(self) -> np.ndarray:
        """Per-frame fx, fy, cx, cy in pixels, shape (N, 4)."""
        return self.intrinsics.pixel_intrinsics(self.lens)

    def w2c_opencv(self) -> tuple[np.ndarray, np.ndarray]:
        """World-to-camera rotation and translation in OpenCV axes: (N,3,3), (N,3)."""
        return c2w_to_w2c(blender_to_opencv(self.rotations), self.centres)

    @classmethod
    def from_matrices(cls, matrices: np.ndarray, **kwargs: object) -> Trajectory:
        """From camera-to-world 4x4 (or 3x4) matrices in Blender axes; any scale in the matrix is
        removed (pose_rotations)."""
        m = np.asarray(matrices, dtype=np.float64)
        if m.ndim != 3 or m.shape[1:] not in ((4, 4), (3, 4)):
            raise TrajectoryError(f"matrices must have shape (N, 4, 4) or (N, 3, 4), got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise TrajectoryError("matrices hold non-finite values")
        return cls(rotations=pose_rotations(m), centres=m[:, :3, 3], **kwargs)  # type: ignore[arg-type]


def compose(rotations: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """4x4 matrices [R C; 0 1] from rotations (N,3,3) and translations (N,3)."""
    rotations = np.asarray(rotations, dtype=np.float64)
    n = rotations.shape[0]
    m = np.zeros((n, 4, 4))
    m[:, :3, :3] = rotations
    m[:, :3, 3] = centres
    m[:, 3, 3] = 1.0
    return m


def blender_to_opencv(rotations_c2w: np.ndarray) -> np.ndarray:
    """Camera-to-world rotation in Blender camera axes -> the same camera in OpenCV camera axes (and
    back: the flip is its own inverse)."""
    return np.asarray(rotations_c2w, dtype=np.float64) @ BLENDER_TO_OPENCV


opencv_to_blender = blender_to_opencv


def c2w_to_w2c(rotations_c2w: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R_c2w, C) -> (R_w2c, t) with R_w2c = R_c2w^T and t = -R_w2c C."""
    r = np.swapaxes(np.asarray(rotations_c2w, dtype=np.float64), -1, -2)
    t = -np.einsum("...ij,...j->...i", r, np.asarray(centres, dtype=np.float64))
    return r, t


def w2c_to_c2w(rotations_w2c: np.ndarray, translations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R_w2c, t) -> (R_c2w, C) with C = -R_w2c^T t."""
    r = np.swapaxes(np.asarray(rotations_w2c, dtype=np.float64), -1, -2)
    c = -np.einsum("...ij,...j->...i", r, np.asarray(translations, dtype=np.float64))
    return r, c


def matrix_to_quaternion(rotations: np.ndarray, continuous: bool = True) -> np.ndarray:
    """Hamilton quaternions (w, x, y, z) of rotation matrices (N,3,3). With `continuous`, signs are chosen
    so that consecutive quaternions have a non-negative dot product (no flips in animation curves);
    otherwise w >= 0."""
    r = np.asarray(rotations, dtype=np.float64)
    single = r.ndim == 2
    r = r.reshape(-1, 3, 3)
    # Shepperd's method: pick the largest of 4 candidate denominators for numerical stability.
    m00, m11, m22 = r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]
    candidates = np.stack([m00 + m11 + m22, m00, m11, m22], axis=1)
    choice = np.argmax(candidates, axis=1)
    q = np.empty((r.shape[0], 4))
    for k in range(4):
        sel = choice == k
        if not np.any(sel):
            continue
        m = r[sel]
        if k == 0:
            s = 2.0 * np.sqrt(np.maximum(1.0 + m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2], 0.0))
            q[sel] = np.stack([0.25 * s, (m[:, 2, 1] - m[:, 1, 2]) / s, (m[:, 0, 2] - m[:, 2, 0]) / s,
                               (m[:, 1, 0] - m[:, 0, 1]) / s], axis=1)
        elif k == 1:
            s = 2.0 * np.sqrt(np.maximum(1.0 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], 0.0))
            q[sel] = np.stack([(m[:, 2, 1] - m[:, 1, 2]) / s, 0.25 * s, (m[:, 0, 1] + m[:, 1, 0]) / s,
                               (m[:, 0, 2] + m[:, 2, 0]) / s], axis=1)
        elif k == 2:
            s = 2.0 * np.sqrt(np.maximum(1.0 + m[:, 1, 1] - m[:, 0, 0] - m[:, 2, 2], 0.0))
            q[sel] = np.stack([(m[:, 0, 2] - m[:, 2, 0]) / s, (m[:, 0, 1] + m[:, 1, 0]) / s, 0.25 * s,
                               (m[:, 1, 2] + m[:, 2, 1]) / s], axis=1)
        else:
            s = 2.0 * np.sqrt(np.maximum(1.0 + m[:, 2, 2] - m[:, 0, 0] - m[:, 1, 1], 0.0))
            q[sel] = np.stack([(m[:, 1, 0] - m[:, 0, 1]) / s, (m[:, 0, 2] + m[:, 2, 0]) / s,
                               (m[:, 1, 2] + m[:, 2, 1]) / s, 0.25 * s], axis=1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q = make_quaternions_continuous(q) if continuous else q * np.where(q[:, :1] < 0, -1.0, 1.0)
    return q[0] if single else q


def make_quaternions_continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs so each quaternion is in the hemisphere of the previous one (vectorized: the sign of
    each is the running product of the signs of consecutive dot products)."""
    q = np.array(q, dtype=np.float64, copy=True)
    if q.shape[0] < 2:
        return q
    dots = np.einsum("ij,ij->i", q[1:], q[:-1])
    flips = np.concatenate([[1.0], np.cumprod(np.where(dots < 0, -1.0, 1.0))])
    return q * flips[:, None]


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices from Hamilton quaternions (w, x, y, z); normalizes first."""
    q = np.asarray(q, dtype=np.float64)
    single = q.ndim == 1
    q = q.reshape(-1, 4)
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    if np.any(norm == 0) or not np.all(np.isfinite(q)):
        raise TrajectoryError("quaternions must be finite and non-zero")
    w, x, y, z = (q / norm).T
    r = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=1).reshape(-1, 3, 3)
    return r[0] if single else r


def slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation between unit quaternions, batched over rows."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64).copy()
    u = np.asarray(u, dtype=np.float64)[:, None]
    dot = np.einsum("ij,ij->i", q0, q1)
    q1[dot < 0] *= -1.0
    dot = np.abs(dot)[:, None]
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-9
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1.0 - u, np.sin((1.0 - u) * theta) / safe)
    w1 = np.where(near, u, np.sin(u * theta) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=1, keepdims=True)


RESAMPLE_METHODS = ("linear", "smooth")


def parabola_slopes(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """d values / d time at every sample: the slope of the parabola through each sample and its two
    neighbours (one-sided parabolas at the ends; a line with two samples). Second-order accurate on uneven
    spacing and exact for straight, evenly paced moves, so a Hermite curve through them is tangent-continuous
    and leaves a linear move linear."""
    t = np.asarray(times, dtype=np.float64)
    p = np.asarray(values, dtype=np.float64)
    if t.size == 2:
        return np.broadcast_to((p[1] - p[0]) / (t[1] - t[0]), p.shape).copy()
    h = np.diff(t)
    h0, h1 = h[:-1], h[1:]
    shape = (-1,) + (1,) * (p.ndim - 1)
    d0, d1 = np.diff(p, axis=0)[:-1], np.diff(p, axis=0)[1:]
    slopes = np.empty_like(p)
    slopes[1:-1] = ((h1 / (h0 * (h0 + h1))).reshape(shape) * d0 + (h0 / (h1 * (h0 + h1))).reshape(shape) * d1)
    a, b = h[0], h[1]
    slopes[0] = (-(2 * a + b) / (a * (a + b)) * p[0] + (a + b) / (a * b) * p[1] - a / (b * (a + b)) * p[2])
    a, b = h[-1], h[-2]
    slopes[-1] = ((2 * a + b) / (a * (a + b)) * p[-1] - (a + b) / (a * b) * p[-2] + a / (b * (a + b)) * p[-3])
    return slopes


def hermite_sample(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The cubic Hermite curve through (times, values) with parabola_slopes tangents, evaluated at `at`
    (clamped to the span: a time past the end holds the last value)."""
    t = np.asarray(times, dtype=np.float64)
    p = np.asarray(values, dtype=np.float64)
    at = np.clip(np.asarray(at, dtype=np.float64), t[0], t[-1])
    slopes = parabola_slopes(t, p)
    index = np.clip(np.searchsorted(t, at, side="right") - 1, 0, len(t) - 2)
    h = t[index + 1] - t[index]
    u = (at - t[index]) / h
    shape = (-1,) + (1,) * (p.ndim - 1)
    u, h = u.reshape(shape), h.reshape(shape)
    u2, u3 = u * u, u * u * u
    # p0 + (p1 - p0) * h01 rather than p0 * h00 + p1 * h01: a constant (a lens that never changes) stays
    # exactly constant instead of picking up rounding (h00 + h01 is 1 only up to an ulp).
    return (p[index] + (-2 * u3 + 3 * u2) * (p[index + 1] - p[index]) + (u3 - 2 * u2 + u) * h * slopes[index]
            + (u3 - u2) * h * slopes[index + 1])


def sample_poses(trajectory: Trajectory, at: np.ndarray, method: str = "smooth"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rotations, centres, lens) of `trajectory` at frame times `at` (clamped to its span). "linear":
    centres and lens piecewise linear, rotations by slerp. "smooth": centres, lens and the (sign-continuous)
    quaternions on tangent-continuous cubic Hermite curves (hermite_sample), quaternions renormalized."""
    if method not in RESAMPLE_METHODS:
        raise TrajectoryError(f"resampling method must be one of {', '.join(RESAMPLE_METHODS)}, not {quote(method)}")
    old = trajectory.frames
    at = np.clip(np.asarray(at, dtype=np.float64), old[0], old[-1])
    q = matrix_to_quaternion(trajectory.rotations)
    if method == "smooth":
        quaternions = hermite_sample(old, q, at)
        quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
        return (quaternion_to_matrix(quaternions), hermite_sample(old, trajectory.centres, at),
                hermite_sample(old, trajectory.lens, at))
    index = np.clip(np.searchsorted(old, at, side="right") - 1, 0, len(old) - 2)
    u = (at - old[index]) / (old[index + 1] - old[index])
    rotations = quaternion_to_matrix(slerp(q[index], q[index + 1], u))
    centres = trajectory.centres[index] + u[:, None] * (trajectory.centres[index + 1] - trajectory.centres[index])
    lens = trajectory.lens[index] + u * (trajectory.lens[index + 1] - trajectory.lens[index])
    return rotations, centres, lens


def resample(trajectory: Trajectory, n_frames: int, *, times: np.ndarray | None = None,
             method: str = "linear", fps: float | None = None) -> Trajectory:
    """The same move over `n_frames` frames. By default the new frames spread evenly over the original
    frame span; `times` gives the original frame time of each new frame instead (clamped to the span).
    `method`: see sample_poses. The new frames are numbered from the original first frame; fps is `fps`
    when given, else scaled so the clip keeps its duration."""
    if int(n_frames) < 2:
        raise TrajectoryError(f"cannot resample to fewer than two frames ({n_frames})")
    n_frames = int(n_frames)
    old = trajectory.frames
    at = np.linspace(old[0], old[-1], n_frames) if times is None else np.asarray(times, dtype=np.float64)
    if at.shape != (n_frames,):
        raise TrajectoryError(f"resampling needs {n_frames} times, got shape {at.shape}")
    rotations, centres, lens = sample_poses(trajectory, at, method)
    if fps is None:
        duration_frames = max(old[-1] - old[0], 1e-12)
        fps = trajectory.fps * (n_frames - 1) / duration_frames
    return trajectory.replace(rotations=rotations, centres=centres, lens=lens, fps=float(fps),
                              frames=old[0] + np.arange(n_frames, dtype=np.float64))


def reanchor(trajectory: Trajectory, start_rotation: np.ndarray, start_centre: np.ndarray,
             scale: float = 1.0) -> Trajectory:
    """The same move started from another pose: R'_t = Q R_t with Q = R'_0 R_0^T, and
    C'_t = C'_0 + scale * Q (C_t - C_0)."""
    start_rotation = _as_rotations(np.asarray(start_rotation)[None], "start rotation")[0]
    start_centre = np.asarray(start_centre, dtype=np.float64)
    q = start_rotation @ trajectory.rotations[0].T
    rotations = np.matmul(q, trajectory.rotations)
    centres = start_centre + scale * (trajectory.centres - trajectory.centres[0]) @ q.T
    return trajectory.replace(rotations=rotations, centres=centres)


def rotation_angle(rotations: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) of each rotation matrix: atan2(sin, cos) from its skew part and trace, exact to
    rounding near 0 and pi (arccos of the trace alone loses sqrt(eps) ~ 1e-8 rad near 0)."""
    r = np.asarray(rotations, dtype=np.float64)
    trace = np.einsum("...ii->...", r)
    skew = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], axis=-1)
    return np.arctan2(np.linalg.norm(skew, axis=-1) / 2.0, (trace - 1.0) / 2.0)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world rotation (Blender axes) of a camera at `eye` looking at `target`; batched."""
    eye = np.atleast_2d(np.asarray(eye, dtype=np.float64))
    target = np.atleast_2d(np.asarray(target, dtype=np.float64))
    up = np.broadcast_to(np.asarray(up, dtype=np.float64), eye.shape)
    back = eye - target
    back /= np.linalg.norm(back, axis=1, keepdims=True)
    right = np.cross(up, back)
    norm = np.linalg.norm(right, axis=1, keepdims=True)
    if np.any(norm < 1e-12):
        raise TrajectoryError("look_at: the view direction is parallel to the up vector")
    right /= norm
    true_up = np.cross(back, right)
    r = np.stack([right, true_up, back], axis=2)
    return r
