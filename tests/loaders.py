"""Numpy ports of the consumers' own pose-file loading arithmetic (only the arithmetic, in our own words), to
check that what ParaScale writes makes each loader reconstruct the render's camera.

Sources read with the search tool:
- CameraCtrl `inference.py` (hehao13/CameraCtrl, commit 1f9d8baeff66f6c60bb9848dfafcc667b3a22a28): `Camera`,
  the `original_pose_width/height` rescale in `main`, `get_relative_pose`, `ray_condition`.
- VideoX-Fun `videox_fun/data/utils.py` `process_pose_file` (aigc-apps/VideoX-Fun, commit
  5ab1c93785c23fe9072450e18de08743e2d302b1): the same arithmetic, `cam_to_origin = 0`.
- ComfyUI-AnimateDiff-Evolved (Kosinkadink/ComfyUI-AnimateDiff-Evolved, commit
  d8d163cd90b1111f6227495e3467633676fbb346; both files unchanged since 93cafde180924deec5852051c60c7192fbbc58f1):
  `animatediff/nodes_cameractrl.py` `LoadCameraPoses.load_camera_poses` / `LoadCameraPosesFromPath` with
  `set_original_pose_dims`, and `animatediff/adapter_cameractrl.py` `CameraEntry`, `prepare_pose_embedding`
  (called by `model_injection.py` with the latent's size x 8), `get_relative_pose`, `ray_condition`.
- CamI2V `demo/cami2v_test.py` (ZGCTroy/CamI2V, commit 1e5f11863fc4d82674330f3f88e08aaeb8c85fba):
  `np.loadtxt(path, comments="https")`, columns 7.. as w2c, inverse to c2w; intrinsics from
  `CameraControl/data/single_image_for_inference.py` (commit 543255f52104dfe924a9b15ddaafe00010ec6422),
  `_resize_for_rectangle_crop` and `get_batch_input`.
- AC3D `training/controlnet_datasets_camera.py` `RealEstate10KPoseControlnetDataset` (snap-research/ac3d, commit
  c68be94c3c7ab3f5121ffc17a5cffde5850151ad), as `inference/cli_demo_camera.py` uses it: `load_cameras`,
  `get_batch` (frame indices, the `rescale_fxy` block), `get_relative_pose`.
- MotionCtrl (TencentARC/MotionCtrl): `main/evaluation/motionctrl_inference.py` `load_camera_pose` (commit
  bb00d47a017e55ae0931434e76656edfcde2b9b8); SVD branch `main/inference/motionctrl_cmcm.py` `get_RT` and
  `to_relative_RT2` (commit 2a541c88ded1695ec468f2d5faf057bd90db8fc3).
- ReCamMaster `inference_recammaster.py` (KwaiVGI/ReCamMaster, commit 2e743bf0e21581ffe1d7c51d082ce340e94d1721):
  `parse_matrix`, the camera block of `TextVideoCameraDataset.__getitem__`, `get_relative_pose`.
- Uni3C (ewrfcas/Uni3C): `src/dataset.py` `load_dataset` (commit 22bcec5e1183b51e36cfadd9f7a0bc2160e8e090) and
  `src/camera.py` `camera_center_normalization`, `batch_sample_rays` (commit
  979b6c6fb6e85b5ce53ce611316e75cdae51d9d8).
- nerfstudio `nerfstudio/cameras/camera_paths.py` `get_path_from_json` (nerfstudio-project/nerfstudio, commit
  e8bf47269251b5f49c8506cd7eb0a2aa240222c4) with `three_js_perspective_camera_focal_length`
  (`nerfstudio/viewer_legacy/server/utils.py`, commit d6df39b70d2e0b444178d23b694989e39d624781).
"""

from __future__ import annotations

import json
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


def comfyui_animatediff_camera(path: Path, image_width: int, image_height: int,
                               pose_size: tuple[int, int] = (1280, 720)) -> tuple[np.ndarray, np.ndarray]:
    """What ComfyUI-AnimateDiff-Evolved makes of a pose file for an image_width x image_height sample:
    (pixel fx, fy, cx, cy per frame (t, 4) and c2w in frame 0's camera axes (t, 4, 4), both float32 as it
    builds them). The load nodes overwrite columns 5-6 with 1280 720 (set_original_pose_dims); each entry's
    rescale then takes its own ratio from columns 5-6."""
    lines = Path(path).read_text().splitlines(keepends=True)
    entries = np.array([[float(x) for x in line.strip().split(" ")] for line in lines[1:]])
    entries[:, 5], entries[:, 6] = pose_size
    fx, fy, cx, cy = (entries[:, k].copy() for k in range(1, 5))
    pose_ratio = entries[:, 5] / entries[:, 6]
    wider = pose_ratio > image_width / image_height
    fx[wider] = image_height * pose_ratio[wider] * fx[wider] / image_width
    fy[~wider] = image_width / pose_ratio[~wider] * fy[~wider] / image_height
    intrinsic = np.stack([fx * image_width, fy * image_height, cx * image_width, cy * image_height],
                         axis=1).astype(np.float32)
    w2c = np.tile(np.eye(4), (len(entries), 1, 1))
    w2c[:, :3, :] = entries[:, 7:].reshape(-1, 3, 4)
    c2w = np.linalg.inv(w2c)  # CameraEntry.c2w_mat
    relative = np.concatenate([np.eye(4)[None], w2c[0] @ c2w[1:]])  # cam_to_origin = 0: the target is I
    return intrinsic, relative.astype(np.float32)


def comfyui_ray_pixels(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """ray_condition's pixel coordinates: linspace(0, W - 1, W) + 0.5 and linspace(0, H - 1, H) + 0.5."""
    return np.linspace(0, width - 1, width) + 0.5, np.linspace(0, height - 1, height) + 0.5


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


def ac3d_frame_indices(rows: int, sample_n_frames: int = 49, stride: int = 1) -> np.ndarray:
    """get_batch's frame choice with cli_demo_camera's default stride 1 and a file of exactly the rows it
    needs (the random start is then 0): which rows the loader reads."""
    cropped = sample_n_frames * stride
    assert rows >= sample_n_frames and rows >= cropped  # otherwise its randint fails and __getitem__ retries
    end = min(cropped, rows)
    return np.linspace(0, end - 1, sample_n_frames, dtype=int)


def ac3d_intrinsics(path: Path, clip_width: int, clip_height: int, width: int = 720, height: int = 480
                    ) -> np.ndarray:
    """The rescale_fxy block: CameraCtrl's arithmetic line for line (cameractrl_intrinsics), except that the
    original ratio is the paired clip's (its decoded frames' ori_w / ori_h), at the sample size (height, width)."""
    return cameractrl_intrinsics(path, width, height, pose_width=clip_width, pose_height=clip_height)


def motionctrl_rt(path: Path) -> np.ndarray:
    """load_camera_pose: the JSON rows as they are, (t, 3, 4) w2c (the model's pose_emb)."""
    return np.array(json.loads(Path(path).read_text()), dtype=np.float64).reshape(-1, 3, 4)


def motionctrl_svd_rt(path: Path, video_frames: int = 14, frame_stride: int = 1, speed: float = 1.0) -> np.ndarray:
    """get_RT: stride down to fit, the middle `video_frames` rows when fewer than 16, translations times
    (3, 1, 4) x speed, then to_relative_RT2 (R_i R_0^T, t_i - R_rel t_0). Shape (t, 3, 4)."""
    pose = np.array(json.loads(Path(path).read_text()), dtype=np.float64)
    while frame_stride * video_frames > pose.shape[0]:
        frame_stride -= 1
    pose = pose[::frame_stride]
    if video_frames < 16:
        half = (pose.shape[0] - video_frames) // 2
        pose = pose[half:half + video_frames]
    pose = pose.reshape(-1, 3, 4)
    pose[:, :, -1] = pose[:, :, -1] * np.array([3, 1, 4]) * speed
    r_rel = pose[:, :, :3] @ pose[0, :, :3].T
    t_rel = pose[:, :, 3:] - r_rel @ pose[0, :, 3:]
    return np.concatenate([r_rel, t_rel], axis=-1)


def recammaster_relative_c2w(path: Path, cam_type: int = 1, num_frames: int = 81) -> np.ndarray:
    """frames 0, 4, .. of cam{cam_type:02d}: parse_matrix, transpose, columns (1, 2, 0, 3), column 1 negated,
    translation / 100, then get_relative_pose([first, i])[1]: c2w in the first camera's axes, (t, 4, 4)."""
    data = json.loads(Path(path).read_text())
    c2ws = []
    for idx in list(range(num_frames))[::4]:
        text = data[f"frame{idx}"][f"cam{int(cam_type):02d}"]
        rows = [row.replace("[", "").replace("]", "") for row in text.strip().split("] [")]
        c2w = np.array([[float(v) for v in row.split()] for row in rows]).T[:, [1, 2, 0, 3]]
        c2w[:3, 1] *= -1.0
        c2w[:3, 3] /= 100
        c2ws.append(c2w)
    w2c0 = np.linalg.inv(c2ws[0])
    return np.array([w2c0 @ c2w for c2w in c2ws])


def uni3c_model_size(image_width: int, image_height: int, max_area: int = 480 * 768, mod_value: int = 16
                     ) -> tuple[int, int]:
    """load_dataset's frame: the reference image's aspect at max_area (cam_control.py's default), rounded down
    to the VAE stride x patch size (8 x 2)."""
    aspect = image_height / image_width
    height = round(np.sqrt(max_area * aspect)) // mod_value * mod_value
    width = round(np.sqrt(max_area / aspect)) // mod_value * mod_value
    return int(width), int(height)


def uni3c_camera(path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(K (3, 3) at width x height: row 0 scaled by width / file width, row 1 by height / file height; w2c
    (t, 4, 4) made relative as camera_center_normalization's first step, inverse(w2c_0) @ w2c_i)."""
    info = json.loads(Path(path).read_text())
    k = np.array(info["intrinsic"], dtype=np.float64)
    k[0, :] = k[0, :] / info["width"] * width
    k[1, :] = k[1, :] / info["height"] * height
    w2cs = np.array(info["extrinsic"], dtype=np.float64)
    return k, np.linalg.inv(w2cs[0]) @ w2cs


def uni3c_ray_pixels(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """batch_sample_rays' pixel coordinates: x = i - 0.5, y = j + 0.5 (x one pixel left of y's convention)."""
    return np.arange(width) - 0.5, np.arange(height) + 0.5


def nerfstudio_cameras(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float], tuple[int, int]]:
    """get_path_from_json for a perspective path: (c2w (t, 3, 4) as written, fx = fy per frame from the
    vertical fov and render_height, (cx, cy) = the frame centre, (render_width, render_height))."""
    data = json.loads(Path(path).read_text())
    height, width = data["render_height"], data["render_width"]
    c2w = np.array([np.array(c["camera_to_world"], dtype=np.float64).reshape(4, 4)[:3] for c in data["camera_path"]])
    focal = np.array([height / 2.0 / np.tan(np.radians(c["fov"]) / 2.0) for c in data["camera_path"]])
    return c2w, focal, (width / 2, height / 2), (width, height)


OPENCV_FLIP = np.diag([1.0, -1.0, -1.0, 1.0])


def relative_c2w(matrices: np.ndarray) -> np.ndarray:
    """The oracle's side: Blender world matrices (t, 4, 4) as c2w in the first camera's OpenCV axes."""
    return np.linalg.inv(matrices[0] @ OPENCV_FLIP) @ matrices @ OPENCV_FLIP


def poses_as_read(preset: str, path: Path) -> tuple[np.ndarray, int]:
    """What a preset's consumer makes of the file's poses, as c2w in its first camera's OpenCV axes
    (t, 4, 4), and the step between the written frames it reads (ReCamMaster: every 4th). MotionCtrl-SVD's
    (3, 1, 4) translation stretch is undone here (it is warned about, not written around)."""
    def padded(rt: np.ndarray) -> np.ndarray:
        out = np.tile(np.eye(4), (len(rt), 1, 1))
        out[:, :3, :] = rt
        return out

    if preset == "recammaster":
        return recammaster_relative_c2w(path), 4
    if preset in ("motionctrl", "motionctrl-svd"):
        rt = motionctrl_rt(path) if preset == "motionctrl" else motionctrl_svd_rt(path)
        if preset == "motionctrl-svd":
            rt[:, :, 3] /= np.array([3.0, 1.0, 4.0])
        return np.linalg.inv(padded(rt)), 1  # RT_i = w2c_i c2w_0: its inverse is c2w_i in camera 0's axes
    if preset == "uni3c":
        w2c = np.array(json.loads(Path(path).read_text())["extrinsic"], dtype=np.float64)
        return w2c[0] @ np.linalg.inv(w2c), 1
    if preset == "nerfstudio":
        c2w = nerfstudio_cameras(path)[0]
        return relative_c2w(padded(c2w)), 1
    if preset == "comfyui-animatediff":
        return comfyui_animatediff_camera(path, 384, 256)[1].astype(np.float64), 1
    return cameractrl_relative_c2w(path), 1
