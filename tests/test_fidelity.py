"""The fidelity benchmark in its quick mode: the transferred move realizes the reference's parallax as
Cycles measures it, independently of the depth probe the transfer used."""

from __future__ import annotations

import sys
from pathlib import Path

import bpy  # noqa: F401  (Blender-facing: conftest marks this module `blender`)
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import fidelity  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("fidelity")
    results, check = fidelity.run(fidelity.QUICK_PAIRS, 12, out, "bench/fidelity.py --quick", progress=False)
    return out, results, check


def test_quick_run_writes_report_and_plot(quick_run):
    out, results, _ = quick_run
    text = (out / "fidelity.md").read_text()
    png = (out / "fidelity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "Machine:" in text and "slope" in text
    for r in results:
        assert r.pair.label in text
    assert len(results) == len(fidelity.QUICK_PAIRS) >= 2


def test_quick_pairs_span_orders_of_magnitude():
    factors = [p.factor for p in fidelity.QUICK_PAIRS]
    assert min(factors) <= 1e-2 and max(factors) >= 1e2
    assert len({p.target for p in fidelity.QUICK_PAIRS}) >= 2


def test_calibrated_parallax_matches_reference_as_cycles_measures_it(quick_run):
    _, results, check = quick_run
    assert check.pce_ok
    for r in results:
        per_frame = r.modes["per_frame"]
        assert per_frame.frames_missing == 0
        assert per_frame.pce <= fidelity.GOAL_PCE
        # Not just on average: every frame's realized parallax is within 2% of the reference's.
        assert per_frame.worst <= fidelity.GOAL_PCE


def test_calibrated_is_far_better_than_uncalibrated_and_global(quick_run):
    _, results, check = quick_run
    assert check.factor_ok and check.global_ok
    measured = [r for r in results if np.isfinite(r.modes["uncalibrated"].pce)]
    assert measured, "no quick pair where the uncalibrated camera still sees the scene"
    for r in measured:
        unc = r.modes["uncalibrated"]
        # The uncalibrated move is off by about the scale factor: PCE ~ |ln k|.
        assert unc.pce == pytest.approx(abs(np.log(r.pair.factor)), rel=0.25)
        assert unc.pce >= fidelity.GOAL_FACTOR_VS_UNCALIBRATED * r.modes["per_frame"].pce
    for r in results:
        assert r.depth_varies
        assert r.modes["per_frame"].pce < r.modes["global"].pce


def test_trans_err_is_blind_to_scale(quick_run):
    # The point of PCE: TransErr scores the uncalibrated move as (nearly) perfect.
    _, results, _ = quick_run
    for r in results:
        assert r.modes["uncalibrated"].trans_err < 1e-4


def test_quick_command_line_exits_zero_when_the_goals_hold(tmp_path, capsys):
    assert fidelity.main(["--quick", "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert " cores (" in printed  # the machine line
    assert "Per-frame PCE <= 0.02 on every pair: yes" in printed
    assert (tmp_path / "fidelity.md").is_file() and (tmp_path / "fidelity.png").is_file()


def test_run_all_runs_every_benchmark_script_and_only_those(capsys):
    import run_all

    names = [path.stem for path in run_all.benchmarks()]
    assert "fidelity" in names and "transfer" in names
    assert "machine" not in names and "run_all" not in names  # a helper and the runner itself
    assert run_all.main(["--only", "no-such-benchmark"]) == 2
    assert "no benchmark named no-such-benchmark" in capsys.readouterr().err


def test_run_all_rewrites_the_readme_speed_tables_from_the_results(tmp_path):
    import run_all

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:transfer -->\nold figures\n<!-- /bench:transfer -->\nend\n")
    assert run_all.refresh_readme(["transfer", "fidelity"], readme) == ["transfer"]
    text = readme.read_text()
    results = (Path(__file__).resolve().parent.parent / "bench" / "results" / "transfer.md").read_text()
    assert "old figures" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert results.strip().splitlines()[-1] in text


def test_subject_row_keeps_the_tower_framed_and_the_parallax():
    """Keep Subject Framed, measured as Blender renders and projects the keyed camera."""
    row = fidelity.run_subject(12)
    assert row.pce <= fidelity.GOAL_PCE and row.worst <= fidelity.GOAL_PCE
    assert row.framing_error.max() <= fidelity.GOAL_FRAMING
    # The paper's transfer of the same pair lets the tower drift; anchoring turned the camera to keep it.
    assert row.framing_error_untouched.max() > 10 * fidelity.GOAL_FRAMING
    assert row.rotation_change.min() > 1.0
