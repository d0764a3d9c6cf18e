"""Tests of invert_pipeline.layers: listing, name and glob resolution, neurons, linear influence."""

from __future__ import annotations

import model_factories  # tests/models is on sys.path, see conftest.py
import numpy as np
import pytest
import torch
import torchvision

from invert_pipeline.layers import (
    linear_influence,
    list_layers,
    resolve_layers,
    to_neurons,
)
from invert_pipeline.models import load_model
from invert_pipeline.specs import ModelSpec


class TestListLayers:
    def test_tiny_cnn_shapes(self):
        """Every called submodule is listed with its per-sample output shape, then logits."""
        module = model_factories.tiny_cnn().eval()
        assert list_layers(module, (1, 12, 12)) == [
            ("conv1", (4, 10, 10)),
            ("relu1", (4, 10, 10)),
            ("conv2", (6, 8, 8)),
            ("relu2", (6, 8, 8)),
            ("pool", (6, 1, 1)),
            ("flatten", (6,)),
            ("fc", (3,)),
            ("logits", (3,)),
        ]

    def test_shapes_follow_input_size(self):
        """The same model at another input size lists other spatial shapes."""
        shapes = dict(list_layers(model_factories.tiny_cnn().eval(), (1, 20, 16)))
        assert shapes["conv2"] == (6, 16, 12) and shapes["logits"] == (3,)

    def test_hooks_removed(self):
        """Listing leaves no hook behind on the model."""
        module = model_factories.tiny_cnn().eval()
        list_layers(module, (1, 12, 12))
        assert all(not m._forward_hooks for m in module.modules())

    def test_wrong_input_size(self):
        """An input size the model cannot take is reported as such, with the channels its first convolution takes."""
        with pytest.raises(ValueError, match=r"input_size: the model fails on one input of shape \(1, 3, 12, 12\) "
                           r"\(.*\); its first convolution 'conv1' takes 1 channels, not 3"):
            list_layers(model_factories.tiny_cnn().eval(), (3, 12, 12))


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    """An untrained torchvision resnet18."""
    return torchvision.models.resnet18().eval()


class TestResolveLayers:
    def test_exact_and_glob(self, resnet):
        """Exact names, globs (model order) and logits resolve; duplicates are dropped."""
        resolved = resolve_layers(resnet, ["avgpool", "layer4.?.conv*", "logits", "avgpool"])
        assert resolved == ["avgpool", "layer4.0.conv1", "layer4.0.conv2", "layer4.1.conv1", "layer4.1.conv2", "logits"]

    def test_glob_reaches_descendants(self, resnet):
        """``layer4.*`` matches every module under layer4, not layer4 itself."""
        resolved = resolve_layers(resnet, ["layer4.*"])
        assert "layer4" not in resolved and "layer4.1.bn2" in resolved and len(resolved) == 15

    def test_unknown_name_lists_close_matches(self, resnet):
        """An unknown layer names the flag and its close matches."""
        with pytest.raises(ValueError, match="--layers: the model has no layer 'layer4.1.conv'; did you mean .*'layer4.1.conv1'"):
            resolve_layers(resnet, ["layer4.1.conv"])

    def test_glob_without_match(self, resnet):
        """A glob that matches nothing says so and lists layers."""
        with pytest.raises(ValueError, match=r"--layers: the glob 'block\*' matches no layer; layers: conv1, bn1"):
            resolve_layers(resnet, ["block*"])

    @pytest.mark.parametrize("patterns", [[], "avgpool"])
    def test_patterns_must_be_a_list(self, resnet, patterns):
        """An empty list or a bare string is refused."""
        with pytest.raises(ValueError, match="layers must be a non-empty list"):
            resolve_layers(resnet, patterns)

    @pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
    def test_torchscript_only_logits(self):
        """A TorchScript model's submodules cannot be hooked: only logits resolves."""
        scripted = torch.jit.script(model_factories.tiny_cnn().eval())
        assert resolve_layers(scripted, ["logits"]) == ["logits"]
        with pytest.raises(ValueError, match=r"\['conv1'\] cannot be read from a TorchScript model"):
            resolve_layers(scripted, ["conv1", "logits"])

    @pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
    def test_torchscript_lists_only_logits(self):
        """Listing a TorchScript model's layers sets no hooks and gives its output alone."""
        scripted = torch.jit.script(model_factories.tiny_cnn().eval())
        assert list_layers(scripted, (1, 12, 12)) == [("logits", (3,))]


class TestToNeurons:
    def test_conv_mean_and_max(self, rng):
        """[N, C, H, W] reduces per channel to the mean or max over H and W."""
        maps = rng.normal(size=(3, 4, 5, 6)).astype(np.float32)
        expected_mean = np.array([[maps[n, c].sum() / 30 for c in range(4)] for n in range(3)])
        expected_max = np.array([[max(maps[n, c].ravel()) for c in range(4)] for n in range(3)])
        np.testing.assert_allclose(to_neurons(torch.from_numpy(maps), "mean", "cls").numpy(), expected_mean, rtol=1e-5)
        np.testing.assert_array_equal(to_neurons(torch.from_numpy(maps), "max", "cls").numpy(), expected_max)

    def test_tokens_cls_and_mean(self, rng):
        """[N, T, D] gives the first (CLS) token or the mean over tokens."""
        tokens = rng.normal(size=(2, 7, 5)).astype(np.float32)
        np.testing.assert_array_equal(to_neurons(torch.from_numpy(tokens), "max", "cls").numpy(), tokens[:, 0, :])
        expected = np.array([[sum(tokens[n, t, d] for t in range(7)) / 7 for d in range(5)] for n in range(2)])
        np.testing.assert_allclose(to_neurons(torch.from_numpy(tokens), "max", "mean").numpy(), expected, rtol=1e-5)

    def test_vectors_as_is_and_float32(self, rng):
        """[N, D] passes through, as float32 even when the layer computed in bfloat16."""
        vectors = torch.from_numpy(rng.normal(size=(4, 3)).astype(np.float32)).bfloat16()
        neurons = to_neurons(vectors, "mean", "cls")
        assert neurons.dtype == torch.float32
        torch.testing.assert_close(neurons, vectors.float())

    def test_bad_reduction(self):
        """An unknown reduction is refused."""
        with pytest.raises(ValueError, match="reduce must be 'mean' or 'max'; got 'sum'"):
            to_neurons(torch.zeros(1, 2, 3, 3), "sum", "cls")  # type: ignore[arg-type]


class TestLinearInfluence:
    def test_classifier_on_pooled_layer(self):
        """The classifier reading the pooled (flattened) channels gives class influence, weight[class, channel]."""
        spec = ModelSpec(source="model_factories:tiny_cnn")
        table = linear_influence(spec, ["conv2", "pool", "logits"], (1, 12, 12))
        assert table.num_rows == 6 * 3
        assert set(table.column("source_layer").to_pylist()) == {"pool"}
        assert set(table.column("target_layer").to_pylist()) == {"logits"}
        weight = load_model(spec).module.fc.weight.detach().double().numpy()
        rows = table.to_pylist()
        assert all(row["weight"] == weight[row["target_neuron"], row["source_neuron"]] for row in rows)
        assert {(row["source_neuron"], row["target_neuron"]) for row in rows} == {(s, t) for s in range(6) for t in range(3)}

    def test_hidden_linear_and_dropout(self):
        """A linear layer that is not the output is named as target; dropout in between is seen through."""
        spec = ModelSpec(source="model_factories:two_layer_head")
        module = load_model(spec).module
        table = linear_influence(spec, ["pool", "hidden"])
        pairs = {(row["source_layer"], row["target_layer"]) for row in table.to_pylist()}
        assert pairs == {("pool", "fc1"), ("hidden", "logits")}
        assert table.num_rows == 6 * 5 + 5 * 3
        hidden = table.filter(table.column("source_layer").to_numpy(zero_copy_only=False) == "hidden").to_pylist()
        assert hidden[0]["weight"] == module.fc2.weight[hidden[0]["target_neuron"], hidden[0]["source_neuron"]].item()

    def test_schema_without_matches(self):
        """Layers not read by any linear layer give an empty table with the contract's schema."""
        table = linear_influence(ModelSpec(source="model_factories:tiny_cnn"), ["conv1"])
        assert table.num_rows == 0
        assert table.schema.names == ["source_layer", "source_neuron", "target_layer", "target_neuron", "weight"]
