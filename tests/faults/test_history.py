"""A run's place in its model's history survives every fault that makes a run write its manifest again.

The workspace holds v1, then v2 of the demo CNN. A damaged v1 manifest, a full recompute (what
deleted Prefect results, or a workspace moved to another path, make the flow do) and a moved
workspace each make v1 rewrite its manifest after v2 finished; v2 must still follow v1, and the
regression gate still compare v2 with v1 and find the same regression.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fault_runs import run_pipeline
from test_corruption import damage

from invert_pipeline.findings import previous_version
from invert_pipeline.regression import compare_runs
from invert_pipeline.workspace import Workspace


def history(workspace: Path) -> dict:
    """Per run: its model version, the run before it, and what the gate finds against that run."""
    db_path = Workspace(workspace).warehouse
    result = {}
    for run_id in Workspace(workspace).run_ids():
        version = json.loads(Workspace(workspace).manifest(run_id).read_text())["model"]["version"]
        before = previous_version(db_path, run_id)
        gate = compare_runs(db_path, run_id, before).payload() if before else None
        result[version] = (run_id, before, gate)
    return result


def rerun_v1_then_v2(workspace: Path, *, recompute: bool) -> None:
    for version in ("v1", "v2"):
        result = run_pipeline(workspace, version=version, recompute=recompute)
        assert result.returncode == 0, result.stderr[-3000:]


def test_the_clean_history(two_versions):
    """The premise: v2 follows v1 and the gate finds v2's regression (the watermark shortcut), v1 has no predecessor."""
    found = history(two_versions)
    (v1_run, v1_before, _), (_, v2_before, v2_gate) = found["v1"], found["v2"]
    assert v1_before is None and v2_before == v1_run
    assert v2_gate["failed"], "v2 regresses against v1 in the demo"


@pytest.mark.parametrize("fault", ["damaged run.json", "recompute (deleted Prefect results)", "moved workspace"])
def test_a_rewritten_manifest_keeps_the_history(two_versions, copy_of_versions, tmp_path, fault):
    workspace = copy_of_versions
    v1_manifest = Workspace(workspace).manifest(history(two_versions)["v1"][0])
    before = json.loads(v1_manifest.read_text())
    if fault == "damaged run.json":
        damage(v1_manifest, "flip")
    if fault == "moved workspace":
        workspace = Path(shutil.move(workspace, tmp_path / "moved"))
        v1_manifest = Workspace(workspace).manifest(v1_manifest.parent.name)
    rerun_v1_then_v2(workspace, recompute=fault != "damaged run.json")
    after = json.loads(v1_manifest.read_text())
    assert after["finished_at"] > before["finished_at"], "the fault made v1 write its manifest again, after v2's"
    assert (after["created_at"], after["sequence"]) == (before["created_at"], before["sequence"])
    assert history(workspace) == history(two_versions)
