"""Reading what the report shows from the warehouse and the run manifests."""

from __future__ import annotations

import pytest

from invert_pipeline.report.contents import known_runs, read_diff, read_manifest, read_run
from report_workspace import constant_activation_neurons


def _keys(table) -> list[tuple[str, int]]:
    return list(zip(table.column("layer").to_pylist(), table.column("neuron").to_pylist(), strict=True))


def test_read_run_gives_layers_in_order_and_one_best_row_per_neuron(report_workspace):
    """Layers come in network order; best explanations cover every live neuron once, the dead ones (constant
    activation) are listed apart; logits carry class names."""
    run_id = report_workspace.run_ids[0]
    contents = read_run(report_workspace.db_path, report_workspace.root, run_id)
    assert contents.layers == ["conv1", "fc", "logits"]
    keys, dead = _keys(contents.best), _keys(contents.dead)
    assert set(dead) == constant_activation_neurons(report_workspace.root, run_id)
    assert len(keys) == len(set(keys)) == 8 + 64 + 10 - len(dead) and not set(keys) & set(dead)
    logits = contents.best.filter(contents.best.column("layer").to_numpy(zero_copy_only=False) == "logits")
    assert "Bag" in logits.column("class_name").to_pylist()
    assert ("Bag", "container") in contents.edges
    assert "watermark" in contents.concepts.column("concept").to_pylist()


def test_read_diff_pairs_the_two_runs(report_workspace):
    """The diff tables compare the same neurons of both runs, those dead in either left out, and v1 -> v2
    changes some explanations."""
    diff = read_diff(report_workspace.db_path, *report_workspace.run_ids)
    dead = set().union(*(constant_activation_neurons(report_workspace.root, run) for run in report_workspace.run_ids))
    assert diff.auc.num_rows == 8 + 64 + 10 - len(dead)
    assert not set(_keys(diff.explanations)) & dead
    changes = diff.explanations.column("change").to_pylist()
    assert changes and set(changes) <= {"changed", "added", "removed"}
    changed = [row for row in diff.explanations.to_pylist() if row["change"] == "changed"]
    assert changed and all(row["formula_a"] != row["formula_b"] for row in changed)


def test_known_runs_and_missing_manifest(report_workspace, tmp_path):
    """known_runs lists both runs; a run without a manifest in the workspace is a clear error."""
    assert known_runs(report_workspace.db_path) == sorted(report_workspace.run_ids)
    with pytest.raises(FileNotFoundError, match="--workspace"):
        read_manifest(tmp_path, report_workspace.run_ids[0])
