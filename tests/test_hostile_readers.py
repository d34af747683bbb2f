"""Every reader against hostile files (issue 10, section 4): random bytes, truncations, byte mutations of
valid files, numbers swapped for extreme ones, a byte-order mark. Each must return a valid result or
raise a ParaScaleError whose `parascale: error: ...` line is one line of at most 300 characters; never
another exception, never a numpy warning (warnings are errors inside these tests)."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parascale.core.errors import ParaScaleError
from parascale.core.formats import read_trajectory, render_trajectory
from parascale.core.pointcloud import per_frame_median_depths, read_depth_values, read_points
from parascale.core.poses import Intrinsics, Trajectory, look_at

# 80 examples per reader keep the file under a minute on 2 cores; PARASCALE_HOSTILE_EXAMPLES=2000 digs deeper.
EXAMPLES = settings(max_examples=int(os.environ.get("PARASCALE_HOSTILE_EXAMPLES", "80")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
EXTREME_NUMBERS = ["1e308", "-1e308", "3e306", "1e-310", "-1e-310", "1e400", "nan", "inf", "-inf", "0", "-0",
                   "1e17", "1e-30", "1e30", "9" * 400, "9" * 5000, "0x10", "1_000", "", "1e", "--1"]
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
BOM = b"\xef\xbb\xbf"


def clip(n: int = 6) -> Trajectory:
    eye = np.c_[np.linspace(0.0, 1.0, n), np.linspace(-5.0, -4.0, n), np.full(n, 1.0)]
    return Trajectory(look_at(eye, np.tile([0.0, 0.0, 1.0], (n, 1))), eye, fps=24.0,
                      lens=np.linspace(30.0, 40.0, n), intrinsics=Intrinsics(width=160, height=90))


def valid_files(fmt: str, name: str) -> dict[str, bytes]:
    """{relative path: bytes} of a valid file (with sidecar or model files) of a pose format."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # render_uni3c warns about the animated lens: irrelevant here
        contents = render_trajectory(Path(name), clip(), format=fmt)
    return {str(path): text.encode() for path, text in contents.items()}


def mutate(data: bytes, draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "truncate", "bytes", "number", "number", "bom", "lines"]))
    if kind == "random":
        return draw(st.binary(max_size=600))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    if kind == "bytes":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            if out:
                out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "lines":
        lines = data.split(b"\n")
        index = draw(st.integers(0, len(lines) - 1))
        return b"\n".join(lines[:index] + lines[index + 1:] if draw(st.booleans()) else
                          lines[:index] + [lines[index]] * 2 + lines[index + 1:])
    matches = list(NUMBER.finditer(data))
    out = data
    for _ in range(draw(st.integers(1, 3))):
        matches = list(NUMBER.finditer(out))
        if not matches:
            break
        match = matches[draw(st.integers(0, len(matches) - 1))]
        out = out[:match.start()] + draw(st.sampled_from(EXTREME_NUMBERS)).encode() + out[match.end():]
    return BOM + out if kind == "bom" else out


def check_reader(read: Callable[[Path], object], folder: Path, target: Path) -> None:
    """Run `read` with every warning an error; it may succeed or raise a bounded one-line ParaScaleError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            read(target)
        except ParaScaleError as error:
            line = f"parascale: error: {error}"
            assert "\n" not in line and "\r" not in line, line
            assert len(line) <= 300, line


def fuzz_files(files: dict[str, bytes], read: Callable[[Path], object], target: str, draw: st.DrawFn) -> None:
    """Write `files` with one of them mutated and read `target` (a file or a folder) with `read`."""
    victim = draw(st.sampled_from(sorted(files)))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        for name, data in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(mutate(data, draw) if name == victim else data)
        check_reader(read, folder, folder / target)


POSE_FORMATS = {"realestate10k": "camera.txt", "motionctrl": "poses.json", "recammaster": "extrinsics.json",
                "uni3c": "cam_info.json", "nerfstudio": "camera_path.json", "transforms": "transforms.json",
                "parascale": "trajectory.json"}


def _pose_test(fmt: str, name: str) -> Callable[..., None]:
    files = valid_files(fmt, name)

    @EXAMPLES
    @given(data=st.data(), sniff=st.booleans())
    def test(data: st.DataObject, sniff: bool) -> None:
        fuzz_files(files, lambda p: read_trajectory(p, None if sniff else fmt), name, data.draw)

    test.__name__ = f"test_{fmt}_reader_survives_hostile_files"
    return test


test_realestate10k_reader = _pose_test("realestate10k", "camera.txt")
test_motionctrl_reader = _pose_test("motionctrl", "poses.json")
test_recammaster_reader = _pose_test("recammaster", "extrinsics.json")
test_uni3c_reader = _pose_test("uni3c", "cam_info.json")
test_nerfstudio_reader = _pose_test("nerfstudio", "camera_path.json")
test_transforms_reader = _pose_test("transforms", "transforms.json")
test_parascale_reader = _pose_test("parascale", "trajectory.json")
test_colmap_folder_reader = _pose_test("colmap", "sparse")


# ------------------------------------------------------------------------------------------ point clouds

POINTS = np.random.default_rng(1).normal(size=(7, 3)) * 3.0


def _ply(encoding: str, points: np.ndarray = POINTS) -> bytes:
    header = (f"ply\nformat {encoding} 1.0\ncomment hostile\nelement vertex {len(points)}\nproperty double x\n"
              "property double y\nproperty double z\nproperty uchar red\nelement face 0\n"
              "property list uchar int vertex_indices\nend_header\n").encode()
    if encoding == "ascii":
        return header + "".join(f"{x!r} {y!r} {z!r} 7\n" for x, y, z in points.tolist()).encode()
    order = "<" if encoding == "binary_little_endian" else ">"
    table = np.zeros(len(points), dtype=[("x", order + "f8"), ("y", order + "f8"), ("z", order + "f8"),
                                         ("red", "u1")])
    table["x"], table["y"], table["z"] = points.T
    return header + table.tobytes()


def _npy(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


CLOUDS = {
    "ascii.ply": _ply("ascii"),
    "little.ply": _ply("binary_little_endian"),
    "big.ply": _ply("binary_big_endian"),
    "cloud.npy": _npy(POINTS),
    "cloud.xyz": ("# x y z\n" + "".join(f"{x!r} {y!r} {z!r}\n" for x, y, z in POINTS.tolist())).encode(),
    "points3D.txt": ("# POINT3D_ID X Y Z R G B ERROR TRACK[]\n" + "".join(
        f"{i + 1} {x!r} {y!r} {z!r} 1 2 3 0.5 1 0\n" for i, (x, y, z) in enumerate(POINTS.tolist()))).encode(),
}


def _cloud_test(name: str) -> Callable[..., None]:
    @EXAMPLES
    @given(data=st.data())
    def test(data: st.DataObject) -> None:
        fuzz_files({name: CLOUDS[name]}, read_points, name, data.draw)

    return test


test_ascii_ply_reader = _cloud_test("ascii.ply")
test_binary_little_endian_ply_reader = _cloud_test("little.ply")
test_binary_big_endian_ply_reader = _cloud_test("big.ply")
test_npy_cloud_reader = _cloud_test("cloud.npy")
test_xyz_reader = _cloud_test("cloud.xyz")
test_colmap_points_reader = _cloud_test("points3D.txt")

# Arrays of any numeric dtype and shape, with extreme values, as .npy clouds and depth files.
extreme_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
    [1e308, -1e308, 1e-310, 5e-324, 0.0, -0.0, 1e30, 1e-30, 3.4e38]))
arrays = st.tuples(st.sampled_from(["<f8", ">f4", "<f2", "<i8", "<u2", "<i1"]),
                   st.sampled_from([(0,), (5,), (4, 3), (0, 3), (2, 2), (3, 1, 3), (1, 3)]),
                   st.lists(extreme_floats, min_size=12, max_size=12))


def _array(spec: tuple[str, tuple[int, ...], list[float]]) -> np.ndarray:
    dtype, shape, values = spec
    size = int(np.prod(shape))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.resize(np.array(values, dtype=np.float64), size).astype(dtype).reshape(shape)


@EXAMPLES
@given(spec=arrays)
def test_npy_cloud_reader_with_extreme_arrays(spec: tuple[str, tuple[int, ...], list[float]]) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "cloud.npy"
        path.write_bytes(_npy(_array(spec)))
        check_reader(read_points, path.parent, path)


@EXAMPLES
@given(points=st.lists(st.tuples(extreme_floats, extreme_floats, extreme_floats), min_size=1, max_size=5),
       encoding=st.sampled_from(["ascii", "binary_little_endian", "binary_big_endian"]))
def test_ply_reader_with_extreme_points(points: list[tuple[float, float, float]], encoding: str) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "cloud.ply"
        path.write_bytes(_ply(encoding, np.array(points, dtype=np.float64)))
        check_reader(read_points, path.parent, path)


# ------------------------------------------------------------------------------------------ depth files

DEPTHS = {"depths.txt": b"# depth per frame\n5.0\n4.5\n4.0\n", "depths.npy": _npy(np.array([5.0, 4.5, 4.0]))}


@EXAMPLES
@given(data=st.data(), name=st.sampled_from(sorted(DEPTHS)))
def test_depth_values_reader(data: st.DataObject, name: str) -> None:
    fuzz_files({name: DEPTHS[name]}, read_depth_values, name, data.draw)


@EXAMPLES
@given(spec=arrays)
def test_depth_values_reader_with_extreme_arrays(spec: tuple[str, tuple[int, ...], list[float]]) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "depths.npy"
        path.write_bytes(_npy(_array(spec)))
        check_reader(read_depth_values, path.parent, path)


MAPS = {f"maps/depth_{i}.npy": _npy(np.full((3, 4), 2.0 + i)) for i in range(3)}


@EXAMPLES
@given(data=st.data())
def test_depth_map_folder_reader(data: st.DataObject) -> None:
    fuzz_files(MAPS, per_frame_median_depths, "maps", data.draw)


@EXAMPLES
@given(spec=arrays)
def test_depth_map_folder_reader_with_extreme_maps(spec: tuple[str, tuple[int, ...], list[float]]) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "a.npy").write_bytes(_npy(np.full((3, 4), 2.0)))
        (folder / "b.npy").write_bytes(_npy(_array(spec)))
        check_reader(per_frame_median_depths, folder, folder)


def test_the_mutations_reach_the_readers() -> None:
    """The fuzzing is not vacuous: a mutated valid file is refused with a ParaScaleError, and an
    unmutated one is read."""
    files = valid_files("realestate10k", "camera.txt")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        assert len(read_trajectory(folder / "camera.txt")) == 6
        text = (folder / "camera.txt").read_bytes()
        (folder / "camera.txt").write_bytes(NUMBER.sub(b"1e-310", text, count=3))
        try:
            read_trajectory(folder / "camera.txt")
        except ParaScaleError:
            pass
        else:  # pragma: no cover
            raise AssertionError("a file of denormal numbers was accepted")


def test_ply_element_count_of_thousands_of_digits_is_refused(tmp_path: Path) -> None:
    """Found by the mutations above: int() refuses more than 4300 digits with a ValueError of its own."""
    for name, encoding in (("ascii.ply", "ascii"), ("little.ply", "binary_little_endian")):
        data = _ply(encoding).replace(b"element vertex 7", b"element vertex " + b"9" * 5000)
        path = tmp_path / name
        path.write_bytes(data)
        try:
            read_points(path)
        except ParaScaleError as error:
            assert "element count" in str(error) and len(str(error)) <= 300 and "\n" not in str(error)
        else:
            raise AssertionError("a 5000-digit element count was accepted")


def _refused(read: Callable[[Path], object], path: Path, fragment: str) -> None:
    try:
        read(path)
    except ParaScaleError as error:
        assert fragment in str(error) and "\n" not in str(error) and len(str(error)) <= 280, str(error)
    else:
        raise AssertionError(f"{path.name} was accepted")


def test_faults_the_fuzzing_found_in_pose_files(tmp_path: Path) -> None:
    """A URL line with an unbalanced '[' (urlparse's ValueError), a ReCamMaster key of 5000 digits (int()'s
    ValueError): each named, not raised as the library's own exception."""
    files = valid_files("realestate10k", "camera.txt")
    text = files["camera.txt"].decode()
    (tmp_path / "camera.txt").write_text("https://[parascale.invalid/x" + text[text.index("\n"):])
    _refused(lambda p: read_trajectory(p, "realestate10k"), tmp_path / "camera.txt", "line 1: the first line is not")
    data = valid_files("recammaster", "extrinsics.json")["extrinsics.json"].replace(b'"frame0"', b'"frame' + b"9" * 5000
                                                                                     + b'"')
    (tmp_path / "extrinsics.json").write_bytes(data)
    _refused(lambda p: read_trajectory(p, "recammaster"), tmp_path / "extrinsics.json", "unknown key")


def test_an_unforeseen_reader_fault_is_one_named_line(tmp_path: Path, monkeypatch) -> None:
    """The safety net (core.errors.read_faults_named): a fault no reader names becomes one line naming the
    file, never a traceback."""
    from parascale.core.formats import FORMATS

    def broken_reader(path: Path, **options: object) -> Trajectory:
        return {}["missing"]

    monkeypatch.setitem(FORMATS, "motionctrl", dataclasses.replace(FORMATS["motionctrl"], read=broken_reader))
    path = tmp_path / "poses.json"
    path.write_text("[]")
    _refused(lambda p: read_trajectory(p, "motionctrl"), path, "poses.json: cannot be read (KeyError")
