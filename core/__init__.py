"""The numpy heart of ParaScale: no bpy, no mathutils, no scipy (it runs inside stock Blender)."""

from .depth import BoundsDepth, DepthProbe, FixedDepth, PerFrameDepth, PointsDepth, Views, probe_depths
from .errors import DepthError, NoDepthError, NoMotionError, ParaScaleError, PoseFileError, TrajectoryError
from .metrics import identity_line, parallax_consistency, pce, rotation_error, translation_error, umeyama
from .parallax import MODES, TransferResult, parallax_numbers, trajectory_parallax, transfer
from .poses import Intrinsics, Trajectory, reanchor, resample

__all__ = [
    "BoundsDepth", "DepthProbe", "FixedDepth", "PerFrameDepth", "PointsDepth", "Views", "probe_depths",
    "DepthError", "NoDepthError", "NoMotionError", "ParaScaleError", "PoseFileError", "TrajectoryError",
    "identity_line", "parallax_consistency", "pce", "rotation_error", "translation_error", "umeyama",
    "MODES", "TransferResult", "parallax_numbers", "trajectory_parallax", "transfer",
    "Intrinsics", "Trajectory", "reanchor", "resample",
]
