"""The depth statistic: how a set of depths (a depth map's pixels, the points or bundles in view) becomes
one representative depth Zbar (METHOD.md "The depth statistic"). Every depth source that reduces many
depths uses `representative_depth`, so the reference and the target are measured the same way.

- `median` (the default, the paper's): the median of the depths (with weights: the weighted median).
- `smooth`: a smoothly weighted mean of log depth over the central quantile band, exponentiated. Sort the
  depths z_(1) <= ... <= z_(n) with weights w_(i) (1 each by default), W = sum w; the mid-rank quantile of
  z_(i) is p_i = (w_(1) + ... + w_(i-1) + w_(i) / 2) / W; its band weight is
  k(p) = (1 - ((p - 1/2) / h)^2)^2 for |p - 1/2| < h, else 0, with h = SMOOTH_HALF_WIDTH = 0.3 (the band
  0.2 .. 0.8); then Zbar = exp(sum w_(i) k(p_i) ln z_(i) / sum w_(i) k(p_i)).

Why `smooth`: the median of a view jumps by the whole gap between two surfaces when the median pixel
crosses an occlusion edge (a pillar entering, a doorway, a foreground object covering half the frame); no
per-frame fixed point exists there. The smooth statistic moves by at most about the gap times the share of
the band that changes: a pixel (or a column of pixels) switching surfaces moves it by O(its share of the
image), and a depth moving continuously moves it continuously (ties swap with equal values, and k is C1).
Like the median it ignores the nearest and farthest fifth of the depths, and it is scale-equivariant:
smooth(c z) = c smooth(z), which keeps Pi gauge-invariant.

"Seen" depths are finite and positive; NaN, inf (a pixel that sees nothing) and non-positive values are
left out. Nothing seen gives NaN.
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import DepthError, quote

STATISTICS = ("median", "smooth")
DEFAULT_STATISTIC = "median"
# Half-width of the smooth statistic's quantile band around the median: weights vanish outside 0.2 .. 0.8.
SMOOTH_HALF_WIDTH = 0.3


def normalize_statistic(name: str) -> str:
    """The canonical statistic name ('median', 'smooth'); case and blanks ignored. Raises DepthError."""
    key = str(name).strip().lower()
    if key not in STATISTICS:
        raise DepthError(f"the depth statistic must be one of {', '.join(STATISTICS)}; got {quote(name)}")
    return key


def statistic_label(statistic: str) -> str:
    """What a probe's description adds for its statistic: nothing for the default (the median)."""
    return "" if statistic == DEFAULT_STATISTIC else f", {statistic} statistic"


def band_weight(p: np.ndarray, half_width: float = SMOOTH_HALF_WIDTH) -> np.ndarray:
    """k(p) = (1 - ((p - 1/2) / h)^2)^2 inside the band |p - 1/2| < h, 0 outside (continuous with its slope)."""
    x = (np.asarray(p, dtype=np.float64) - 0.5) / half_width
    return np.where(np.abs(x) < 1.0, (1.0 - x * x) ** 2, 0.0)


def representative_depth(depths: np.ndarray, weights: np.ndarray | None = None,
                         statistic: str = DEFAULT_STATISTIC) -> float | np.ndarray:
    """Zbar of `depths` with the named statistic: a float for a 1-D array, one value per row (N,) for a
    2-D array (N, P) (each row a view: unseen entries NaN or inf). `weights` (P,) or like `depths`, >= 0,
    weigh each depth (1 each when None). NaN where nothing (or only zero weight) is seen."""
    statistic = normalize_statistic(statistic)
    values = np.asarray(depths, dtype=np.float64)
    single = values.ndim == 1
    rows = values.reshape(1, -1) if single else values.reshape(values.shape[0], -1)
    with np.errstate(invalid="ignore"):
        seen = np.isfinite(rows) & (rows > 0)
    if weights is None:
        if statistic == "median":
            out = _plain_median(rows, seen)
            return float(out[0]) if single else out
        weight = seen.astype(np.float64)
    else:
        weight = np.broadcast_to(np.asarray(weights, dtype=np.float64).reshape(
            (1, -1) if np.ndim(weights) == 1 else rows.shape), rows.shape)
        if np.any(~np.isfinite(weight[seen])) or np.any(weight[seen] < 0):
            raise DepthError("depth weights must be finite and non-negative")
        weight = np.where(seen, weight, 0.0)
    # Sorted per row, unseen entries last (their weight is 0, so they never count).
    order = np.argsort(np.where(seen, rows, np.inf), axis=1, kind="stable")
    z = np.take_along_axis(np.where(seen, rows, 1.0), order, axis=1)
    w = np.take_along_axis(weight, order, axis=1)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = np.cumsum(w, axis=1) - w
        p = (before + 0.5 * w) / total[:, None]
        if statistic == "median":
            out = _weighted_median(z, w, before, total)
        else:
            k = w * band_weight(p)
            out = np.exp(np.sum(k * np.log(z), axis=1) / k.sum(axis=1))
    out = np.where(total > 0, out, np.nan)
    return float(out[0]) if single else out


def _plain_median(rows: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """np.median of each row's seen entries (exactly what the probes computed before the statistic was
    selectable), NaN for a row that sees nothing."""
    if rows.shape[0] == 1:
        kept = rows[0][seen[0]]
        return np.array([np.median(kept) if kept.size else np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, said by the caller
        return np.nanmedian(np.where(seen, rows, np.nan), axis=1)


def _weighted_median(z: np.ndarray, w: np.ndarray, before: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Per row of sorted values: the first value whose cumulative weight reaches half the total; where it
    reaches exactly half, the mean of that value and the next weighted one (so unit weights give np.median)."""
    upto = before + w
    half = 0.5 * total[:, None]
    first = np.argmax((upto >= half) & (w > 0), axis=1)
    rows = np.arange(z.shape[0])
    value = z[rows, first]
    exact = np.isclose(upto[rows, first], half[:, 0], rtol=1e-12, atol=0.0)
    # The next value with weight after `first`.
    later = (np.arange(z.shape[1])[None, :] > first[:, None]) & (w > 0)
    has_next = later.any(axis=1)
    following = z[rows, np.argmax(later, axis=1)]
    return np.where(exact & has_next, 0.5 * (value + following), value)


def check_same_statistic(reference: object, target: object) -> None:
    """Both sides must reduce their depths with the same statistic, or the transfer is biased (a median
    against a smooth mean of the same scene differ). Sources of one value (fixed, per-frame, bounds) have
    no statistic and go with either. Raises DepthError."""
    ours, theirs = getattr(reference, "statistic", None), getattr(target, "statistic", None)
    if ours is not None and theirs is not None and ours != theirs:
        raise DepthError(f"the reference depth uses the {ours} statistic and the target depth the {theirs}: "
                         "both sides must use the same one")
