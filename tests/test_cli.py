"""The `parascale` command line: outputs, summaries, exit codes and one-line errors, in-process through
main() and once as a real subprocess (`python -m parascale`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from parascale.core.cli import main
from parascale.core.formats import read_realestate10k, read_trajectory, read_transfer_result, write_trajectory
from parascale.core.parallax import transfer
from parascale.core.poses import Intrinsics, Trajectory, look_at

REPO = Path(__file__).resolve().parent.parent


def reference_clip(n: int = 20) -> Trajectory:
    """A dolly-and-truck toward the origin, seen from about 5 units."""
    eye = np.c_[np.linspace(0.0, 1.0, n), np.linspace(-5.0, -4.0, n), np.full(n, 1.0)]
    return Trajectory(look_at(eye, np.tile([0.0, 0.0, 1.0], (n, 1))), eye, fps=24.0, lens=35.0,
                      intrinsics=Intrinsics(width=160, height=90))


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A reference clip and a target point cloud 300 units away (a scene 60x larger)."""
    write_trajectory(tmp_path / "ref.txt", reference_clip())
    rng = np.random.default_rng(0)
    np.save(tmp_path / "target.npy", rng.normal(size=(2000, 3)) * [20.0, 5.0, 20.0] + [0.0, 300.0, 0.0])
    return tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *parts: str) -> None:
    assert code == 2
    lines = err.strip().split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("parascale: error: "), err
    assert "Traceback" not in err
    for part in parts:
        assert part in lines[0], (part, err)


def test_transfer_writes_the_preset_and_prints_every_mode(scene: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(["transfer", scene / "ref.txt", "--ref-depth", "5", "--target-depth", scene / "target.npy",
                          "--start", "0,0,0,90,0,0", "--preset", "wan21", "-o", scene / "out.txt"], capsys)
    assert code == 0, err
    written = read_realestate10k(scene / "out.txt")
    assert len(written) == 81
    lines = out.strip().split("\n")
    assert lines[1].split()[:5] == ["mode", "Pi_total", "ref", "Pi_total", "real"]
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert set(rows) == {"per-frame", "global", "uncalibrated"} and rows["per-frame"][1] == "*"
    # Calibrated: realized Pi_total equals the reference's, PCE ~ 0; uncalibrated: muted by ~60x.
    pi_ref, pi_real, pce = (float(v) for v in rows["per-frame"][2:5])
    assert pi_real == pytest.approx(pi_ref, rel=1e-6) and pce < 1e-6
    assert float(rows["uncalibrated"][3]) > 3.0  # PCE = |ln k| with k ~ 60
    # Against the library call it stands for.
    reference = reference_clip()
    from parascale.core.batch import euler_xyz
    from parascale.core.depth import PointsDepth
    expected = transfer(reference, 5.0, PointsDepth(np.load(scene / "target.npy")), euler_xyz([90, 0, 0]),
                        np.zeros(3))
    assert pi_real == pytest.approx(expected.pi_total_realized, rel=1e-5)


def test_transfer_to_parascale_json_keeps_the_result(scene: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(["transfer", scene / "ref.txt", "--ref-depth", "5", "--target-depth", "50",
                          "--mode", "global", "-o", scene / "out.json", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["mode"] == "global"
    assert summary["summaries"]["global"]["pce"] == pytest.approx(0.0, abs=1e-12)
    result = read_transfer_result(scene / "out.json")
    assert result.mode == "global"
    np.testing.assert_allclose(result.scale, 10.0)


def test_bad_reference_file_is_one_line_and_writes_nothing(scene: Path, capsys: pytest.CaptureFixture) -> None:
    lines = (scene / "ref.txt").read_text().split("\n")
    lines[5] = lines[5] + " 0.5"
    (scene / "bad.txt").write_text("\n".join(lines))
    code, out, err = run(["transfer", scene / "bad.txt", "--ref-depth", "5", "--target-depth", "50",
                          "-o", scene / "out.txt"], capsys)
    assert_one_line_error(code, err, f"{scene / 'bad.txt'}:line 6: expected 19 numbers, got 20")
    assert not (scene / "out.txt").exists() and not (scene / "out.txt.meta.json").exists()


@pytest.mark.parametrize("argv, parts", [
    (["--ref-depth", "5", "--target-depth", "missing.ply"], ["missing.ply", "no such file"]),
    (["--ref-depth", "-3", "--target-depth", "50"], ["--ref-depth -3", "positive"]),
    (["--ref-depth", "depths.txt", "--target-depth", "50"], ["depths.txt", "3 per-frame depths for a clip of 20"]),
    (["--ref-depth", "5", "--target-depth", "depthmap.npy"], ["depthmap.npy", "needs its intrinsics"]),
    (["--ref-depth", "5", "--target-depth", "50", "--preset", "wan21", "--frames", "80"], ["4k+1"]),
    (["--ref-depth", "5", "--target-depth", "50", "--preset", "nope"], ["unknown preset 'nope'"]),
    (["--ref-depth", "5", "--target-depth", "50", "--mode", "sideways"], ["invalid choice: 'sideways'"]),
    (["--ref-depth", "5", "--target-depth", "50", "--start", "1,2"], ["--start"]),
])
def test_bad_options_are_one_line_with_exit_2(scene: Path, capsys: pytest.CaptureFixture, argv: list[str],
                                              parts: list[str]) -> None:
    (scene / "depths.txt").write_text("1\n2\n3\n")
    np.save(scene / "depthmap.npy", np.full((9, 16), 4.0))
    argv = [a if not a.endswith((".txt", ".npy", ".ply")) else str(scene / a) for a in argv]
    code, _, err = run(["transfer", scene / "ref.txt", *argv, "-o", scene / "out.txt"], capsys)
    assert_one_line_error(code, err, *parts)
    assert not (scene / "out.txt").exists()


def test_target_depth_map_with_intrinsics(scene: Path, capsys: pytest.CaptureFixture) -> None:
    # A flat wall 40 units in front of the start pose: the scene is 8x the reference's 5 units.
    np.save(scene / "depthmap.npy", np.full((9, 16), 40.0))
    code, out, err = run(["transfer", scene / "ref.txt", "--ref-depth", "5", "--target-depth", scene / "depthmap.npy",
                          "--target-intrinsics", "12,12,7.5,4", "--mode", "global", "-o", scene / "o.json",
                          "--json"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(read_transfer_result(scene / "o.json").scale, 8.0, rtol=1e-9)


def test_measure_prints_pi_per_frame_and_pce(scene: Path, capsys: pytest.CaptureFixture) -> None:
    reference = reference_clip()
    doubled = reference.replace(centres=reference.centres[0] + 2.0 * (reference.centres - reference.centres[0]))
    write_trajectory(scene / "cand.txt", doubled)
    code, out, err = run(["measure", scene / "cand.txt", "--depth", "5", "--reference", scene / "ref.txt",
                          "--ref-depth", "5"], capsys)
    assert code == 0, err
    lines = out.strip().split("\n")
    assert lines[0].split() == ["frame", "Pi", "reference", "Pi", "candidate", "ratio"]
    assert len(lines) == 1 + 19 + 2
    assert all(float(line.split()[3]) == pytest.approx(2.0) for line in lines[1:20])
    assert lines[-1].startswith("PCE 0.693147")
    code, out, err = run(["measure", scene / "cand.txt", "--depth", "5", "--reference", scene / "ref.txt",
                          "--ref-depth", "5", "--json"], capsys)
    data = json.loads(out)
    assert data["pce"] == pytest.approx(np.log(2.0)) and data["bias"] == pytest.approx(2.0)
    assert len(data["pi_candidate"]) == 19


def test_convert_between_formats_and_presets(scene: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(["convert", scene / "ref.txt", scene / "sparse", "--format", "colmap"], capsys)
    assert code == 0, err
    assert (scene / "sparse" / "images.txt").exists()
    code, out, err = run(["convert", scene / "sparse", scene / "m.json", "--preset", "motionctrl-svd"], capsys)
    assert code == 0, err
    assert len(read_trajectory(scene / "m.json")) == 14
    code, out, err = run(["convert", scene / "ref.txt", scene / "x.json", "--format", "nope"], capsys)
    assert_one_line_error(code, err, "unknown format 'nope'")


def test_formats_lists_formats_and_presets(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["formats"], capsys)
    assert code == 0
    for name in ("realestate10k", "colmap", "parascale", "wan22-5b", "cameractrl-svdxt", "motionctrl-svd"):
        assert name in out


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(["transfer", "ref.txt"], capsys)
    assert_one_line_error(code, err, "required")
    code, _, err = run(["frobnicate"], capsys)
    assert_one_line_error(code, err, "invalid choice")


def test_subprocess_python_m_parascale(scene: Path) -> None:
    python = REPO / ".venv" / "bin" / "python"
    good = subprocess.run([str(python), "-m", "parascale", "transfer", str(scene / "ref.txt"), "--ref-depth", "5",
                           "--target-depth", str(scene / "target.npy"), "--preset", "cameractrl-svd",
                           "-o", str(scene / "svd.txt")], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "per-frame *" in good.stdout
    assert len(read_realestate10k(scene / "svd.txt")) == 14
    (scene / "empty.txt").write_text("")
    bad = subprocess.run([str(python), "-m", "parascale", "convert", str(scene / "empty.txt"),
                          str(scene / "o.json")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"parascale: error: {scene / 'empty.txt'}:line 1: empty file"
    assert not (scene / "o.json").exists()
    assert sys.executable  # the in-process tests above ran on this interpreter


def test_reference_depth_from_a_folder_of_depth_maps_and_start_from_a_pose_file(
        scene: Path, capsys: pytest.CaptureFixture) -> None:
    folder = scene / "ref_depth"
    folder.mkdir()
    depths = np.linspace(5.0, 4.0, 20)
    for frame, value in enumerate(depths):
        depth_map = np.full((9, 16), value)
        depth_map[:2] = 1e10  # sky: no hit
        np.save(folder / f"depth_{frame}.npy", depth_map)
    start = reference_clip().replace(centres=reference_clip().centres + [10.0, 0.0, 0.0])
    write_trajectory(scene / "start.json", start)
    code, out, err = run(["transfer", scene / "ref.txt", "--ref-depth", folder, "--target-depth", "40",
                          "--start", scene / "start.json", "-o", scene / "o.json", "--json"], capsys)
    assert code == 0, err
    result = read_transfer_result(scene / "o.json")
    np.testing.assert_allclose(result.depth_reference, depths)
    np.testing.assert_allclose(result.scale, 40.0 / depths[1:])
    np.testing.assert_allclose(result.trajectory.centres[0], start.centres[0])
    np.save(scene / "per_frame.npy", depths)
    code, out, err = run(["transfer", scene / "ref.txt", "--ref-depth", scene / "per_frame.npy", "--target-depth",
                          "40", "-o", scene / "p.json"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(read_transfer_result(scene / "p.json").depth_reference, depths)


def test_json_ready_replaces_non_finite_numbers_everywhere():
    from parascale.core.formats.common import json_ready

    value = {"a": float("nan"), "b": [1.0, (np.float64(np.inf), np.int64(3))], "c": {"d": np.float32(2.5)}}
    assert json_ready(value) == {"a": None, "b": [1.0, [None, 3]], "c": {"d": 2.5}}
