"""Example scenes and camera moves, as numpy meshes and trajectories, and their builders in real Blender.

Every scene is described twice from one source: a triangle mesh (vertices (V,3), triangles (F,3)) that a
numpy depth probe can rasterize, and the Blender objects made from exactly that mesh, so the depth the
add-on or the core computes and the depth Cycles renders see the same surfaces.

Shapes (unit scale; each has a reference move and variants whose depth profile along the move differs):
- field: a ground plane with scattered boxes; the camera trucks sideways.
- corridor: a walled corridor with an end wall; the camera moves forward (depth shrinks).
- orbit: an object group on a base; the camera orbits it, looking at it.
- wall: a wall with relief; the camera pushes in toward it.
- galaxy: a star cluster thousands of units across; the camera sweeps past it (the demo's reference).
- desk: objects a few centimetres across on a desk (the demo's target).
- pillar, doorway, foreground (JUMP_SHAPES): scenes where the median depth jumps along the move (a pillar
  entering the view, a doorway growing, a foreground block leaving), for the depth statistics.

`Shot.scaled(k)` scales the scene, the move and the clip range together (Pi is unchanged by it). Scenes sit
around the origin so that small scales keep their float32 precision in Blender.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from parascale.core.poses import Intrinsics, Trajectory, look_at, matrix_to_quaternion

# Small renders: the benchmark renders every frame with Cycles on a 2-core machine.
DEFAULT_WIDTH = 96
DEFAULT_HEIGHT = 54
DEFAULT_FRAMES = 16


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh in world coordinates."""

    vertices: np.ndarray
    triangles: np.ndarray

    def scaled(self, factor: float) -> Mesh:
        return Mesh(self.vertices * float(factor), self.triangles)

    @property
    def n_triangles(self) -> int:
        return int(self.triangles.shape[0])


def merge(meshes: list[Mesh]) -> Mesh:
    """One mesh holding all of `meshes` (triangle indices offset)."""
    offsets = np.cumsum([0] + [m.vertices.shape[0] for m in meshes[:-1]])
    return Mesh(np.vstack([m.vertices for m in meshes]).astype(np.float64),
                np.vstack([m.triangles + o for m, o in zip(meshes, offsets, strict=True)]).astype(np.int64))


def quad_grid(origin: np.ndarray, u: np.ndarray, v: np.ndarray, nu: int, nv: int) -> Mesh:
    """A planar grid of nu x nv quads (two triangles each) spanning origin + [0,1] u + [0,1] v. Large
    surfaces are tiled so that no triangle reaches far behind a camera that stands over it."""
    origin, u, v = (np.asarray(a, dtype=np.float64) for a in (origin, u, v))
    a, b = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    vertices = origin + a.reshape(-1, 1) * u + b.reshape(-1, 1) * v
    i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
    v00 = (i * (nv + 1) + j).ravel()
    v10, v01 = v00 + (nv + 1), v00 + 1
    v11 = v10 + 1
    triangles = np.concatenate([np.stack([v00, v10, v11], 1), np.stack([v00, v11, v01], 1)])
    return Mesh(vertices, triangles)


_BOX_CORNERS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
# Outward-facing triangles of the unit box (corner index = 4x + 2y + z with x, y, z in {0, 1}).
_BOX_TRIANGLES = np.array([
    [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5],  # -x, +x
    [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],  # -y, +y
    [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],  # -z, +z
])


def boxes(centres: np.ndarray, sizes: np.ndarray) -> Mesh:
    """Axis-aligned boxes, one per row of centres (B,3) and sizes (B,3), as one mesh."""
    centres = np.atleast_2d(np.asarray(centres, dtype=np.float64))
    sizes = np.broadcast_to(np.asarray(sizes, dtype=np.float64), centres.shape)
    vertices = (centres[:, None, :] + _BOX_CORNERS[None] * sizes[:, None, :]).reshape(-1, 3)
    triangles = (_BOX_TRIANGLES[None] + 8 * np.arange(centres.shape[0])[:, None, None]).reshape(-1, 3)
    return Mesh(vertices, triangles)


_OCTAHEDRON = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)
_OCTAHEDRON_TRIANGLES = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                                  [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])


def octahedra(centres: np.ndarray, radii: np.ndarray) -> Mesh:
    """Octahedra ("stars"), one per centre, as one mesh."""
    centres = np.atleast_2d(np.asarray(centres, dtype=np.float64))
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), centres.shape[:1])
    vertices = (centres[:, None, :] + _OCTAHEDRON[None] * radii[:, None, None]).reshape(-1, 3)
    triangles = (_OCTAHEDRON_TRIANGLES[None] + 6 * np.arange(centres.shape[0])[:, None, None]).reshape(-1, 3)
    return Mesh(vertices, triangles)


@dataclass(frozen=True, eq=False)
class Shot:
    """A scene (its mesh) and a camera move through it. `size` is the scene's characteristic extent."""

    name: str
    mesh: Mesh
    trajectory: Trajectory
    size: float
    # Named parts with a display colour (RGBA) for readable Workbench previews; their union is `mesh`.
    parts: tuple[tuple[str, Mesh, tuple[float, float, float, float]], ...] = ()

    def scaled(self, factor: float) -> Shot:
        t = self.trajectory
        moved = t.replace(centres=t.centres * factor, clip_start=t.clip_start * factor,
                          clip_end=t.clip_end * factor)
        parts = tuple((name, mesh.scaled(factor), colour) for name, mesh, colour in self.parts)
        return replace(self, mesh=self.mesh.scaled(factor), trajectory=moved, size=self.size * factor, parts=parts)

    def moved(self, offset: np.ndarray) -> Shot:
        """The scene and its move translated by `offset`."""
        offset = np.asarray(offset, dtype=np.float64)
        parts = tuple((name, Mesh(mesh.vertices + offset, mesh.triangles), colour) for name, mesh, colour in self.parts)
        return replace(self, mesh=Mesh(self.mesh.vertices + offset, self.mesh.triangles),
                       trajectory=self.trajectory.replace(centres=self.trajectory.centres + offset), parts=parts)


def _trajectory(eyes: np.ndarray, targets: np.ndarray, lens: float, width: int, height: int,
                clip_start: float, clip_end: float) -> Trajectory:
    return Trajectory(look_at(eyes, targets), eyes, lens=lens,
                      intrinsics=Intrinsics(width=width, height=height),
                      clip_start=clip_start, clip_end=clip_end)


def _ease(n: int) -> np.ndarray:
    """0..1 over n frames with a smooth start and stop, so the per-frame step (and Pi) varies."""
    s = np.linspace(0.0, 1.0, n)
    return s * s * (3.0 - 2.0 * s)


def field(variant: str = "a", frames: int = DEFAULT_FRAMES, width: int = DEFAULT_WIDTH,
          height: int = DEFAULT_HEIGHT) -> Shot:
    """Open field: ground 40 x 40 with boxes; the camera trucks 12 units sideways at eye height. Variant b
    crowds its boxes toward +x, so the depth shrinks along the truck."""
    rng = np.random.default_rng(1 if variant == "a" else 2)
    ground = quad_grid([-20, -6, 0], [40, 0, 0], [0, 40, 0], 20, 20)
    if variant == "a":
        n = 30
        centres = np.column_stack([rng.uniform(-16, 16, n), rng.uniform(6, 30, n), np.zeros(n)])
    else:
        n = 40
        x = rng.uniform(-14, 16, n)
        y = 26 - 20 * (x + 14) / 30 + rng.uniform(-3, 3, n)  # nearer rows on the +x side
        centres = np.column_stack([x, y, np.zeros(n)])
    sizes = np.column_stack([rng.uniform(0.8, 2.5, n), rng.uniform(0.8, 2.5, n), rng.uniform(0.8, 4.0, n)])
    centres[:, 2] = sizes[:, 2] / 2
    mesh = merge([ground, boxes(centres, sizes)])
    x = -6 + 12 * _ease(frames)
    eyes = np.column_stack([x, np.full(frames, -2.0), np.full(frames, 1.7)])
    targets = np.column_stack([x * 0.8, np.full(frames, 14.0), np.zeros(frames)])
    return Shot(f"field-{variant}", mesh, _trajectory(eyes, targets, 35.0, width, height, 0.05, 200.0), 40.0)


def corridor(variant: str = "a", frames: int = DEFAULT_FRAMES, width: int = DEFAULT_WIDTH,
             height: int = DEFAULT_HEIGHT) -> Shot:
    """Corridor: floor, ceiling and walls with pillars, closed by an end wall; the camera walks forward,
    so the depth shrinks as the end wall nears. Variant b is shorter, wider and lower."""
    length, wide, high = (30.0, 3.0, 3.0) if variant == "a" else (20.0, 4.0, 2.5)
    back = -5.0
    run = length - back
    tiles = int(run)
    parts = [
        quad_grid([-wide / 2, back, 0], [wide, 0, 0], [0, run, 0], 3, tiles),          # floor
        quad_grid([-wide / 2, back, high], [0, run, 0], [wide, 0, 0], tiles, 3),       # ceiling
        quad_grid([-wide / 2, back, 0], [0, 0, high], [0, run, 0], 3, tiles),          # left wall
        quad_grid([wide / 2, back, 0], [0, run, 0], [0, 0, high], tiles, 3),           # right wall
        quad_grid([-wide / 2, length, 0], [0, 0, high], [wide, 0, 0], 3, 3),           # end wall
    ]
    spacing = 3.0 if variant == "a" else 4.0
    ys = np.arange(2.0, length - 1.0, spacing)
    pillar_x = np.concatenate([np.full(ys.size, -wide / 2 + 0.2), np.full(ys.size, wide / 2 - 0.2)])
    pillars = boxes(np.column_stack([pillar_x, np.tile(ys, 2), np.full(2 * ys.size, high / 2)]),
                    np.array([0.4, 0.4, high]))
    mesh = merge([*parts, pillars])
    walk = 0.55 * length * _ease(frames)
    eyes = np.column_stack([0.3 * np.sin(walk / 4.0), walk, np.full(frames, high / 2)])
    targets = eyes + np.array([0.0, 10.0, -0.3])
    return Shot(f"corridor-{variant}", mesh, _trajectory(eyes, targets, 28.0, width, height, 0.05, 200.0),
                length)


def orbit(variant: str = "a", frames: int = DEFAULT_FRAMES, width: int = DEFAULT_WIDTH,
          height: int = DEFAULT_HEIGHT) -> Shot:
    """Object orbit: a group of boxes on a square base; the camera circles it, looking at it. Variant b
    is one long bar with blocks, so its depth changes with the viewing angle."""
    if variant == "a":
        centres = np.array([[0, 0, 1.5], [1.6, 0.4, 0.6], [-1.2, 1.3, 0.8], [-0.6, -1.5, 0.5], [0.9, -1.1, 1.0]])
        sizes = np.array([[1.0, 1.0, 3.0], [1.0, 1.4, 1.2], [1.2, 0.8, 1.6], [1.6, 1.0, 1.0], [0.6, 0.6, 2.0]])
    else:
        centres = np.array([[0, 0, 0.6], [-3.2, 0, 1.4], [3.0, 0.3, 1.0], [0.5, 0.9, 1.6]])
        sizes = np.array([[8.0, 1.2, 1.2], [1.2, 1.2, 2.8], [1.0, 1.6, 2.0], [0.8, 0.8, 1.4]])
    base = quad_grid([-5, -5, 0], [10, 0, 0], [0, 10, 0], 10, 10)
    mesh = merge([base, boxes(centres, sizes)])
    angle = np.deg2rad(-120 + 100 * _ease(frames))
    radius = 10.0
    eyes = np.column_stack([radius * np.cos(angle), radius * np.sin(angle), np.full(frames, 3.5)])
    targets = np.tile([0.0, 0.0, 0.8], (frames, 1))
    return Shot(f"orbit-{variant}", mesh, _trajectory(eyes, targets, 35.0, width, height, 0.05, 200.0), 10.0)


def wall(variant: str = "a", frames: int = DEFAULT_FRAMES, width: int = DEFAULT_WIDTH,
         height: int = DEFAULT_HEIGHT) -> Shot:
    """Push-in toward a wall standing on a floor, with relief blocks on it; the camera dollies forward
    half the distance. Variant b has a deep block jutting out of the wall in the middle of the view."""
    distance = 10.0 if variant == "a" else 8.0
    floor = quad_grid([-10, -4, 0], [20, 0, 0], [0, distance + 4, 0], 10, int(distance + 4))
    face = quad_grid([-10, distance, 0], [0, 0, 8], [20, 0, 0], 8, 20)
    if variant == "a":
        centres = np.array([[-3, distance - 0.3, 2.5], [2, distance - 0.4, 1.0], [4, distance - 0.2, 4.0]])
        sizes = np.array([[2.0, 0.6, 2.0], [3.0, 0.8, 2.0], [1.5, 0.4, 3.0]])
    else:
        centres = np.array([[0.6, distance - 1.5, 1.5], [-3.5, distance - 0.5, 3.0], [-1.0, 2.5, 0.4]])
        sizes = np.array([[3.0, 3.0, 3.0], [2.0, 1.0, 2.0], [0.8, 0.8, 0.8]])
    mesh = merge([floor, face, boxes(centres, sizes)])
    y = 0.5 * distance * _ease(frames)
    eyes = np.column_stack([0.4 * _ease(frames), y, np.full(frames, 1.6)])
    targets = np.column_stack([np.full(frames, 0.3), np.full(frames, distance), np.full(frames, 1.8)])
    return Shot(f"wall-{variant}", mesh, _trajectory(eyes, targets, 30.0, width, height, 0.05, 200.0), 20.0)


def galaxy(frames: int = 48, width: int = 128, height: int = 72, stars: int = 400) -> Shot:
    """A star cluster about 4000 units across (octahedral stars 30-120 units in radius) and a camera
    sweeping past it 6000 units away, panning to keep it in view."""
    rng = np.random.default_rng(7)
    centres = rng.normal(scale=[900.0, 900.0, 350.0], size=(stars, 3))
    radii = rng.uniform(30.0, 120.0, stars)
    bright = radii > 90.0
    parts = (("Stars", octahedra(centres[~bright], radii[~bright]), (0.85, 0.88, 1.0, 1.0)),
             ("GiantStars", octahedra(centres[bright], radii[bright]), (1.0, 0.8, 0.45, 1.0)))
    mesh = merge([m for _, m, _ in parts])
    s = _ease(frames)
    eyes = np.column_stack([-3000 + 6000 * s, -6000 + 1500 * np.sin(np.pi * s), 600 + 400 * s])
    targets = np.column_stack([-400 + 800 * s, np.zeros(frames), np.zeros(frames)])
    return Shot("galaxy", mesh, _trajectory(eyes, targets, 35.0, width, height, 10.0, 1.0e5), 4000.0, parts)


def desk(frames: int = 48, width: int = 128, height: int = 72) -> Shot:
    """A desk top with a mug, a book stack, a pencil cup and a paperweight, all a few centimetres across,
    before a wall; the camera starts 45 cm from them (its move comes from the reference)."""
    top = quad_grid([-0.6, -0.6, 0.0], [1.2, 0, 0], [0, 0.9, 0], 12, 9)
    back = quad_grid([-0.6, 0.3, 0.0], [0, 0, 0.6], [1.2, 0, 0], 6, 12)
    parts = (
        ("DeskTop", top, (0.55, 0.38, 0.22, 1.0)),
        ("Wall", back, (0.82, 0.82, 0.78, 1.0)),
        ("Mug", boxes([-0.12, 0.02, 0.05], [0.08, 0.08, 0.10]), (0.8, 0.15, 0.12, 1.0)),
        ("Books", boxes([[0.10, 0.08, 0.02], [0.11, 0.07, 0.05]], [[0.20, 0.15, 0.04], [0.17, 0.12, 0.02]]),
         (0.15, 0.3, 0.75, 1.0)),
        ("PencilCup", boxes([0.02, -0.08, 0.045], [0.06, 0.06, 0.09]), (0.2, 0.65, 0.25, 1.0)),
        ("Paperweight", octahedra(np.array([[-0.25, 0.12, 0.03]]), 0.03), (0.95, 0.8, 0.1, 1.0)),
        ("Eraser", boxes([0.22, -0.05, 0.01], [0.04, 0.025, 0.02]), (0.9, 0.5, 0.7, 1.0)),
    )
    mesh = merge([m for _, m, _ in parts])
    eyes = np.tile([0.0, -0.45, 0.22], (frames, 1))
    targets = np.tile([0.0, 0.05, 0.03], (frames, 1))
    # A still camera: only its first pose (the start of the transferred move) matters.
    return Shot("desk", mesh, _trajectory(eyes, targets, 35.0, width, height, 0.005, 20.0), 0.6, parts)


def pillar(variant: str = "a", frames: int = DEFAULT_FRAMES, width: int = DEFAULT_WIDTH,
           height: int = DEFAULT_HEIGHT) -> Shot:
    """Jump scene: a back wall 12 ahead (variant b: 9) and a wide pillar 2 ahead (b: 3), just right of the
    view, nothing in between (no floor in view), so the depths have a gap; a camera trucking right sees the
    pillar enter and cover the view, and the median depth jumps from the wall to the pillar. Only the first
    pose matters (a target start); its move trucks right like `field`."""
    far, near = (12.0, 2.0) if variant == "a" else (9.0, 3.0)
    back = quad_grid([-16, far, -6], [0, 0, 14], [32, 0, 0], 4, 16)
    column = boxes(np.array([[5.0, near + 0.4, 1.0]]), np.array([[8.0, 0.8, 14.0]]))
    mesh = merge([back, column])
    x = 3.0 * _ease(frames)
    eyes = np.column_stack([x, np.zeros(frames), np.full(frames, 1.5)])
    targets = eyes + np.array([0.0, 10.0, 0.0])
    return Shot(f"pillar-{variant}", mesh, _trajectory(eyes, targets, 35.0, width, height, 0.05, 200.0), far)


def doorway(variant: str = "a", frames: int = DEFAULT_FRAMES, width: int = DEFAULT_WIDTH,
            height: int = DEFAULT_HEIGHT) -> Shot:
    """Jump scene: a wall 4 ahead with a doorway (1.6 wide, 2.2 high) onto a far wall 16 ahead (variant b:
    11), nothing in between; a camera pushing in sees the doorway grow until the far wall fills most of the
    view, so the median depth jumps from the wall to the far wall."""
    wall_y, door_half, door_low, door_high = 4.0, 0.8, -1.0, 2.2
    far = 16.0 if variant == "a" else 11.0
    parts = [
        quad_grid([-10, wall_y, -6], [0, 0, 14], [10 - door_half, 0, 0], 4, 4),                     # left of it
        quad_grid([door_half, wall_y, -6], [0, 0, 14], [10 - door_half, 0, 0], 4, 4),              # right of it
        quad_grid([-door_half, wall_y, door_high], [0, 0, 8 - door_high], [2 * door_half, 0, 0], 2, 1),  # above
        quad_grid([-door_half, wall_y, -6], [0, 0, door_low + 6], [2 * door_half, 0, 0], 2, 1),     # below
        quad_grid([-20, far, -10], [0, 0, 24], [40, 0, 0], 6, 10),                                  # far wall
    ]
    mesh = merge(parts)
    y = 2.2 * _ease(frames)
    eyes = np.column_stack([np.zeros(frames), y, np.full(frames, 0.6)])
    targets = eyes + np.array([0.0, 10.0, 0.0])
    return Shot(f"doorway-{variant}", mesh, _trajectory(eyes, targets, 30.0, width, height, 0.05, 200.0), far)


def foreground(variant: str = "a", frames: int = DEFAULT_FRAMES, width: int = DEFAULT_WIDTH,
               height: int = DEFAULT_HEIGHT) -> Shot:
    """Jump scene: a foreground block 1.5 ahead covering the left half of the view, in front of boxes 8-11
    ahead on a back wall 12 ahead (variant b: the block 2.5 ahead), nothing in between; a camera trucking
    right slides the block out of the view, so the median depth jumps from the block to what is behind."""
    rng = np.random.default_rng(3 if variant == "a" else 4)
    back = quad_grid([-16, 12, -6], [0, 0, 14], [32, 0, 0], 4, 16)
    n = 16
    centres = np.column_stack([rng.uniform(-6, 10, n), rng.uniform(8.5, 10.5, n), rng.uniform(-2, 4, n)])
    sizes = np.column_stack([rng.uniform(0.8, 2.0, n), rng.uniform(0.6, 1.0, n), rng.uniform(1.0, 3.0, n)])
    near = 1.5 if variant == "a" else 2.5
    block = boxes(np.array([[-2.0, near + 0.3, 1.0]]), np.array([[4.0, 0.6, 14.0]]))
    mesh = merge([back, boxes(centres, sizes), block])
    x = 3.0 * _ease(frames)
    eyes = np.column_stack([x, np.zeros(frames), np.full(frames, 1.4)])
    targets = eyes + np.array([0.0, 10.0, 0.0])
    return Shot(f"foreground-{variant}", mesh, _trajectory(eyes, targets, 35.0, width, height, 0.05, 200.0), 12.0)


SHAPES = {"field": field, "corridor": corridor, "orbit": orbit, "wall": wall}
# Scenes where the median depth jumps along the move (an occlusion edge crossing the median pixel).
JUMP_SHAPES = {"pillar": pillar, "doorway": doorway, "foreground": foreground}


# --- Blender -------------------------------------------------------------------------------------------

def add_mesh_object(name: str, mesh: Mesh, collection: object | None = None) -> object:
    """A Blender mesh object made from `mesh` (world coordinates, identity transform), linked into
    `collection` (default: the scene's master collection)."""
    import bpy

    data = bpy.data.meshes.new(name)
    data.from_pydata(mesh.vertices.tolist(), [], mesh.triangles.tolist())
    data.update()
    obj = bpy.data.objects.new(name, data)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def add_shot_objects(shot: Shot, collection: object | None = None) -> list[object]:
    """The shot's scene as Blender objects: one per named part, coloured (viewport display colour, which
    Workbench renders), or one object for the whole mesh when the shot has no parts."""
    import bpy

    if not shot.parts:
        return [add_mesh_object(shot.name, shot.mesh, collection)]
    objects = []
    for name, mesh, colour in shot.parts:
        obj = add_mesh_object(name, mesh, collection)
        material = bpy.data.materials.new(name)
        material.diffuse_color = colour
        obj.data.materials.append(material)
        obj.color = colour
        objects.append(obj)
    return objects


def add_camera(name: str, trajectory: Trajectory, collection: object | None = None, animate: bool = True,
               frame_start: int = 1) -> object:
    """A camera object with the trajectory's lens, sensor and clip range; with `animate`, keyframed at
    frame_start + i (location and quaternion rotation, bulk-written by the add-on's own camera writer),
    otherwise placed at the first pose."""
    import bpy
    from parascale.parascale_blender.camera_writing import write_camera

    if animate:
        frames = frame_start + np.arange(len(trajectory), dtype=np.float64)
        obj = write_camera(bpy.context.scene, trajectory.replace(frames=frames), name, rotation_mode="QUATERNION")
        if collection is not None:
            bpy.context.scene.collection.objects.unlink(obj)
            collection.objects.link(obj)
        return obj
    data = bpy.data.cameras.new(name)
    intr = trajectory.intrinsics
    data.sensor_width, data.sensor_height, data.sensor_fit = intr.sensor_width, intr.sensor_height, intr.sensor_fit
    data.lens = float(trajectory.lens[0])
    data.clip_start, data.clip_end = trajectory.clip_start, trajectory.clip_end
    obj = bpy.data.objects.new(name, data)
    (collection or bpy.context.scene.collection).objects.link(obj)
    obj.rotation_mode = "QUATERNION"
    obj.location = trajectory.centres[0].tolist()
    obj.rotation_quaternion = matrix_to_quaternion(trajectory.rotations[0]).tolist()
    return obj


def set_render_size(scene: object, width: int, height: int) -> None:
    scene.render.resolution_x, scene.render.resolution_y = int(width), int(height)
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
