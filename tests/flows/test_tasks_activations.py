"""Tests of tasks.activations: the content key of activations, shard planning and completeness."""

from __future__ import annotations

import pytest

from invert_pipeline.activation_files import part_name
from invert_pipeline.specs import ExtractionParams, ModelSpec
from invert_pipeline.workspace import atomic_write_bytes
from tasks.activations import activation_key, layer_width, plan_extraction_shards, shard_complete


MODEL = ModelSpec(source="flow_models:tiny_cnn", input_size=(1, 28, 28))


class TestActivationKey:
    def test_settings_that_do_not_change_values_left_out(self):
        """Device, workers, batch and shard sizes do not change the key: the files would be the same."""
        base = activation_key("data", "weights", MODEL, ExtractionParams())
        changed = ExtractionParams(device="cpu", num_workers=2, batch_size=7, shard_size=100)
        assert activation_key("data", "weights", MODEL, changed) == base

    def test_inputs_that_change_values_change_key(self):
        """Other weights, other data or another reduction give another key."""
        base = activation_key("data", "weights", MODEL, ExtractionParams())
        assert activation_key("data", "retrained", MODEL, ExtractionParams()) != base
        assert activation_key("other", "weights", MODEL, ExtractionParams()) != base
        assert activation_key("data", "weights", MODEL, ExtractionParams(reduce="max")) != base

    def test_preprocessing_and_input_size_change_key(self):
        """The same weights behind another preprocessing or input size give another key."""
        base = activation_key("data", "weights", MODEL, ExtractionParams())
        resized = MODEL.model_copy(update={"input_size": (1, 32, 32)})
        preprocessed = MODEL.model_copy(update={"preprocess": "invert_pipeline.demo.model:preprocess"})
        assert activation_key("data", "weights", resized, ExtractionParams()) != base
        assert activation_key("data", "weights", preprocessed, ExtractionParams()) != base


    def test_edited_model_code_changes_key(self, tmp_path, monkeypatch):
        """The same weights behind an edited factory module give another key."""
        module = tmp_path / "edited_model.py"
        module.write_text("def build():\n    return 1\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        model = ModelSpec(source="edited_model:build")
        before = activation_key("data", "weights", model, ExtractionParams())
        module.write_text("def build():\n    return 2\n")
        assert activation_key("data", "weights", model, ExtractionParams()) != before


class TestShards:
    def test_one_shard_by_default(self):
        """Without a shard size the whole dataset is one extraction task."""
        assert plan_extraction_shards(5000, None) == [(0, 5000)]

    def test_shards_on_the_chunk_grid(self):
        """Shards are whole extraction chunks and cover every sample once."""
        shards = plan_extraction_shards(5000, 2000)
        assert shards[0][0] == 0 and shards[-1][1] == 5000
        assert all(stop == next_start for (_, stop), (next_start, _) in zip(shards, shards[1:]))
        assert all(start % 1024 == 0 for start, _ in shards)

    def test_empty_dataset_rejected(self):
        """A dataset without samples is refused with a hint at its split and limit."""
        with pytest.raises(ValueError, match="no samples"):
            plan_extraction_shards(0, None)

    def test_shard_complete_needs_every_layer(self, tmp_path):
        """A shard is complete only when each layer holds its chunk files."""
        atomic_write_bytes(b"", tmp_path / "conv1" / part_name(0, 40))
        assert shard_complete(tmp_path, ["conv1"], 40, (0, 40))
        assert not shard_complete(tmp_path, ["conv1", "fc"], 40, (0, 40))

    def test_layer_width_without_parts(self, tmp_path):
        """Asking the width of a layer that was never extracted says to extract first."""
        with pytest.raises(FileNotFoundError, match="extract the activations first"):
            layer_width(tmp_path / "conv1")
