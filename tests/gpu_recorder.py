"""A recording stand-in for `gpu`, `gpu_extras.batch.batch_for_shader` and `blf`, for the overlay's
drawing shell only: Blender refuses GPU drawing in background mode. It records every call and rejects
what real Blender 4.2, 4.5 or 5.0 would reject, so a shell that passes here draws there:

- builtin shader names valid on all three releases (the '2D_'/'3D_' names were removed in 4.0;
  POINT_* and IMAGE_*SCENE_LINEAR* exist only from 4.5 or 5.0), from the gpu.shader docs
  (docs.blender.org/api/4.2 .. 5.0, "Built-in shaders") and checked against each release's own binary
  by tests/test_preview_draw.py;
- uniform names and sizes each shader declares, all of them set before a draw (the docs: "Shader
  uniforms must be explicitly initialized to avoid retaining values from previous executions");
- batch layouts: the shader's attribute names, vertex sizes, equal lengths, a primitive type the shader
  can draw and a vertex count that type accepts;
- blf calls with 4.x signatures (blf.size takes no dpi since 4.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np


class GpuUsageError(AssertionError):
    """A call real Blender would reject (or that draws garbage)."""


ALL_RELEASES = ("4.2", "4.5", "5.0")

# name -> (attributes {name: components}, uniforms {name: components}, releases that have it)
_POLYLINE_UNIFORMS = {"viewportSize": 2, "lineWidth": 1}
SHADERS: dict[str, tuple[dict[str, int], dict[str, int], tuple[str, ...]]] = {
    "FLAT_COLOR": ({"pos": 3, "color": 4}, {}, ALL_RELEASES),
    "SMOOTH_COLOR": ({"pos": 3, "color": 4}, {}, ALL_RELEASES),
    "UNIFORM_COLOR": ({"pos": 3}, {"color": 4}, ALL_RELEASES),
    "POLYLINE_FLAT_COLOR": ({"pos": 3, "color": 4}, dict(_POLYLINE_UNIFORMS), ALL_RELEASES),
    "POLYLINE_SMOOTH_COLOR": ({"pos": 3, "color": 4}, dict(_POLYLINE_UNIFORMS), ALL_RELEASES),
    "POLYLINE_UNIFORM_COLOR": ({"pos": 3}, {**_POLYLINE_UNIFORMS, "color": 4}, ALL_RELEASES),
    "IMAGE": ({"pos": 3, "texCoord": 2}, {"image": 0}, ALL_RELEASES),
    "IMAGE_COLOR": ({"pos": 3, "texCoord": 2}, {"image": 0, "color": 4}, ALL_RELEASES),
    "POINT_FLAT_COLOR": ({"pos": 3, "color": 4}, {"size": 1}, ("4.5", "5.0")),
    "POINT_UNIFORM_COLOR": ({"pos": 3}, {"color": 4, "size": 1}, ("4.5", "5.0")),
    "IMAGE_SCENE_LINEAR_TO_REC709_SRGB": ({"pos": 3, "texCoord": 2}, {"image": 0}, ("5.0",)),
    "IMAGE_COLOR_SCENE_LINEAR_TO_REC709_SRGB": ({"pos": 3, "texCoord": 2}, {"image": 0, "color": 4}, ("5.0",)),
}
# Names removed in 4.0 (still common in older add-ons and tutorials).
LEGACY_SHADERS = tuple(f"{d}_{n}" for d in ("2D", "3D") for n in ("UNIFORM_COLOR", "FLAT_COLOR", "SMOOTH_COLOR",
                                                                   "IMAGE", "POLYLINE_UNIFORM_COLOR",
                                                                   "POLYLINE_FLAT_COLOR", "POLYLINE_SMOOTH_COLOR"))

PRIMITIVE_TYPES = {"POINTS": (1, 1), "LINES": (2, 2), "LINE_STRIP": (2, 1), "LINE_LOOP": (2, 1),
                   "TRIS": (3, 3), "TRI_STRIP": (3, 1), "TRI_FAN": (3, 1)}  # (minimum, multiple of)
POLYLINE_TYPES = {"LINES", "LINE_STRIP", "LINE_LOOP"}
BLEND_MODES = {"NONE", "ALPHA", "ALPHA_PREMULT", "ADDITIVE", "ADDITIVE_PREMULT", "MULTIPLY", "SUBTRACT", "INVERT"}


def portable_shaders() -> list[str]:
    """Builtin shader names every supported release has."""
    return [name for name, (_, _, releases) in SHADERS.items() if releases == ALL_RELEASES]


def _components(value: object) -> int:
    return int(np.asarray(value, dtype=np.float64).size)


@dataclass
class RecordedShader:
    name: str
    attributes: dict[str, int]
    uniforms: dict[str, int]
    values: dict[str, tuple[float, ...]] = field(default_factory=dict)
    bound: bool = False

    def bind(self) -> None:
        self.bound = True

    def uniform_float(self, name: str, value: object) -> None:
        if name not in self.uniforms:
            raise GpuUsageError(f"shader {self.name} has no uniform {name!r} (it has {sorted(self.uniforms)})")
        if _components(value) != self.uniforms[name]:
            raise GpuUsageError(f"uniform {name!r} of {self.name} takes {self.uniforms[name]} floats, "
                                f"got {_components(value)}")
        if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
            raise GpuUsageError(f"uniform {name!r} of {self.name} set to a non-finite value")
        self.values[name] = tuple(np.asarray(value, dtype=np.float64).ravel().tolist())


@dataclass
class RecordedBatch:
    shader: RecordedShader
    kind: str
    content: dict[str, np.ndarray]
    recorder: Recorder

    def draw(self, shader: RecordedShader) -> None:
        if shader is not self.shader:
            raise GpuUsageError("a batch must be drawn with the shader it was built for")
        if not shader.bound:
            raise GpuUsageError(f"shader {shader.name} drawn without bind()")
        missing = [u for u, n in shader.uniforms.items() if n and u not in shader.values]
        if missing:
            raise GpuUsageError(f"shader {shader.name} drawn with uniforms not set: {missing}")
        self.recorder.draws.append(DrawCall(shader.name, self.kind, {k: v.copy() for k, v in self.content.items()},
                                            dict(shader.values)))


@dataclass
class DrawCall:
    shader: str
    kind: str
    content: dict[str, np.ndarray]
    uniforms: dict[str, tuple[float, ...]]


@dataclass
class TextCall:
    text: str
    position: tuple[float, float, float]
    size: float
    colour: tuple[float, float, float, float]


class Recorder:
    """Install with `install(module)`: replaces the module's `gpu`, `blf` and `batch_for_shader`."""

    def __init__(self) -> None:
        self.draws: list[DrawCall] = []
        self.texts: list[TextCall] = []
        self.state: list[tuple[str, object]] = []
        self._font: dict[str, object] = {}
        self.gpu = SimpleNamespace(
            shader=SimpleNamespace(from_builtin=self.from_builtin),
            state=SimpleNamespace(blend_set=self.blend_set, line_width_set=self._state("line_width"),
                                  depth_test_set=self._state("depth_test"), point_size_set=self._state("point_size")),
        )
        self.blf = SimpleNamespace(size=self.blf_size, color=self.blf_color, position=self.blf_position,
                                   draw=self.blf_draw)

    def install(self, monkeypatch: object, module: object) -> Recorder:
        monkeypatch.setattr(module, "gpu", self.gpu)  # type: ignore[attr-defined]
        monkeypatch.setattr(module, "blf", self.blf)  # type: ignore[attr-defined]
        monkeypatch.setattr(module, "batch_for_shader", self.batch_for_shader)  # type: ignore[attr-defined]
        return self

    # gpu
    def from_builtin(self, name: str, *, config: str = "DEFAULT") -> RecordedShader:
        if name in LEGACY_SHADERS:
            raise GpuUsageError(f"builtin shader {name!r} was removed in Blender 4.0 (drop the 2D_/3D_ prefix)")
        if name not in SHADERS:
            raise GpuUsageError(f"no builtin shader {name!r}")
        attributes, uniforms, releases = SHADERS[name]
        if releases != ALL_RELEASES:
            raise GpuUsageError(f"builtin shader {name!r} exists only on Blender {', '.join(releases)}")
        if config not in ("DEFAULT", "CLIPPED"):
            raise GpuUsageError(f"no shader config {config!r}")
        return RecordedShader(name, dict(attributes), dict(uniforms))

    def blend_set(self, mode: str) -> None:
        if mode not in BLEND_MODES:
            raise GpuUsageError(f"no blend mode {mode!r}")
        self.state.append(("blend", mode))

    def _state(self, what: str):
        def setter(value: object) -> None:
            self.state.append((what, value))
        return setter

    def batch_for_shader(self, shader: RecordedShader, kind: str, content: dict[str, object],
                         indices: object = None) -> RecordedBatch:
        if not isinstance(shader, RecordedShader):
            raise GpuUsageError("batch_for_shader needs a shader from gpu.shader.from_builtin")
        if kind not in PRIMITIVE_TYPES:
            raise GpuUsageError(f"no primitive type {kind!r}")
        if shader.name.startswith("POLYLINE_") and kind not in POLYLINE_TYPES:
            raise GpuUsageError(f"{shader.name} draws lines only, not {kind}")
        if set(content) != set(shader.attributes):
            raise GpuUsageError(f"{shader.name} takes attributes {sorted(shader.attributes)}, got {sorted(content)}")
        arrays = {name: np.asarray(value, dtype=np.float64) for name, value in content.items()}
        lengths = set()
        for name, array in arrays.items():
            if array.ndim != 2 or array.shape[1] != shader.attributes[name]:
                raise GpuUsageError(f"attribute {name!r} of {shader.name} needs (N, {shader.attributes[name]}) "
                                    f"values, got shape {array.shape}")
            if not np.all(np.isfinite(array)):
                raise GpuUsageError(f"attribute {name!r} holds non-finite values")
            lengths.add(array.shape[0])
        if len(lengths) != 1:
            raise GpuUsageError(f"attributes of one batch differ in length: { {k: len(v) for k, v in arrays.items()} }")
        count = lengths.pop()
        minimum, multiple = PRIMITIVE_TYPES[kind] if indices is None else (1, 1)
        if count < minimum or count % multiple:
            raise GpuUsageError(f"{count} vertices do not make {kind} primitives")
        return RecordedBatch(shader, kind, arrays, self)

    # blf
    def blf_size(self, font_id: int, size: float, *rest: object) -> None:
        if rest:
            raise GpuUsageError("blf.size(fontid, size) takes no dpi since Blender 4.0")
        self._font["size"] = float(size)

    def blf_color(self, font_id: int, r: float, g: float, b: float, a: float) -> None:
        self._font["colour"] = (float(r), float(g), float(b), float(a))

    def blf_position(self, font_id: int, x: float, y: float, z: float) -> None:
        self._font["position"] = (float(x), float(y), float(z))

    def blf_draw(self, font_id: int, text: str) -> None:
        if not isinstance(text, str):
            raise GpuUsageError("blf.draw takes a str")
        if "position" not in self._font or "size" not in self._font:
            raise GpuUsageError("blf.draw before blf.position and blf.size")
        self.texts.append(TextCall(text, self._font["position"], self._font["size"],  # type: ignore[arg-type]
                                   self._font.get("colour", (1.0, 1.0, 1.0, 1.0))))  # type: ignore[arg-type]
