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
- AC3D (CogVideoX, 480x720): its camera dataset loader follows CameraCtrl's arithmetic above; we could not
  read it in the public index, so the contract is CameraCtrl's.
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
        "CameraCtrl, VideoX-Fun (Wan Fun Camera Control), AC3D",
        "CameraCtrl inference.py Camera + original_pose_width/height; VideoX-Fun process_pose_file",
        "cameractrl", LOADER_POSE_SIZE, "resize to cover, centre crop",
        "lines 2..: columns 1-4 fx fy cx cy (normalized, 1280x720 assumed), 7-18 w2c 3x4",
        "fx, fy, cx, cy such that the loader's rescale yields the render's camera in the model frame"),
    "cami2v": LoaderContract(
        "CamI2V (DynamiCrafter)", "CamI2V single_image_for_inference.get_batch_input", "ignored", None,
        "resize to cover (int sizes), centre crop",
        "loadtxt(comments='https'); columns 7-18 w2c 3x4 only",
        "the render's camera in the model frame (normalized); the demo uses fx = fy = half the longer resized "
        "side and the frame centre instead: warned with numbers"),
    "relative": LoaderContract(
        "MotionCtrl, ReCamMaster", "MotionCtrl load_camera_pose; ReCamMaster matrix parsing", "none", None,
        "none (no intrinsics)", "poses only", "poses only; the lens is kept in the sidecar"),
    "uni3c": LoaderContract(
        "Uni3C", "Uni3C src/dataset.py", "pixels", None, "none: pixels of the written width x height",
        "intrinsic 3x3, extrinsic N x 4x4, width, height", "the render's pixel camera and size"),
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


__all__ = ["CONTRACTS", "LOADER_POSE_SIZE", "LoaderContract", "cami2v_loader_pixels", "cameractrl_columns",
           "cameractrl_loader_pixels", "cover_crop", "intrinsics_in_model_frame", "intrinsics_in_render_frame",
           "model_resolution"]
