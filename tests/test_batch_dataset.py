"""Dataset scale on the local engine (issue 16): manifests with per-clip depths, {stem} patterns, shards
into one folder, resume by input hash, a per-clip log, Ctrl-C, and bad manifests refused before anything
starts. The Ray engine: tests/test_batch_ray.py."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from batch_dataset import CLIPS, clip_outputs, dataset_clip, make_dataset
from parascale.core.batch import TransferOptions, input_hash, run_batch
from parascale.core.cli import main
from parascale.core.fileio import TEMP_PREFIX
from parascale.core.formats import read_realestate10k, read_transfer_result, write_trajectory
from parascale.core.manifest import ClipJob, parse_shard, take_shard

REPO = Path(__file__).resolve().parent.parent


def log_records(out: Path, name: str = "batch-log.jsonl") -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def test_a_manifest_gives_each_clip_its_own_depths_relative_to_its_folder(tmp_path: Path, monkeypatch) -> None:
    manifest = make_dataset(tmp_path)
    monkeypatch.chdir(tmp_path.parent)  # relative paths must not depend on where the command runs
    out = tmp_path / "out"
    report = run_batch(manifest.relative_to(tmp_path.parent), out, TransferOptions(ref_depth=None,
                                                                                  target_depth=None), jobs=1)
    assert not report.failures and len(report.outcomes) == CLIPS
    for i in range(CLIPS):
        result = read_transfer_result(out / f"clip{i:02d}.json")
        np.testing.assert_allclose(result.depth_reference, 4 + i)  # clip i's own depth file
        assert result.source_target == "points target.npy"
        assert result.summary()["pce"] < 1e-6
    assert [o.where for o in report.outcomes] == [f"manifest.jsonl:line {i + 1}" for i in range(CLIPS)]


def test_manifest_overrides_and_command_line_defaults(tmp_path: Path) -> None:
    """A column overrides the command line's option for its clip only; a missing column takes the option."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_trajectory(data / f"c{i}.txt", dataset_clip(i))
    rows = [{"reference": "c0.txt"},
            {"reference": "c1.txt", "ref_depth": 2, "mode": "global", "name": "second"},
            {"reference": "c2.txt", "target_depth": 100, "preset": "cameractrl-svd", "start": [1, 2, 3]}]
    (data / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    out = tmp_path / "out"
    report = run_batch(data / "m.jsonl", out, TransferOptions(ref_depth="5", target_depth="50"), jobs=1)
    assert not report.failures
    first, second = read_transfer_result(out / "c0.json"), read_transfer_result(out / "second.json")
    np.testing.assert_allclose(first.scale, 10.0)  # 50 / 5: the command line's depths
    np.testing.assert_allclose(second.scale, 25.0)  # 50 / 2: the row's reference depth
    assert (first.mode, second.mode) == ("per_frame", "global")
    third = read_realestate10k(out / "c2.txt")  # the row's preset: RealEstate10K, 14 frames
    assert len(third) == 14
    np.testing.assert_allclose(third.centres[0], [1.0, 2.0, 3.0], atol=1e-6)


def test_csv_and_jsonl_manifests_write_the_same_bytes(tmp_path: Path) -> None:
    manifest = make_dataset(tmp_path)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    with open(manifest.with_suffix(".csv"), "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["reference", "ref_depth", "target_depth", "mode"])
        writer.writeheader()
        writer.writerows([{**row, "mode": ""} for row in rows])
    options = TransferOptions(ref_depth=None, target_depth=None, preset="wan21")
    run_batch(manifest, tmp_path / "a", options, jobs=1)
    run_batch(manifest.with_suffix(".csv"), tmp_path / "b", options, jobs=1)
    a, b = clip_outputs(tmp_path / "a"), clip_outputs(tmp_path / "b")
    assert len(a) == 2 * CLIPS and a == b  # RealEstate10K text and its sidecar per clip


def test_stem_pattern_names_a_depth_file_per_clip_in_a_folder(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        write_trajectory(folder / f"shot{i}.txt", dataset_clip(i))
        (folder / f"shot{i}.depth.txt").write_text("\n".join([str(2 + i)] * 21) + "\n")
    out = tmp_path / "out"
    code = main(["batch", str(folder), str(out), "--ref-depth", "{stem}.depth.txt", "--target-depth", "12",
                 "--jobs", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "3 of 3 clips calibrated" in captured.out  # the .depth.txt files are depths, not clips
    for i in range(3):
        np.testing.assert_allclose(read_transfer_result(out / f"shot{i}.json").scale, 12.0 / (2 + i))


def test_shards_partition_the_clip_list() -> None:
    jobs = list(range(23))
    for count in (1, 2, 3, 7, 30):
        shards = [take_shard(jobs, (index, count)) for index in range(count)]
        assert sorted(x for shard in shards for x in shard) == jobs
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) is None


def test_two_shards_into_one_folder_make_the_same_outputs_as_one_run(tmp_path: Path) -> None:
    manifest = make_dataset(tmp_path)
    options = TransferOptions(ref_depth=None, target_depth=None, preset="wan21")
    run_batch(manifest, tmp_path / "whole", options, jobs=2)
    first = run_batch(manifest, tmp_path / "sharded", options, jobs=1, shard=(0, 2))
    second = run_batch(manifest, tmp_path / "sharded", options, jobs=1, shard=(1, 2))
    assert len(first.outcomes) + len(second.outcomes) == CLIPS
    assert {o.clip for o in first.outcomes}.isdisjoint({o.clip for o in second.outcomes})
    assert clip_outputs(tmp_path / "sharded") == clip_outputs(tmp_path / "whole")
    # Each shard keeps its own log and summary: concurrent shards never write the same file.
    names = sorted(p.name for p in (tmp_path / "sharded").glob("batch-*"))
    assert names == ["batch-log.shard-0-of-2.jsonl", "batch-log.shard-1-of-2.jsonl",
                     "batch-summary.shard-0-of-2.json", "batch-summary.shard-1-of-2.json"]
    # A whole run into the sharded folder finds every clip done by the shards.
    again = run_batch(manifest, tmp_path / "sharded", options, jobs=1)
    assert len(again.skipped) == CLIPS


def test_a_rerun_skips_what_is_done_and_unchanged_and_redoes_the_rest(tmp_path: Path, capsys) -> None:
    manifest = make_dataset(tmp_path)
    out = tmp_path / "out"
    argv = ["batch", str(manifest), str(out), "--preset", "wan21", "--jobs", "1"]
    assert main(argv) == 0
    before = clip_outputs(out)
    capsys.readouterr()
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"{CLIPS} of {CLIPS} clips calibrated ({CLIPS} of them skipped: unchanged" in text
    summary = json.loads((out / "batch-summary.json").read_text())
    assert summary["skipped"] == CLIPS and summary["done"] == 0
    first = summary["outcomes"][0]
    assert first["status"] == "skipped" and first["pce"] < 1e-6 and len(first["input_hash"]) == 64
    assert clip_outputs(out) == before
    # An input changed (clip 3's depth), an output deleted (clip 5's): those two are redone.
    (tmp_path / "data" / "depth" / "clip03.txt").write_text("\n".join(["9"] * 21) + "\n")
    (out / "clip05.txt").unlink()
    assert main(argv) == 0
    statuses = {r["clip"]: r["status"] for r in json.loads((out / "batch-summary.json").read_text())["outcomes"]}
    assert sorted(c for c, s in statuses.items() if s == "done") == ["clip03", "clip05"]
    assert (out / "clip05.txt").read_bytes() == before["clip05.txt"]
    assert (out / "clip03.txt").read_bytes() != before["clip03.txt"]
    # An option changed: every clip is redone. --force: every clip is redone.
    capsys.readouterr()
    assert main([*argv[:-2], "--jobs", "1", "--mode", "global"]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert main([*argv, "--force"]) == 0
    assert "skipped" not in capsys.readouterr().out
    # The log holds every clip of every run, as it finished.
    assert len(log_records(out)) == 5 * CLIPS


def test_a_bad_clip_is_reported_without_output_and_the_rest_are_written(tmp_path: Path, capsys) -> None:
    manifest = make_dataset(tmp_path)
    with open(manifest, "a") as stream:
        stream.write(json.dumps({"reference": "clips/missing.txt", "ref_depth": 5, "target_depth": 5}) + "\n")
        stream.write(json.dumps({"reference": "clips/clip00.txt", "ref_depth": "depth/none.txt",
                                 "target_depth": 5, "name": "nodepth"}) + "\n")
    out = tmp_path / "out"
    code = main(["batch", str(manifest), str(out), "--jobs", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"{CLIPS} of {CLIPS + 2} clips calibrated" in captured.out
    assert f"FAILED manifest.jsonl:line {CLIPS + 1}: " in captured.out and "missing.txt" in captured.out
    assert "none.txt: no such file" in captured.out
    assert not (out / "missing.json").exists() and not (out / "nodepth.json").exists()
    records = {r["clip"]: r for r in log_records(out)}
    assert records["missing"]["status"] == "failed" and records["missing"]["outputs"] == []
    assert "missing.txt" in records["missing"]["error"] and "\n" not in records["missing"]["error"]
    # A rerun redoes only the failed clips (and they fail again).
    main(["batch", str(manifest), str(out), "--jobs", "1"])
    summary = json.loads((out / "batch-summary.json").read_text())
    assert (summary["skipped"], summary["failed"], summary["done"]) == (CLIPS, 2, 0)


def test_an_interrupted_run_leaves_no_partial_file_and_resumes_to_the_same_result(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the command) after a few clips are logged: exit 130, the running clips finish,
    no temporary file is left; the same command then skips what was done and ends where one run ends."""
    manifest = make_dataset(tmp_path, clips=40, frames=161)
    argv = [sys.executable, "-m", "parascale", "batch", str(manifest), "--preset", "wan21", "--jobs", "2"]
    subprocess.run([*argv[:5], str(tmp_path / "whole"), *argv[5:]], check=True, capture_output=True, cwd=REPO.parent)
    out = tmp_path / "out"
    run = subprocess.Popen([*argv[:5], str(out), *argv[5:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, cwd=REPO.parent)
    log = out / "batch-log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if log.exists() and log.read_text().count("\n") >= 3:
            break
        time.sleep(0.005)
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "parascale: interrupted: " in stderr and "the same command resumes" in stderr
    finished = log_records(out)
    assert 3 <= len(finished) < 40
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    assert not (out / "batch-summary.json").exists()
    # Every logged clip's outputs are complete; nothing else was written.
    assert set(clip_outputs(out)) == {Path(p).name for r in finished for p in r["outputs"]}
    resumed = subprocess.run([*argv[:5], str(out), *argv[5:]], capture_output=True, text=True, cwd=REPO.parent)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"({len(finished)} of them skipped" in resumed.stdout
    assert clip_outputs(out) == clip_outputs(tmp_path / "whole")


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


BAD_MANIFESTS = [
    ("bad-json", '{"reference": "a.txt"}\n{"reference": \n', "m.jsonl:line 2: not JSON"),
    ("not-an-object", '["a.txt"]\n', "m.jsonl:line 1: a row must be a JSON object"),
    ("unknown-column", '{"reference": "a.txt", "ref_dpeth": 5}\n', "line 1: unknown column 'ref_dpeth'"),
    ("zero-strength", '{"reference": "a.txt", "strength": 0}\n', "line 1: strength: the strength must lie within"),
    ("text-strength", '{"reference": "a.txt", "strength": "fast"}\n',
     "line 1: strength: the strength must be a number"),
    ("nan-strength", 'reference,strength\na.txt,nan\n', "m.csv:line 2: strength: the strength must lie within"),
    ("inf-strength", 'reference,strength\na.txt,inf\n', "m.csv:line 2: strength: the strength must lie within"),
    ("bad-statistic", '{"reference": "a.txt", "statistic": "mean"}\n', "line 1: statistic: the depth statistic must"),
    ("no-reference", '{"ref_depth": 5}\n', "line 1: no reference"),
    ("bad-mode", '{"reference": "a.txt", "mode": "fast"}\n', "line 1: mode 'fast': give per-frame"),
    ("bad-preset", '{"reference": "a.txt", "preset": "nope"}\n', "line 1: unknown preset 'nope'"),
    ("negative-depth", '{"reference": "a.txt", "ref_depth": -5}\n', "line 1: --ref-depth -5: a fixed depth must"),
    ("nan-start", '{"reference": "a.txt", "start": "nan,0,0"}\n', "line 1: --start nan,0,0: values must be finite"),
    ("bool", '{"reference": "a.txt", "target_depth": true}\n', "line 1: target_depth: a true/false value"),
    ("duplicate", '{"reference": "a.txt"}\n{"reference": "sub/a.txt"}\n', "would both write 'a'"),
    ("bad-name", '{"reference": "a.txt", "name": "../x"}\n', "name '../x': must be a plain file name"),
    ("empty", '\n\n', "m.jsonl: no clips"),
    ("csv-cells", "reference,ref_depth\na.txt,5,6\n", "m.csv:line 2: 3 cells for 2 columns"),
    ("not-a-manifest", "reference\n", "m.txt: a manifest must be .jsonl"),
]


@pytest.mark.parametrize("case, text, part", BAD_MANIFESTS, ids=[c[0] for c in BAD_MANIFESTS])
def test_a_bad_manifest_is_refused_before_anything_starts(tmp_path: Path, capsys, case: str, text: str,
                                                          part: str) -> None:
    csv_cases = ("csv-cells", "nan-strength", "inf-strength")
    suffix = ".csv" if case in csv_cases else ".txt" if case == "not-a-manifest" else ".jsonl"
    manifest = _write(tmp_path / f"m{suffix}", text)
    code = main(["batch", manifest, str(tmp_path / "out"), "--ref-depth", "5", "--target-depth", "50"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("parascale: error: ") and len(captured.err) <= 301
    assert part in captured.err, captured.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv_tail, part", [
    (["--shard", "2/2"], "--shard '2/2': give I/N with 0 <= I < N"),
    (["--shard", "a/b"], "--shard 'a/b'"),
    (["--ray-address", "auto"], "--ray-address needs --engine ray"),
    (["--ref-depth", "{stem}.txt", "--target-depth", "-1"], "--target-depth -1: a fixed depth"),
    (["--strength", "0"], "--strength: the strength must lie within"),
    (["--strength", "-2"], "--strength: the strength must lie within"),
    (["--strength", "nan"], "--strength: the strength must lie within"),
    (["--strength", "inf"], "--strength: the strength must lie within"),
    (["--strength", "strong"], "--strength: the strength must be a number"),
    (["--statistic", "mean"], "argument --statistic: invalid choice: 'mean'"),
], ids=["shard-range", "shard-text", "address-without-ray", "bad-depth-beside-pattern", "strength-zero",
        "strength-negative", "strength-nan", "strength-inf", "strength-text", "statistic-unknown"])
def test_bad_batch_options_exit_2_before_anything_starts(tmp_path: Path, capsys, argv_tail: list[str],
                                                         part: str) -> None:
    manifest = make_dataset(tmp_path)
    code = main(["batch", str(manifest), str(tmp_path / "out"), *argv_tail])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1 and part in captured.err, captured.err
    assert not (tmp_path / "out").exists()


def test_a_folder_needs_both_depths(tmp_path: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    write_trajectory(tmp_path / "in" / "a.txt", dataset_clip(0))
    code = main(["batch", str(tmp_path / "in"), str(tmp_path / "out"), "--ref-depth", "5"])
    assert code == 2 and "--target-depth is needed for a folder of clips" in capsys.readouterr().err


def test_engine_ray_without_ray_installed_is_one_clear_line(tmp_path: Path, capsys, monkeypatch) -> None:
    manifest = make_dataset(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["batch", str(manifest), str(tmp_path / "out"), "--engine", "ray"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == "parascale: error: --engine ray needs Ray, an optional dependency: " \
                           "pip install 'parascale[ray]'\n"
    assert not (tmp_path / "out").exists()


def test_core_imports_neither_ray_nor_tqdm() -> None:
    """Ray and tqdm are imported only when a batch runs (Ray only for --engine ray): core imports in
    stock Blender, which has neither."""
    code = ("import sys\nfor name in ('ray', 'tqdm'): sys.modules[name] = None\n"
            "import pkgutil, importlib, parascale.core as core\n"
            "for m in pkgutil.walk_packages(core.__path__, 'parascale.core.'): importlib.import_module(m.name)\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_input_hash_follows_every_input(tmp_path: Path) -> None:
    manifest = make_dataset(tmp_path, clips=1)
    data = manifest.parent
    options = TransferOptions(ref_depth=str(data / "depth" / "clip00.txt"), target_depth=str(data / "target.npy"))
    job = ClipJob("clip00", str(data / "clips" / "clip00.txt"), options)
    first = input_hash(job)
    assert input_hash(job) == first
    assert input_hash(ClipJob("other", job.reference, options)) != first
    assert input_hash(ClipJob("clip00", job.reference, replace(options, mode="global"))) != first
    np.save(data / "target.npy", np.load(data / "target.npy") * 1.5)
    os.utime(data / "target.npy", ns=(1, 1))
    assert input_hash(job) != first
