"""What the ParaScale viewport overlay and readout show, as plain numbers: every polyline, colour,
marker, graph vertex and text line, computed from the real Blender camera and the TransferRecord the
transfer stored on it. Nothing here touches `gpu`; preview_draw.py only turns an `Overlay` into batches.

What is drawn (3D viewport, scene.parascale.show_overlay):
- the calibrated path (the transferred camera's centres, thick) and the reference path (thin), the latter
  re-anchored at the target start pose and scaled into the target frame by the global scale
  s = depth_target[0] / depth_reference[0], so the two shapes compare; both coloured per frame by Pi on
  one shared colour ramp (see `PI_RAMP`);
- at the current frame: a cross at each path's camera position, the view axis from the camera centre to
  the probed target depth and a cross there (centre + depth_target * forward);
- a Pi-over-time graph in the lower-left corner (log scale: the ratio between two curves reads as a
  constant gap, like the PCE): reference, realized, uncalibrated for contrast, the current frame marked;
- a heads-up readout at the upper left (`readout_lines`), the same lines as the sidebar sub-panel.
Missing data (no transferred camera, no or unreadable record) gives an empty overlay; a camera edited
after the transfer (stale) gives only the readout, which says so.

Pi is a per-step quantity (t >= 1, measured at the arrival frame); a path vertex at frame t takes Pi_t,
and the first vertex takes Pi_1 (it has no step of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import bpy
import numpy as np

from . import compat
from .transfer_record import RECORD_KEY, TransferRecord, is_stale, load

# A perceptual colour ramp for Pi: matplotlib's viridis sampled at 17 evenly spaced points (sRGB),
# interpolated linearly (within 0.021 of viridis everywhere). Its lightness increases monotonically, so
# a stronger move always reads brighter, also for colour-blind viewers and in greyscale. The position on
# the ramp is log(Pi) between the smallest and largest Pi of the clip (reference and realized together),
# so equal Pi ratios are equal colour steps and the two paths share one scale.
PI_RAMP = np.array([
    [0.2670, 0.0049, 0.3294], [0.2823, 0.0950, 0.4173], [0.2788, 0.1755, 0.4834],
    [0.2590, 0.2515, 0.5247], [0.2297, 0.3224, 0.5457], [0.1994, 0.3876, 0.5546],
    [0.1727, 0.4488, 0.5579], [0.1490, 0.5081, 0.5573], [0.1276, 0.5669, 0.5506],
    [0.1206, 0.6258, 0.5335], [0.1579, 0.6838, 0.5017], [0.2461, 0.7389, 0.4520],
    [0.3692, 0.7889, 0.3829], [0.5160, 0.8312, 0.2943], [0.6785, 0.8637, 0.1895],
    [0.8456, 0.8873, 0.0997], [0.9932, 0.9062, 0.1439],
])
NO_PI_COLOUR = (0.5, 0.5, 0.5, 1.0)

CALIBRATED_WIDTH = 3.0
REFERENCE_WIDTH = 1.5
MARKER_WIDTH = 2.0
GRAPH_WIDTH = 1.5
# Cross size at the current-frame positions, as a fraction of the paths' extent.
MARKER_FRACTION = 0.04
CALIBRATED_MARKER_COLOUR = (1.0, 1.0, 1.0, 1.0)
REFERENCE_MARKER_COLOUR = (0.6, 0.6, 0.6, 1.0)
DEPTH_MARKER_COLOUR = (1.0, 0.55, 0.1, 1.0)

# The graph: a panel in the lower-left corner of the region, in region pixels.
GRAPH_MARGIN = 16.0
GRAPH_SIZE = (260.0, 110.0)
GRAPH_MAX_FRACTION = (0.45, 0.3)
GRAPH_PADDING = 6.0
GRAPH_BACKGROUND = (0.0, 0.0, 0.0, 0.45)
SERIES_COLOURS = {
    "reference": (0.95, 0.95, 0.95, 1.0),
    "realized": (0.35, 0.85, 0.35, 1.0),
    "uncalibrated": (0.95, 0.3, 0.25, 1.0),
}
FRAME_MARKER_COLOUR = (1.0, 0.85, 0.2, 1.0)

# The heads-up readout, from the upper-left corner (below the viewport's own text).
TEXT_SIZE = 12
TEXT_LINE_HEIGHT = 16.0
TEXT_LEFT = 16.0
TEXT_TOP_OFFSET = 96.0
TEXT_COLOUR = (1.0, 1.0, 1.0, 1.0)
STALE_COLOUR = (1.0, 0.35, 0.3, 1.0)
STALE_MESSAGE = "STALE: camera edited after the transfer; transfer again"


@dataclass(frozen=True, eq=False)
class Primitive:
    """One batch, ready for the shell: a builtin shader name, a primitive type, its vertices (float32,
    (V, 3)), per-vertex colours (V, 4) for the *SMOOTH_COLOR shaders, and the uniforms to set, in order,
    as (name, value) with value a float or a tuple of floats."""

    shader: str
    kind: str
    positions: np.ndarray
    colours: np.ndarray | None = None
    uniforms: tuple[tuple[str, float | tuple[float, ...]], ...] = ()

    def uniform(self, name: str) -> float | tuple[float, ...] | None:
        return dict(self.uniforms).get(name)


def polyline(kind: str, positions: np.ndarray, viewport: tuple[float, float], width: float,
             colour: tuple[float, float, float, float] | None = None,
             colours: np.ndarray | None = None) -> Primitive:
    """A wide line (LINE_STRIP or LINES) in one colour or with per-vertex colours. The POLYLINE shaders
    need the viewport size in pixels and a line width."""
    uniforms: list[tuple[str, float | tuple[float, ...]]] = [
        ("viewportSize", (float(viewport[0]), float(viewport[1]))), ("lineWidth", float(width))]
    if colours is None:
        uniforms.append(("color", tuple(float(c) for c in colour)))  # type: ignore[union-attr]
        return Primitive("POLYLINE_UNIFORM_COLOR", kind, _f32(positions), uniforms=tuple(uniforms))
    return Primitive("POLYLINE_SMOOTH_COLOR", kind, _f32(positions), colours=_f32(colours), uniforms=tuple(uniforms))


def filled(positions: np.ndarray, colour: tuple[float, float, float, float]) -> Primitive:
    """Triangles (TRIS) in one colour."""
    return Primitive("UNIFORM_COLOR", "TRIS", _f32(positions), uniforms=(("color", tuple(map(float, colour))),))


@dataclass(frozen=True)
class Label:
    """A line of text at region pixel (x, y) (baseline, left)."""

    x: float
    y: float
    text: str
    size: int = TEXT_SIZE
    colour: tuple[float, float, float, float] = TEXT_COLOUR


@dataclass(frozen=True, eq=False)
class Overlay:
    """Everything one redraw shows: world-space primitives (POST_VIEW), region-pixel primitives and
    labels (POST_PIXEL)."""

    world: tuple[Primitive, ...] = ()
    screen: tuple[Primitive, ...] = ()
    labels: tuple[Label, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.world or self.screen or self.labels)


EMPTY = Overlay()


@dataclass(frozen=True, eq=False)
class PreviewState:
    """The transferred camera at the scene's current frame: its record, the index of the frame in the
    record (None outside the transferred range), whether it was edited since, and its pose now."""

    camera: str
    record: TransferRecord
    frame: int
    index: int | None
    stale: bool
    centre: np.ndarray
    forward: np.ndarray


# ---------------------------------------------------------------------------------------------- finding


def overlay_enabled(scene: bpy.types.Scene) -> bool:
    """scene.parascale.show_overlay (False when the add-on's properties are not registered)."""
    return bool(getattr(getattr(scene, "parascale", None), "show_overlay", False))


def _has_record(obj: bpy.types.Object | None) -> bool:
    try:
        return obj is not None and obj.type == "CAMERA" and RECORD_KEY in obj.keys()
    except ReferenceError:  # removed from the file while we held it
        return False


def find_transferred_camera(scene: bpy.types.Scene,
                            active: bpy.types.Object | None = None) -> bpy.types.Object | None:
    """The camera whose transfer the preview shows: the active object, else the scene camera, else
    `<reference>.ParaScale` of the scene's reference camera, else the first camera (by name) of the scene
    carrying a transfer record. None when there is none."""
    candidates = [active, scene.camera]
    reference = getattr(getattr(scene, "parascale", None), "reference_camera", None)
    if reference is not None:
        candidates.append(scene.objects.get(f"{reference.name}.ParaScale"))
    candidates += sorted((o for o in scene.objects if o.type == "CAMERA"), key=lambda o: o.name)
    for obj in candidates:
        if _has_record(obj) and obj.name in scene.objects:
            return obj
    return None


def keyframed_centres(obj: bpy.types.Object, frames: np.ndarray) -> np.ndarray | None:
    """World centres of `obj` at `frames` read from its location keyframes without changing the scene's
    frame (a draw callback must not). None when its world position depends on more than its own
    keyframes (a parent or constraints); the current-frame check in `camera_is_stale` covers those."""
    if obj.parent is not None or len(obj.constraints):
        return None
    frames = np.asarray(frames, dtype=np.float64)
    centres = np.repeat(np.asarray(obj.location, dtype=np.float64)[None], frames.size, axis=0)
    for curve in compat.action_fcurves(obj):
        if curve.data_path == "location" and 0 <= curve.array_index < 3:
            # fcurve.evaluate takes one frame at a time; there is no array form.
            centres[:, curve.array_index] = [curve.evaluate(f) for f in frames]
    return centres + np.asarray(obj.delta_location, dtype=np.float64)


def camera_is_stale(obj: bpy.types.Object, record: TransferRecord, index: int | None) -> bool:
    """Whether the camera was edited after the transfer: its keyframed path differs from the written
    one, or its evaluated position at the current frame (index into the record) does."""
    path = keyframed_centres(obj, record.frames)
    if path is not None and is_stale(record, path):
        return True
    if index is None:
        return False
    now = record.centres.copy()
    now[index] = np.asarray(obj.matrix_world.translation, dtype=np.float64)
    return is_stale(record, now)


def preview_state(scene: bpy.types.Scene, camera: bpy.types.Object | None = None,
                  active: bpy.types.Object | None = None) -> PreviewState | None:
    """The state at the scene's current frame, or None when there is no transferred camera or its
    record is missing or unreadable."""
    camera = camera if _has_record(camera) else find_transferred_camera(scene, active)
    if camera is None:
        return None
    record = load(camera)
    if record is None:
        return None
    frame = int(scene.frame_current)
    hits = np.flatnonzero(record.frames == frame)
    index = int(hits[0]) if hits.size else None
    matrix = np.asarray(camera.matrix_world, dtype=np.float64)
    forward = -matrix[:3, 2] / max(float(np.linalg.norm(matrix[:3, 2])), 1e-300)
    return PreviewState(camera=camera.name, record=record, frame=frame, index=index,
                        stale=camera_is_stale(camera, record, index), centre=matrix[:3, 3].copy(),
                        forward=forward)


# ------------------------------------------------------------------------------------------------ paths


def global_scale(record: TransferRecord) -> float:
    """One scale for the clip, METHOD.md's global mode: target depth over reference depth at the start."""
    return float(record.depth_target[0] / record.depth_reference[0])


def rotated_reference_steps(record: TransferRecord) -> np.ndarray:
    """Q (C_t - C_{t-1}), the reference steps turned into the target start orientation (N-1, 3).
    The transfer wrote C'_t - C'_{t-1} = s_t Q (C_t - C_{t-1}), so dividing the written steps by the
    recorded scales recovers them without the reference's own rotation (the record does not hold it)."""
    return np.diff(record.centres, axis=0) / record.scale[:, None]


def reanchored_reference_path(record: TransferRecord) -> np.ndarray:
    """The reference path started at the target start centre and scaled by the global scale (N, 3)."""
    steps = rotated_reference_steps(record) * global_scale(record)
    return record.start_centre + np.vstack([np.zeros((1, 3)), np.cumsum(steps, axis=0)])


def uncalibrated_path(record: TransferRecord) -> np.ndarray:
    """The uncalibrated move (s = 1) from the target start centre (N, 3)."""
    return record.start_centre + np.vstack([np.zeros((1, 3)), np.cumsum(rotated_reference_steps(record), axis=0)])


def vertex_pi(step_pi: np.ndarray) -> np.ndarray:
    """Per-frame values (N,) from per-step Pi (N-1,): frame t takes Pi_t, frame 0 takes Pi_1."""
    step_pi = np.asarray(step_pi, dtype=np.float64)
    return np.concatenate([step_pi[:1], step_pi])


def pi_range(*series: np.ndarray) -> tuple[float, float]:
    """Smallest and largest finite positive Pi over the series ((nan, nan) when there is none)."""
    values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in series])
    values = values[np.isfinite(values) & (values > 0)]
    return (float(values.min()), float(values.max())) if values.size else (float("nan"), float("nan"))


def ramp_position(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Position on the ramp in [0, 1]: log(Pi) between log(lo) and log(hi); 0.5 when the range is a
    single value; NaN where Pi is missing or not positive."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values) & (values > 0)
    safe = np.where(valid, values, 1.0)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo * (1.0 + 1e-12):
        position = np.full(values.shape, 0.5)
    else:
        position = np.clip((np.log(safe) - np.log(lo)) / (np.log(hi) - np.log(lo)), 0.0, 1.0)
    return np.where(valid, position, np.nan)


def pi_colours(values: np.ndarray, lo: float, hi: float, alpha: float = 1.0) -> np.ndarray:
    """RGBA (N, 4) per Pi value on `PI_RAMP`; missing Pi is grey."""
    position = ramp_position(values, lo, hi)
    knots = np.linspace(0.0, 1.0, PI_RAMP.shape[0])
    safe = np.nan_to_num(position, nan=0.0)
    rgb = np.stack([np.interp(safe, knots, PI_RAMP[:, c]) for c in range(3)], axis=-1)
    rgba = np.concatenate([rgb, np.full(position.shape + (1,), alpha)], axis=-1)
    rgba[np.isnan(position)] = NO_PI_COLOUR
    return rgba


def cross_segments(centre: np.ndarray, size: float) -> np.ndarray:
    """Three axis-aligned segments through `centre`, half-length `size`, as LINES vertices (6, 3)."""
    offsets = np.repeat(np.eye(3) * size, 2, axis=0) * np.tile([[-1.0], [1.0]], (3, 1))
    return np.asarray(centre, dtype=np.float64)[None] + offsets


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def path_primitives(state: PreviewState, viewport: tuple[float, float]) -> list[Primitive]:
    """The calibrated and the re-anchored reference paths coloured by Pi, the camera positions at the
    current frame and the depth marker along the view axis (world space)."""
    record = state.record
    reference_path = reanchored_reference_path(record)
    lo, hi = pi_range(record.pi_reference, record.pi_realized)
    prims = [
        polyline("LINE_STRIP", reference_path, viewport, REFERENCE_WIDTH,
                 colours=pi_colours(vertex_pi(record.pi_reference), lo, hi, 0.8)),
        polyline("LINE_STRIP", record.centres, viewport, CALIBRATED_WIDTH,
                 colours=pi_colours(vertex_pi(record.pi_realized), lo, hi)),
    ]
    if state.index is None:
        return prims
    both = np.vstack([reference_path, record.centres])
    size = MARKER_FRACTION * max(float(np.ptp(both, axis=0).max()), 1e-30)
    prims += [
        polyline("LINES", cross_segments(record.centres[state.index], size), viewport, MARKER_WIDTH,
                 CALIBRATED_MARKER_COLOUR),
        polyline("LINES", cross_segments(reference_path[state.index], size), viewport, MARKER_WIDTH,
                 REFERENCE_MARKER_COLOUR),
    ]
    marker = depth_marker(state)
    if marker is not None:
        axis_and_cross = np.vstack([np.stack([state.centre, marker]), cross_segments(marker, size)])
        prims.append(polyline("LINES", axis_and_cross, viewport, MARKER_WIDTH, DEPTH_MARKER_COLOUR))
    return prims


def depth_marker(state: PreviewState) -> np.ndarray | None:
    """The probed target depth at the current frame along the camera's view axis: C + depth * forward;
    None outside the transferred range or without a depth at this frame."""
    if state.index is None:
        return None
    depth = float(state.record.depth_target[state.index])
    if not (np.isfinite(depth) and depth > 0):
        return None
    return state.centre + depth * state.forward


# ------------------------------------------------------------------------------------------------ graph


def graph_rect(region_width: float, region_height: float) -> tuple[float, float, float, float]:
    """(x, y, width, height) of the graph panel in region pixels, lower-left corner."""
    width = min(GRAPH_SIZE[0], GRAPH_MAX_FRACTION[0] * region_width)
    height = min(GRAPH_SIZE[1], GRAPH_MAX_FRACTION[1] * region_height)
    return GRAPH_MARGIN, GRAPH_MARGIN, float(width), float(height)


def graph_series(record: TransferRecord) -> dict[str, np.ndarray]:
    """Per-step Pi series the graph plots, by name (keys of SERIES_COLOURS)."""
    # "reference" is what the realized Pi should follow: strength x the reference's (legend_name says so).
    return {"reference": record.pi_aim, "realized": record.pi_realized,
            "uncalibrated": record.pi_uncalibrated}


def legend_name(record: TransferRecord, name: str) -> str:
    """A series' legend text: the reference's curve is scaled by the strength dial when it is not 1."""
    return f"reference x {record.strength:g}" if name == "reference" and record.strength != 1.0 else name


def graph_mapping(record: TransferRecord, rect: tuple[float, float, float, float]
                  ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Functions frame -> x and Pi -> y (log scale) that fill the panel inside its padding; the y range
    spans every plotted Pi."""
    x0, y0, width, height = rect
    f0, f1 = float(record.frames[0]), float(record.frames[-1])
    lo, hi = pi_range(*graph_series(record).values())
    inner_bottom, inner_height = y0 + GRAPH_PADDING, height - 2.0 * GRAPH_PADDING
    log_lo, log_hi = (np.log(lo), np.log(hi)) if np.isfinite(lo) else (0.0, 0.0)

    def x_of(frames: np.ndarray) -> np.ndarray:
        return x0 + (np.asarray(frames, dtype=np.float64) - f0) / max(f1 - f0, 1e-30) * width

    def y_of(pi: np.ndarray) -> np.ndarray:
        pi = np.asarray(pi, dtype=np.float64)
        if log_hi <= log_lo:
            return np.full(pi.shape, inner_bottom + 0.5 * inner_height)
        return inner_bottom + (np.log(pi) - log_lo) / (log_hi - log_lo) * inner_height

    return x_of, y_of


def graph_primitives(record: TransferRecord, frame: int, rect: tuple[float, float, float, float],
                     viewport: tuple[float, float]) -> tuple[list[Primitive], list[Label]]:
    """The graph (region pixels): background, one polyline per series over the frames with a finite
    positive Pi, the current frame as a vertical line, a legend above the panel."""
    x0, y0, width, height = rect
    x_of, y_of = graph_mapping(record, rect)
    background = np.array([[x0, y0, 0], [x0 + width, y0, 0], [x0 + width, y0 + height, 0],
                           [x0, y0, 0], [x0 + width, y0 + height, 0], [x0, y0 + height, 0]])
    prims = [filled(background, GRAPH_BACKGROUND)]
    step_frames = record.frames[1:]
    for name, pi in graph_series(record).items():
        pi = np.asarray(pi, dtype=np.float64)
        keep = np.isfinite(pi) & (pi > 0)
        if keep.sum() < 2:
            continue
        vertices = np.stack([x_of(step_frames[keep]), y_of(pi[keep]), np.zeros(int(keep.sum()))], axis=-1)
        prims.append(polyline("LINE_STRIP", vertices, viewport, GRAPH_WIDTH, SERIES_COLOURS[name]))
    if record.frames[0] <= frame <= record.frames[-1]:
        x = float(x_of(np.array([frame]))[0])
        prims.append(polyline("LINES", np.array([[x, y0, 0.0], [x, y0 + height, 0.0]]), viewport, 1.0,
                              FRAME_MARKER_COLOUR))
    names = list(SERIES_COLOURS) + ["Pi (log)"]
    legend = [Label(x0 + 4.0 + 70.0 * i, y0 + height + 4.0, legend_name(record, name), TEXT_SIZE - 2,
                    SERIES_COLOURS.get(name, TEXT_COLOUR)) for i, name in enumerate(names)]
    return prims, legend


# ------------------------------------------------------------------------------------------------- text


def fmt(value: float) -> str:
    """4 significant digits; '-' for a missing value."""
    value = float(value)
    return f"{value:.4g}" if np.isfinite(value) else "-"


def readout_lines(state: PreviewState | None) -> list[str]:
    """The per-frame readout (HUD and sidebar). Empty without a transferred camera."""
    if state is None:
        return []
    record = state.record
    lines = [f"ParaScale {state.camera} ({record.mode.lower().replace('_', '-')})"]
    if state.stale:
        return lines + [STALE_MESSAGE]
    if state.index is None:
        return lines + [f"frame {state.frame}: outside the transfer ({record.frames[0]}-{record.frames[-1]})"]
    i = state.index
    step = i - 1  # per-step arrays hold t = 1..N-1
    at = (lambda a: a[step]) if step >= 0 else (lambda a: float("nan"))
    aim = f" x {record.strength:g} = {fmt(at(record.pi_aim))}" if record.strength != 1.0 else ""
    return lines + [
        f"frame {state.frame}",
        f"Pi reference {fmt(at(record.pi_reference))}{aim}  realized {fmt(at(record.pi_realized))}",
        f"Pi uncalibrated {fmt(at(record.pi_uncalibrated))}",
        f"depth reference {fmt(record.depth_reference[i])}  target {fmt(record.depth_target[i])}",
        f"scale {fmt(at(record.scale))}",
        f"PCE {fmt(record.pce)} (clip)  bias {fmt(record.bias)}",
    ]


def readout_labels(lines: list[str], region_height: float, stale: bool) -> list[Label]:
    """The readout placed at the upper left of the region, one label per line."""
    top = region_height - TEXT_TOP_OFFSET
    return [Label(TEXT_LEFT, top - k * TEXT_LINE_HEIGHT, text, TEXT_SIZE,
                  STALE_COLOUR if stale and text == STALE_MESSAGE else TEXT_COLOUR)
            for k, text in enumerate(lines)]


# --------------------------------------------------------------------------------------------- overlay


def overlay(scene: bpy.types.Scene, region_size: tuple[float, float], active: bpy.types.Object | None = None,
            require_enabled: bool = True) -> Overlay:
    """Everything one redraw of a 3D viewport region of `region_size` (width, height) pixels shows.
    Empty when the overlay is off for the scene or there is no usable transfer; only the readout
    (saying "stale") when the camera was edited after the transfer."""
    if require_enabled and not overlay_enabled(scene):
        return EMPTY
    state = preview_state(scene, active=active)
    if state is None:
        return EMPTY
    width, height = float(region_size[0]), float(region_size[1])
    labels = readout_labels(readout_lines(state), height, state.stale)
    if state.stale:
        return Overlay(labels=tuple(labels))
    viewport = (width, height)
    graph, legend = graph_primitives(state.record, state.frame, graph_rect(width, height), viewport)
    return Overlay(world=tuple(path_primitives(state, viewport)), screen=tuple(graph),
                   labels=tuple(labels + legend))
