"""Tests of tasks.explain_layers: the content key of a search and how layers are split into tasks."""

from __future__ import annotations

from pathlib import Path

from invert_pipeline.specs import SearchParams
from tasks.explain_layers import chunk_outputs, layer_outputs, plan_chunks, search_key


class TestSearchKey:
    def test_work_split_left_out(self):
        """Chunking, the device and the memory budget do not change the key: the joined result is the same."""
        assert search_key("d", "a", SearchParams()) == search_key(
            "d", "a", SearchParams(neuron_chunk=8, device="cuda", memory_budget="64MiB")
        )

    def test_parameters_and_activations_in_key(self):
        """Another beam, other activations or another dataset give another key."""
        base = search_key("d", "a", SearchParams())
        assert search_key("d", "a", SearchParams(beam=4)) != base
        assert search_key("d", "other", SearchParams()) != base
        assert search_key("other", "a", SearchParams()) != base


class TestPlanning:
    def test_whole_layer_without_chunk(self):
        """Without neuron_chunk a layer is one task."""
        assert plan_chunks(512, None) == [(0, 512)]

    def test_chunks_cover_layer(self):
        """Chunks of at most neuron_chunk neurons cover the layer once, the last one shorter."""
        assert plan_chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]

    def test_output_paths(self, tmp_path):
        """Layer files sit in the search folder; chunk files in <layer>.chunks/ named by neuron range."""
        search_dir = tmp_path / "search" / "sk"
        assert layer_outputs(tmp_path, "sk", "fc") == {
            "explanations": str(search_dir / "fc.parquet"), "atomic_scores": str(search_dir / "fc.atomic.parquet")
        }
        chunk = chunk_outputs(tmp_path, "sk", "fc", (4, 8))
        assert Path(chunk["explanations"]) == search_dir / "fc.chunks" / "000000004-000000008.parquet"
        assert Path(chunk["atomic_scores"]) == search_dir / "fc.chunks" / "000000004-000000008.atomic.parquet"
