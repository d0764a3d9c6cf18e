"""Tests of invert_pipeline.layer_explanations: one layer's search from Parquet files to Parquet files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invert_pipeline.activation_files import N_SAMPLES_KEY, part_name
from invert_pipeline.layer_explanations import explain_layer, merge_layer_chunks
from invert_pipeline.specs import SearchParams
from invert_pipeline.workspace import atomic_write_json, atomic_write_parquet

CONCEPTS = ["cat", "dog", "bird"]
N_SAMPLES = 90
N_NEURONS = 5
PARAMS = SearchParams(length=2, beam=4, top_k=3)


def _write_dataset(folder: Path, sample_ids: np.ndarray, classes: np.ndarray) -> Path:
    """A prepared-dataset folder (docs/ARCHITECTURE.md) whose concepts are the classes, written as the
    pipeline writes it (atomically, with digest records)."""
    folder.mkdir(parents=True)
    atomic_write_parquet(
        pa.table({"sample_id": sample_ids, "label": classes.astype(np.int64),
                  "class_name": [CONCEPTS[c] for c in classes]}),
        folder / "samples.parquet",
    )
    counts = np.bincount(classes, minlength=len(CONCEPTS))
    atomic_write_parquet(
        pa.table({
            "concept_id": pa.array(range(len(CONCEPTS)), pa.int32()), "name": CONCEPTS,
            "kind": ["class"] * len(CONCEPTS), "source_id": CONCEPTS, "description": CONCEPTS,
            "n_pos": counts.astype(np.int64), "depth": pa.array([None] * len(CONCEPTS), pa.int32()),
        }),
        folder / "concepts.parquet",
    )
    atomic_write_parquet(pa.table({"child": pa.array([], pa.int32()), "parent": pa.array([], pa.int32())}),
                   folder / "concept_edges.parquet")
    atomic_write_parquet(pa.table({"sample_id": sample_ids, "concept_id": classes.astype(np.int32)}),
                   folder / "labels.parquet")
    atomic_write_parquet(pa.table({"sample_id": pa.array([], pa.int64()), "reason": pa.array([], pa.string())}),
                   folder / "excluded.parquet")
    atomic_write_json({
        "fingerprint": "test", "spec": {"path": "generated"}, "n_samples": len(sample_ids),
        "n_concepts": len(CONCEPTS), "dropped_concepts": [], "class_names": CONCEPTS,
    }, folder / "dataset.json")
    return folder


def _write_layer(folder: Path, sample_ids: np.ndarray, activations: np.ndarray) -> Path:
    """One activation chunk covering every sample, as the extraction writes it (with its digest record)."""
    folder.mkdir(parents=True)
    columns = {"sample_id": pa.array(sample_ids, pa.int64())}
    columns.update({str(k): pa.array(activations[:, k], pa.float32()) for k in range(activations.shape[1])})
    table = pa.table(columns).replace_schema_metadata({N_SAMPLES_KEY: str(len(sample_ids)).encode()})
    atomic_write_parquet(table, folder / part_name(0, len(sample_ids)))
    return folder


@pytest.fixture
def layer_files(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """A dataset of 90 samples (sparse ids) of 3 classes, and a layer whose neuron 2 fires on 'dog'."""
    return _layer_files(tmp_path, rng)


@pytest.fixture
def layer_files_with_dead(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """:func:`layer_files` with neuron 0 dead: 0 on every sample."""
    return _layer_files(tmp_path, rng, dead=0)


def _layer_files(tmp_path: Path, rng: np.random.Generator, dead: int | None = None) -> tuple[Path, Path]:
    sample_ids = np.sort(rng.choice(10 * N_SAMPLES, size=N_SAMPLES, replace=False)).astype(np.int64)
    classes = rng.permutation(np.arange(N_SAMPLES) % len(CONCEPTS))
    activations = rng.normal(size=(N_SAMPLES, N_NEURONS)).astype(np.float32)
    activations[:, 2] = (classes == 1) + 0.1 * rng.normal(size=N_SAMPLES)
    if dead is not None:
        activations[:, dead] = 0.0
    dataset_dir = _write_dataset(tmp_path / "dataset", sample_ids, classes)
    # The extraction writes samples in position order; shuffle them to check the alignment by sample id.
    order = rng.permutation(N_SAMPLES)
    layer_dir = _write_layer(tmp_path / "activations" / "conv1", sample_ids[order], activations[order])
    return dataset_dir, layer_dir


class TestExplainLayer:
    def test_planted_neuron_explained_by_its_concept(self, layer_files, tmp_path):
        """The neuron built to fire on 'dog' gets 'dog' as its best explanation, with layer and mode columns."""
        dataset_dir, layer_dir = layer_files
        out, atomic = explain_layer(dataset_dir, layer_dir, PARAMS, tmp_path / "e.parquet", tmp_path / "a.parquet")
        rows = pq.read_table(out).to_pylist()
        best = next(row for row in rows if row["neuron"] == 2 and row["rank"] == 0)
        assert best["formula"] == "dog"
        assert best["auc"] > 0.95
        assert best["heldout_auc"] > 0.95  # 20% of the samples held out of the search by default
        assert {row["layer"] for row in rows} == {"conv1"}
        assert {row["mode"] for row in rows} == {"positive"}
        assert max(row["rank"] for row in rows) < PARAMS.top_k

    def test_atomic_scores_cover_every_neuron_and_concept(self, layer_files, tmp_path):
        """The atomic file has one AUC per neuron x concept, high for the planted pair."""
        dataset_dir, layer_dir = layer_files
        _, atomic = explain_layer(dataset_dir, layer_dir, PARAMS, tmp_path / "e.parquet", tmp_path / "a.parquet")
        table = pq.read_table(atomic)
        assert table.num_rows == N_NEURONS * len(CONCEPTS)
        assert table.schema.field("neuron").type == pa.int32()
        auc = {(row["neuron"], row["concept"]): row["auc"] for row in table.to_pylist()}
        assert auc[(2, "dog")] > 0.95
        assert auc[(2, "cat")] < 0.5

    def test_memory_budget_reaches_the_search_and_keeps_the_result(self, layer_files, tmp_path, monkeypatch):
        """--memory-budget is the search's and the atomic AUC's memory_budget; one byte (one neuron at a time)
        gives the same tables as the default."""
        import invert_core

        budgets = []
        for name in ("explain", "atomic_auc"):
            original = getattr(invert_core, name)

            def recording(*args, _original=original, **kwargs):
                budgets.append(kwargs["memory_budget"])
                return _original(*args, **kwargs)

            monkeypatch.setattr(invert_core, name, recording)
        dataset_dir, layer_dir = layer_files
        small = PARAMS.model_copy(update={"memory_budget": 1})
        tiny_budget = explain_layer(dataset_dir, layer_dir, small, tmp_path / "s.parquet", tmp_path / "sa.parquet")
        default = explain_layer(dataset_dir, layer_dir, PARAMS, tmp_path / "d.parquet", tmp_path / "da.parquet")
        assert budgets == [1, 1, 1 << 30, 1 << 30]
        for small_file, default_file in zip(tiny_budget, default, strict=True):
            assert pq.read_table(small_file).equals(pq.read_table(default_file))

    def test_search_device_defaults_to_auto(self, layer_files, tmp_path, monkeypatch):
        """The search's device, auto by default (cuda where torch sees a GPU, see invert_core's
        validate_device), reaches invert_core.explain."""
        import invert_core

        devices = []

        def recording(*args, **kwargs):
            devices.append(kwargs["device"])
            raise RuntimeError("stop")  # the device is all this test reads

        monkeypatch.setattr(invert_core, "explain", recording)
        dataset_dir, layer_dir = layer_files
        with pytest.raises(RuntimeError, match="stop"):
            explain_layer(dataset_dir, layer_dir, SearchParams(length=2, beam=4), tmp_path / "e.parquet",
                          tmp_path / "a.parquet")
        assert devices == ["auto"]

    def test_neuron_chunk_keeps_layer_neuron_ids(self, layer_files, tmp_path):
        """A chunk's rows carry the layer's neuron indices, not positions within the chunk."""
        dataset_dir, layer_dir = layer_files
        out, atomic = explain_layer(dataset_dir, layer_dir, PARAMS, tmp_path / "e.parquet", tmp_path / "a.parquet",
                                    neurons=slice(2, 4))
        assert set(pq.read_table(out)["neuron"].to_pylist()) == {2, 3}
        assert set(pq.read_table(atomic)["neuron"].to_pylist()) == {2, 3}

    def test_chunks_joined_equal_whole_layer(self, layer_files, tmp_path):
        """Searching in neuron chunks and joining gives the whole-layer table, q-values included."""
        (whole, whole_atomic), chunks, (joined, joined_atomic) = _whole_chunked_and_joined(*layer_files, tmp_path)
        expected, got = pq.read_table(whole).to_pylist(), pq.read_table(joined).to_pylist()
        assert [(r["neuron"], r["rank"], r["formula"]) for r in got] == [
            (r["neuron"], r["rank"], r["formula"]) for r in expected
        ]
        for column in ("q_value", "heldout_q_value"):
            assert [r[column] for r in got] == pytest.approx([r[column] for r in expected], rel=1e-12), column
        # The planted neuron's q-value is its p-value times the number of neurons tested (3 in its chunk, 5 in all).
        in_chunk = next(r for r in pq.read_table(chunks[1][0]).to_pylist() if r["neuron"] == 2 and r["rank"] == 0)
        in_layer = next(r for r in got if r["neuron"] == 2 and r["rank"] == 0)
        assert in_layer["q_value"] == pytest.approx(in_chunk["q_value"] * 5 / 3, rel=1e-9)
        assert pq.read_table(joined_atomic).num_rows == pq.read_table(whole_atomic).num_rows

    def test_dead_neuron_kept_and_out_of_the_q_values_when_chunks_are_joined(self, layer_files_with_dead, tmp_path):
        """Neuron 0 is dead: the joined table keeps its one dead row and equals the whole-layer table; the
        planted neuron's q-value is its p-value times the 4 live neurons (3 in its chunk), not 5."""
        (whole, _), chunks, (joined, _) = _whole_chunked_and_joined(*layer_files_with_dead, tmp_path)
        expected, got = pq.read_table(whole).to_pylist(), pq.read_table(joined).to_pylist()
        keys = [(r["neuron"], r["rank"], r["dead"], r["formula"]) for r in got]
        assert [key for key in keys if key[0] == 0] == [(0, 0, True, None)]
        assert keys == [(r["neuron"], r["rank"], r["dead"], r["formula"]) for r in expected]
        for column in ("q_value", "heldout_q_value"):
            live_got, live_expected = ([r[column] for r in rows if not r["dead"]] for rows in (got, expected))
            assert live_got == pytest.approx(live_expected, rel=1e-12), column
        in_chunk = next(r for r in pq.read_table(chunks[1][0]).to_pylist() if r["neuron"] == 2 and r["rank"] == 0)
        in_layer = next(r for r in got if r["neuron"] == 2 and r["rank"] == 0)
        assert in_layer["q_value"] == pytest.approx(in_chunk["p_value"] * 4, rel=1e-9)
        assert in_chunk["q_value"] == pytest.approx(in_chunk["p_value"] * 3, rel=1e-9)

    def test_activations_of_other_samples_rejected(self, layer_files, tmp_path, rng):
        """Activations whose sample ids differ from the dataset's give a message saying to extract again."""
        dataset_dir, _ = layer_files
        stale = _write_layer(tmp_path / "stale" / "conv1", np.arange(N_SAMPLES, dtype=np.int64),
                             rng.normal(size=(N_SAMPLES, 2)).astype(np.float32))
        with pytest.raises(ValueError, match="extract the activations again"):
            explain_layer(dataset_dir, stale, PARAMS, tmp_path / "e.parquet", tmp_path / "a.parquet")
        assert not (tmp_path / "e.parquet").exists()

    def test_bad_neuron_slice_rejected(self, layer_files, tmp_path):
        """A slice with a step or outside the layer is refused with the layer's neuron count."""
        dataset_dir, layer_dir = layer_files
        with pytest.raises(ValueError, match="5 neurons"):
            explain_layer(dataset_dir, layer_dir, PARAMS, tmp_path / "e.parquet", tmp_path / "a.parquet",
                          neurons=slice(0, 4, 2))


class TestMergeLayerChunks:
    def test_no_chunks_rejected(self, tmp_path):
        """Joining nothing is an error that says what to pass."""
        with pytest.raises(ValueError, match="at least one chunk"):
            merge_layer_chunks([], tmp_path / "e.parquet", tmp_path / "a.parquet")


def _whole_chunked_and_joined(dataset_dir, layer_dir, tmp_path):
    """The layer searched whole, in the chunks of neurons 0-1 and 2-4, and those chunks joined: each an
    (explanations, atomic scores) pair of files."""
    whole = explain_layer(dataset_dir, layer_dir, PARAMS, tmp_path / "w.parquet", tmp_path / "w.atomic.parquet")
    chunks = [
        explain_layer(dataset_dir, layer_dir, PARAMS, tmp_path / f"{a}.parquet", tmp_path / f"{a}.atomic.parquet",
                      neurons=slice(a, b))
        for a, b in [(0, 2), (2, 5)]
    ]
    return whole, chunks, merge_layer_chunks(chunks, tmp_path / "j.parquet", tmp_path / "j.atomic.parquet")
