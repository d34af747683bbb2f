"""The rendered side-by-side preview: the reference camera, the uncalibrated copy and the calibrated
camera rendered with Workbench (which renders headless) at low resolution over the transferred frames,
each panel captioned with its frame and Pi, written as

- `<basename>_sheet.png`: a contact sheet, one row per frame, columns reference | uncalibrated |
  calibrated, a caption band under each panel ("F12 REF PI 0.0123"); 8-bit RGB PNG;
- `<basename>.gif`: the same rows as an animated GIF (looping, one row per frame at the scene's frame
  rate, times the frame stride when frames were skipped), 252-colour uniform palette (6 x 7 x 6 levels).

Both are written by this module in plain numpy/zlib (PNG) and an LZW encoder (GIF), so they work with
stock Blender (no PIL, no FFmpeg). The uncalibrated camera is a temporary copy of the calibrated one on
the uncalibrated path (s = 1, same rotations, the calibrated camera's lens and clip range, so the panels
differ only by the move); it is removed afterwards. Render settings, the scene camera, the frame and
the collections' render visibility are restored: the user's scene is left as it was.

Also runnable for pipelines:
    python -m parascale.parascale_blender.preview_render FILE.blend --camera NAME --out DIR
        [--scene NAME] [--width 96] [--height 54] [--max-frames 24]
        [--reference-collection NAME] [--target-collection NAME]
It never saves the .blend. Exit status 0 on success, 1 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core.errors import OutputFileError, ParaScaleError, TrajectoryError
from ..core.fileio import check_output_paths
from . import camera_writing, compat, preview_data, scene_reading
from .transfer_record import TransferRecord, load

PANELS = ("reference", "uncalibrated", "calibrated")
PANEL_TAGS = {"reference": "REF", "uncalibrated": "UNCAL", "calibrated": "CAL"}
TEMPORARY_CAMERA = "ParaScale.preview.uncalibrated"
RENDER_RESULT = "Render Result"
SEPARATOR = 2  # pixels between panels and rows
BACKGROUND = np.array([24, 24, 24], dtype=np.uint8)
CAPTION_COLOUR = np.array([235, 235, 235], dtype=np.uint8)

# ------------------------------------------------------------------------------------------ bitmap font
# A 3x5 pixel font (rows top to bottom, '1' = ink) for captions: digits, capitals, a few signs.
_GLYPH_ROWS = {
    "0": "111 101 101 101 111", "1": "010 110 010 010 111", "2": "111 001 111 100 111",
    "3": "111 001 111 001 111", "4": "101 101 111 001 001", "5": "111 100 111 001 111",
    "6": "111 100 111 101 111", "7": "111 001 010 010 010", "8": "111 101 111 101 111",
    "9": "111 101 111 001 111", "A": "010 101 111 101 101", "B": "110 101 110 101 110",
    "C": "011 100 100 100 011", "D": "110 101 101 101 110", "E": "111 100 110 100 111",
    "F": "111 100 110 100 100", "G": "011 100 101 101 011", "H": "101 101 111 101 101",
    "I": "111 010 010 010 111", "J": "001 001 001 101 010", "K": "101 110 100 110 101",
    "L": "100 100 100 100 111", "M": "101 111 111 101 101", "N": "110 101 101 101 101",
    "O": "010 101 101 101 010", "P": "110 101 110 100 100", "Q": "010 101 101 110 011",
    "R": "110 101 110 101 101", "S": "011 100 010 001 110", "T": "111 010 010 010 010",
    "U": "101 101 101 101 111", "V": "101 101 101 101 010", "W": "101 101 111 111 101",
    "X": "101 101 010 101 101", "Y": "101 101 010 010 010", "Z": "111 001 010 100 111",
    ".": "000 000 000 000 010", "-": "000 000 111 000 000", "+": "000 010 111 010 000",
    ":": "000 010 000 010 000", "/": "001 001 010 100 100", "(": "010 100 100 100 010",
    ")": "010 001 001 001 010", "=": "000 111 000 111 000", " ": "000 000 000 000 000",
    "?": "111 001 010 000 010",
}
GLYPHS = {ch: np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool)
          for ch, rows in _GLYPH_ROWS.items()}
GLYPH_HEIGHT, GLYPH_WIDTH = 5, 3


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """Ink mask of `text` (upper-cased; unknown characters drawn as '?'), one blank column between
    glyphs, each pixel a `scale` x `scale` block: shape (5 scale, (4 len - 1) scale)."""
    if not text:
        return np.zeros((GLYPH_HEIGHT * scale, 0), dtype=bool)
    spaced = [np.pad(GLYPHS.get(ch, GLYPHS["?"]), ((0, 0), (0, 1))) for ch in text.upper()]
    mask = np.concatenate(spaced, axis=1)[:, :-1]
    return np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)


def draw_text(image: np.ndarray, text: str, x: int, y: int, colour: np.ndarray, scale: int = 1) -> None:
    """Write `text` into `image` (H, W, 3) in place with its top-left corner at column x, row y; what
    falls outside the image is cut off."""
    mask = text_mask(text, scale)
    h = max(0, min(mask.shape[0], image.shape[0] - y))
    w = max(0, min(mask.shape[1], image.shape[1] - x))
    region = image[y:y + h, x:x + w]
    region[mask[:h, :w]] = colour


# ------------------------------------------------------------------------------------------ image files


def write_png(path: Path, image: np.ndarray) -> None:
    """An 8-bit RGB PNG of `image` (H, W, 3) uint8, rows top to bottom."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width, _ = image.shape
    filtered = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)) + chunk(b"IEND", b""))


# Uniform palette: 6 levels of red, 7 of green (the eye's most sensitive channel), 6 of blue.
PALETTE_LEVELS = (6, 7, 6)


def gif_palette() -> np.ndarray:
    """The 256-entry GIF palette (252 used), uint8 (256, 3)."""
    r, g, b = (np.round(np.linspace(0, 255, n)).astype(np.uint8) for n in PALETTE_LEVELS)
    grid = np.stack(np.meshgrid(r, g, b, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.vstack([grid, np.zeros((256 - grid.shape[0], 3), np.uint8)])


def quantize(images: np.ndarray) -> np.ndarray:
    """Palette indices (uint8) of RGB images (..., 3) on `gif_palette`, nearest level per channel."""
    levels = np.array(PALETTE_LEVELS)
    q = np.round(images.astype(np.float64) / 255.0 * (levels - 1)).astype(np.int64)
    return (q[..., 0] * levels[1] * levels[2] + q[..., 1] * levels[2] + q[..., 2]).astype(np.uint8)


def lzw_encode(indices: bytes, min_code_size: int = 8) -> bytes:
    """GIF's variable-width LZW (codes of min_code_size+1 .. 12 bits, LSB first), with a clear code at
    the start and whenever the 4096-entry table is full."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    bit_buffer = bit_count = 0
    code_size = min_code_size + 1
    next_code = end + 1
    table: dict[int, int] = {}

    def emit(code: int) -> None:
        nonlocal bit_buffer, bit_count
        bit_buffer |= code << bit_count
        bit_count += code_size
        while bit_count >= 8:
            out.append(bit_buffer & 0xFF)
            bit_buffer >>= 8
            bit_count -= 8

    emit(clear)
    if not indices:
        emit(end)
        return bytes(out + (bytes([bit_buffer]) if bit_count else b""))
    prefix = indices[0]
    for byte in indices[1:]:  # LZW is sequential by nature: no array form
        key = (prefix << 8) | byte
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        emit(prefix)
        if next_code < 4096:
            table[key] = next_code
            next_code += 1
            # The decoder widens its codes once its table reaches 2**code_size entries; it builds
            # each entry one code later than we do, hence the strict comparison.
            if next_code > (1 << code_size) and code_size < 12:
                code_size += 1
        else:
            emit(clear)
            table.clear()
            code_size, next_code = min_code_size + 1, end + 1
        prefix = byte
    emit(prefix)
    emit(end)
    if bit_count:
        out.append(bit_buffer & 0xFF)
    return bytes(out)


def write_gif(path: Path, images: np.ndarray, delay_cs: int = 8) -> None:
    """An animated, looping GIF89a of RGB images (F, H, W, 3) uint8, `delay_cs` hundredths of a second
    per image, on the uniform palette."""
    images = np.asarray(images, dtype=np.uint8)
    _, height, width, _ = images.shape
    parts = [b"GIF89a", struct.pack("<HHBBB", width, height, 0xF7, 0, 0), gif_palette().tobytes(),
             b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"]
    for indices in quantize(images):
        data = lzw_encode(indices.tobytes())
        blocks = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255))
        parts += [b"\x21\xf9\x04\x04" + struct.pack("<H", int(delay_cs)) + b"\x00\x00",
                  b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0), b"\x08", blocks, b"\x00"]
    parts.append(b"\x3b")
    Path(path).write_bytes(b"".join(parts))


# ------------------------------------------------------------------------------------------- composing


def caption_height(scale: int = 1) -> int:
    return GLYPH_HEIGHT * scale + 4


def captioned(image: np.ndarray, caption: str, scale: int = 1) -> np.ndarray:
    """The panel image with a caption band below it."""
    band = np.tile(BACKGROUND, (caption_height(scale), image.shape[1], 1))
    draw_text(band, caption, 2, 2, CAPTION_COLOUR, scale)
    return np.concatenate([image, band], axis=0)


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Panels (same height) left to right with a separator between them."""
    gap = np.tile(BACKGROUND, (panels[0].shape[0], SEPARATOR, 1))
    pieces = [p for panel in panels for p in (panel, gap)][:-1]
    return np.concatenate(pieces, axis=1)


def stacked(rows: np.ndarray) -> np.ndarray:
    """Rows (F, H, W, 3) top to bottom with a separator between them."""
    gap = np.tile(BACKGROUND, (SEPARATOR, rows.shape[2], 1))
    pieces = [p for row in rows for p in (row, gap)][:-1]
    return np.concatenate(pieces, axis=0)


def caption_text(panel: str, frame: int, pi: float) -> str:
    return f"F{frame} {PANEL_TAGS[panel]} PI {preview_data.fmt(pi)}"


# ------------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True, eq=False)
class PreviewRender:
    """What `render_preview` made: the frames rendered, each panel's raw renders (F, H, W, 3) uint8
    without captions, each panel's Pi per frame (NaN at the first frame of the transfer), the composed
    rows (F, h, w, 3), the files written and the collections hidden ('reference': while the reference
    panel renders, 'others': while the other two do; '' for none)."""

    frames: np.ndarray
    panels: dict[str, np.ndarray]
    pi: dict[str, np.ndarray]
    rows: np.ndarray
    sheet_path: Path
    gif_path: Path
    hidden: dict[str, str]


def preview_frames(record: TransferRecord, max_frames: int) -> np.ndarray:
    """Indices into the record's frames: all of them, or `max_frames` evenly spread (first and last kept)."""
    n = record.frames.size
    if n <= max_frames:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max(2, int(max_frames)))).astype(np.int64))


def panel_pi(record: TransferRecord, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Pi per panel at the frame indices: the step arriving at that frame (NaN at the first frame)."""
    series = {"reference": record.pi_reference, "uncalibrated": record.pi_uncalibrated,
              "calibrated": record.pi_realized}
    return {name: np.where(indices >= 1, np.concatenate([[np.nan], values])[indices], np.nan)
            for name, values in series.items()}


def _settings_to_restore(scene: bpy.types.Scene) -> list[tuple[object, str]]:
    render = scene.render
    image = render.image_settings
    shading = scene.display.shading
    view = scene.view_settings
    pairs: list[tuple[object, str]] = [(scene, "camera")]
    pairs += [(render, name) for name in ("engine", "resolution_x", "resolution_y", "resolution_percentage",
                                          "pixel_aspect_x", "pixel_aspect_y", "filepath", "film_transparent",
                                          "use_compositing", "use_sequencer", "dither_intensity")]
    pairs += [(image, name) for name in compat.image_format_settings()]
    pairs += [(shading, name) for name in ("light", "color_type", "show_cavity", "show_shadows",
                                           "show_object_outline")]
    pairs += [(view, name) for name in ("view_transform", "look", "exposure", "gamma")]
    pairs.append((scene.display, "render_aa"))
    return pairs


@contextmanager
def _restored(pairs: list[tuple[object, str]]) -> Iterator[None]:
    """Put every (owner, attribute) back as it was on exit, in the order given (the image format's
    media type before its file format)."""
    saved = [(owner, name, getattr(owner, name)) for owner, name in pairs]
    try:
        yield
    finally:
        for owner, name, value in saved:
            if getattr(owner, name) != value:
                setattr(owner, name, value)


def _prepare(scene: bpy.types.Scene, width: int, height: int) -> None:
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    render.resolution_x, render.resolution_y, render.resolution_percentage = int(width), int(height), 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    render.film_transparent = False
    render.use_compositing = render.use_sequencer = False
    render.dither_intensity = 0.0  # dither noise differs from render to render: panels compare exactly
    compat.set_png_output(scene)
    shading = scene.display.shading
    # Flat studio look without screen-space or world-space effects: cavity works in world units and
    # would make a scaled copy of a scene look different.
    shading.light, shading.color_type = "STUDIO", "MATERIAL"
    shading.show_cavity = shading.show_shadows = shading.show_object_outline = False
    scene.view_settings.view_transform, scene.view_settings.look = "Standard", "None"
    scene.view_settings.exposure, scene.view_settings.gamma = 0.0, 1.0


def _read_png(path: Path, width: int, height: int) -> np.ndarray:
    """A rendered PNG as (H, W, 3) uint8, rows top to bottom (Blender keeps them bottom-up)."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        pixels = np.empty(len(image.pixels), dtype=np.float32)
        image.pixels.foreach_get(pixels)
        size = tuple(image.size)
    finally:
        bpy.data.images.remove(image)
    if size != (width, height):
        raise TrajectoryError(f"the render came out {size[0]}x{size[1]}, not {width}x{height}")
    rgba = pixels.reshape(height, width, 4)[::-1]
    return np.round(np.clip(rgba[..., :3], 0.0, 1.0) * 255.0).astype(np.uint8)


def _render_panel(scene: bpy.types.Scene, camera: bpy.types.Object, frames: np.ndarray, folder: Path,
                  tag: str, width: int, height: int) -> np.ndarray:
    scene.camera = camera
    out = np.empty((frames.size, height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):  # one render per frame: Blender renders one image per call
        scene.frame_set(int(frame))
        path = folder / f"{tag}_{i:04d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True, scene=scene.name)
        out[i] = _read_png(path, width, height)
    return out


def _setting(scene: bpy.types.Scene, name: str) -> object | None:
    """A scene.parascale setting (None when the add-on's properties are not registered)."""
    return getattr(getattr(scene, "parascale", None), name, None)


def _remove_camera(obj: bpy.types.Object) -> None:
    data = obj.data
    compat.remove_animation(obj)
    bpy.data.objects.remove(obj)
    if data is not None and data.users == 0:
        compat.remove_animation(data)
        bpy.data.cameras.remove(data)


def render_preview(scene: bpy.types.Scene, camera: bpy.types.Object, out_dir: Path | str, width: int = 96,
                   height: int = 54, max_frames: int = 24,
                   reference_collection: bpy.types.Collection | None = None,
                   target_collection: bpy.types.Collection | None = None,
                   basename: str = "parascale_preview") -> PreviewRender:
    """Render the side-by-side preview of the transferred `camera` (see the module doc) into `out_dir`.
    While the reference panel renders, the target collection is hidden, and the reference collection
    while the other two do (defaults: the scene's ParaScale settings; None hides nothing). Raises
    TrajectoryError when the camera has no transfer record, was edited since (stale), or its reference
    camera is gone."""
    record = load(camera)
    if record is None:
        raise TrajectoryError(f"camera {camera.name!r} has no ParaScale transfer record: run the transfer first")
    if preview_data.camera_is_stale(camera, record, None):
        raise TrajectoryError(f"camera {camera.name!r} was edited after the transfer (stale): transfer again")
    reference = bpy.data.objects.get(record.reference)
    if reference is None or reference.type != "CAMERA":
        raise TrajectoryError(f"the reference camera {record.reference!r} of {camera.name!r} is gone")
    if reference.name not in scene.objects or camera.name not in scene.objects:
        raise TrajectoryError(f"the reference camera {reference.name!r} and {camera.name!r} must both be in "
                              f"scene {scene.name!r}")
    reference_collection = reference_collection or _setting(scene, "reference_collection")
    target_collection = target_collection or _setting(scene, "target_collection")
    out_dir = Path(out_dir)
    sheet_path, gif_path = out_dir / f"{basename}_sheet.png", out_dir / f"{basename}.gif"
    # A folder that is a file, sits under a file or cannot be created is named before anything renders.
    check_output_paths([sheet_path, gif_path])
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFileError(out_dir, "", f"cannot be created ({error.strerror or type(error).__name__})") from None
    indices = preview_frames(record, max_frames)
    frames = record.frames[indices]
    collections = [c for c in (reference_collection, target_collection) if c is not None]
    hidden_before = {c.name: c.hide_render for c in collections}

    def show_only(hidden: bpy.types.Collection | None) -> None:
        for c in collections:
            c.hide_render = hidden_before[c.name] or c == hidden

    pairs = _settings_to_restore(scene) + [(c, "hide_render") for c in collections]
    had_render_result = RENDER_RESULT in bpy.data.images
    panels: dict[str, np.ndarray] = {}
    with _restored(pairs), scene_reading.preserved_frame(scene), tempfile.TemporaryDirectory() as tmp:
        trajectory = scene_reading.read_camera_trajectory(scene, camera, record.frames)
        uncalibrated = camera_writing.write_camera(
            scene, trajectory.replace(centres=preview_data.uncalibrated_path(record)), TEMPORARY_CAMERA,
            template=camera.data)
        try:
            _prepare(scene, width, height)
            show_only(target_collection)
            panels["reference"] = _render_panel(scene, reference, frames, Path(tmp), "reference", width, height)
            show_only(reference_collection)
            panels["uncalibrated"] = _render_panel(scene, uncalibrated, frames, Path(tmp), "uncal", width, height)
            panels["calibrated"] = _render_panel(scene, camera, frames, Path(tmp), "cal", width, height)
        finally:
            _remove_camera(uncalibrated)
            # Rendering creates Blender's "Render Result" image; a file that had none gets none.
            result_image = bpy.data.images.get(RENDER_RESULT)
            if not had_render_result and result_image is not None:
                bpy.data.images.remove(result_image)

    pi = panel_pi(record, indices)
    rows = np.stack([side_by_side([captioned(panels[name][i], caption_text(name, int(frames[i]), pi[name][i]))
                                   for name in PANELS]) for i in range(frames.size)])
    write_png(sheet_path, stacked(rows))
    stride = float(np.median(np.diff(frames))) if frames.size > 1 else 1.0
    fps = scene.render.fps / scene.render.fps_base
    write_gif(gif_path, rows, delay_cs=max(2, int(round(100.0 * stride / fps))))
    hidden = {"reference": target_collection.name if target_collection else "",
              "others": reference_collection.name if reference_collection else ""}
    return PreviewRender(frames=frames, panels=panels, pi=pi, rows=rows, sheet_path=sheet_path, gif_path=gif_path,
                         hidden=hidden)


# ----------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parascale.parascale_blender.preview_render",
                                     description="Render the ParaScale side-by-side preview of a transferred camera.")
    parser.add_argument("blend", help="the .blend file (never saved)")
    parser.add_argument("--camera", required=True, help="the transferred camera (carries the transfer record)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--scene", default=None, help="scene name (default: the file's active scene)")
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--height", type=int, default=54)
    parser.add_argument("--max-frames", type=int, default=24)
    parser.add_argument("--basename", default="parascale_preview")
    parser.add_argument("--reference-collection", default=None)
    parser.add_argument("--target-collection", default=None)
    args = parser.parse_args(argv)
    # Register the add-on's settings so the file's stored ones (the collections) can be read; Blender
    # keeps the values of properties that are registered after the file was loaded.
    from . import properties

    registered_here = not hasattr(bpy.types.Scene, "parascale")
    if registered_here:
        properties.register()
    try:
        if not Path(args.blend).is_file():
            raise TrajectoryError(f"{args.blend}: no such file")
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend).resolve()))
        scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
        if scene is None:
            raise TrajectoryError(f"{args.blend}: no scene named {args.scene!r}")
        camera = bpy.data.objects.get(args.camera)
        if camera is None:
            raise TrajectoryError(f"{args.blend}: no object named {args.camera!r}")
        collections = []
        for name in (args.reference_collection, args.target_collection):
            if name is not None and bpy.data.collections.get(name) is None:
                raise TrajectoryError(f"{args.blend}: no collection named {name!r}")
            collections.append(bpy.data.collections.get(name) if name else None)
        result = render_preview(scene, camera, args.out, args.width, args.height, args.max_frames,
                                collections[0], collections[1], args.basename)
    except ParaScaleError as error:
        print(f"parascale preview: {error}", file=sys.stderr)
        return 1
    finally:
        if registered_here:
            properties.unregister()
    print(f"wrote {result.sheet_path} and {result.gif_path} ({result.frames.size} frames; hidden while the "
          f"reference renders: {result.hidden['reference'] or 'nothing'}; while the others render: "
          f"{result.hidden['others'] or 'nothing'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
