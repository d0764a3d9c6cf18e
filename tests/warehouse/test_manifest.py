"""Run manifests: read, checked, resolved against the workspace."""

from __future__ import annotations

import json

import pytest

from invert_pipeline.warehouse import WarehouseError
from invert_pipeline.warehouse.manifest import find_run_ids, read_manifest
from invert_pipeline.workspace import atomic_write_json


def rewrite(workspace, run_id, change):
    path = workspace.manifest_path(run_id)
    manifest = json.loads(path.read_text())
    change(manifest)
    atomic_write_json(manifest, path)


def test_read_manifest_resolves_paths(tiny):
    """Paths become absolute under the workspace; model and dataset fields are kept."""
    manifest = read_manifest(tiny.root, "run-v2")
    assert (manifest.model_name, manifest.model_version) == ("tiny-cnn", "v2")
    assert manifest.layers[1].explanations == tiny.explanations_path("run-v2", "fc")
    assert manifest.dataset_dir == tiny.root / "datasets" / ("d" * 32)
    assert find_run_ids(tiny.root) == ["run-v1", "run-v2"]


def test_unknown_run_lists_the_known_ones(tiny):
    """Asking for a run without a manifest names the runs there are."""
    with pytest.raises(
        WarehouseError, match="no run manifest .*run-v3/run.json; runs in this workspace: run-v1, run-v2"
    ):
        read_manifest(tiny.root, "run-v3")
    with pytest.raises(WarehouseError, match="`run_id` must be a run folder name under runs/, got '../x'"):
        read_manifest(tiny.root, "../x")


def test_missing_and_wrong_fields(tiny):
    """A missing key, a mistyped value, a foreign run_id and a repeated layer are each refused."""
    rewrite(tiny, "run-v1", lambda m: m["dataset"].pop("fingerprint"))
    with pytest.raises(WarehouseError, match=r"\(dataset\) lacks 'fingerprint'"):
        read_manifest(tiny.root, "run-v1")
    rewrite(tiny, "run-v2", lambda m: m["layers"][0].update(n_neurons="3"))
    with pytest.raises(WarehouseError, match=r"\(layers\[0\]\): 'n_neurons' must be a int, got '3'"):
        read_manifest(tiny.root, "run-v2")
    rewrite(tiny, "run-v2", lambda m: m.update(run_id="other", layers=[]))
    with pytest.raises(WarehouseError, match="says run_id 'other' but lives in the folder of 'run-v2'"):
        read_manifest(tiny.root, "run-v2")


def test_repeated_layer(tiny):
    """A layer listed twice is refused."""
    rewrite(tiny, "run-v1", lambda m: m["layers"].append(m["layers"][0]))
    with pytest.raises(WarehouseError, match=r"lists the layer\(s\) \['conv1'\] more than once"):
        read_manifest(tiny.root, "run-v1")
