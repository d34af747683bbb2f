"""Synthetic footage with a known camera move, tracked and solved by Blender's own camera solver.

`render_footage` builds a reference scene (boxes 2-12 m ahead over a ground, every face textured with its
own window of a random block atlas, Workbench flat texture shading: the block corners are trackable
features on the surfaces themselves, unlike silhouette corners that slide along occluding edges), moves a
ground-truth camera through it (truck, dolly, rise and a slow pan: real translation and parallax) and
renders a PNG sequence.
`solve_footage` then loads the sequence as a movie clip into that scene, detects features, tracks them,
solves the camera with the clip's camera set to the render's focal length and sensor (so the solve is
intrinsically right and only the scale and the frame are free), adds the solved camera (a Camera Solver
constraint) and saves the whole as a .blend that tests open.

`triangulate_tracks` gives the ground-truth 3-D point of each bundle's track: the least-squares
intersection of the rays through its enabled markers from the known cameras, independent of the solve.
"""

from __future__ import annotations

import colorsys
import math
import time
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

WIDTH, HEIGHT = 320, 180
N_FRAMES = 30
LENS_MM = 24.0
SENSOR_MM = 36.0
GROUND_TRUTH_CAMERA = "GroundTruth"
SOLVED_CAMERA = "Solved"
REFERENCE_COLLECTION = "Reference"
LIGHT = "FLAT"
BOXES = 35
# Boxes lie this far ahead of the first camera (metres) and this far to either side.
DEPTH_RANGE = (2.0, 12.0)
SPREAD = 8.0
# The block texture: ATLAS_CELLS x ATLAS_CELLS random cells; each box face shows its own 4 x 4 window.
ATLAS_CELLS = 64
# Tracks the first solve cannot explain to this many pixels, or shorter than this many frames, are deleted.
CLEAN_ERROR = 0.5
CLEAN_MIN_FRAMES = 5
MOTION_MODEL = "Loc"
# Feature detection: at least this far apart (pixels at 320 wide, scaled with WIDTH); sparser footage sets more.
DETECT_SPACING = 10


@dataclass(frozen=True)
class Footage:
    """A rendered clip and where its solved scene is saved."""

    directory: Path
    first_image: Path
    blend: Path
    seed: int
    n_frames: int
    render_seconds: float
    solve_seconds: float
    solve_error: float
    tracks: int
    bundles: int


def _cube_mesh(name: str, rng: np.random.Generator, cells: int) -> bpy.types.Mesh:
    """A unit cube whose faces each show a different `cells` x `cells` window of the block atlas."""
    mesh = bpy.data.meshes.new(name)
    v = [(x, y, z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(v, [], faces)
    corner = rng.integers(0, ATLAS_CELLS - cells, size=(len(faces), 1, 2)) / ATLAS_CELLS
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]) * cells / ATLAS_CELLS
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", (corner + square[None]).astype(np.float32).ravel())
    mesh.update()
    return mesh


def _block_material(name: str, rng: np.random.Generator, cells: int) -> bpy.types.Material:
    """A material whose base colour is a random `cells` x `cells` block image (closest-pixel lookup):
    crisp corners inside every face, i.e. features on the surface itself, not on occluding edges."""
    hsv = np.stack([rng.uniform(size=cells * cells), rng.uniform(0.3, 1.0, cells * cells),
                    rng.choice([0.15, 0.5, 0.95], cells * cells)], axis=1)
    rgb = np.array([colorsys.hsv_to_rgb(*c) for c in hsv])
    pixels = np.concatenate([rgb, np.ones((cells * cells, 1))], axis=1).astype(np.float32)
    image = bpy.data.images.new(name, cells, cells)
    image.pixels.foreach_set(pixels.ravel())
    image.pack()
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):  # 5.0 gives every new material its node tree (use_nodes is deprecated)
        material.use_nodes = True
    nodes = material.node_tree.nodes
    texture = nodes.new("ShaderNodeTexImage")
    texture.image = image
    texture.interpolation = "Closest"
    bsdf = nodes.get("Principled BSDF")
    material.node_tree.links.new(texture.outputs["Color"], bsdf.inputs["Base Color"])
    nodes.active = texture
    return material


# The camera moves `camera_path` knows: "truck" (truck, dolly, rise and pan), "walk" (a walk in with sway,
# bob, pan and tilt), "orbit" (a rising orbit around the box field, always looking at its middle), "handheld"
# (the walk with hand-held shake: real frame-to-frame bends in the steps that are not the solve's noise).
PATHS = ("truck", "walk", "orbit", "handheld")
# Hand-held shake: independent per-frame jitter of the walk's position (metres) and rotation (degrees), the
# same at every call (a fixed seed: the render and the truth must agree).
SHAKE_METRES, SHAKE_DEGREES, SHAKE_SEED = 0.01, 0.2, 99
ORBIT_CENTRE = np.array([0.0, 7.0, 0.0])


def look_at_euler(location: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euler XYZ rotations (N, 3) of cameras at `location` (N, 3) looking at `target` without roll: Blender's
    camera looks down -z, so (90 deg, 0, 0) looks along +y and the z rotation turns it (yaw)."""
    d = np.asarray(target, dtype=np.float64) - np.asarray(location, dtype=np.float64)
    yaw = np.arctan2(-d[:, 0], d[:, 1])
    pitch = np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1]))
    return np.stack([np.pi / 2 + pitch, np.zeros_like(yaw), yaw], axis=1)


def camera_path(n_frames: int = N_FRAMES, kind: str = "truck") -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth locations (N, 3) and Euler XYZ rotations (N, 3) of the move. "truck": a 4 m truck to the
    right, a 2 m dolly in, a 0.4 m rise and a 10 degree pan, with a step that varies along the move; "walk":
    5 m forward with a sideways sway, a head bob, a 24 degree pan and a tilt; "orbit": 45 degrees of a 12 m
    orbit around the box field rising by 1.5 m, looking at its middle; "handheld": the walk with SHAKE_METRES
    and SHAKE_DEGREES of independent jitter per frame (steps bend by several percent frame to frame)."""
    if kind == "handheld":
        location, rotation = camera_path(n_frames, "walk")
        rng = np.random.default_rng(SHAKE_SEED)
        return (location + rng.normal(scale=SHAKE_METRES, size=location.shape),
                rotation + np.radians(rng.normal(scale=SHAKE_DEGREES, size=rotation.shape)))
    u = np.linspace(0.0, 1.0, n_frames)
    if kind == "walk":
        location = np.stack([-1.0 + u + 0.3 * np.sin(3 * np.pi * u), -7.0 + 5.0 * u,
                             1.2 + 0.05 * np.sin(6 * np.pi * u)], axis=1)
        rotation = np.stack([np.radians(88.0 - 6.0 * np.sin(np.pi * u)), np.zeros(n_frames),
                             np.radians(-12.0 + 24.0 * u)], axis=1)
        return location, rotation
    if kind == "orbit":
        angle = np.radians(45.0) * u
        location = ORBIT_CENTRE + np.stack([12.0 * np.sin(angle), -12.0 * np.cos(angle), 1.0 + 1.5 * u], axis=1)
        return location, look_at_euler(location, np.broadcast_to(ORBIT_CENTRE, location.shape))
    if kind != "truck":
        raise ValueError(f"unknown camera path {kind!r}: one of {PATHS}")
    ease = u + 0.08 * np.sin(2.0 * np.pi * u)  # steady, yet with a varying step
    location = np.stack([-2.0 + 4.0 * ease, -6.0 + 2.0 * u, 1.0 + 0.4 * u], axis=1)
    rotation = np.stack([np.full(n_frames, math.radians(86.0)), np.zeros(n_frames),
                         np.radians(-8.0 + 10.0 * ease)], axis=1)
    return location, rotation


def build_reference_scene(scene: bpy.types.Scene, seed: int = 7, n_frames: int = N_FRAMES,
                          path: str = "truck") -> bpy.types.Object:
    """Boxes at several depths, a ground, a dark world and the animated ground-truth camera; render set to
    Workbench flat object colours at WIDTH x HEIGHT. Returns the camera."""
    rng = np.random.default_rng(seed)
    collection = bpy.data.collections.new(REFERENCE_COLLECTION)
    scene.collection.children.link(collection)
    material = _block_material("Blocks", rng, ATLAS_CELLS)
    for i in range(BOXES):
        mesh = _cube_mesh(f"Box{i:03d}", rng, 4)
        mesh.materials.append(material)
        obj = bpy.data.objects.new(f"Box{i:03d}", mesh)
        obj.location = (rng.uniform(-SPREAD, SPREAD), rng.uniform(*DEPTH_RANGE), rng.uniform(-3.0, 5.0))
        obj.rotation_euler = tuple(rng.uniform(0.0, math.pi, 3))
        obj.scale = (rng.uniform(1.0, 2.2),) * 3
        collection.objects.link(obj)
    ground_mesh = bpy.data.meshes.new("Ground")
    ground_mesh.from_pydata([(-60, -20, 0), (60, -20, 0), (60, 80, 0), (-60, 80, 0)], [], [(0, 1, 2, 3)])
    ground_uv = ground_mesh.uv_layers.new(name="UVMap")
    ground_uv.data.foreach_set("uv", np.array([0, 0, 1, 0, 1, 1, 0, 1], np.float32))
    ground_mesh.materials.append(material)
    ground = bpy.data.objects.new("Ground", ground_mesh)
    ground.location.z = -3.5
    collection.objects.link(ground)
    world = bpy.data.worlds.new("Dark")
    world.color = (0.01, 0.01, 0.03)
    scene.world = world

    data = bpy.data.cameras.new(GROUND_TRUTH_CAMERA)
    data.lens, data.sensor_width, data.sensor_fit = LENS_MM, SENSOR_MM, "AUTO"
    data.clip_start, data.clip_end = 0.1, 200.0
    camera = bpy.data.objects.new(GROUND_TRUTH_CAMERA, data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    location, rotation = camera_path(n_frames, path)
    for frame in range(n_frames):
        camera.location = location[frame]
        camera.rotation_euler = rotation[frame]
        camera.keyframe_insert("location", frame=frame + 1)
        camera.keyframe_insert("rotation_euler", frame=frame + 1)
    scene.frame_start, scene.frame_end = 1, n_frames
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    render.resolution_x, render.resolution_y, render.resolution_percentage = WIDTH, HEIGHT, 100
    render.fps = 24
    scene.display.shading.light = LIGHT
    scene.display.shading.color_type = "TEXTURE"
    scene.view_settings.view_transform = "Standard"
    return camera


def _clip_editor() -> tuple[object, object, object, object]:
    window = bpy.context.window_manager.windows[0]
    area = window.screen.areas[0]
    area.type = "CLIP_EDITOR"
    region = next(r for r in area.regions if r.type == "WINDOW")
    return window, area, region, area.spaces.active


def _solve(tracking_object: bpy.types.MovieTrackingObject, keyframe_a: int, keyframes_b: tuple[int, ...]) -> None:
    """Solve with the first second keyframe that shares enough tracks with the first (the solver needs 8)."""
    for keyframe_b in keyframes_b:
        tracking_object.keyframe_a, tracking_object.keyframe_b = keyframe_a, keyframe_b
        try:
            bpy.ops.clip.solve_camera()
            return
        except RuntimeError as error:
            last = error
    raise RuntimeError(f"no keyframe pair solves the footage: {last}")


def set_clip_frame(scene: bpy.types.Scene, space: object, frame: int) -> None:
    """Move the scene and the clip editor to `frame`. detect_features and track_markers work at the clip
    editor's own frame (space.clip_user.frame_current), which scene.frame_set() does not move headless:
    detection at a later frame would silently land on the first one."""
    scene.frame_set(int(frame))
    space.clip_user.frame_current = int(frame)


def _pixels(size_at_320: int) -> int:
    """A tracker size in pixels (pattern, search area, detection margin and spacing) chosen at 320 px wide,
    for footage WIDTH wide: the same features and motion at a higher resolution span more pixels."""
    return int(round(size_at_320 * WIDTH / 320))


def track_and_solve(clip: bpy.types.MovieClip, keyframe_a: int, keyframes_b: tuple[int, ...],
                    clean_error: float = CLEAN_ERROR, detect_frames: tuple[int, ...] = (1,)) -> None:
    """Detect features at each of `detect_frames` (clip frames) and track them forward to the end of the
    clip, solve the camera, delete the tracks the solve cannot explain (reprojection error above
    `clean_error` px: features sliding along an occluding edge) and solve again, as a user does in the
    Movie Clip Editor (headless: an area switched to CLIP_EDITOR). The second keyframe is the first of
    `keyframes_b` that solves."""
    settings = clip.tracking.settings
    settings.default_pattern_size = _pixels(15) | 1  # odd: a centre pixel
    settings.default_search_size = _pixels(61) | 1
    settings.default_motion_model = MOTION_MODEL
    settings.default_correlation_min = 0.8
    settings.use_keyframe_selection = False
    camera = clip.tracking.camera
    camera.sensor_width = SENSOR_MM
    camera.focal_length = LENS_MM
    window, area, region, space = _clip_editor()
    space.clip = clip
    with bpy.context.temp_override(window=window, area=area, region=region, space_data=space,
                                   edit_movieclip=clip):
        for frame in detect_frames:
            set_clip_frame(bpy.context.scene, space, clip.frame_start + frame - 1)
            # Detection selects only the features it adds: those are tracked on from this frame.
            bpy.ops.clip.detect_features(placement="FRAME", margin=_pixels(6), threshold=0.02,
                                         min_distance=_pixels(DETECT_SPACING))
            bpy.ops.clip.track_markers(backwards=False, sequence=True)
        tracking_object = clip.tracking.objects[0]
        _solve(tracking_object, keyframe_a, keyframes_b)
        if clean_error > 0:
            bpy.ops.clip.clean_tracks(frames=CLEAN_MIN_FRAMES, error=clean_error, action="DELETE_TRACK")
            _solve(tracking_object, keyframe_a, keyframes_b)


def add_solved_camera(scene: bpy.types.Scene, clip: bpy.types.MovieClip) -> bpy.types.Object:
    """A camera following the solve (Camera Solver constraint), with the clip's focal length and sensor."""
    data = bpy.data.cameras.new(SOLVED_CAMERA)
    data.lens, data.sensor_width, data.sensor_fit = LENS_MM, SENSOR_MM, "AUTO"
    camera = bpy.data.objects.new(SOLVED_CAMERA, data)
    scene.collection.objects.link(camera)
    constraint = camera.constraints.new("CAMERA_SOLVER")
    constraint.use_active_clip = False
    constraint.clip = clip
    return camera


def render_footage(directory: Path, seed: int = 7, n_frames: int = N_FRAMES, path: str = "truck"
                   ) -> tuple[Path, float]:
    """Render the reference scene's move to directory/frame_0001.png...; returns the first image and the
    render time."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    build_reference_scene(scene, seed, n_frames, path)
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(directory / "frame_")
    start = time.perf_counter()
    bpy.ops.render.render(animation=True)
    return directory / "frame_0001.png", time.perf_counter() - start


def solve_footage(directory: Path, seed: int = 7, n_frames: int = N_FRAMES, path: str = "truck",
                  detect_frames: tuple[int, ...] = (1,), keyframes_b: tuple[int, ...] | None = None) -> Footage:
    """Render, track, solve and save `directory/solved.blend` (reference scene, ground-truth camera, the
    solved clip and its solved camera). Features are detected at `detect_frames` (clip frames)."""
    first, render_seconds = render_footage(directory, seed, n_frames, path)  # leaves the reference scene open
    scene = bpy.context.scene
    clip = bpy.data.movieclips.load(str(first))
    scene.active_clip = clip
    start = time.perf_counter()
    track_and_solve(clip, 1, keyframes_b or (n_frames // 2 + 1, n_frames // 3 + 1, n_frames // 4 + 1),
                    detect_frames=detect_frames)
    solve_seconds = time.perf_counter() - start
    add_solved_camera(scene, clip)
    tracking_object = clip.tracking.objects[0]
    reconstruction = tracking_object.reconstruction
    if not reconstruction.is_valid:
        raise RuntimeError("the synthetic footage did not solve")
    blend = directory / "solved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    return Footage(directory=directory, first_image=first, blend=blend, seed=seed, n_frames=n_frames,
                   render_seconds=render_seconds, solve_seconds=solve_seconds,
                   solve_error=float(reconstruction.average_error), tracks=len(tracking_object.tracks),
                   bundles=sum(1 for t in tracking_object.tracks if t.has_bundle))


def open_solved(footage: Footage) -> bpy.types.Scene:
    """Open the saved solved scene (a full reset of Blender's state)."""
    bpy.ops.wm.open_mainfile(filepath=str(footage.blend))
    return bpy.context.scene


def marker_rays(markers_co: np.ndarray, width: int, height: int, lens_px: float) -> np.ndarray:
    """Camera-axes directions (Blender: looking down -z) through marker positions given as Blender does
    (normalized, origin at the bottom-left corner of the frame), principal point at the centre."""
    co = np.asarray(markers_co, dtype=np.float64).reshape(-1, 2)
    x = (co[:, 0] - 0.5) * width / lens_px
    y = (co[:, 1] - 0.5) * height / lens_px
    return np.stack([x, y, -np.ones_like(x)], axis=1)


def track_markers(tracks: list[bpy.types.MovieTrackingTrack]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every enabled marker of the tracks, flat: (track index, clip frame, normalized position (M, 2))."""
    index, frames, positions = [], [], []
    for k, track in enumerate(tracks):
        n = len(track.markers)
        f = np.empty(n, np.int32)
        track.markers.foreach_get("frame", f)
        mute = np.empty(n, bool)
        track.markers.foreach_get("mute", mute)
        co = np.empty(2 * n, np.float32)
        track.markers.foreach_get("co", co)
        keep = ~mute
        index.append(np.full(int(keep.sum()), k))
        frames.append(f[keep])
        positions.append(co.reshape(-1, 2)[keep])
    return np.concatenate(index), np.concatenate(frames), np.concatenate(positions).astype(np.float64)


def triangulate_tracks(track_index: np.ndarray, rays_world: np.ndarray, origins: np.ndarray,
                       n_tracks: int) -> np.ndarray:
    """Least-squares intersection of each track's rays (the point nearest to all of them): sum over a
    track's rays of (I - d d^T) X = sum (I - d d^T) o. NaN for a track with fewer than two rays."""
    d = rays_world / np.linalg.norm(rays_world, axis=1, keepdims=True)
    projector = np.eye(3)[None] - np.einsum("mi,mj->mij", d, d)
    a = np.zeros((n_tracks, 3, 3))
    b = np.zeros((n_tracks, 3))
    np.add.at(a, track_index, projector)
    np.add.at(b, track_index, np.einsum("mij,mj->mi", projector, origins))
    counts = np.bincount(track_index, minlength=n_tracks)
    points = np.full((n_tracks, 3), np.nan)
    ok = counts >= 2
    points[ok] = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
    return points


def ground_truth_trajectory(n_frames: int = N_FRAMES, path: str = "truck") -> tuple[np.ndarray, np.ndarray]:
    """Camera-to-world rotations (N, 3, 3) and centres (N, 3) of the ground-truth move, from its definition
    (Euler XYZ through mathutils), not read back from the scene."""
    from mathutils import Euler

    location, rotation = camera_path(n_frames, path)
    rotations = np.array([np.array(Euler(tuple(r), "XYZ").to_matrix()) for r in rotation])
    return rotations, location


def bundle_tracks(clip: bpy.types.MovieClip) -> list[bpy.types.MovieTrackingTrack]:
    """The camera object's tracks that have a bundle, in track order (the order tracking.py uses)."""
    return [t for t in clip.tracking.objects[0].tracks if t.has_bundle]


def ground_truth_points(clip: bpy.types.MovieClip, n_frames: int = N_FRAMES, path: str = "truck") -> np.ndarray:
    """The true 3-D point of each bundle's track (P, 3): its enabled markers triangulated from the known
    cameras (clip frame f = scene frame f, the clip starts at frame 1)."""
    rotations, centres = ground_truth_trajectory(n_frames, path)
    tracks = bundle_tracks(clip)
    index, frames, co = track_markers(tracks)
    rays = marker_rays(co, WIDTH, HEIGHT, LENS_MM / SENSOR_MM * WIDTH)
    frame = frames - 1
    return triangulate_tracks(index, np.einsum("mij,mj->mi", rotations[frame], rays), centres[frame], len(tracks))
