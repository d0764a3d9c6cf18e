"""Tests of invert_pipeline.run_manifest: the manifest document the warehouse loads."""

from __future__ import annotations

from pathlib import Path

from invert_pipeline.run_manifest import build_run_manifest
from invert_pipeline.specs import ExtractionParams, SearchParams
from invert_pipeline.warehouse.manifest import read_manifest
from invert_pipeline.workspace import Workspace, atomic_write_json


def test_manifest_holds_relative_paths_and_reads_back(tmp_path: Path):
    """Every path is relative to the workspace, the layers keep their order, and read_manifest accepts it."""
    root = Workspace(tmp_path)
    outputs = {layer: {"explanations": root.explanations("k2", layer), "atomic_scores": root.atomic_scores("k2", layer)}
               for layer in ("fc", "logits")}
    manifest = build_run_manifest(
        root, run_id="net-0123456789ab", model={"name": "net", "version": "v1", "fingerprint": "f"},
        dataset_name="data", dataset_fingerprint="d", dataset_dir=tmp_path / "datasets" / "d",
        search=SearchParams(), extraction=ExtractionParams(), code_version="c", layer_widths={"fc": 8, "logits": 3},
        activation_dirs={layer: root.layer_activations_dir("k1", layer) for layer in ("fc", "logits")},
        search_outputs=outputs, influence_path=root.neuron_influence("net-0123456789ab"),
    )
    assert manifest["dataset"]["dir"] == "datasets/d"
    assert [layer["name"] for layer in manifest["layers"]] == ["fc", "logits"]
    assert manifest["layers"][0] == {
        "name": "fc", "n_neurons": 8, "activations": "activations/k1/fc",
        "explanations": "search/k2/fc.parquet", "atomic_scores": "search/k2/fc.atomic.parquet",
    }
    assert manifest["neuron_influence"] == "runs/net-0123456789ab/neuron_influence.parquet"
    assert manifest["parameters"]["search"]["holdout"] == 0.2
    atomic_write_json({**manifest, "status": "completed"}, root.manifest("net-0123456789ab"))
    read = read_manifest(tmp_path, "net-0123456789ab")
    assert [layer.name for layer in read.layers] == ["fc", "logits"]
    assert read.layers[1].n_neurons == 3
