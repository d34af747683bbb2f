"""What each consumer's own loader does with a pose file, and what we therefore write (issue 14).

A generator does not see the render: it sees the render resized to cover its own frame (model_width x
model_height) and centre-cropped. The camera it should be told about is the render's camera in that
frame (`intrinsics_in_model_frame`). Each loader then applies its own arithmetic to the file's numbers;
a contract inverts that arithmetic, so the loader reconstructs exactly that camera.

The loaders, read from their public code (only the arithmetic is kept here, in our own words):

- CameraCtrl `inference.py` (hehao13/CameraCtrl, commit 1f9d8baeff66f6c60bb9848dfafcc667b3a22a28, `Camera`,
  the `original_pose_width/height` block, `get_relative_pose`, `ray_condition`) and VideoX-Fun
  `videox_fun/data/utils.py` `process_pose_file` (aigc-apps/VideoX-Fun, commit
  5ab1c93785c23fe9072450e18de08743e2d302b1, the same arithmetic): lines after the first are split on one
  space; columns 1..4 are fx, fy, cx, cy normalized by an original frame of P = pose_width / pose_height
  (1280 / 720 by default); columns 7.. are the w2c 3x4. With the sample's ratio S = w / h: if P > S,
  fx_px = fx * h * P, else fy_px = fy * w / P; the other focal is multiplied by its own side; cx_px = cx * w,
  cy_px = cy * h. Rays go through pixel centres (i + 0.5, j + 0.5): the principal point is measured from the
  frame's corner, as Blender's is.
- AC3D (snap-research/ac3d, commit c68be94c3c7ab3f5121ffc17a5cffde5850151ad,
  `training/controlnet_datasets_camera.py` `RealEstate10KPoseControlnetDataset`, which
  `inference/cli_demo_camera.py` uses at 720x480): CameraCtrl's arithmetic, except that the original ratio
  P is the ratio of the clip the annotation pairs with the file (its decoded frames), not 1280 / 720. We
  write for P = the render's ratio: pair the file with a clip of the render's size.
- MotionCtrl (TencentARC/MotionCtrl): `main/evaluation/motionctrl_inference.py` `load_camera_pose` (commit
  bb00d47a017e55ae0931434e76656edfcde2b9b8) reads the JSON rows as they are (N x 12 w2c, frame 0 = [I|0]);
  the SVD branch's `main/inference/motionctrl_cmcm.py` `get_RT` (commit
  2a541c88ded1695ec468f2d5faf057bd90db8fc3) multiplies the translations by (3, 1, 4) x speed before making
  them relative to frame 0. Neither file has intrinsics.
- ReCamMaster (KwaiVGI/ReCamMaster, commit 2e743bf0e21581ffe1d7c51d082ce340e94d1721,
  `inference_recammaster.py` `parse_matrix` and `__getitem__`): frames 0, 4, .., 80 of `cam01`, each matrix
  transposed, columns reordered (1, 2, 0, 3), column 1 negated, translation / 100, then relative to the first.
  No intrinsics: its training videos (README) were 1280x1280 with 18, 24, 35 or 50 mm lenses on a 23.76 mm
  sensor, centre-cropped to the model's frame.
- ComfyUI-AnimateDiff-Evolved (Kosinkadink/ComfyUI-AnimateDiff-Evolved, commit
  d8d163cd90b1111f6227495e3467633676fbb346, `animatediff/nodes_cameractrl.py` `LoadCameraPoses` /
  `LoadCameraPosesFromPath` and `set_original_pose_dims`, `animatediff/adapter_cameractrl.py` `CameraEntry`,
  `prepare_pose_embedding`, `get_relative_pose`, `ray_condition`): CameraCtrl's arithmetic line for line; the
  loader nodes overwrite columns 5-6 with 1280 720 and each entry's rescale takes its ratio from them. The
  sample is the latent's size x 8 (the user's Empty Latent): the "cameractrl" contract at that size.
- Uni3C (ewrfcas/Uni3C, `src/dataset.py` `load_dataset`, commit 22bcec5e1183b51e36cfadd9f7a0bc2160e8e090;
  `src/camera.py` `batch_sample_rays`, commit 979b6c6fb6e85b5ce53ce611316e75cdae51d9d8): the model frame is
  the reference image's aspect at max_area 480 * 768 in multiples of 16 (`uni3c_model_frame`); K's rows are
  scaled to it. Its ray grid (the camera embedding) puts x at i - 0.5 and y at j + 0.5: every ray is one
  model pixel left of the pixel centre. The file keeps the render's camera, as Uni3C's own `cam_render.py`
  writes its cam_info.json (the K its model is fed), and the shift is warned with numbers.
- CamI2V (ZGCTroy/CamI2V, commit 543255f52104dfe924a9b15ddaafe00010ec6422,
  `CameraControl/data/single_image_for_inference.py` `get_batch_input`; the demo
  `demo/cami2v_test.py` at 1e5f11863fc4d82674330f3f88e08aaeb8c85fba reads the file with
  `loadtxt(comments="https")` and keeps columns 7..): the file's intrinsics are ignored. The image is resized
  to cover the model frame with int() sizes and centre-cropped; fx = fy = 0.5 * max(resized H, resized W),
  cx = w / 2, cy = h / 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The original frame the RealEstate10K-family loaders assume the normalized intrinsics were made for.
LOADER_POSE_SIZE = (1280, 720)


@dataclass(frozen=True)
class LoaderContract:
    """What a consumer's loader assumes and what the file therefore carries.

    `pose_size`: the original frame (width, height) the loader rescales from (None: no rescale).
    `intrinsics`: "cameractrl" (normalized, rescaled by pose_size, inverted here), "ignored" (the loader
    derives its own focal), "pixels" (one pixel matrix), "vertical-fov" (no principal point), "pixels-cxcy"
    (fl_x fl_y cx cy), "none"."""

    consumer: str
    loader: str
    intrinsics: str
    pose_size: tuple[int, int] | None
    crop: str
    columns: str
    writes: str


CONTRACTS: dict[str, LoaderContract] = {
    "cameractrl": LoaderContract(
        "CameraCtrl, VideoX-Fun (Wan Fun Camera Control), ComfyUI-AnimateDiff-Evolved",
        "CameraCtrl inference.py Camera + original_pose_width/height; VideoX-Fun process_pose_file; "
        "AnimateDiff-Evolved prepare_pose_embedding",
        "cameractrl", LOADER_POSE_SIZE, "resize to cover, centre crop",
        "lines 2..: columns 1-4 fx fy cx cy (normalized, 1280x720 assumed), 7-18 w2c 3x4",
        "fx, fy, cx, cy such that the loader's rescale yields the render's camera in the model frame"),
    "cami2v": LoaderContract(
        "CamI2V (DynamiCrafter)", "CamI2V single_image_for_inference.get_batch_input", "ignored", None,
        "resize to cover (int sizes), centre crop",
        "loadtxt(comments='https'); columns 7-18 w2c 3x4 only",
        "the render's camera in the model frame (normalized); the demo uses fx = fy = half the longer resized "
        "side and the frame centre instead: warned with numbers"),
    "ac3d": LoaderContract(
        "AC3D (CogVideoX)", "AC3D RealEstate10KPoseControlnetDataset (inference/cli_demo_camera.py)", "cameractrl",
        None, "frames resized to 720x480; the rescale takes the original ratio from the clip paired with the file",
        "lines 2..: columns 1-4 fx fy cx cy (normalized, the clip's ratio assumed), 7-18 w2c 3x4",
        "fx, fy, cx, cy for the rescale from the render's own ratio (pair the file with a clip of the render's "
        "size)"),
    "relative": LoaderContract(
        "MotionCtrl, ReCamMaster", "MotionCtrl load_camera_pose / get_RT; ReCamMaster parse_matrix", "none", None,
        "none (no intrinsics)", "poses only (w2c relative to frame 0; ReCamMaster: Unreal rows, every 4th frame)",
        "poses only; the lens is kept in the sidecar; the lens the model cannot be told is warned with numbers"),
    "uni3c": LoaderContract(
        "Uni3C", "Uni3C src/dataset.py", "pixels", None, "none: pixels of the written width x height",
        "intrinsic 3x3, extrinsic N x 4x4, width, height",
        "the render's pixel camera and size; its ray grid's x at i - 0.5 is warned with numbers"),
    "nerfstudio": LoaderContract(
        "nerfstudio", "nerfstudio get_path_from_json", "vertical-fov", None, "none",
        "camera_to_world, fov (vertical, degrees), aspect, render_width/height",
        "vertical fov of the render; no principal point: lens shift warned with numbers"),
    "pixels": LoaderContract(
        "instant-ngp, COLMAP, pycolmap, ParaScale", "transforms.json fl_x fl_y cx cy; COLMAP PINHOLE",
        "pixels-cxcy", None, "none", "pixel intrinsics and size", "the render's pixel camera (lossless)"),
}


def cover_crop(width: int, height: int, model_width: int, model_height: int) -> tuple[float, float, float]:
    """(scale, left, top) of resizing a width x height frame to cover model_width x model_height and
    cropping the centre: a pixel coordinate x of the render lands at x * scale - left."""
    scale = max(model_width / width, model_height / height)
    return scale, (width * scale - model_width) / 2.0, (height * scale - model_height) / 2.0


def intrinsics_in_model_frame(pixels: np.ndarray, width: int, height: int, model_width: int,
                              model_height: int) -> np.ndarray:
    """Pixel fx, fy, cx, cy (..., 4) of a width x height render, as they are in the model's frame after
    resize-to-cover and centre crop."""
    scale, left, top = cover_crop(width, height, model_width, model_height)
    k = np.asarray(pixels, dtype=np.float64) * scale
    return k - np.array([0.0, 0.0, left, top])


def intrinsics_in_render_frame(model_pixels: np.ndarray, width: int, height: int, model_width: int,
                               model_height: int) -> np.ndarray:
    """The inverse of intrinsics_in_model_frame."""
    scale, left, top = cover_crop(width, height, model_width, model_height)
    return (np.asarray(model_pixels, dtype=np.float64) + np.array([0.0, 0.0, left, top])) / scale


def cameractrl_loader_pixels(columns: np.ndarray, model_width: int, model_height: int,
                             pose_size: tuple[int, int] = LOADER_POSE_SIZE) -> np.ndarray:
    """What CameraCtrl's / VideoX-Fun's arithmetic makes of columns 1-4 (..., 4) for a model frame:
    pixel fx, fy, cx, cy."""
    columns = np.asarray(columns, dtype=np.float64)
    pose_ratio, sample_ratio = pose_size[0] / pose_size[1], model_width / model_height
    fx, fy, cx, cy = np.moveaxis(columns, -1, 0)
    if pose_ratio > sample_ratio:
        fx_px, fy_px = fx * model_height * pose_ratio, fy * model_height
    else:
        fx_px, fy_px = fx * model_width, fy * model_width / pose_ratio
    return np.stack([fx_px, fy_px, cx * model_width, cy * model_height], axis=-1)


def cameractrl_columns(model_pixels: np.ndarray, model_width: int, model_height: int,
                       pose_size: tuple[int, int] = LOADER_POSE_SIZE) -> np.ndarray:
    """Columns 1-4 that make cameractrl_loader_pixels return `model_pixels` (its exact inverse)."""
    unit = cameractrl_loader_pixels(np.ones(4), model_width, model_height, pose_size)
    return np.asarray(model_pixels, dtype=np.float64) / unit


def cami2v_loader_pixels(width: int, height: int, model_width: int, model_height: int) -> np.ndarray:
    """The camera CamI2V's inference uses whatever the file says: fx = fy = half the longer side of the
    image resized (int sizes) to cover the model frame, principal point at the model frame's centre."""
    if width / height > model_width / model_height:
        resized = (int(width * model_height / height), model_height)
    else:
        resized = (model_width, int(height * model_width / width))
    focal = 0.5 * max(resized)
    return np.array([focal, focal, model_width / 2.0, model_height / 2.0])


# ReCamMaster's training cameras (its README): 1280x1280 frames, these focal lengths on a square sensor.
RECAMMASTER_TRAINING_LENSES = (18.0, 24.0, 35.0, 50.0)
RECAMMASTER_TRAINING_SENSOR = 23.76
RECAMMASTER_TRAINING_SIZE = 1280
# MotionCtrl-SVD's get_RT multiplies the w2c translations by this (x speed) before using them.
MOTIONCTRL_SVD_TRANSLATION_SCALE = (3.0, 1.0, 4.0)


def recammaster_training_focals(model_width: int, model_height: int) -> np.ndarray:
    """The focal lengths (px) of ReCamMaster's training cameras in a model frame: the square training frame
    resized to cover it and centre-cropped."""
    size = RECAMMASTER_TRAINING_SIZE
    scale = cover_crop(size, size, model_width, model_height)[0]
    return np.array(RECAMMASTER_TRAINING_LENSES) / RECAMMASTER_TRAINING_SENSOR * size * scale


# Uni3C's load_dataset: the model frame's area (cam_control.py's max_area) and the VAE stride x patch size.
UNI3C_MAX_AREA = 480 * 768
UNI3C_MOD = 16


def uni3c_model_frame(width: int, height: int) -> tuple[int, int]:
    """Uni3C's model frame for a reference image of width x height: its aspect at UNI3C_MAX_AREA pixels,
    each side rounded, then floored to a multiple of UNI3C_MOD."""
    aspect = height / width
    model_height = round(float(np.sqrt(UNI3C_MAX_AREA * aspect))) // UNI3C_MOD * UNI3C_MOD
    model_width = round(float(np.sqrt(UNI3C_MAX_AREA / aspect))) // UNI3C_MOD * UNI3C_MOD
    return int(model_width), int(model_height)


def parse_model_size(text: str) -> tuple[int, int]:
    """'832x480' -> (832, 480); ValueError with the reason otherwise."""
    parts = str(text).strip().lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and len(p.strip()) <= 6 for p in parts):
        raise ValueError(f"expected WIDTHxHEIGHT (e.g. 832x480), got {text!r}")
    width, height = (int(p) for p in parts)
    if not (0 < width <= 65536 and 0 < height <= 65536):
        raise ValueError(f"the model frame must be 1 .. 65536 pixels a side, got {text!r}")
    return width, height


def model_resolution(resolutions: tuple[tuple[int, int], ...], width: int, height: int,
                     resolution: tuple[int, int] | None = None) -> tuple[int, int]:
    """The model frame to write for: `resolution` when given, else the preset's resolution whose
    orientation matches the render's (a square render takes the first)."""
    if resolution is not None:
        return int(resolution[0]), int(resolution[1])
    portrait = height > width
    for w, h in resolutions:
        if (h > w) == portrait:
            return w, h
    return resolutions[0]


__all__ = ["CONTRACTS", "LOADER_POSE_SIZE", "LoaderContract", "MOTIONCTRL_SVD_TRANSLATION_SCALE",
           "parse_model_size", "recammaster_training_focals", "cami2v_loader_pixels", "cameractrl_columns",
           "cameractrl_loader_pixels", "cover_crop", "intrinsics_in_model_frame", "intrinsics_in_render_frame",
           "model_resolution", "uni3c_model_frame", "UNI3C_MAX_AREA", "UNI3C_MOD"]
