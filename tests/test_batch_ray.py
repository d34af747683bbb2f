"""`parascale batch --engine ray` on a local Ray instance (num_cpus=2, one per test session): the same
clips through the local engine, through Ray and as two shards into one folder give byte-identical
outputs; a bad clip is reported without output; a rerun on Ray skips every done clip. Ray is installed
by the dev extra (parascale[ray]), so these tests run in CI."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from batch_dataset import CLIPS, clip_outputs, make_dataset
from parascale.core.batch import TransferOptions, run_batch
from parascale.core.cli import main


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def test_local_ray_and_two_shards_write_byte_identical_outputs(tmp_path: Path, local_ray: None) -> None:
    manifest = make_dataset(tmp_path)
    options = TransferOptions(ref_depth=None, target_depth=None, preset="wan21")
    local = run_batch(manifest, tmp_path / "local", options, jobs=2)
    on_ray = run_batch(manifest, tmp_path / "ray", options, engine="ray")
    assert not local.failures and not on_ray.failures
    assert on_ray.engine == "ray" and on_ray.jobs == 2
    for index in range(2):
        run_batch(manifest, tmp_path / "shards", options, engine="ray", shard=(index, 2))
    expected = clip_outputs(tmp_path / "local")
    assert len(expected) == 2 * CLIPS
    assert clip_outputs(tmp_path / "ray") == expected
    assert clip_outputs(tmp_path / "shards") == expected
    summary = json.loads((tmp_path / "ray" / "batch-summary.json").read_text())
    assert summary["engine"] == "ray" and summary["done"] == CLIPS
    assert {r["clip"]: r["pce"] for r in summary["outcomes"]} == {
        r["clip"]: r["pce"] for r in json.loads((tmp_path / "local" / "batch-summary.json").read_text())["outcomes"]}


def test_ray_reports_a_bad_clip_without_output_and_a_rerun_skips_the_done_ones(
        tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture) -> None:
    manifest = make_dataset(tmp_path, clips=4)
    (manifest.parent / "clips" / "clip02.txt").write_text("not a pose file\n")
    out = tmp_path / "out"
    argv = ["batch", str(manifest), str(out), "--engine", "ray"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "3 of 4 clips calibrated" in captured.out and "FAILED manifest.jsonl:line 3: " in captured.out
    assert "Ray, 2 CPUs" in captured.out
    assert "parascale: error: " in captured.err and "4/4" in captured.err  # as it happened, and the bar
    assert not (out / "clip02.json").exists()
    assert main(argv) == 1
    summary = json.loads((out / "batch-summary.json").read_text())
    assert (summary["skipped"], summary["failed"], summary["done"]) == (3, 1, 0)
