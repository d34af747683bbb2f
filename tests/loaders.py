"""Numpy ports of the consumers' own pose-file loading arithmetic (only the arithmetic, in our own words), to
check that what ParaScale writes makes each loader reconstruct the render's camera.

Sources read with the search tool:
- CameraCtrl `inference.py` (hehao13/CameraCtrl, commit 1f9d8baeff66f6c60bb9848dfafcc667b3a22a28): `Camera`,
  the `original_pose_width/height` rescale in `main`, `get_relative_pose`, `ray_condition`.
- VideoX-Fun `videox_fun/data/utils.py` `process_pose_file` (aigc-apps/VideoX-Fun, commit
  5ab1c93785c23fe9072450e18de08743e2d302b1): the same arithmetic, `cam_to_origin = 0`.
- CamI2V `demo/cami2v_test.py` (ZGCTroy/CamI2V, commit 1e5f11863fc4d82674330f3f88e08aaeb8c85fba):
  `np.loadtxt(path, comments="https")`, columns 7.. as w2c, inverse to c2w; intrinsics from
  `CameraControl/data/single_image_for_inference.py` (commit 543255f52104dfe924a9b15ddaafe00010ec6422),
  `_resize_for_rectangle_crop` and `get_batch_input`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def cameractrl_rows(path: Path) -> np.ndarray:
    """Every line after the first, split on one space, as floats (CameraCtrl and VideoX-Fun)."""
    lines = Path(path).read_text().splitlines(keepends=True)
    return np.array([[float(x) for x in line.strip().split(" ")] for line in lines[1:]])


def cameractrl_intrinsics(path: Path, width: int, height: int, pose_width: int = 1280,
                          pose_height: int = 720) -> np.ndarray:
    """Pixel fx, fy, cx, cy per frame as the loader computes them for a width x height sample."""
    rows = cameractrl_rows(path)
    fx, fy, cx, cy = rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3], rows[:, 4]
    sample_ratio, pose_ratio = width / height, pose_width / pose_height
    if pose_ratio > sample_ratio:
        fx = height * pose_ratio * fx / width
    else:
        fy = width / pose_ratio * fy / height
    return np.stack([fx * width, fy * height, cx * width, cy * height], axis=1)


def cameractrl_relative_c2w(path: Path) -> np.ndarray:
    """get_relative_pose with zero_first_frame_scale: c2w of every frame in frame 0's camera axes,
    w2c_0 @ c2w_i (OpenCV axes); frame 0 is the identity."""
    rows = cameractrl_rows(path)
    w2c = np.tile(np.eye(4), (len(rows), 1, 1))
    w2c[:, :3, :] = rows[:, 7:].reshape(-1, 3, 4)
    c2w = np.linalg.inv(w2c)
    out = w2c[0] @ c2w
    out[0] = np.eye(4)
    return out


def cameractrl_rays(intrinsics: np.ndarray, width: int, height: int) -> np.ndarray:
    """ray_condition's camera-space directions (unnormalized, z = 1) at pixel centres (i + 0.5, j + 0.5),
    for one frame's fx, fy, cx, cy: shape (height, width, 3)."""
    fx, fy, cx, cy = intrinsics
    j, i = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    return np.stack([(i - cx) / fx, (j - cy) / fy, np.ones_like(i)], axis=-1)


def cami2v_w2c(path: Path) -> np.ndarray:
    """loadtxt(comments="https"), columns 7.. reshaped to 3x4 w2c."""
    data = np.loadtxt(path, comments="https", ndmin=2)
    return data[:, 7:].reshape(-1, 3, 4)


def cami2v_intrinsics(image_width: int, image_height: int, width: int, height: int) -> np.ndarray:
    """The camera CamI2V's inference uses for an image of image_width x image_height at a width x height
    model frame: the image resized (int sizes) to cover the frame, fx = fy = half the longer resized side,
    the principal point at the frame's centre. The file's intrinsics play no part."""
    if image_width / image_height > width / height:
        resized_h, resized_w = height, int(image_width * height / image_height)
    else:
        resized_h, resized_w = int(image_height * width / image_width), width
    focal = 0.5 * max(resized_h, resized_w)
    return np.array([focal, focal, 0.5 * width, 0.5 * height])


def cover_crop_pixels(points: np.ndarray, width: int, height: int, model_width: int, model_height: int
                      ) -> np.ndarray:
    """Pixel coordinates (..., 2) of a width x height image, after the image is resized to cover the model
    frame and centre-cropped (what the loaders do to the frames)."""
    scale = max(model_width / width, model_height / height)
    offset = np.array([(width * scale - model_width) / 2.0, (height * scale - model_height) / 2.0])
    return np.asarray(points, dtype=np.float64) * scale - offset
