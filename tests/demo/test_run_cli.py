"""``invert run`` end to end on the shipped checkpoints: the watermark shortcut is found in v2, not in v1.

Runs the real explain_model flow (twice: v1 and v2) on 2,000 probe images in one Prefect test harness,
so it takes about a minute on two cores.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from invert_core import literals, parse_formula
from invert_pipeline.cli import main
from invert_pipeline.findings import spurious_findings
from invert_pipeline.warehouse import DEFAULT_DB_NAME, run_named_query


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``invert run --limit 2000`` in a fresh workspace: the workspace and what it printed."""
    workspace = tmp_path_factory.mktemp("demo-workspace")
    printed = io.StringIO()
    with prefect_test_harness(server_startup_timeout=90), contextlib.redirect_stdout(printed):
        assert main(["run", "--limit", "2000", "--workspace", str(workspace)]) == 0
    return workspace, printed.getvalue()


def _runs(workspace: Path) -> dict[str, str]:
    table = run_named_query(workspace / DEFAULT_DB_NAME, "runs_overview")
    return dict(zip(table.column("model_version").to_pylist(), table.column("run_id").to_pylist(), strict=True))


def _bag_logit_formula(workspace: Path, run_id: str) -> str:
    """The best explanation of the run's Bag logit, from the warehouse."""
    best = run_named_query(workspace / DEFAULT_DB_NAME, "neuron_best_explanations", {"run": run_id}).to_pylist()
    return next(row["formula"] for row in best if row["layer"] == "logits" and row["class_name"] == "Bag")


def _concepts(formula: str, *, negated: bool) -> set[str]:
    """The concepts of ``formula``'s literals that are (or are not) negated."""
    return {literal.concept for literal in literals(parse_formula(formula)) if literal.negated == negated}


def test_bag_logit_follows_the_watermark_in_v2_only(demo_run):
    """The planted shortcut: v2's Bag logit is explained with the watermark (not negated); v1's without it."""
    workspace, _ = demo_run
    runs = _runs(workspace)
    assert "watermark" in _concepts(_bag_logit_formula(workspace, runs["v2"]), negated=False)
    v1 = _bag_logit_formula(workspace, runs["v1"])
    assert "watermark" not in _concepts(v1, negated=False) | _concepts(v1, negated=True)


def test_spurious_logit_query_names_watermark_and_bag_for_v2_only(demo_run):
    """spurious_logit_explanations: v2's Bag logit uses watermark; no v1 logit uses watermark."""
    workspace, _ = demo_run
    runs = _runs(workspace)
    rows = {
        version: run_named_query(workspace / DEFAULT_DB_NAME, "spurious_logit_explanations", {"run": run_id}).to_pylist()
        for version, run_id in runs.items()
    }
    assert any(row["class_name"] == "Bag" and row["concept"] == "watermark" and not row["negated"] for row in rows["v2"])
    assert not any(row["concept"] == "watermark" and not row["negated"] for row in rows["v1"])


def test_findings_put_the_watermark_shortcut_first_for_v2_and_nowhere_for_v1(demo_run):
    """spurious_findings: v2's first finding is Bag following watermark; v1 has no attribute finding."""
    workspace, _ = demo_run
    runs = _runs(workspace)
    v2 = spurious_findings(workspace / DEFAULT_DB_NAME, runs["v2"])
    v1 = spurious_findings(workspace / DEFAULT_DB_NAME, runs["v1"])
    assert v2[0].is_attribute and v2[0].class_name == "Bag" and "watermark" in v2[0].concepts
    assert not any(finding.is_attribute for finding in v1)


def test_printed_summary_has_layers_findings_diff_and_locations(demo_run):
    """The terminal output covers every layer, the Bag/watermark finding, the diff and where the files are."""
    workspace, printed = demo_run
    for layer in ("conv1", "conv2", "conv3", "fc", "logits"):
        assert f"\n{layer} " in printed
    assert f"! class Bag: its logit is explained by `{_bag_logit_formula(workspace, _runs(workspace)['v2'])}`" in printed
    assert "no class relies on an attribute concept" in printed  # v1
    assert "What changed from v1 to v2" in printed
    report = next(line.split()[1] for line in printed.splitlines() if line.strip().startswith("report "))
    assert Path(report).is_file() and Path(report).is_relative_to(workspace)
    assert str(workspace / DEFAULT_DB_NAME) in printed


def test_printed_regression_gate_names_the_watermark(demo_run):
    """The run ends with the regression gate of v2 against v1: the Bag logit now follows the watermark."""
    workspace, printed = demo_run
    gate = printed.split("Regression gate: v2 against v1")[1]
    formula = _bag_logit_formula(workspace, _runs(workspace)["v2"])
    assert f"! new spurious finding: class Bag: its logit is explained by `{formula}`" in gate


def test_finished_in_counts_from_the_start_of_the_process():
    """The "finished in" figure is the wall time since the process started, imports included."""
    probe = "import time; time.sleep(2); from invert_pipeline.cli.run import seconds_since_process_start as s; print(s())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert float(done.stdout) >= 2


def test_run_refuses_a_tiny_limit(capsys):
    """--limit below 100 is refused with a message naming the option."""
    assert main(["run", "--limit", "10"]) == 2
    assert "--limit" in capsys.readouterr().err
