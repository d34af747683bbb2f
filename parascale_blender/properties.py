"""The add-on's settings: one PropertyGroup behind `scene.parascale`."""

from __future__ import annotations

from collections.abc import Callable

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..core.geometry import DEFAULT_RESOLUTION, MAX_PROBE_RESOLUTION
from ..core.statistics import DEFAULT_STATISTIC

REFERENCE_SOURCES = [
    ("GEOMETRY", "Geometry", "Median depth of the reference collection's visible surface (rendered depth statistic)"),
    ("BOUNDS", "Bounds", "Depth of the centre of the reference collection's bounding box"),
    ("FOCUS", "Focus", "The reference camera's focus distance (or distance to its focus object), per frame"),
    ("FIXED", "Fixed", "One depth for every frame"),
    ("TRACKING", "Tracking", "Median depth of the bundles of a solved movie clip"),
    ("IMPORTED", "Imported", "The per-frame depth imported with the reference's pose file (Import Camera Poses "
                             "with a depth file: an external pose estimator's poses and depths)"),
]
TARGET_SOURCES = [item for item in REFERENCE_SOURCES if item[0] not in ("TRACKING", "IMPORTED")]
TARGET_SOURCES[2] = ("FOCUS", "Focus", "The target start camera's focus distance (or distance to its focus object)")
DEPTH_STATISTICS = [
    ("MEDIAN", "Median", "The median of the depths (the paper's statistic); it jumps where an occlusion edge "
                         "crosses the median pixel"),
    ("SMOOTH", "Smooth", "A smoothly weighted mean of log depth over the central quantile band (0.2-0.8): "
                         "continuous where pillars, doorways or foreground objects enter and leave the view"),
]
MODES = [
    ("PER_FRAME", "Per Frame", "Match the parallax of every frame against the target's own depth (calibrated)"),
    ("GLOBAL", "Global", "One scale for the whole move: the ratio of the depths at the first frame"),
    ("UNCALIBRATED", "Uncalibrated", "Reuse the reference's relative motion unscaled (baseline)"),
]


def _is_camera(_self: object, obj: bpy.types.Object) -> bool:
    return obj.type == "CAMERA"


def _use_scene_range_update(self: ParaScaleSettings, context: bpy.types.Context) -> None:
    # Turning the scene range off starts the custom range from the scene's, not from arbitrary numbers.
    if not self.use_scene_range:
        scene = context.scene
        self.frame_start, self.frame_end = scene.frame_start, scene.frame_end


# Called when Show Overlay changes. The viewport overlay (preview_draw.py, a layer above this module)
# adds its handler sync here when it registers: its draw handlers exist only while some scene shows it.
SHOW_OVERLAY_LISTENERS: list[Callable[[], None]] = []


def _show_overlay_update(self: ParaScaleSettings, context: bpy.types.Context) -> None:
    for listener in SHOW_OVERLAY_LISTENERS:
        listener()


class ParaScaleSettings(bpy.types.PropertyGroup):
    reference_camera: PointerProperty(
        name="Reference", type=bpy.types.Object, poll=_is_camera,
        description="The camera whose move is transferred (it is never modified)")
    reference_source: EnumProperty(
        name="Reference Depth", items=REFERENCE_SOURCES, default="GEOMETRY",
        description="How the depth of the reference scene is measured")
    reference_collection: PointerProperty(
        name="Reference Collection", type=bpy.types.Collection,
        description="The objects of the reference scene (Geometry and Bounds depth)")
    reference_depth: FloatProperty(
        name="Reference Depth", default=10.0, min=1e-9, soft_min=1e-6, precision=4, unit="LENGTH",
        description="The reference scene's depth (Fixed)")

    target_start: PointerProperty(
        name="Target Start", type=bpy.types.Object, poll=_is_camera,
        description="Where the move starts in the target scene (empty: the scene camera)")
    target_source: EnumProperty(
        name="Target Depth", items=TARGET_SOURCES, default="GEOMETRY",
        description="How the depth of the target scene is measured")
    target_collection: PointerProperty(
        name="Target Collection", type=bpy.types.Collection,
        description="The objects of the target scene (Geometry and Bounds depth)")
    target_depth: FloatProperty(
        name="Target Depth", default=1.0, min=1e-9, soft_min=1e-6, precision=4, unit="LENGTH",
        description="The target scene's depth (Fixed)")

    mode: EnumProperty(name="Mode", items=MODES, default="PER_FRAME",
                       description="How the move is scaled to the target scene")
    # No hard limits: a value the transfer refuses (<= 0, NaN, inf) is reported by the operator in one line.
    strength: FloatProperty(
        name="Strength", default=1.0, soft_min=0.1, soft_max=4.0, step=10, precision=3,
        description="The written move realizes this many times the reference's parallax at every frame (1: the "
                    "same; 0.5: half as strong; 2: twice). Global: this times the first frame's scale; "
                    "Uncalibrated: this times the raw move")
    depth_statistic: EnumProperty(
        name="Depth Statistic", items=DEPTH_STATISTICS, default=DEFAULT_STATISTIC.upper(),
        description="How the depths a source sees (pixels, points, bundles) become one depth per frame, the "
                    "same on both sides")
    # Subject anchoring (core/framing.py): off by default, the transfer is then the paper's (rotation untouched).
    keep_subject_framed: BoolProperty(
        name="Keep Subject Framed", default=False,
        description="Turn each frame's rotation by the least angle that keeps the target subject where the "
                    "reference subject is in the reference's frame (Pi per frame kept)")
    reference_subject: PointerProperty(
        name="Reference Subject", type=bpy.types.Object,
        description="The object (or empty) the reference move frames: its origin, at every frame")
    target_subject: PointerProperty(
        name="Target Subject", type=bpy.types.Object,
        description="The object (or empty) to frame like the reference subject: its origin, at every frame "
                    "(empty: found by depth along the target start's view, on the ray through the reference "
                    "subject's image position at the first frame, at the target depth measured there)")
    use_scene_range: BoolProperty(name="Scene Range", default=True, update=_use_scene_range_update,
                                  description="Transfer the scene's frame range")
    frame_start: IntProperty(name="Start", default=1, description="First frame to transfer")
    frame_end: IntProperty(name="End", default=250, description="Last frame to transfer")
    geometry_resolution: IntProperty(
        name="Probe Resolution", default=DEFAULT_RESOLUTION, min=8, soft_max=512, max=MAX_PROBE_RESOLUTION,
        description="Size in pixels, along its longer side, of the depth image the Geometry source measures")

    # For the viewport preview and the tracking depth source.
    show_overlay: BoolProperty(name="Show Overlay", default=False, update=_show_overlay_update,
                               description="Draw the reference and calibrated paths in the viewport")
    tracking_clip: PointerProperty(name="Clip", type=bpy.types.MovieClip,
                                   description="The solved movie clip whose bundles give the reference depth")
    tracking_object: StringProperty(name="Tracking Object", default="",
                                    description="Name of the tracking object (empty: the camera object)")
    tracking_min_bundles: IntProperty(name="Min Bundles", default=8, min=1,
                                      description="Fewest bundles in view for a frame to have a depth")
    tracking_markers_only: BoolProperty(
        name="Markers Only", default=False,
        description="Use only bundles whose track has a marker at the frame (seen, not just in the frustum)")
    # Keep by default: the checks (core/solve_check.py) are heuristics and excluding a frame changes the move
    # or its range; the warning names every suspect frame with its reason, and the user chooses.
    tracking_suspect_frames: EnumProperty(
        name="Suspect Frames", default="KEEP",
        items=[("KEEP", "Keep (Warn)", "Transfer suspect solve frames as solved; the report names them with the "
                                       "reason"),
               ("INTERPOLATE", "Interpolate", "Replace the poses of suspect solve frames by interpolation between "
                                              "the nearest trusted frames (held past the last one)"),
               ("STOP", "Stop Before", "Transfer only the frames before the first suspect solve frame (after "
                                       "any at the start)")],
        description="What the transfer does with frames the camera solve is suspect at (path jumps, few tracks "
                    "re-observed, high reprojection error, next to the edge of the solve)")


def register() -> None:
    bpy.utils.register_class(ParaScaleSettings)
    bpy.types.Scene.parascale = PointerProperty(type=ParaScaleSettings)


def unregister() -> None:
    del bpy.types.Scene.parascale
    bpy.utils.unregister_class(ParaScaleSettings)
