"""A file copied with its digest record over the same file of another run is foreign: named, then recomputed.

In the workspace of v1 then v2, v1's logits explanations (or its neuron influence) replace v2's, record
and all. Both bytes and record are intact on their own; the record names the place it was written for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fault_runs import run_pipeline
from test_history import history

from invert_pipeline.cli import main
from invert_pipeline.workspace import Workspace, record_path


def file_of(workspace: Path, version: str, kind: str) -> Path:
    """The logits explanations (``kind="explanations"``) or the neuron influence of the run of ``version``."""
    for run_id in Workspace(workspace).run_ids():
        manifest = json.loads(Workspace(workspace).manifest(run_id).read_text())
        if manifest["model"]["version"] == version:
            if kind == "neuron_influence":
                return workspace / manifest["neuron_influence"]
            (logits,) = [layer for layer in manifest["layers"] if layer["name"] == "logits"]
            return workspace / logits[kind]
    raise AssertionError(f"no run of {version}")


@pytest.mark.parametrize("kind", ["explanations", "neuron_influence"])
def test_copied_file_and_record_are_foreign(two_versions, copy_of_versions, capsys, kind):
    source, target = file_of(copy_of_versions, "v1", kind), file_of(copy_of_versions, "v2", kind)
    assert source != target and source.name == target.name
    shutil.copyfile(source, target)
    shutil.copyfile(record_path(source), record_path(target))
    assert main(["verify", "--workspace", str(copy_of_versions)]) == 1
    place = Path(*target.relative_to(copy_of_versions).parts)
    assert f"damaged: {target}: its digest record was written for {source.relative_to(copy_of_versions)}, not for {place}" in capsys.readouterr().out
    rerun = run_pipeline(copy_of_versions, version="v2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "a file copied from elsewhere" in rerun.stderr and target.name in rerun.stderr
    assert main(["verify", "--workspace", str(copy_of_versions)]) == 0
    assert history(copy_of_versions) == history(two_versions)  # v2's regression (the watermark) found again
