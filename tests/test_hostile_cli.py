"""Hostile command lines (issue 10, section 2): every row exits 2 with exactly one line
`parascale: error: ...` of at most 300 characters, no traceback and no numpy warning, writes nothing and
leaves every input byte-identical. Most rows run in-process through main(); a few through a real
`python -m parascale` subprocess, some of them under an address-space limit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from parascale.core.cli import main, summary_table
from parascale.core.formats import write_trajectory
from parascale.core.poses import Intrinsics, Trajectory, look_at

GiB = 1 << 30
SPARSE_SIZE = 3 * GiB  # beyond every reader's limit; sparse, so it costs no disk


def reference_clip(n: int = 12) -> Trajectory:
    eye = np.c_[np.linspace(0.0, 1.0, n), np.linspace(-5.0, -4.0, n), np.full(n, 1.0)]
    return Trajectory(look_at(eye, np.tile([0.0, 0.0, 1.0], (n, 1))), eye, fps=24.0, lens=35.0,
                      intrinsics=Intrinsics(width=160, height=90))


def sparse(path: Path, size: int = SPARSE_SIZE, head: bytes = b"") -> Path:
    with open(path, "wb") as stream:
        stream.write(head)
        stream.truncate(size)
    return path


def make_scene(root: Path) -> Path:
    """Inputs every row may use, all under `root`."""
    write_trajectory(root / "ref.txt", reference_clip())
    write_trajectory(root / "ref.json", reference_clip(), format="parascale")
    write_trajectory(root / "start.json", reference_clip(), format="parascale")
    write_trajectory(root / "sparse", reference_clip(), format="colmap")
    (root / "depths.txt").write_text("\n".join(["5"] * 12) + "\n")
    np.save(root / "cloud.npy", np.random.default_rng(0).normal(size=(500, 3)) + [0.0, 30.0, 0.0])
    np.save(root / "depthmap.npy", np.full((9, 16), 4.0))
    (root / "sub").mkdir()
    (root / "clips").mkdir()
    write_trajectory(root / "clips" / "clip0.txt", reference_clip())
    return root


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under `root`: file contents (size and mtime for big sparse files), folders, links."""
    state: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            state[key] = ("link", os.readlink(path))
        elif path.is_dir():
            state[key] = "folder"
        elif path.stat().st_size > 1 << 20:
            state[key] = ("big", path.stat().st_size, path.stat().st_mtime_ns)
        else:
            state[key] = path.read_bytes()
    return state


# ---------------------------------------------------------------------------- case set-ups
# Each set-up adds what its row needs to the scene and returns the argument list (paths relative to
# the scene, made absolute by the runner when they start with '@').

def _argv(*parts: str) -> Callable[[Path], list[str]]:
    return lambda root: list(parts)


def _symlinked_folder(root: Path) -> list[str]:
    (root / "link").symlink_to(root, target_is_directory=True)
    return ["convert", "@ref.json", "@link/ref.json"]


def _symlinked_file(root: Path) -> list[str]:
    (root / "alias.json").symlink_to(root / "ref.json")
    return ["convert", "@ref.json", "@alias.json"]


def _hard_link(root: Path) -> list[str]:
    os.link(root / "ref.txt", root / "hard.txt")
    return ["transfer", "@ref.txt", "--ref-depth", "5", "--target-depth", "50", "-o", "@hard.txt"]


def _sidecar_is_input(root: Path) -> list[str]:
    os.link(root / "ref.json", root / "out.txt.meta.json")  # out.txt's sidecar is the input
    return ["convert", "@ref.json", "@out.txt"]


def _sidecar_name_taken(root: Path) -> list[str]:
    (root / "out.txt.meta.json").mkdir()
    return ["transfer", "@ref.txt", "--ref-depth", "5", "--target-depth", "50", "-o", "@out.txt"]


def _output_is_folder(root: Path) -> list[str]:
    (root / "out.json").mkdir()
    return ["convert", "@ref.txt", "@out.json"]


def _sparse_reference(root: Path) -> list[str]:
    sparse(root / "huge.txt")
    return ["transfer", "@huge.txt", "--ref-depth", "5", "--target-depth", "50", "-o", "@o.json"]


def _sparse_json(root: Path) -> list[str]:
    sparse(root / "huge.json", head=b"[")
    return ["convert", "@huge.json", "@o.txt"]


def _sparse_depth_txt(root: Path) -> list[str]:
    sparse(root / "huge_depth.txt")
    return ["transfer", "@ref.txt", "--ref-depth", "@huge_depth.txt", "--target-depth", "50", "-o", "@o.json"]


def _sparse_xyz(root: Path) -> list[str]:
    sparse(root / "huge.xyz")
    return ["transfer", "@ref.txt", "--ref-depth", "5", "--target-depth", "@huge.xyz", "-o", "@o.json"]


def _sparse_xyz_under_limit(root: Path) -> list[str]:
    sparse(root / "nul.xyz", 1 * GiB)  # within the size limit: one endless line of NUL bytes
    return ["transfer", "@ref.txt", "--ref-depth", "5", "--target-depth", "@nul.xyz", "-o", "@o.json"]


def _huge_ply_header(root: Path) -> list[str]:
    header = b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000\nproperty float x\n" \
             b"property float y\nproperty float z\nend_header\n"
    sparse(root / "huge.ply", head=header)
    return ["transfer", "@ref.txt", "--ref-depth", "5", "--target-depth", "@huge.ply", "-o", "@o.json"]


def _huge_npy_header(root: Path) -> list[str]:
    with open(root / "huge.npy", "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (100_000_000, 3)})
        stream.truncate(SPARSE_SIZE)
    return ["transfer", "@ref.txt", "--ref-depth", "5", "--target-depth", "@huge.npy", "-o", "@o.json"]


def _sparse_images_txt(root: Path) -> list[str]:
    sparse(root / "sparse" / "images.txt")
    return ["convert", "@sparse", "@o.json"]


def _long_token(root: Path) -> list[str]:
    lines = (root / "ref.txt").read_text().split("\n")
    fields = lines[3].split(" ")
    fields[8] = "x" * 2_000_000
    lines[3] = " ".join(fields)
    (root / "long.txt").write_text("\n".join(lines))
    return ["transfer", "@long.txt", "--ref-depth", "5", "--target-depth", "50", "-o", "@o.json"]


def _long_depth_token(root: Path) -> list[str]:
    (root / "long_depth.txt").write_text("5\n" + "7" * 500 + "q" * 1_000_000 + "\n")
    return ["transfer", "@ref.txt", "--ref-depth", "@long_depth.txt", "--target-depth", "50", "-o", "@o.json"]


def _long_path(root: Path) -> list[str]:
    return ["convert", "@" + "d" * 200 + "/" + "n" * 200 + ".txt", "@o.json"]


def _huge_centre(root: Path) -> list[str]:
    text = (root / "ref.txt").read_text().split("\n")
    fields = text[2].split(" ")
    fields[10] = "1e308"  # the first translation entry
    text[2] = " ".join(fields)
    (root / "far.txt").write_text("\n".join(text))
    return ["transfer", "@far.txt", "--ref-depth", "5", "--target-depth", "50", "-o", "@o.json"]


def _denormal_depth_file(root: Path) -> list[str]:
    (root / "tiny.txt").write_text("\n".join(["5"] * 11 + ["1e-310"]) + "\n")
    return ["transfer", "@ref.txt", "--ref-depth", "@tiny.txt", "--target-depth", "50", "-o", "@o.json"]


def _inf_point_npy(root: Path) -> list[str]:
    cloud = np.load(root / "cloud.npy")
    cloud[17, 1] = np.inf
    np.save(root / "inf.npy", cloud)
    return ["transfer", "@ref.txt", "--ref-depth", "5", "--target-depth", "@inf.npy", "-o", "@o.json"]


def _batch_symlinked_out(root: Path) -> list[str]:
    (root / "clips_link").symlink_to(root / "clips", target_is_directory=True)
    return ["batch", "@clips", "@clips_link", "--ref-depth", "5", "--target-depth", "50"]


def _batch(*options: str) -> Callable[[Path], list[str]]:
    return lambda root: ["batch", "@clips", "@batch_out", "--jobs", "1", *options]


TRANSFER = ("transfer", "@ref.txt")

CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    # Data loss: an output that is an input, however it is reached.
    ("same-path", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "50", "-o", "@ref.txt"), "is an input"),
    ("dot-dot", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "50", "-o", "@sub/../ref.txt"),
     "is an input"),
    ("ref-depth", _argv(*TRANSFER, "--ref-depth", "@depths.txt", "--target-depth", "50", "-o", "@depths.txt"),
     "is an input"),
    ("start-file", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "50", "--start", "@start.json",
                         "-o", "@start.json"), "is an input"),
    ("target-depth", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "@cloud.npy", "--format", "parascale",
                           "-o", "@cloud.npy"), "is an input"),
    ("convert-a-a", _argv("convert", "@ref.json", "@ref.json"), "is an input"),
    ("colmap-folder", _argv("convert", "@sparse", "@sparse", "--format", "colmap"), "is an input"),
    ("symlinked-folder", _symlinked_folder, "is an input"),
    ("symlink", _symlinked_file, "is an input"),
    ("hard-link", _hard_link, "is an input"),
    ("sidecar-is-input", _sidecar_is_input, "out.txt.meta.json: is an input"),
    ("batch-out-is-in", _batch_symlinked_out, "must differ from the input folder"),
    # Size: refused before reading, the limit named.
    ("sparse-reference", _sparse_reference, "3.0 GiB is more than a pose file may hold (64 MiB at most)"),
    ("sparse-json", _sparse_json, "(64 MiB at most)"),
    ("sparse-depth-txt", _sparse_depth_txt, "more than a depth file may hold"),
    ("sparse-xyz", _sparse_xyz, "(2.0 GiB at most)"),
    ("nul-xyz", _sparse_xyz_under_limit, "line 1: longer than 65536 bytes"),
    ("huge-ply", _huge_ply_header, "1000000000 points is more than a point cloud may hold"),
    ("huge-npy", _huge_npy_header, "300000000 values is more than an array may hold"),
    ("sparse-images-txt", _sparse_images_txt, "images.txt: 3.0 GiB is more than a pose file may hold"),
    # Message length: tokens and paths are cut.
    ("long-token", _long_token, "line 4: not a number: 'xxxx"),
    ("long-depth-token", _long_depth_token, "line 2: not a number: '7777"),
    ("long-path", _long_path, "no such file"),
    # Numbers out of what float64 arithmetic and float32 keyframes hold.
    ("denormal-ref-depth", _argv(*TRANSFER, "--ref-depth", "1e-310", "--target-depth", "50", "-o", "@o.json"),
     "--ref-depth 1e-310: a fixed depth must lie within 1e-30 .. 1e+30"),
    ("huge-target-depth", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "1e308", "-o", "@o.json"),
     "--target-depth 1e308"),
    ("huge-start", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "50", "--start", "3e306,0,0",
                         "-o", "@o.json"), "--start 3e306,0,0: the position lies beyond 1e+30"),
    ("huge-scale", _argv(*TRANSFER, "--ref-depth", "1e-20", "--target-depth", "1e20", "-o", "@o.json"),
     "the calibrated camera cannot be stored"),
    ("huge-centre-in-file", _huge_centre, "lies beyond 1e+30"),
    ("denormal-depth-file", _denormal_depth_file, "tiny.txt:line 12: depth must lie within"),
    ("denormal-intrinsics", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "@depthmap.npy",
                                  "--target-intrinsics", "1e-310,1e-310,1,1", "-o", "@o.json"),
     "focal lengths must lie within"),
    ("overflow-frames", _argv("convert", "@ref.txt", "@o.json", "--frames", "1000000000000"),
     "--frames must lie within 2 .. 1048574"),
    # Internal names: the user's path and what is wrong with it.
    ("under-a-file", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "50", "-o", "@ref.txt/x.json"),
     "ref.txt is a file, not a folder"),
    ("output-is-folder", _output_is_folder, "out.json: is a folder"),
    ("sidecar-name-taken", _sidecar_name_taken, "out.txt.meta.json: is a folder"),
    # Empty values.
    ("empty-ref-depth", _argv(*TRANSFER, "--ref-depth", "", "--target-depth", "50", "-o", "@o.json"),
     "--ref-depth: empty value"),
    ("empty-target-depth", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", " ", "-o", "@o.json"),
     "--target-depth: empty value"),
    ("empty-start", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "50", "--start", "", "-o", "@o.json"),
     "--start: empty value"),
    ("empty-output", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "50", "-o", ""), "--output: empty"),
    ("empty-reference", _argv("transfer", "", "--ref-depth", "5", "--target-depth", "50", "-o", "@o.json"),
     "REFERENCE: empty value"),
    ("empty-intrinsics", _argv(*TRANSFER, "--ref-depth", "5", "--target-depth", "@depthmap.npy",
                               "--target-intrinsics", "", "-o", "@o.json"), "--target-intrinsics: empty"),
    ("empty-convert-input", _argv("convert", "", "@o.json"), "INPUT: empty value"),
    ("empty-measure-depth", _argv("measure", "@ref.txt", "--depth", "", "--reference", "@ref.txt",
                                  "--ref-depth", "5"), "--depth: empty value"),
    # Batch: an option wrong for every clip is refused before the batch starts.
    ("batch-negative-depth", _batch("--ref-depth", "-5", "--target-depth", "50"), "--ref-depth -5"),
    ("batch-nan-start", _batch("--ref-depth", "5", "--target-depth", "50", "--start", "nan,0,0"),
     "values must be finite"),
    ("batch-missing-target", _batch("--ref-depth", "5", "--target-depth", "@missing.ply"), "no such file"),
    ("batch-unknown-preset", _batch("--ref-depth", "5", "--target-depth", "50", "--preset", "nope"),
     "unknown preset"),
    ("batch-depth-map-without-intrinsics", _batch("--ref-depth", "5", "--target-depth", "@depthmap.npy"),
     "needs its intrinsics"),
    # Consistency: an inf point in a .npy cloud is refused like one in .ply or .xyz, naming the row.
    ("inf-point-npy", _inf_point_npy, "inf.npy:row 17: NaN or infinite coordinate"),
]

# Rows also run as a real subprocess: nothing from numpy or Python may reach stderr.
SUBPROCESS_CASES = {"huge-scale", "denormal-ref-depth", "huge-start", "sparse-xyz", "huge-npy", "sidecar-name-taken",
                    "long-token", "batch-nan-start"}
# Rows run under an address-space limit: a reader that read the file whole could not stay below it.
MEMORY_LIMITED_CASES = {"sparse-reference", "sparse-json", "sparse-depth-txt", "sparse-xyz", "nul-xyz",
                        "huge-ply", "huge-npy", "sparse-images-txt"}
ADDRESS_SPACE_LIMIT = 1536 << 20


def resolve(root: Path, argv: list[str]) -> list[str]:
    return [str(root / a[1:]) if a.startswith("@") else a for a in argv]


def check_one_line_error(code: int, err: str, part: str) -> None:
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err[:2000]
    line = err[:-1]
    assert line.startswith("parascale: error: "), line
    assert len(line) <= 300, len(line)
    assert "Traceback" not in line and "Warning" not in line, line
    assert part in line, (part, line)


@pytest.mark.parametrize("name, setup, part", CASES, ids=[c[0] for c in CASES])
def test_bad_command_line_is_one_line_and_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          name: str, setup: Callable[[Path], list[str]],
                                                          part: str) -> None:
    root = make_scene(tmp_path)
    argv = resolve(root, setup(root))
    before = snapshot(root)
    code = main(argv)
    captured = capsys.readouterr()
    check_one_line_error(code, captured.err, part)
    assert captured.out == ""
    assert snapshot(root) == before


def _limit_address_space() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


@pytest.mark.parametrize("name, setup, part", [c for c in CASES if c[0] in SUBPROCESS_CASES | MEMORY_LIMITED_CASES],
                         ids=[c[0] for c in CASES if c[0] in SUBPROCESS_CASES | MEMORY_LIMITED_CASES])
def test_bad_command_line_in_a_subprocess(tmp_path: Path, name: str, setup: Callable[[Path], list[str]],
                                          part: str) -> None:
    root = make_scene(tmp_path)
    argv = resolve(root, setup(root))
    before = snapshot(root)
    limited = name in MEMORY_LIMITED_CASES
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "parascale", *argv], capture_output=True, text=True, timeout=120,
                          env=environment, preexec_fn=_limit_address_space if limited else None)
    check_one_line_error(done.returncode, done.stderr, part)
    assert done.stdout == ""
    assert snapshot(root) == before


def test_the_address_space_limit_is_tight_enough_to_catch_a_whole_read(tmp_path: Path) -> None:
    """The limit above is meaningful: reading one of those sparse files whole fails under it."""
    sparse(tmp_path / "huge.txt")
    code = f"import pathlib; pathlib.Path({str(tmp_path / 'huge.txt')!r}).read_bytes()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          preexec_fn=_limit_address_space)
    assert done.returncode != 0 and "MemoryError" in done.stderr


def test_batch_never_writes_over_an_input_in_the_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A start pose that sits in OUT_DIR under the name of a clip's output: that clip fails, the input stays."""
    root = make_scene(tmp_path)
    out = root / "batch_out"
    out.mkdir()
    write_trajectory(out / "clip0.json", reference_clip(), format="parascale")
    before = (out / "clip0.json").read_bytes()
    code = main(["batch", str(root / "clips"), str(out), "--jobs", "1", "--ref-depth", "5", "--target-depth", "50",
                 "--start", str(out / "clip0.json")])
    captured = capsys.readouterr()
    assert code == 1
    assert "clip0.json: is an input" in captured.out
    assert (out / "clip0.json").read_bytes() == before


def test_summary_columns_stay_apart_whatever_the_width() -> None:
    summary = {"pi_total_reference": 9.229123456, "pi_total_realized": 10190.12345, "pce": 1.0123456e-300,
               "bias": 123456789.0, "scale_min": 1e-30, "scale_max": 1e30, "unconverged_frames": []}
    text = summary_table({"per_frame": summary, "global": dict(summary, pi_total_reference=123456789012.0),
                          "uncalibrated": "the reference does not move"}, "per_frame")
    lines = text.split("\n")
    # Split on runs of two or more spaces: every row falls apart into exactly its own cells.
    assert re.split(r" {2,}", lines[0]) == ["mode", "Pi_total ref", "Pi_total real", "PCE", "bias", "scale range"]
    assert re.split(r" {2,}", lines[1]) == ["per-frame *", "9.22912", "10190.1", "1.012e-300", "1.235e+08",
                                            "1e-30 .. 1e+30"]
    assert re.split(r" {2,}", lines[2]) == ["global", "1.23457e+11", "10190.1", "1.012e-300", "1.235e+08",
                                            "1e-30 .. 1e+30"]
    assert lines[3].startswith("uncalibrated  failed: the reference does not move")


def test_a_byte_order_mark_is_accepted_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_scene(tmp_path)
    bom = b"\xef\xbb\xbf"
    (root / "bom.json").write_bytes(bom + (root / "ref.json").read_bytes())
    (root / "bom_depths.txt").write_bytes(bom + (root / "depths.txt").read_bytes())
    (root / "bom.xyz").write_bytes(bom + b"0 30 0\n1 31 0\n0 29 1\n")
    code = main(["transfer", str(root / "bom.json"), "--ref-depth", str(root / "bom_depths.txt"), "--target-depth",
                 str(root / "bom.xyz"), "-o", str(root / "o.json"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["mode"] == "per_frame"


def test_float32_quantization_is_warned_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_scene(tmp_path)
    code = main(["transfer", str(root / "ref.txt"), "--ref-depth", "5", "--target-depth", "50", "--start",
                 "1e17,0,0", "-o", str(root / "far.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "warning: float32 precision: positions are quantized" in captured.out
    code = main(["transfer", str(root / "ref.txt"), "--ref-depth", "5", "--target-depth", "50", "--start",
                 "1e17,0,0", "-o", str(root / "far2.json"), "--json"])
    assert json.loads(capsys.readouterr().out)["warnings"][0].startswith("float32 precision")
    code = main(["transfer", str(root / "ref.txt"), "--ref-depth", "5", "--target-depth", "50", "-o",
                 str(root / "near.json")])
    assert "warning:" not in capsys.readouterr().out
