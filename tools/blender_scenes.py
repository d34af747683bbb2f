"""Small Blender scenes for tests and benchmarks: collections, meshes, boxes, a reference/target set,
cameras that look at a point, keyframed locations, and an independent reader of evaluated world matrices."""

from __future__ import annotations


def new_collection(name: str, scene=None):
    import bpy

    scene = scene or bpy.context.scene
    collection = bpy.data.collections.new(name)
    scene.collection.children.link(collection)
    return collection


def add_mesh(name: str, vertices, faces, collection=None, location=(0.0, 0.0, 0.0)):
    """A mesh object from vertex and face lists, linked to `collection` (default: the scene's)."""
    import bpy

    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(map(float, v)) for v in vertices], [], [tuple(map(int, f)) for f in faces])
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


BOX_FACES = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


def box_vertices(centre, size):
    import numpy as np

    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    return np.asarray(centre, dtype=float) + corners * np.asarray(size, dtype=float)


def add_box(name: str, centre, size, collection=None):
    return add_mesh(name, box_vertices(centre, size), BOX_FACES, collection)


def add_quad(name: str, corners, collection=None):
    return add_mesh(name, corners, [(0, 1, 2, 3)], collection)


def build_set(name: str, scale: float, layout: str = "reference", collection_name: str | None = None):
    """A small set `1000 * scale` units wide: a ground, a back wall and three boxes; `layout` "reference"
    or "target" arranges the boxes differently (so the two scenes' depth profiles differ). Returns the
    collection."""
    collection = new_collection(collection_name or name)
    s = scale
    add_quad(f"{name}.Ground", [(-500 * s, -500 * s, 0), (500 * s, -500 * s, 0), (500 * s, 500 * s, 0),
                                (-500 * s, 500 * s, 0)], collection)
    add_quad(f"{name}.Wall", [(-500 * s, 400 * s, 0), (500 * s, 400 * s, 0), (500 * s, 400 * s, 400 * s),
                              (-500 * s, 400 * s, 400 * s)], collection)
    boxes = {"reference": [((0, 100, 50), (100, 100, 100)), ((-150, 0, 30), (60, 60, 60)),
                           ((180, 250, 40), (80, 80, 80))],
             "target": [((60, -50, 80), (120, 90, 160)), ((-120, 150, 60), (140, 100, 120)),
                        ((0, 300, 30), (300, 40, 60))]}[layout]
    for i, (centre, size) in enumerate(boxes):
        add_box(f"{name}.Box{i}", [c * s for c in centre], [v * s for v in size], collection)
    return collection


def look_at_euler(eye, target):
    """Blender Euler XYZ of a camera at `eye` looking at `target` (z up)."""
    import mathutils

    direction = mathutils.Vector(target) - mathutils.Vector(eye)
    return direction.to_track_quat("-Z", "Y").to_euler("XYZ")


def add_camera(name: str, location=(0.0, 0.0, 0.0), target=None, lens: float = 50.0, collection=None,
               clip_start: float = 0.1, clip_end: float = 1000.0):
    import bpy

    data = bpy.data.cameras.new(name)
    data.lens = lens
    data.clip_start, data.clip_end = clip_start, clip_end
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    if target is not None:
        obj.rotation_euler = look_at_euler(location, target)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def keyframe_locations(obj, frames, locations, target=None) -> None:
    """Key `obj`'s location (and, with `target`, a look-at rotation) at each frame (test set-up only)."""
    for frame, location in zip(frames, locations, strict=True):
        obj.location = tuple(map(float, location))
        obj.keyframe_insert("location", frame=int(frame))
        if target is not None:
            obj.rotation_euler = look_at_euler(location, target)
            obj.keyframe_insert("rotation_euler", frame=int(frame))


def world_matrices(scene, obj, frames):
    """obj's evaluated world matrix at each frame (frame_set + the scene's own depsgraph, created when the
    scene is not the window's): an independent reader for tests, (N, 4, 4). The frame is restored."""
    import bpy
    import numpy as np

    if scene == bpy.context.scene:
        depsgraph = bpy.context.evaluated_depsgraph_get()
    else:
        with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
            depsgraph = bpy.context.evaluated_depsgraph_get()
    current = scene.frame_current
    out = []
    for frame in frames:
        scene.frame_set(int(frame))
        out.append(np.array(obj.evaluated_get(depsgraph).matrix_world, dtype=np.float64))
    scene.frame_set(current)
    return np.array(out)


def collection_world_mesh(collection):
    """World triangles (vertices (V, 3), triangles (T, 3)) of a collection's own meshes (no modifiers), read
    without the add-on's scene_reading: the independent oracle's geometry in tests."""
    import numpy as np

    vertices, triangles, offset = [], [], 0
    for obj in collection.objects:
        m = np.array(obj.matrix_world)
        co = np.array([tuple(v.co) for v in obj.data.vertices])
        vertices.append(co @ m[:3, :3].T + m[:3, 3])
        for polygon in obj.data.polygons:
            ids = list(polygon.vertices)
            triangles += [(ids[0] + offset, ids[k] + offset, ids[k + 1] + offset) for k in range(1, len(ids) - 1)]
        offset += len(co)
    return np.concatenate(vertices), np.array(triangles)


def oracle_geometry_depths(scene, collection, matrices, lens, statistic: str = "median"):
    """The numpy Geometry probe (core/geometry.py) on the collection's own meshes, through cameras with the
    given world matrices (N, 4, 4) and lens (mm), at the scene's render size and the add-on's Probe
    Resolution: the depth statistic per view, read independently of the add-on."""
    import numpy as np

    from ..core.depth import Views
    from ..core.geometry import GeometryDepth
    from ..core.poses import Intrinsics, Trajectory, project_to_rotation

    matrices = np.asarray(matrices, dtype=np.float64)
    render = scene.render
    trajectory = Trajectory(project_to_rotation(matrices[:, :3, :3]), matrices[:, :3, 3], lens=lens,
                            intrinsics=Intrinsics(width=render.resolution_x, height=render.resolution_y))
    probe = GeometryDepth(*collection_world_mesh(collection), resolution=scene.parascale.geometry_resolution,
                          statistic=statistic)
    return probe(Views.of(trajectory))


def two_sets_transfer(scene, frames, reference_scale: float, target_scale: float):
    """A reference set and a target set (build_set, the target layout) at their scales, a reference camera
    dollying in on its set with a truck and a rise over `frames`, and a target start camera framing the
    target set, with the add-on's settings pointed at them (GEOMETRY depth on both sides). Returns
    (reference_set, target_set, reference camera, start camera)."""
    import numpy as np

    scene.frame_start, scene.frame_end = int(frames[0]), int(frames[-1])
    reference_set = build_set("Ref", reference_scale, "reference")
    target_set = build_set("Tgt", target_scale, "target")
    u = (frames - frames[0]) / (frames[-1] - frames[0])
    r = reference_scale
    path = np.stack([120 * u, -400 + 150 * u, 150 + 20 * u], axis=1) * r
    reference = add_camera("Ref", path[0], clip_end=5000.0 * r)
    keyframe_locations(reference, frames, path, target=(0.0, 50.0 * r, 0.0))
    s = target_scale
    start = add_camera("Start", (0.0, -400 * s, 150 * s), (40 * s, 50 * s, 0.0), clip_start=1e-6, clip_end=1.0)
    settings = scene.parascale
    settings.reference_camera, settings.reference_source, settings.reference_collection = reference, "GEOMETRY", \
        reference_set
    settings.target_start, settings.target_source, settings.target_collection = start, "GEOMETRY", target_set
    return reference_set, target_set, reference, start


def solved_tracking_clip(n_tracks: int, n_frames: int, folder, solved_tracks: int = 40, seed: int = 1):
    """A solved movie clip in the current scene with `n_tracks` bundle tracks, each with a marker at every
    one of `n_frames` frames, and a camera following its solve (Camera Solver constraint): (clip, camera).
    The markers of `solved_tracks` tracks are exact projections of points 8-30 m ahead of a camera that
    trucks 3 m, dollies 2 m and bobs (1920x1080, 1500 px focal length); Blender's own solver solves them
    (the Movie Clip Editor's Solve Camera Motion, headless: the window's first area becomes a clip editor);
    the solved tracks are then copied and pasted, bundles and markers kept, up to `n_tracks`. The clip's
    image is written to `folder`. The scene's range becomes 1..n_frames and its render 1920x1080."""
    from pathlib import Path

    import bpy
    import numpy as np

    if n_tracks < solved_tracks:
        raise ValueError(f"{n_tracks} tracks: at least the {solved_tracks} solved ones")
    width, height, focal_px, sensor_mm = 1920, 1080, 1500.0, 36.0
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, n_frames
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    plate = bpy.data.images.new("plate", width, height)
    plate.filepath_raw, plate.file_format = str(Path(folder) / "plate.png"), "PNG"
    plate.save()
    clip = bpy.data.movieclips.load(str(Path(folder) / "plate.png"))
    scene.active_clip = clip
    rng = np.random.default_rng(seed)
    points = np.stack([rng.uniform(-6, 6, solved_tracks), rng.uniform(-3.5, 3.5, solved_tracks),
                       rng.uniform(8, 30, solved_tracks)], axis=1)
    u = np.linspace(0.0, 1.0, n_frames)
    relative = points[None] - np.stack([3 * u, 0.3 * np.sin(4 * u), 2 * u], axis=1)[:, None]
    x = 0.5 + focal_px * relative[..., 0] / relative[..., 2] / width
    y = 0.5 + focal_px * relative[..., 1] / relative[..., 2] / height
    tracks = clip.tracking.tracks
    for p in range(solved_tracks):
        markers = tracks.new(name=f"T{p}", frame=1).markers
        for f in range(n_frames):
            markers.insert_frame(f + 1, co=(x[f, p], y[f, p]))
    clip_camera = clip.tracking.camera
    clip_camera.sensor_width, clip_camera.focal_length = sensor_mm, focal_px / width * sensor_mm
    solve = clip.tracking.objects[0]
    solve.keyframe_a, solve.keyframe_b = 1, max(2, n_frames // 10)
    clip.tracking.settings.use_keyframe_selection = False
    window = bpy.context.window_manager.windows[0]
    area = window.screen.areas[0]
    area.type = "CLIP_EDITOR"
    area.spaces.active.clip = clip
    region = [r for r in area.regions if r.type == "WINDOW"][0]
    with bpy.context.temp_override(window=window, area=area, region=region, space_data=area.spaces.active,
                                   edit_movieclip=clip):
        bpy.ops.clip.solve_camera()
        for track in tracks:
            track.select = True
        bpy.ops.clip.copy_tracks()
        while len(tracks) < n_tracks:
            missing = n_tracks - len(tracks)
            if missing < solved_tracks:  # the last paste: only as many as are missing
                for index, track in enumerate(tracks):
                    track.select = index < missing
                bpy.ops.clip.copy_tracks()
            bpy.ops.clip.paste_tracks()
    if not solve.reconstruction.is_valid or not all(t.has_bundle for t in tracks):
        raise RuntimeError("the synthetic clip did not solve")
    data = bpy.data.cameras.new("Solved")
    data.lens, data.sensor_width = clip_camera.focal_length, sensor_mm
    camera = bpy.data.objects.new("Solved", data)
    scene.collection.objects.link(camera)
    constraint = camera.constraints.new("CAMERA_SOLVER")
    constraint.use_active_clip, constraint.clip = False, clip
    return clip, camera
