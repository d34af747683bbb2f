"""`parascale batch` on a folder of clips on several (spawned) processes, where a corrupt clip is reported
and skipped, never silently dropped and never stopping the others. Manifests, shards, resume and the Ray
engine: tests/test_batch_dataset.py and tests/test_batch_ray.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from parascale.core.batch import TransferOptions, find_clips, run_batch
from parascale.core.cli import main
from parascale.core.formats import read_realestate10k, read_transfer_result, write_trajectory
from parascale.core.poses import Intrinsics, Trajectory, look_at


def clip(seed: int, n: int = 17) -> Trajectory:
    rng = np.random.default_rng(seed)
    eye = np.c_[np.linspace(0, rng.uniform(0.5, 2), n), np.linspace(-5, -4, n), np.full(n, 1.0)]
    return Trajectory(look_at(eye, np.tile([0.0, 0.0, 1.0], (n, 1))), eye, lens=35.0,
                      intrinsics=Intrinsics(width=160, height=90))


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        write_trajectory(folder / f"good{i}.txt", clip(i))
    write_trajectory(folder / "good5.json", clip(5), format="parascale")
    write_trajectory(folder / "good6", clip(6), format="colmap")
    lines = (folder / "good0.txt").read_text().split("\n")
    fields = lines[4].split(" ")
    fields[1] = "nan"
    lines[4] = " ".join(fields)
    (folder / "corrupt.txt").write_text("\n".join(lines))
    (folder / "notes.md").write_text("not a clip")
    return folder


def test_find_clips_skips_sidecars_and_other_files(clips: Path) -> None:
    names = [p.name for p in find_clips(clips)]
    assert names == ["corrupt.txt", "good0.txt", "good1.txt", "good2.txt", "good3.txt", "good4.txt", "good5.json",
                     "good6"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_batch_writes_every_good_clip_and_reports_the_bad_one(clips: Path, tmp_path: Path, jobs: int) -> None:
    out = tmp_path / f"out{jobs}"
    progress = io.StringIO()
    report = run_batch(clips, out, TransferOptions(ref_depth="5", target_depth="50"), jobs=jobs, progress=progress)
    assert [(o.clip, o.where) for o in report.failures] == [("corrupt", "corrupt.txt")]
    assert "corrupt.txt:line 5: NaN or infinite value in column 2" in report.failures[0].error
    good = [o for o in report.outcomes if o.ok]
    assert len(good) == 7
    for name in ("good0", "good1", "good2", "good3", "good4", "good5", "good6"):
        result = read_transfer_result(out / f"{name}.json")
        np.testing.assert_allclose(result.scale, 10.0)  # target 50 / reference 5
    assert not (out / "corrupt.json").exists()
    # The failure is printed as it happens and tqdm's bar reaches the end.
    text = progress.getvalue()
    assert "parascale: error: " in text and "corrupt.txt" in text
    assert "8/8" in text and "failed=1" in text
    summary = json.loads((out / "batch-summary.json").read_text())
    assert summary["failed"] == 1 and summary["clips"] == 8 and summary["jobs"] == jobs
    assert summary["done"] == 7 and summary["skipped"] == 0 and summary["engine"] == "local"
    records = {r["clip"]: r for r in summary["outcomes"]}
    assert records["corrupt"]["status"] == "failed" and records["corrupt"]["outputs"] == []
    assert records["good0"]["status"] == "done" and records["good0"]["outputs"] == [str(out / "good0.json")]
    assert records["good0"]["pce"] < 1e-9 and records["good0"]["pi_total_realized"] > 0
    assert "FAILED corrupt.txt" in report.text()


def test_batch_command_exit_code_and_summary(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code = main(["batch", str(clips), str(out), "--ref-depth", "5", "--target-depth", "50", "--jobs", "2",
                 "--preset", "cameractrl-svd"])
    captured = capsys.readouterr()
    assert code == 1
    assert "7 of 8 clips calibrated" in captured.out and "1 failed" in captured.out
    assert "FAILED corrupt.txt" in captured.out
    assert "8/8" in captured.err and "clip/s" in captured.err  # tqdm's progress bar is on stderr
    for name in ("good0", "good5", "good6"):
        assert len(read_realestate10k(out / f"{name}.txt")) == 14
    # All good: exit 0.
    (clips / "corrupt.txt").unlink()
    code = main(["batch", str(clips), str(tmp_path / "out2"), "--ref-depth", "5", "--target-depth", "50",
                 "--jobs", "1"])
    assert code == 0
    assert "7 of 7 clips calibrated" in capsys.readouterr().out


@pytest.mark.parametrize("option, part", [
    (["--target-depth", "missing.ply"], "missing.ply: no such file"),
    (["--ref-depth", "-5"], "--ref-depth -5: a fixed depth must be finite and positive"),
    (["--start", "nan,0,0"], "--start nan,0,0: values must be finite"),
    (["--target-depth", "1e-310"], "--target-depth 1e-310: a fixed depth must lie within"),
])
def test_batch_refuses_a_bad_shared_option_before_it_starts(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            option: list[str], part: str) -> None:
    """An option wrong for every clip stops the batch up front: exit 2, one line, no output folder."""
    options = {"--ref-depth": "5", "--target-depth": "50"}
    options.update(zip(option[::2], option[1::2], strict=True))
    argv = ["batch", str(clips), str(tmp_path / "o"), "--jobs", "1"]
    for key, value in options.items():
        argv += [key, value]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("parascale: error: ") and part in captured.err
    assert not (tmp_path / "o").exists()


def test_batch_refuses_an_empty_folder_and_the_input_as_output(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["batch", str(tmp_path / "empty"), str(tmp_path / "o"), "--ref-depth", "5",
                 "--target-depth", "5"]) == 2
    assert "no pose files" in capsys.readouterr().err
    write_trajectory(tmp_path / "empty" / "clip.txt", clip(0))
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    assert main(["batch", str(tmp_path / "empty"), str(tmp_path / "link"), "--ref-depth", "5",
                 "--target-depth", "5"]) == 2
    assert "must differ" in capsys.readouterr().err
