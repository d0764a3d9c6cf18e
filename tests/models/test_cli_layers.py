"""Tests of ``invert layers MODEL`` (invert_pipeline.cli.layers)."""

from __future__ import annotations

import pytest
import torch

import model_factories
from invert_pipeline.cli import main


def test_lists_layers_shapes_and_neurons(capsys):
    """Every called layer is printed with its output shape and neuron count, logits last."""
    assert main(["layers", "model_factories:tiny_cnn", "--input-size", "1", "16", "16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model_factories (version ") and lines[0].endswith("input 1x16x16")
    assert lines[1].split() == ["layer", "output", "shape", "neurons"]
    assert [line.split() for line in lines[2:]] == [
        ["conv1", "4x14x14", "4"], ["relu1", "4x14x14", "4"], ["conv2", "6x12x12", "6"], ["relu2", "6x12x12", "6"],
        ["pool", "6x1x1", "6"], ["flatten", "6", "6"], ["fc", "3", "3"], ["logits", "3", "3"],
    ]


def test_match_globs(capsys):
    """--match keeps only the layers its names and globs resolve to."""
    assert main(["layers", "model_factories:tiny_cnn", "--match", "conv*", "logits"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert names == ["conv1", "conv2", "logits"]


def test_unknown_layer_is_one_line_error(capsys):
    """An unknown --match name exits with status 2 and one line naming close matches."""
    assert main(["layers", "model_factories:tiny_cnn", "--match", "conv3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--match: the model has no layer 'conv3'; did you mean 'conv2' or 'conv1'?" in err


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torchscript_file_lists_logits_and_says_what_works_instead(tmp_path, capsys):
    """A TorchScript file lists its logits, then a note naming the file and how to explain inner layers."""
    path = tmp_path / "scripted.pt"
    torch.jit.script(model_factories.tiny_cnn().eval()).save(str(path))
    assert main(["layers", str(path), "--input-size", "1", "12", "12"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines[2:3]] == [["logits", "3", "3"]]
    assert f"{path} is a TorchScript file" in lines[3]
    assert "--model pkg.module:factory" in lines[3] and "torch.save(model.state_dict(), path)" in lines[3]


def test_an_input_size_the_model_refuses_names_the_flag_and_its_channels(capsys):
    """--input-size 3 12 12 for a 1-channel model: one line naming the flag and the channels it takes."""
    assert main(["layers", "model_factories:tiny_cnn", "--input-size", "3", "12", "12"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("invert layers: error: --input-size: the model fails on one input of shape "
                                              "(1, 3, 12, 12) (")
    assert "its first convolution 'conv1' takes 1 channels, not 3" in err
