"""Pose files in and out: one API over every format (FORMATS.md) and a preset per consumer.

    read_trajectory(path, format=None) -> Trajectory       (format sniffed from the name and content)
    write_trajectory(path, trajectory_or_result, format_or_preset=None, ...) -> list of paths written

Formats: realestate10k, motionctrl, recammaster, uni3c, nerfstudio, transforms (NeRF / instant-ngp),
colmap (a folder), parascale (lossless, keeps a whole TransferResult). Presets name a consumer: its format,
the frame count it expects (the trajectory is resampled with core.poses.resample) and notes on its
conventions. All output is atomic (core/fileio.py): a failure writes nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PoseFileError, TrajectoryError, names_read_faults, quote
from ..fileio import atomic_write_files
from ..parallax import TransferResult
from ..poses import Trajectory, resample
from .common import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_LENS,
    DEFAULT_WIDTH,
    RELATIVE_FRAME0_ROTATION,
    SIDECAR_SUFFIX,
    load_json,
    sidecar_path,
)
from .contracts import (
    CONTRACTS,
    LOADER_POSE_SIZE,
    MOTIONCTRL_SVD_TRANSLATION_SCALE,
    cami2v_loader_pixels,
    intrinsics_in_model_frame,
    model_resolution,
    recammaster_training_focals,
    uni3c_model_frame,
)
from .nerf import (
    COLMAP_FILES,
    colmap_folder,
    read_colmap,
    read_nerfstudio,
    read_transforms,
    render_colmap,
    render_nerfstudio,
    render_transforms,
    write_colmap,
    write_nerfstudio,
    write_transforms,
)
from .parascale import (
    PARASCALE_FORMAT_VERSION,
    read_parascale,
    read_transfer_result,
    render_parascale,
    write_parascale,
)
from .video import (
    ModelFrame,
    read_motionctrl,
    read_realestate10k,
    read_recammaster,
    read_uni3c,
    relative_w2c,
    render_motionctrl,
    render_realestate10k,
    render_recammaster,
    render_uni3c,
    write_motionctrl,
    write_realestate10k,
    write_recammaster,
    write_uni3c,
)


@dataclass(frozen=True)
class PoseFormat:
    """A file format: how to read it, how to render it ({path: text}), what it carries."""

    name: str
    read: Callable[..., Trajectory]
    render: Callable[..., dict[Path, str]]
    default_name: str
    carries_intrinsics: str
    description: str


FORMATS: dict[str, PoseFormat] = {f.name: f for f in (
    PoseFormat("realestate10k", read_realestate10k, render_realestate10k, "camera.txt", "normalized, per frame",
               "RealEstate10K text: URL line, then `ts fx/W fy/H cx/W cy/H 0 0` + w2c 3x4 (OpenCV); "
               "CameraCtrl, CamI2V, AC3D, VideoX-Fun (Wan Fun Camera Control), ComfyUI. Sidecar "
               "<file>.meta.json keeps frame size, sensor and frame numbers"),
    PoseFormat("motionctrl", read_motionctrl, render_motionctrl, "camera_poses.json", "none",
               "MotionCtrl: JSON list of 12-number w2c rows relative to frame 0 (OpenCV); sidecar keeps "
               "the first pose and the lens"),
    PoseFormat("recammaster", read_recammaster, render_recammaster, "camera_extrinsics.json", "none",
               "ReCamMaster: frameK -> cam01 -> Unreal row matrix (forward, right, up, position in cm)"),
    PoseFormat("uni3c", read_uni3c, render_uni3c, "cam_info.json", "pixels, one for the clip",
               "Uni3C cam_info.json: 3x3 intrinsic (pixels), N 4x4 w2c (OpenCV), width, height"),
    PoseFormat("nerfstudio", read_nerfstudio, render_nerfstudio, "camera_path.json", "vertical fov per frame",
               "nerfstudio camera_path.json: c2w (OpenGL/Blender axes), vertical fov (degrees), aspect"),
    PoseFormat("transforms", read_transforms, render_transforms, "transforms.json", "pixels (fl_x fl_y cx cy)",
               "NeRF / instant-ngp transforms.json: camera_angle_x, fl_x fl_y cx cy w h, c2w per frame"),
    PoseFormat("colmap", read_colmap, render_colmap, "sparse", "pixels (PINHOLE)",
               "COLMAP text model folder: cameras.txt, images.txt (w2c quaternion, OpenCV), points3D.txt"),
    PoseFormat("parascale", read_parascale, render_parascale, "trajectory.parascale.json", "everything",
               f"ParaScale JSON (version {PARASCALE_FORMAT_VERSION}): poses, lens, sensor, frames, fps, clip "
               "range and the whole transfer (Pi reference/realized, depths, scale, mode, sources)"),
)}
FORMAT_ALIASES = {"re10k": "realestate10k", "instant-ngp": "transforms", "nerf": "transforms",
                  "ngp": "transforms", "camera_path": "nerfstudio"}


@dataclass(frozen=True)
class Preset:
    """A consumer: the format it reads, the frame count it expects (None keeps the clip's), notes, and its
    loader contract (contracts.CONTRACTS: what the loader assumes, what we therefore write).
    `four_k_plus_one`: the model needs 4k+1 frames (Wan). `resolution`: the model's frame (width, height);
    `portrait`: the other orientation it also generates (the export follows the render's orientation).
    `fps`: the rate the model's clips play at (None: not fixed by the model; the file keeps the clip's)."""

    format: str
    frames: int | None
    notes: str
    four_k_plus_one: bool = False
    resolution: tuple[int, int] | None = None
    portrait: tuple[int, int] | None = None
    fps: float | None = None
    contract: str = "pixels"

    @property
    def resolutions(self) -> tuple[tuple[int, int], ...]:
        return tuple(r for r in (self.resolution, self.portrait) if r is not None)


PRESETS: dict[str, Preset] = {
    "cameractrl-animatediff": Preset(
        "realestate10k", 16, "CameraCtrl on AnimateDiff v3; intrinsics written for its 1280x720 rescale at "
        "384x256", resolution=(384, 256), contract="cameractrl"),
    "cameractrl-svd": Preset("realestate10k", 14, "CameraCtrl on SVD; intrinsics written for its 1280x720 "
                             "rescale at 576x320", resolution=(576, 320), contract="cameractrl"),
    "cameractrl-svdxt": Preset("realestate10k", 25, "CameraCtrl on SVD-xt; intrinsics written for its "
                               "1280x720 rescale at 576x320", resolution=(576, 320), contract="cameractrl"),
    "cami2v": Preset("realestate10k", 16, "CamI2V (DynamiCrafter); the URL line is skipped by "
                     "loadtxt(comments='https'); its inference ignores the file's intrinsics (warned)",
                     resolution=(256, 256), contract="cami2v"),
    "ac3d": Preset("realestate10k", 49, "AC3D on CogVideoX (4k+1 frames, 8 fps); intrinsics written for its "
                   "rescale from the paired clip's ratio (pair it with a clip of the render's size) at 720x480",
                   True, resolution=(720, 480), fps=8.0, contract="ac3d"),
    "wan21": Preset("realestate10k", 81, "Wan 2.1 Fun Camera Control via VideoX-Fun: 4k+1 frames, 16 fps; "
                    "intrinsics for process_pose_file at 832x480 or 480x832", True, resolution=(832, 480),
                    portrait=(480, 832), fps=16.0, contract="cameractrl"),
    "wan22-a14b": Preset("realestate10k", 81, "Wan 2.2 A14B Fun Camera Control: 4k+1 frames, 16 fps; "
                         "intrinsics for process_pose_file at 832x480 or 480x832", True,
                         resolution=(832, 480), portrait=(480, 832), fps=16.0, contract="cameractrl"),
    "wan22-5b": Preset("realestate10k", 121, "Wan 2.2 TI2V 5B Fun Camera Control: 4k+1 frames, 24 fps, "
                       "1280x704 or 704x1280; set video_length = 121 in VideoX-Fun's script (its examples "
                       "read 81 and would cut the file)", True, resolution=(1280, 704), portrait=(704, 1280),
                       fps=24.0, contract="cameractrl"),
    "comfyui-animatediff": Preset("realestate10k", 16, "ComfyUI-AnimateDiff-Evolved CameraCtrl (Load CameraCtrl "
                                  "Poses): CameraCtrl's 1280x720 rescale at the latent's size x 8; intrinsics for "
                                  "384x256 or 256x384, or --model-size = your Empty Latent's", resolution=(384, 256),
                                  portrait=(256, 384), contract="cameractrl"),
    "motionctrl": Preset("motionctrl", 16, "MotionCtrl on VideoCrafter: poses relative to frame 0, no "
                         "intrinsics", resolution=(256, 256), contract="relative"),
    "motionctrl-svd": Preset("motionctrl", 14, "MotionCtrl on SVD", resolution=(1024, 576), contract="relative"),
    "recammaster": Preset("recammaster", 81, "ReCamMaster (Wan 2.1 1.3B): the loader takes every 4th frame",
                          True, resolution=(832, 480), fps=16.0, contract="relative"),
    "uni3c": Preset("uni3c", 81, "Uni3C (Wan 2.1 I2V 14B): one pixel intrinsic for the clip", True, fps=16.0,
                    contract="uni3c"),
    "nerfstudio": Preset("nerfstudio", None, "nerfstudio `ns-render camera-path`: any frame count",
                         contract="nerfstudio"),
    "instant-ngp": Preset("transforms", None, "instant-ngp / NeRF transforms.json"),
    "colmap": Preset("colmap", None, "COLMAP text model (pycolmap.Reconstruction reads it)"),
    "parascale": Preset("parascale", None, "ParaScale JSON: lossless, keeps the transfer"),
}

# The registry's own consistency: a Wan-family preset must be 4k+1, and every contract must exist.
for _name, _preset in PRESETS.items():
    if _preset.four_k_plus_one and _preset.frames is not None and (_preset.frames - 1) % 4:
        raise AssertionError(f"preset {_name}: {_preset.frames} frames is not 4k+1")
    if _preset.contract not in CONTRACTS:
        raise AssertionError(f"preset {_name}: unknown contract {_preset.contract}")

# The contracts whose consumer sees the render in a model frame of its own (ExportPlan.model_size).
MODEL_FRAME_CONTRACTS = ("cameractrl", "ac3d", "cami2v", "relative")

# What a preset does with time when it changes the frame count (ExportPlan).
TIMINGS = ("fit", "speed")
DEFAULT_TIMING = "fit"


@dataclass(frozen=True)
class ExportPlan:
    """How a trajectory becomes a preset's file: `times` are the source frame times of the output frames
    (None: the frames are kept), `fps` the output's rate, `model_size` the model frame the intrinsics are
    written for (None: the render's), `frame_ratio` source frames per output frame.

    Timing "fit": the whole move fits the model's clip (Pi_total kept; Pi per output frame scaled by
    frame_ratio). "speed": one output frame per source frame (per-frame Pi kept): a longer clip is cut to
    what the model shows, a shorter one is padded by holding the last pose."""

    preset: str | None
    count: int
    times: np.ndarray | None
    fps: float
    timing: str
    frame_ratio: float
    model_size: tuple[int, int] | None
    contract: str

    def describe(self, source_frames: int) -> str:
        """One line for a summary: frames, fps, timing and model frame."""
        size = ""
        if self.model_size:
            what = "model frame" if self.contract == "relative" else "intrinsics for"
            size = f", {what} {self.model_size[0]}x{self.model_size[1]}"
        if self.times is None:
            return f"{self.count} frames at {self.fps:g} fps{size}"
        held = int(np.count_nonzero(self.times >= self.times[-1])) - 1 if self.timing == "speed" else 0
        shown = (f"; the model shows {min(self.count, source_frames)} of the {source_frames} source frames"
                 + (f", the last pose held {held} frames" if held > 0 else "")) if self.timing == "speed" else ""
        return (f"{source_frames} -> {self.count} frames at {self.fps:g} fps, timing {self.timing} "
                f"({self.frame_ratio:.4g} source frames per output frame{shown}){size}")


def export_plan(trajectory: Trajectory, preset: str | None = None, frames: int | None = None,
                timing: str = DEFAULT_TIMING, resolution: tuple[int, int] | None = None) -> ExportPlan:
    """The plan (frame times, fps, model frame) for writing `trajectory` with `preset` (or a plain format
    when None) and an optional frame count. Raises TrajectoryError for a bad timing, count or resolution."""
    if timing not in TIMINGS:
        raise TrajectoryError(f"timing must be one of {', '.join(TIMINGS)}, not {quote(timing)}")
    chosen = resolve_preset(preset) if preset else None
    count = int(frames) if frames is not None else (chosen.frames if chosen else None)
    if count is not None and count < 2:
        raise TrajectoryError(f"cannot resample to fewer than two frames ({count})")
    if count is not None and chosen is not None and chosen.four_k_plus_one and (count - 1) % 4:
        raise TrajectoryError(f"preset {preset} needs 4k+1 frames (e.g. 49, 81, 121), not {count}")
    if resolution is not None and not (0 < int(resolution[0]) <= 65536 and 0 < int(resolution[1]) <= 65536):
        raise TrajectoryError(f"model resolution must be positive, got {resolution[0]} x {resolution[1]}")
    intrinsics = trajectory.intrinsics
    model_size = None
    if chosen is not None and chosen.contract in MODEL_FRAME_CONTRACTS and (chosen.resolutions or resolution):
        model_size = model_resolution(chosen.resolutions, intrinsics.width, intrinsics.height, resolution)
    elif chosen is not None and chosen.contract == "uni3c":  # its frame follows the reference image's aspect
        model_size = resolution or uni3c_model_frame(intrinsics.width, intrinsics.height)
    source = trajectory.frames
    if count is None or count == len(trajectory):
        fps = chosen.fps if chosen is not None and chosen.fps and count is not None else trajectory.fps
        return ExportPlan(preset, len(trajectory), None, float(fps), timing, 1.0, model_size,
                          chosen.contract if chosen else "pixels")
    if timing == "fit":
        times = np.linspace(source[0], source[-1], count)
        ratio = float(source[-1] - source[0]) / (count - 1)
        fps = chosen.fps if chosen is not None and chosen.fps else trajectory.fps / max(ratio, 1e-12)
    else:
        step = float(np.median(np.diff(source)))
        times = np.minimum(source[0] + step * np.arange(count), source[-1])
        ratio = step
        fps = chosen.fps if chosen is not None and chosen.fps else trajectory.fps
    return ExportPlan(preset, count, times, float(fps), timing, ratio, model_size,
                      chosen.contract if chosen else "pixels")


def resolve_format(name: str) -> PoseFormat:
    """A format by name or alias (a preset name gives its preset's format)."""
    key = str(name).strip().lower().replace("_", "-")
    key = FORMAT_ALIASES.get(key, key)
    if key in FORMATS:
        return FORMATS[key]
    if key in PRESETS:
        return FORMATS[PRESETS[key].format]
    raise TrajectoryError(f"unknown format {quote(name)}; formats: {', '.join(FORMATS)}")


def resolve_preset(name: str) -> Preset:
    key = str(name).strip().lower().replace("_", "-")
    if key in PRESETS:
        return PRESETS[key]
    raise TrajectoryError(f"unknown preset {quote(name)}; presets: {', '.join(PRESETS)}")


def format_for_output(path: str | Path) -> str:
    """The format a path's name implies when writing: .txt -> realestate10k, camera_path*.json ->
    nerfstudio, transforms*.json -> transforms, cam_info*.json -> uni3c, other .json -> parascale, no
    suffix (a folder) -> colmap."""
    name = Path(path).name.lower()
    if name.endswith(".txt"):
        return "realestate10k"
    if name.endswith(".json"):
        for prefix, fmt in (("camera_path", "nerfstudio"), ("transforms", "transforms"), ("cam_info", "uni3c")):
            if name.startswith(prefix):
                return fmt
        return "parascale"
    if not Path(path).suffix:
        return "colmap"
    raise TrajectoryError(f"cannot tell the format of {Path(path).name} from its name; give a format or preset")


def sniff_format(path: str | Path) -> str:
    """The format of an existing pose file or folder, from its name and content."""
    path = Path(path)
    if path.is_dir() or path.name in COLMAP_FILES:
        if (colmap_folder(path) / "cameras.txt").is_file():
            return "colmap"
        raise PoseFileError(path, "", "a folder that is not a COLMAP text model (no cameras.txt)")
    if not path.exists():
        raise PoseFileError(path, "", "no such file")
    if path.name.endswith(SIDECAR_SUFFIX):
        raise PoseFileError(path, "", "this is a sidecar; read the pose file beside it")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return "realestate10k"
    if suffix == ".json":
        data = load_json(path)
        if isinstance(data, list):
            return "motionctrl"
        if isinstance(data, dict):
            if data.get("format") == "parascale":
                return "parascale"
            if "camera_path" in data:
                return "nerfstudio"
            if "extrinsic" in data or "intrinsic" in data:
                return "uni3c"
            if "frames" in data:
                return "transforms"
            if data and all(str(k).startswith("frame") for k in data):
                return "recammaster"
        raise PoseFileError(path, "", "unrecognized pose JSON (not parascale, nerfstudio, transforms, uni3c, "
                            "motionctrl or recammaster)")
    raise PoseFileError(path, "", f"unrecognized pose file type {suffix or '(no suffix)'}; give --format")


@names_read_faults
def read_trajectory(path: str | Path, format: str | None = None, **options: object) -> Trajectory:
    """Read any supported pose file; `format` (a format or preset name) skips sniffing; `options` go to
    the format's reader (e.g. width/height/fps for RealEstate10K, camera for ReCamMaster)."""
    spec = resolve_format(format) if format else FORMATS[sniff_format(path)]
    return spec.read(Path(path), **options)


def _trajectory_of(data: Trajectory | TransferResult) -> Trajectory:
    if isinstance(data, TransferResult):
        return data.trajectory
    if isinstance(data, Trajectory):
        return data
    raise TrajectoryError(f"expected a Trajectory or TransferResult, got {type(data).__name__}")


def render_trajectory(path: str | Path, data: Trajectory | TransferResult, format_or_preset: str | None = None,
                      *, format: str | None = None, preset: str | None = None, frames: int | None = None,
                      sidecar: bool = True, points: object = None, timing: str = DEFAULT_TIMING,
                      resolution: tuple[int, int] | None = None) -> dict[Path, str]:
    """{path: text} for `data`. Give at most one of `format_or_preset` (a preset name applies the preset:
    its format, frame count, fps and loader contract; presets win where a format has the same name),
    `format` (the format only, no resampling) or `preset`. With none, the format comes from the name
    (format_for_output). `frames` resamples to that many frames and overrides the preset's count; `timing`
    and `resolution` (the model frame, default: the preset's in the render's orientation) see export_plan.
    Resampling uses the smooth interpolant (core.poses.sample_poses). What the consumer cannot carry is
    said with warnings.warn, one line each, with numbers."""
    if sum(x is not None for x in (format_or_preset, format, preset)) > 1:
        raise TrajectoryError("give one of a format or a preset, not both")
    if format_or_preset is not None:
        key = str(format_or_preset).strip().lower().replace("_", "-")
        preset, format = (key, None) if key in PRESETS else (None, format_or_preset)
    chosen = resolve_preset(preset) if preset else None
    spec = FORMATS[chosen.format] if chosen else resolve_format(format or format_for_output(path))
    trajectory = _trajectory_of(data)
    plan = export_plan(trajectory, preset, frames, timing, resolution)
    if plan.times is not None:
        if spec.name == "parascale" and isinstance(data, TransferResult):
            raise TrajectoryError("a transfer result cannot be resampled into a ParaScale file (its per-frame "
                                  "parallax would no longer match); write the trajectory or keep the frame count")
        data = trajectory = resample(trajectory, plan.count, times=plan.times, method="smooth", fps=plan.fps)
    elif plan.fps != trajectory.fps:
        trajectory = trajectory.replace(fps=plan.fps)
        data = data if isinstance(data, TransferResult) else trajectory
    for message in contract_warnings(trajectory, plan):
        warnings.warn(message, stacklevel=2)
    if spec.name == "parascale":
        return render_parascale(path, data)
    if spec.name == "colmap":
        return render_colmap(path, trajectory, points)  # type: ignore[arg-type]
    if spec.name == "realestate10k":
        return render_realestate10k(path, trajectory, sidecar=sidecar, model=_model_frame(plan, trajectory))
    if spec.name in ("motionctrl", "recammaster"):
        return spec.render(path, trajectory, sidecar=sidecar)
    return spec.render(path, trajectory)


def _model_frame(plan: ExportPlan, trajectory: Trajectory) -> ModelFrame | None:
    """The model frame a RealEstate10K file is written for; AC3D's loader rescales from the paired clip's
    ratio (we write for the render's), the CameraCtrl family's from 1280x720."""
    if plan.model_size is None or plan.contract == "relative":
        return None
    if plan.contract == "ac3d":
        render = (trajectory.intrinsics.width, trajectory.intrinsics.height)
        return ModelFrame(plan.model_size[0], plan.model_size[1], "cameractrl", plan.preset or "", render)
    return ModelFrame(plan.model_size[0], plan.model_size[1], plan.contract, plan.preset or "", LOADER_POSE_SIZE)


def contract_warnings(trajectory: Trajectory, plan: ExportPlan) -> list[str]:
    """What the plan's consumer cannot carry of `trajectory`'s camera, one line each with numbers (empty
    when its loader reconstructs the camera within HALF_PIXEL)."""
    if plan.contract == "relative" and plan.model_size is not None:
        return [_lens_not_carried(trajectory, plan)]
    if plan.contract == "uni3c" and plan.model_size is not None:
        return [_uni3c_ray_grid(trajectory, plan.model_size)]
    if plan.contract != "cami2v" or plan.model_size is None:
        return []
    intrinsics = trajectory.intrinsics
    w, h = plan.model_size
    truth = intrinsics_in_model_frame(trajectory.pixel_intrinsics(), intrinsics.width, intrinsics.height, w, h)
    used = cami2v_loader_pixels(intrinsics.width, intrinsics.height, w, h)
    focal = float(np.abs(truth[:, :2] - used[:2]).max())
    centre = float(np.abs(truth[:, 2:] - used[2:]).max())
    if max(focal, centre) <= HALF_PIXEL:
        return []
    fx, fy, cx, cy = truth[0]
    return [f"{plan.preset}: CamI2V's inference ignores the file's intrinsics and uses fx = fy = {used[0]:g} px "
            f"with the principal point at ({used[2]:g}, {used[3]:g}) at {w}x{h}; this render's camera there is "
            f"fx {fx:.1f}, fy {fy:.1f}, principal point ({cx:.1f}, {cy:.1f}) px: focal off by up to {focal:.1f} px, "
            f"principal point by {centre:.1f} px"]


def _lens_not_carried(trajectory: Trajectory, plan: ExportPlan) -> str:
    """MotionCtrl and ReCamMaster files have no intrinsics: the render's camera in the model frame (what
    the model cannot be told), against what the consumer assumes where that is known."""
    intrinsics = trajectory.intrinsics
    w, h = plan.model_size  # type: ignore[misc]
    fx, fy, cx, cy = intrinsics_in_model_frame(trajectory.pixel_intrinsics(), intrinsics.width, intrinsics.height,
                                               w, h)[0]
    fov = float(np.degrees(2.0 * np.arctan(w / (2.0 * fx))))
    camera = (f"this render at {w}x{h}: fx {fx:.1f}, fy {fy:.1f} px ({fov:.1f} deg wide), principal point "
              f"{abs(cx - w / 2):.1f} px in x and {abs(cy - h / 2):.1f} px in y off centre")
    if plan.preset == "recammaster":
        focals = recammaster_training_focals(w, h)
        nearest = int(np.argmin(np.abs(focals - fx)))
        return (f"recammaster: no intrinsics in the file; trained on centred 18/24/35/50 mm lenses (fx "
                f"{'/'.join(f'{f:.0f}' for f in focals)} px at {w}x{h}); {camera}; focal "
                f"{abs(fx - focals[nearest]):.1f} px from the nearest")
    stretch = ""
    if plan.preset == "motionctrl-svd":
        stretch = (f"; its get_RT also scales translations by "
                   f"{'/'.join(f'{s:g}' for s in MOTIONCTRL_SVD_TRANSLATION_SCALE)} (x/y/z)")
    return f"{plan.preset}: no intrinsics in the file (the model assumes its training lens); {camera}{stretch}"


def _uni3c_ray_grid(trajectory: Trajectory, model_size: tuple[int, int]) -> str:
    """Uni3C's batch_sample_rays puts x at i - 0.5 (y at j + 0.5): every ray of its camera embedding is one
    model pixel left of the pixel centre. Not written around: the file keeps the camera Uni3C's own
    cam_render.py would write, which is what its model is fed."""
    intrinsics = trajectory.intrinsics
    w, h = model_size
    fx = float(trajectory.pixel_intrinsics()[0, 0]) * w / intrinsics.width  # load_dataset scales K's row 0
    degrees = float(np.degrees(np.arctan(1.0 / fx)))
    return (f"uni3c: its camera embedding's ray grid puts x at i - 0.5 (y at j + 0.5), so each ray is one "
            f"model pixel left of its pixel centre: 1 px at {w}x{h} = {intrinsics.width / w:.2f} px of this "
            f"{intrinsics.width}x{intrinsics.height} render = {degrees:.3f} deg; the file keeps the true camera "
            f"(only with camera_embedding on)")


# What "reconstructs the camera" means: every loader-derived focal and principal point within this many
# pixels of the render's camera in the model frame.
HALF_PIXEL = 0.5


def write_trajectory(path: str | Path, data: Trajectory | TransferResult, format_or_preset: str | None = None,
                     *, format: str | None = None, preset: str | None = None, frames: int | None = None,
                     sidecar: bool = True, points: object = None, timing: str = DEFAULT_TIMING,
                     resolution: tuple[int, int] | None = None) -> list[Path]:
    """Write `data` (a Trajectory or a TransferResult) atomically; see render_trajectory for the choice
    of format. Returns every path written (sidecars included)."""
    return atomic_write_files(render_trajectory(path, data, format_or_preset, format=format, preset=preset,
                                                frames=frames, sidecar=sidecar, points=points, timing=timing,
                                                resolution=resolution))


def preset_descriptions() -> dict[str, str]:
    """Every name `write_trajectory` accepts as `format_or_preset`: the presets, then the formats that are
    not also preset names, with a one-line description."""
    out = {name: f"{p.format}, {p.frames or 'any'} frames: {p.notes}" for name, p in PRESETS.items()}
    out.update({name: f.description for name, f in FORMATS.items() if name not in PRESETS})
    return out


def formats_table() -> str:
    """Human listing of formats and presets (`parascale formats`)."""
    lines = ["Formats:"]
    lines += [f"  {f.name:<14} {f.description}" for f in FORMATS.values()]
    lines += ["", "Presets (format, frames, usual model resolution W x H):"]
    lines += [f"  {name:<24} {p.format:<14} {p.frames if p.frames else 'keep':>4}  "
              f"{'{}x{}'.format(*p.resolution) if p.resolution else '':>9}  {p.notes}" for name, p in PRESETS.items()]
    return "\n".join(lines)


__all__ = [
    "FORMATS", "PRESETS", "PoseFormat", "Preset", "resolve_format", "resolve_preset", "sniff_format",
    "format_for_output",
    "read_trajectory", "write_trajectory", "render_trajectory", "formats_table", "preset_descriptions",
    "ExportPlan", "export_plan", "contract_warnings", "TIMINGS", "DEFAULT_TIMING", "CONTRACTS",
    "read_realestate10k", "write_realestate10k", "read_motionctrl", "write_motionctrl", "read_recammaster",
    "write_recammaster", "read_uni3c", "write_uni3c", "read_nerfstudio", "write_nerfstudio", "read_transforms",
    "write_transforms", "read_colmap", "write_colmap", "read_parascale", "write_parascale",
    "read_transfer_result", "relative_w2c", "sidecar_path", "DEFAULT_FPS", "DEFAULT_HEIGHT", "DEFAULT_LENS",
    "DEFAULT_WIDTH", "RELATIVE_FRAME0_ROTATION",
]
