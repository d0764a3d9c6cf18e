"""Reading a run's Parquet files: shapes for the warehouse, and clear errors for bad files."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invert_pipeline.warehouse import WarehouseError
from invert_pipeline.warehouse.manifest import read_manifest
from invert_pipeline.warehouse.run_tables import read_run_tables
from invert_pipeline.workspace import atomic_write_json, atomic_write_parquet


def tables(workspace, run_id="run-v1"):
    return read_run_tables(read_manifest(workspace.root, run_id))


def test_layers_and_neurons(tiny):
    """Manifest layers in order; logit neurons carry their class names."""
    result = tables(tiny)
    assert result.layers.column("layer").to_pylist() == ["conv1", "fc", "logits"]
    logits = result.neurons.filter(pa.compute.equal(result.neurons.column("layer"), "logits"))
    assert logits.column("class_name").to_pylist() == ["T-shirt/top", "sandal", "sneaker", "bag"]


def test_influence_target_outside_the_manifest_becomes_a_layer(tiny):
    """A layer known only as an influence target is added, unexplained, sized by its largest neuron."""
    path = tiny.root / "runs" / "run-v1" / "neuron_influence.parquet"
    influence = pq.read_table(path)
    extra = pa.table(
        {
            "source_layer": ["conv1"],
            "source_neuron": pa.array([2], pa.int32()),
            "target_layer": ["head"],
            "target_neuron": pa.array([6], pa.int32()),
            "weight": [0.5],
        }
    )
    atomic_write_parquet(pa.concat_tables([influence, extra]), path)
    result = tables(tiny)
    layers = result.layers.to_pylist()
    assert layers[-1] == {
        "run_id": "run-v1",
        "layer": "head",
        "layer_index": 3,
        "n_neurons": 7,
        "is_explained": False,
    }


def test_missing_column_names_the_file(tiny):
    """An explanations file without auc is refused, naming the file and the column."""
    path = tiny.explanations_path("run-v1", "fc")
    atomic_write_parquet(pq.read_table(path).drop_columns(["auc"]), path)
    with pytest.raises(WarehouseError, match=r"fc.parquet lacks the column\(s\) \['auc'\]"):
        tables(tiny)


def test_formula_with_an_unknown_concept(tiny):
    """A formula naming a concept the dataset lacks is refused, naming formula, layer and neuron."""
    tiny.write_explanations("run-v1", "fc", [(2, 0, "shoe & ~bag", 0.8, 0.01)])
    with pytest.raises(
        WarehouseError, match=r"'shoe & ~bag' \(layer 'fc', neuron 2\) uses concept\(s\) \['shoe'\]"
    ):
        tables(tiny)


def test_unparsable_formula(tiny):
    """A formula invert_core cannot parse is refused with the file's path."""
    tiny.write_explanations("run-v1", "fc", [(2, 0, "bag &", 0.8, 0.01)])
    with pytest.raises(WarehouseError, match="fc.parquet: formula 'bag &' ends too early"):
        tables(tiny)


def test_neuron_out_of_range(tiny):
    """A neuron index beyond the layer's size is refused with the valid range."""
    tiny.write_explanations("run-v1", "fc", [(0, 0, "bag", 0.8, 0.01), (7, 0, "bag", 0.8, 0.01)])
    with pytest.raises(
        WarehouseError, match=r"neuron of layer 'fc' runs from 0 to 7, outside the layer's 4 neurons"
    ):
        tables(tiny)


def test_file_of_another_layer(tiny):
    """An explanations file whose layer column disagrees with the manifest is refused."""
    atomic_write_parquet(
        pq.read_table(tiny.explanations_path("run-v1", "fc")), tiny.explanations_path("run-v1", "conv1")
    )
    with pytest.raises(
        WarehouseError, match=r"holds explanations of layer\(s\) \['fc'\] .* for layer 'conv1'"
    ):
        tables(tiny)


def test_hierarchy_cycle_is_refused(tiny):
    """Concept edges that loop would make the closure view endless: refused at load."""
    path = tiny.root / "datasets" / ("d" * 32) / "concept_edges.parquet"
    edges = pq.read_table(path)
    loop = pa.table({"child": pa.array([0], pa.int32()), "parent": pa.array([2], pa.int32())})
    atomic_write_parquet(pa.concat_tables([edges, loop]), path)
    with pytest.raises(WarehouseError, match="the concept hierarchy has a cycle"):
        tables(tiny)


def test_dataset_of_another_fingerprint(tiny):
    """A manifest whose dataset folder holds another fingerprint is refused."""
    path = tiny.root / "datasets" / ("d" * 32) / "dataset.json"
    info = json.loads(path.read_text())
    info["fingerprint"] = "e" * 32
    atomic_write_json(info, path)
    with pytest.raises(WarehouseError, match="has fingerprint 'e+' but the run manifest says 'd+'"):
        tables(tiny)
