"""Every Blender-version difference ParaScale depends on, in one place (4.2 LTS, 4.5 LTS, 5.0).

- 5.0 writes multilayer EXR through `media_type`; 4.x through the OPEN_EXR_MULTILAYER file format.
  (PNG output likewise needs `media_type = 'IMAGE'` first on 5.0.)
- Animation: 4.2 keeps F-curves on `Action.fcurves`; 4.4 introduced slotted actions (layers -> keyframe
  strips -> one channelbag per slot), with a legacy `Action.fcurves` proxy that 5.0 removed. The functions
  below create, find and bulk-write F-curves the same way on all three.
- Video output: 5.0 writes movies through `media_type = 'VIDEO'`; 4.x through the FFMPEG file format alone.
- EEVEE: the engine is `BLENDER_EEVEE_NEXT` on 4.2 - 4.5 and `BLENDER_EEVEE` again on 5.0.
- Sequencer: 4.4 renamed `SequenceEditor.sequences` to `strips` (4.2 has only `sequences`); 5.0's
  `new_effect` takes `length` where 4.x takes `frame_end`; 4.4 renamed the text strip's anchor properties
  `align_x`/`align_y` to `anchor_x`/`anchor_y` (and gave `alignment_x` the text's own alignment).
"""

from __future__ import annotations

import bpy
import numpy as np

BLENDER_VERSION: tuple[int, int, int] = tuple(bpy.app.version)  # type: ignore[assignment]

# Slotted actions (Action.layers / Action.slots / channelbags) exist from 4.4 on.
HAS_SLOTTED_ACTIONS = BLENDER_VERSION >= (4, 4, 0)

# Keyframe.interpolation enum, by the integer foreach_set expects (its RNA order).
_INTERPOLATION_KEYS: tuple[str, ...] = tuple(bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items.keys())


def set_multilayer_exr_output(scene: bpy.types.Scene) -> None:
    """Make renders of `scene` write one multilayer OpenEXR (all passes, float)."""
    settings = scene.render.image_settings
    if BLENDER_VERSION >= (5, 0, 0):
        settings.file_format = "OPEN_EXR"
        settings.media_type = "MULTI_LAYER_IMAGE"
    else:
        settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"


def image_format_settings() -> tuple[str, ...]:
    """The ImageFormatSettings attributes that choose an output format, in the order to set (and
    restore) them: 5.0's `media_type` constrains which `file_format` values are accepted."""
    base = ("file_format", "color_mode", "color_depth", "compression")
    return ("media_type",) + base if BLENDER_VERSION >= (5, 0, 0) else base


def set_png_output(scene: bpy.types.Scene) -> None:
    """Make renders of `scene` write an 8-bit RGB PNG."""
    settings = scene.render.image_settings
    if BLENDER_VERSION >= (5, 0, 0):
        settings.media_type = "IMAGE"
    settings.file_format = "PNG"
    settings.color_mode = "RGB"
    settings.color_depth = "8"


# Whether this Blender was built with FFmpeg (the bpy wheels of 4.2.23, 4.5.15 and 5.0.1 all are).
HAS_FFMPEG: bool = bool(getattr(bpy.app.build_options, "codec_ffmpeg", False))


def set_h264_output(scene: bpy.types.Scene, quality: str = "HIGH") -> None:
    """Make animation renders of `scene` write one MP4 (H.264) through Blender's own FFmpeg output."""
    settings = scene.render.image_settings
    if BLENDER_VERSION >= (5, 0, 0):
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    ffmpeg = scene.render.ffmpeg
    ffmpeg.format, ffmpeg.codec = "MPEG4", "H264"
    ffmpeg.constant_rate_factor = quality
    ffmpeg.audio_codec = "NONE"


def eevee_engine() -> str:
    """The render engine identifier of EEVEE in this Blender."""
    return "BLENDER_EEVEE_NEXT" if (4, 2, 0) <= BLENDER_VERSION < (5, 0, 0) else "BLENDER_EEVEE"


def sequencer_strips(scene: bpy.types.Scene) -> bpy.types.bpy_prop_collection:
    """The top-level strips of the scene's sequencer (created when the scene has none)."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def new_effect_strip(scene: bpy.types.Scene, name: str, kind: str, channel: int, frame_start: int,
                     length: int) -> bpy.types.bpy_struct:
    """A generator effect strip (TEXT, COLOR) of `length` frames from `frame_start` on `channel`."""
    strips = sequencer_strips(scene)
    if "length" in strips.bl_rna.functions["new_effect"].parameters:
        return strips.new_effect(name=name, type=kind, channel=channel, frame_start=frame_start, length=length)
    return strips.new_effect(name=name, type=kind, channel=channel, frame_start=frame_start,
                             frame_end=frame_start + length)


def set_text_anchor(strip: bpy.types.bpy_struct, x: str, y: str) -> None:
    """Which point of a text strip's text sits at its `location`: x LEFT/CENTER/RIGHT, y TOP/CENTER/BOTTOM."""
    if hasattr(strip, "anchor_x"):
        strip.anchor_x, strip.anchor_y = x, y
    else:
        strip.align_x, strip.align_y = x, y


def _channelbag(action: bpy.types.Action, slot: object, ensure: bool) -> object | None:
    """The channelbag of `slot` in the action's first keyframe strip (created when `ensure`)."""
    if not action.layers:
        if not ensure:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if not layer.strips:
        if not ensure:
            return None
        layer.strips.new(type="KEYFRAME")
    return layer.strips[0].channelbag(slot, ensure=ensure)


def ensure_action(id_data: bpy.types.ID, name: str | None = None) -> bpy.types.Action:
    """The action animating `id_data`, created and assigned (with a slot on 4.4+) when there is none."""
    anim = id_data.animation_data or id_data.animation_data_create()
    action = anim.action
    if action is None:
        action = bpy.data.actions.new(name or f"{id_data.name}Action")
        anim.action = action
    if HAS_SLOTTED_ACTIONS and anim.action_slot is None:
        slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
        anim.action_slot = slot
    return action


def action_fcurves(id_data: bpy.types.ID) -> list[bpy.types.FCurve]:
    """The F-curves of the action animating `id_data` (its slot's channelbag on 4.4+); [] when none."""
    anim = id_data.animation_data
    if anim is None or anim.action is None:
        return []
    if not HAS_SLOTTED_ACTIONS:
        return list(anim.action.fcurves)
    if anim.action_slot is None:
        return []
    bag = _channelbag(anim.action, anim.action_slot, ensure=False)
    return [] if bag is None else list(bag.fcurves)


def find_fcurve(id_data: bpy.types.ID, data_path: str, index: int = 0) -> bpy.types.FCurve | None:
    """The F-curve animating `data_path[index]` of `id_data`, or None."""
    for fcurve in action_fcurves(id_data):
        if fcurve.data_path == data_path and fcurve.array_index == index:
            return fcurve
    return None


def ensure_fcurve(id_data: bpy.types.ID, data_path: str, index: int = 0, group: str = "") -> bpy.types.FCurve:
    """The F-curve animating `data_path[index]` of `id_data`, created (with its action) when missing."""
    existing = find_fcurve(id_data, data_path, index)
    if existing is not None:
        return existing
    action = ensure_action(id_data)
    if not HAS_SLOTTED_ACTIONS:
        return action.fcurves.new(data_path, index=index, action_group=group)
    bag = _channelbag(action, id_data.animation_data.action_slot, ensure=True)
    fcurve = bag.fcurves.new(data_path, index=index)
    if group:
        fcurve_group = bag.groups.get(group) or bag.groups.new(group)
        fcurve.group = fcurve_group
    return fcurve


def write_keyframes(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray,
                    interpolation: str = "LINEAR") -> None:
    """Replace the keyframes of `fcurve` by (frames, values) in one bulk write (keyframe_points.add +
    foreach_set), all with the same interpolation. Orders of magnitude faster than keyframe_insert."""
    frames = np.asarray(frames, dtype=np.float32).reshape(-1)
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if frames.shape != values.shape:
        raise ValueError(f"{frames.size} frames for {values.size} values")
    points = fcurve.keyframe_points
    if len(points):
        points.clear()
    n = frames.size
    points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    points.foreach_set("co", co)
    # Handles at the key itself: harmless for LINEAR, and no stray handle far from the data.
    points.foreach_set("handle_left", co)
    points.foreach_set("handle_right", co)
    points.foreach_set("interpolation", np.full(n, _INTERPOLATION_KEYS.index(interpolation), dtype=np.int32))
    fcurve.update()


def read_keyframes(fcurve: bpy.types.FCurve) -> tuple[np.ndarray, np.ndarray]:
    """(frames, values) of the keyframes of `fcurve`, float64."""
    n = len(fcurve.keyframe_points)
    co = np.empty(2 * n, dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", co)
    return co[0::2].astype(np.float64), co[1::2].astype(np.float64)


def remove_animation(id_data: bpy.types.ID) -> None:
    """Drop the animation of `id_data`; its action is deleted when nothing else uses it."""
    anim = id_data.animation_data
    if anim is None:
        return
    action = anim.action
    id_data.animation_data_clear()
    if action is not None and action.users == 0:
        bpy.data.actions.remove(action)
