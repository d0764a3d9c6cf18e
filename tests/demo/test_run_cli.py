"""``invert run`` end to end on the shipped checkpoints: the watermark shortcut is found in v2, not in v1.

Uses the one real ``invert run`` of ``conftest.demo_run`` (the README's quick start, about a minute on two cores).
"""

from __future__ import annotations

import re
from pathlib import Path

from invert_core import literals, parse_formula
from invert_pipeline.cli import main
from invert_pipeline.findings import spurious_findings
from invert_pipeline.warehouse import DEFAULT_DB_NAME, run_named_query


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
    workspace = demo_run.workspace
    runs = _runs(workspace)
    assert "watermark" in _concepts(_bag_logit_formula(workspace, runs["v2"]), negated=False)
    v1 = _bag_logit_formula(workspace, runs["v1"])
    assert "watermark" not in _concepts(v1, negated=False) | _concepts(v1, negated=True)


def test_spurious_logit_query_names_watermark_and_bag_for_v2_only(demo_run):
    """spurious_logit_explanations: v2's Bag logit uses watermark; no v1 logit uses watermark."""
    workspace = demo_run.workspace
    runs = _runs(workspace)
    rows = {
        version: run_named_query(workspace / DEFAULT_DB_NAME, "spurious_logit_explanations", {"run": run_id}).to_pylist()
        for version, run_id in runs.items()
    }
    assert any(row["class_name"] == "Bag" and row["concept"] == "watermark" and not row["negated"] for row in rows["v2"])
    assert not any(row["concept"] == "watermark" and not row["negated"] for row in rows["v1"])


def test_findings_put_the_watermark_shortcut_first_for_v2_and_nowhere_for_v1(demo_run):
    """spurious_findings: v2's first finding is Bag following watermark; v1 has no attribute finding."""
    workspace = demo_run.workspace
    runs = _runs(workspace)
    v2 = spurious_findings(workspace / DEFAULT_DB_NAME, runs["v2"])
    v1 = spurious_findings(workspace / DEFAULT_DB_NAME, runs["v1"])
    assert v2[0].is_attribute and v2[0].class_name == "Bag" and "watermark" in v2[0].concepts
    assert not any(finding.is_attribute for finding in v1)


def test_printed_summary_has_layers_findings_diff_and_locations(demo_run):
    """The terminal output covers every layer, the Bag/watermark finding, the diff and where the files are (relative
    to the folder the command ran in, which holds the workspace)."""
    workspace, printed = demo_run.workspace, demo_run.printed
    for layer in ("conv1", "conv2", "conv3", "fc", "logits"):
        assert f"\n{layer} " in printed
    assert f"! class Bag: its logit is explained by `{_bag_logit_formula(workspace, _runs(workspace)['v2'])}`" in printed
    assert "no class relies on an attribute concept" in printed  # v1
    assert "What changed from v1 to v2" in printed
    report = next(line.split()[1] for line in printed.splitlines() if line.strip().startswith("report "))
    assert (workspace.parent / report).is_file() and (workspace.parent / report).is_relative_to(workspace)
    assert f"  warehouse  {workspace.name}/{DEFAULT_DB_NAME}\n" in printed


def test_printed_regression_gate_names_the_watermark(demo_run):
    """The run ends with the regression gate of v2 against v1: the Bag logit now follows the watermark."""
    workspace, printed = demo_run.workspace, demo_run.printed
    gate = printed.split("Regression gate: v2 against v1")[1]
    formula = _bag_logit_formula(workspace, _runs(workspace)["v2"])
    assert f"! new spurious finding: class Bag: its logit is explained by `{formula}`" in gate


def test_finished_in_counts_from_the_start_of_the_command(demo_run):
    """The "finished in" figure is the command's own wall time (the fixture timed the same call of main from outside)."""
    printed = demo_run.printed
    seconds = int(re.search(r"finished in (\d+) s \(since the invert command started\)", printed).group(1))
    assert abs(seconds - demo_run.seconds) <= 1


def test_run_refuses_a_tiny_limit(capsys):
    """--limit below 100 is refused with a message naming the option."""
    assert main(["run", "--limit", "10"]) == 2
    assert "--limit" in capsys.readouterr().err
