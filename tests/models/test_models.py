"""Tests of invert_pipeline.models: each model source, preprocessing, fingerprints, bad inputs."""

from __future__ import annotations

import importlib.util
import re
import socket
import sys
from pathlib import Path

import model_factories  # tests/models is on sys.path, see conftest.py
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from invert_pipeline.models import (
    DefaultPreprocess,
    RandomWeightsWarning,
    load_model,
    model_fingerprint,
    weights_fingerprint,
)
from invert_pipeline.specs import ModelSpec


def _perturbed(module: torch.nn.Module, rng: np.random.Generator) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in module.parameters():
            noise = rng.normal(scale=0.01, size=tuple(parameter.shape)).astype(np.float32)
            parameter.add_(torch.from_numpy(noise))
    return module


def _image(rng: np.random.Generator, mode: str = "L", size: tuple[int, int] = (20, 16)) -> Image.Image:
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    return Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode)


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, torch.nn.Module]:
    """A state dict of TinyCNN with weights different from the factory's, and that module."""
    module = _perturbed(model_factories.tiny_cnn(), rng)
    path = tmp_path / "tiny.pt"
    torch.save(module.state_dict(), path)
    return path, module


class TestTorchvisionSource:
    def test_random_init_is_seeded(self):
        """An architecture without weights gets the same seeded initialisation every time."""
        first, second = load_model(ModelSpec(source="resnet18")), load_model(ModelSpec(source="resnet18"))
        assert first.fingerprint == second.fingerprint
        assert first.version == "random-init-seed0" and first.input_size == (3, 224, 224)
        assert not first.module.training

    def test_random_init_is_the_same_in_concurrent_threads(self):
        """Extraction shards load the model in parallel threads; each gets the same seeded weights."""
        from concurrent.futures import ThreadPoolExecutor

        expected = load_model(ModelSpec(source="resnet18")).fingerprint
        with ThreadPoolExecutor(max_workers=4) as pool:
            fingerprints = list(pool.map(lambda _: load_model(ModelSpec(source="resnet18")).fingerprint, range(6)))
        assert fingerprints == [expected] * 6

    def test_local_checkpoint_with_other_class_count(self, tmp_path, rng):
        """A fine-tuned checkpoint (10 classes) loads into the architecture with num_classes read from it."""
        trained = _perturbed(torchvision.models.resnet18(num_classes=10), rng).eval()
        path = tmp_path / "resnet18-finetuned.pth"
        torch.save({"state_dict": trained.state_dict(), "epoch": 3}, path)
        loaded = load_model(ModelSpec(source="resnet18", weights=str(path)))
        assert loaded.fingerprint == weights_fingerprint(trained)
        assert loaded.version == "resnet18-finetuned.pth"
        x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            torch.testing.assert_close(loaded.module(x), trained(x))

    def test_cached_weights_enum(self, tmp_path, monkeypatch, rng):
        """A weights enum found in the hub cache loads from it, with the weights' own transforms."""
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
        cached = _perturbed(torchvision.models.resnet18(), rng)
        (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
        torch.save(cached.state_dict(), tmp_path / "hub" / "checkpoints" / Path(weights.url).name)
        loaded = load_model(ModelSpec(source="resnet18", weights="IMAGENET1K_V1"))
        assert loaded.fingerprint == weights_fingerprint(cached)
        assert loaded.version == "ResNet18_Weights.IMAGENET1K_V1"
        assert loaded.input_size == (3, 224, 224)
        tensor = loaded.preprocess(_image(rng, "L", (300, 260)))  # grayscale in, 3 normalised channels out
        assert tensor.shape == (3, 224, 224) and tensor.min() < 0

    def test_uncached_weights_enum_fails_without_download(self, tmp_path, monkeypatch):
        """A weights enum missing from the hub cache is a clear error, not a download."""
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        with pytest.raises(FileNotFoundError, match="not in the torch hub cache .* nothing is downloaded"):
            load_model(ModelSpec(source="resnet18", weights="ResNet18_Weights.IMAGENET1K_V1"))

    def test_unknown_weights_enum(self):
        """An unknown weights name lists the architecture's weights."""
        with pytest.raises(ValueError, match="available: ResNet18_Weights.IMAGENET1K_V1"):
            load_model(ModelSpec(source="resnet18", weights="IMAGENET1K_V9"))


class TestFactorySource:
    def test_factory_with_input_size_attribute(self):
        """An import path factory gives the module, its name and the module's input_size."""
        loaded = load_model(ModelSpec(source="model_factories:tiny_cnn"))
        assert isinstance(loaded.module, model_factories.TinyCNN)
        assert loaded.name == "model_factories" and loaded.input_size == (1, 12, 12)  # its module's name
        assert loaded.version == loaded.fingerprint[:12]

    def test_factory_with_checkpoint(self, tiny_checkpoint):
        """A checkpoint in weights replaces the factory's weights."""
        path, trained = tiny_checkpoint
        loaded = load_model(ModelSpec(source="model_factories:tiny_cnn", weights=str(path), name="tiny", version="v2"))
        assert loaded.fingerprint == weights_fingerprint(trained)
        assert (loaded.name, loaded.version) == ("tiny", "v2")

    def test_user_preprocess(self, rng):
        """ModelSpec.preprocess names a factory whose callable is used as is."""
        loaded = load_model(ModelSpec(source="model_factories:tiny_cnn", preprocess="model_factories:inverted_preprocess"))
        image = _image(rng, "L", (12, 12))
        expected = 1.0 - torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
        torch.testing.assert_close(loaded.preprocess(image)[0], expected)


USER_PACKAGE_NETS = """
import torch
from torch import nn


def build():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    net.input_size = (1, 2, 2)
    return net
"""
USER_PREPROCESS = """
import torch


def halved():
    return lambda image: torch.full((1, 2, 2), 0.5)
"""


@pytest.fixture
def code_folder(tmp_path):
    """A user's folder, not on sys.path, holding a package ``user_pkg_xyz`` (module ``nets``) and a module
    ``user_prep_xyz``; both are forgotten by the process afterwards."""
    folder = tmp_path / "user folder"
    (folder / "user_pkg_xyz").mkdir(parents=True)
    (folder / "user_pkg_xyz" / "__init__.py").write_text("")
    (folder / "user_pkg_xyz" / "nets.py").write_text(USER_PACKAGE_NETS)
    (folder / "user_prep_xyz.py").write_text(USER_PREPROCESS)
    yield folder
    for name in ("user_pkg_xyz", "user_pkg_xyz.nets", "user_prep_xyz"):
        sys.modules.pop(name, None)


class TestCodeFolder:
    def test_modules_of_the_code_folder_are_imported_from_it(self, code_folder):
        """A factory in a package and a preprocessing module that lie only in the code folder load from it."""
        assert importlib.util.find_spec("user_prep_xyz") is None  # not importable from sys.path
        spec = ModelSpec(source="user_pkg_xyz.nets:build", preprocess="user_prep_xyz:halved", code_folder=str(code_folder))
        with pytest.warns(RandomWeightsWarning):
            loaded = load_model(spec)
        assert [type(layer).__name__ for layer in loaded.module] == ["Flatten", "Linear"]
        assert loaded.input_size == (1, 2, 2) and loaded.name == "user_pkg_xyz.nets"
        torch.testing.assert_close(loaded.preprocess(Image.new("L", (5, 5))), torch.full((1, 2, 2), 0.5))
        assert sys.modules["user_prep_xyz"].__file__ == str(code_folder / "user_prep_xyz.py")

    def test_a_process_that_cannot_import_names_its_host_folder_and_the_module(self, tmp_path):
        """A code folder this process cannot see: the error names this host and folder, the module and where it
        was looked for."""
        gone = tmp_path / "not here"
        spec = ModelSpec(source="torch.nn:Identity", preprocess="user_prep_xyz:halved", input_size=(1, 2, 2),
                         code_folder=str(gone))
        with pytest.raises(ImportError) as error:
            load_model(spec)
        message = str(error.value)
        assert message.startswith("--preprocess 'user_prep_xyz:halved': cannot import module 'user_prep_xyz'")
        assert f"on host {socket.gethostname()} in folder {Path.cwd()}" in message
        assert f"looked for it in {gone} and its sys.path" in message

    def test_a_module_imported_from_elsewhere_is_not_taken_for_the_folders(self, tmp_path):
        """A module of the same name already imported from another file is refused, not silently used."""
        (tmp_path / "model_factories.py").write_text("def tiny_cnn():\n    raise AssertionError('not this one')\n")
        with pytest.raises(ImportError, match=re.escape(f"already imported from {model_factories.__file__}, not from "
                                                        f"{tmp_path / 'model_factories.py'}")):
            load_model(ModelSpec(source="model_factories:tiny_cnn", code_folder=str(tmp_path)))


class TestTorchScriptSource:
    @pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
    def test_torchscript_file(self, tmp_path):
        """A TorchScript file loads, computes what the original does and has the same fingerprint."""
        original = model_factories.tiny_cnn().eval()
        path = tmp_path / "tiny_scripted.pt"
        torch.jit.script(original).save(str(path))
        loaded = load_model(ModelSpec(source=str(path), input_size=(1, 12, 12)))
        assert loaded.name == "tiny_scripted" and loaded.fingerprint == weights_fingerprint(original)
        x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            torch.testing.assert_close(loaded.module(x), original(x))

    def test_state_dict_file_as_source(self, tiny_checkpoint):
        """A bare state-dict file is not TorchScript: the error says to pass an architecture."""
        path, _ = tiny_checkpoint
        with pytest.raises(ValueError, match="not a TorchScript file.*needs its architecture.*source='resnet18'"):
            load_model(ModelSpec(source=str(path), input_size=(1, 12, 12)))


class TestPreprocessDefault:
    def test_grayscale_to_rgb_and_resize(self, rng):
        """The default converts grayscale to 3 channels for RGB models and resizes to (H, W)."""
        tensor = DefaultPreprocess((3, 32, 24))(_image(rng, "L", (50, 40)))
        assert tensor.shape == (3, 32, 24) and tensor.dtype == torch.float32
        torch.testing.assert_close(tensor[0], tensor[2])
        assert 0.0 <= tensor.min() and tensor.max() <= 1.0

    def test_rgb_to_grayscale_same_size(self, rng):
        """For 1-channel models an RGB image becomes grayscale, pixels scaled to [0, 1]."""
        image = _image(rng, "RGB", (12, 12))
        tensor = DefaultPreprocess((1, 12, 12))(image)
        expected = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        np.testing.assert_allclose(tensor[0].numpy(), expected)


class TestFingerprint:
    def test_same_weights_same_fingerprint(self):
        """Loading the same weights twice gives the same fingerprint."""
        spec = ModelSpec(source="model_factories:tiny_cnn")
        assert model_fingerprint(spec) == model_fingerprint(spec)

    def test_changed_weights_new_fingerprint(self, tiny_checkpoint):
        """Retrained weights (one changed value is enough) give a new fingerprint."""
        path, trained = tiny_checkpoint
        before = model_fingerprint(ModelSpec(source="model_factories:tiny_cnn", weights=str(path)))
        with torch.no_grad():
            trained.fc.bias[0] += 1e-6
        torch.save(trained.state_dict(), path)
        after = model_fingerprint(ModelSpec(source="model_factories:tiny_cnn", weights=str(path)))
        assert before != after and before != model_fingerprint(ModelSpec(source="model_factories:tiny_cnn"))

    def test_buffers_count(self):
        """Batch-norm running statistics are part of the weights."""
        module = torchvision.models.resnet18()
        before = weights_fingerprint(module)
        module.bn1.running_mean += 1.0
        assert weights_fingerprint(module) != before


class TestInvalidInput:
    @pytest.mark.parametrize(
        ("spec", "error", "match"),
        [
            ({"source": "resnet1B"}, ValueError, "not a torchvision architecture.*did you mean 'resnet18'"),
            ({"source": "no_such_package.models:build"}, ImportError, "cannot import module 'no_such_package.models'"),
            ({"source": "model_factories:tiny_cn"}, ImportError, "has no attribute 'tiny_cn'; did you mean 'tiny_cnn'"),
            ({"source": "model_factories:not_a_module"}, TypeError, "returned a str; the factory must return an nn.Module"),
            ({"source": "resnet18", "weights": "missing/resnet.pt"}, FileNotFoundError, "no such checkpoint file"),
            ({"source": "model_factories:tiny_cnn", "weights": "DEFAULT"}, FileNotFoundError, "apply only to torchvision"),
            ({"source": "model_factories:tiny_cnn", "preprocess": "model_factories:TinyCNN.input_size"}, ValueError,
             "not an import path"),
            ({"source": "model_factories:tiny_cnn", "preprocess": "model_factories:SLEEP_ENV"}, ValueError,
             "must name a factory that returns a callable"),
            ({"source": "model_factories:tiny_cnn", "input_size": (1, 12)}, ValueError, r"--input-size must be C H W, three positive integers; got 1 12"),
            ({"source": "model_factories:tiny_cnn", "input_size": (2, 12, 12)}, ValueError, "handles 1 .* or 3"),
        ],
    )
    def test_spec_errors(self, spec, error, match):
        """Each bad spec field gets an error naming it."""
        with pytest.raises(error, match=match):
            load_model(ModelSpec(**spec))

    def test_checkpoint_that_does_not_fit(self, tmp_path):
        """A state dict of another architecture fails with the missing and unexpected keys."""
        path = tmp_path / "other.pt"
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
        with pytest.raises(ValueError, match="does not fit the model.*Missing key"):
            load_model(ModelSpec(source="model_factories:tiny_cnn", weights=str(path)))

    def test_checkpoint_without_tensors(self, tmp_path):
        """A checkpoint holding no state dict says how to save one."""
        path = tmp_path / "list.pt"
        torch.save([1, 2, 3], path)
        with pytest.raises(ValueError, match="holds a list, not a state dict.*torch.save\\(model.state_dict"):
            load_model(ModelSpec(source="model_factories:tiny_cnn", weights=str(path)))

    def test_empty_checkpoint_names_the_file_and_the_fix(self, tmp_path):
        """A 0-byte checkpoint (an interrupted save) is named as empty, with how to save it again."""
        path = tmp_path / "empty.pt"
        path.touch()
        with pytest.raises(ValueError, match=r"--weights '.*empty\.pt' is an empty file \(0 bytes\).*torch\.save\(model"):
            load_model(ModelSpec(source="model_factories:tiny_cnn", weights=str(path)))

    def test_truncated_checkpoint_names_the_file_and_the_fix(self, tmp_path):
        """A checkpoint cut short is refused naming the file and how to save weights."""
        path = tmp_path / "truncated.pt"
        torch.save(model_factories.tiny_cnn().state_dict(), path)
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(ValueError, match=r"--weights '.*truncated\.pt' is not a state dict.*torch\.save\(model"):
            load_model(ModelSpec(source="model_factories:tiny_cnn", weights=str(path)))

    def test_pickled_module_is_refused(self, tmp_path):
        """A pickled nn.Module is not unpickled (weights_only) and the error says what to save instead."""
        path = tmp_path / "pickled.pt"
        torch.save(model_factories.tiny_cnn(), path)
        with pytest.raises(ValueError, match="not a state dict torch.load\\(weights_only=True\\) can read"):
            load_model(ModelSpec(source="model_factories:tiny_cnn", weights=str(path)))

    def test_factory_without_input_size(self):
        """A module with no input_size attribute needs --input-size, and the message says it in flags."""
        with pytest.raises(ValueError, match=r"--input-size C H W is needed for --model 'torch.nn:Identity'.*--input-size 1 28 28"):
            load_model(ModelSpec(source="torch.nn:Identity"))


class TestInputSizeFromPreprocess:
    def test_preprocess_that_fixes_the_input_gives_the_input_size(self):
        """A factory model with --preprocess needs no --input-size: the preprocessing's output shape is it."""
        loaded = load_model(ModelSpec(source="torch.nn:Identity", preprocess="model_factories:resized_rgb_preprocess"))
        assert loaded.input_size == (3, 10, 14)

    def test_input_size_given_wins(self):
        spec = ModelSpec(source="torch.nn:Identity", preprocess="model_factories:resized_rgb_preprocess",
                         input_size=(3, 8, 8))
        assert load_model(spec).input_size == (3, 8, 8)

    def test_preprocess_whose_output_follows_the_image_asks_for_input_size(self):
        """No guess when the shape depends on the image: the error names both flags and the shapes seen."""
        spec = ModelSpec(source="torch.nn:Identity", preprocess="model_factories:unresized_preprocess")
        with pytest.raises(ValueError, match=r"--preprocess 'model_factories:unresized_preprocess' does not give one "
                           r"input size .*RGB 45x37 -> 3x37x45.*grayscale 45x37 -> 1x37x45.*pass --input-size C H W"):
            load_model(spec)


class TestRandomWeightsWarning:
    def test_torchvision_architecture_without_weights(self):
        with pytest.warns(RandomWeightsWarning, match=r"--model 'resnet18' without --weights: its weights are a "
                          r"random initialisation.*ResNet18_Weights.DEFAULT"):
            load_model(ModelSpec(source="resnet18"))

    def test_factory_without_weights(self):
        with pytest.warns(RandomWeightsWarning, match=r"--model 'model_factories:tiny_cnn' without --weights"):
            load_model(ModelSpec(source="model_factories:tiny_cnn"))

    def test_no_warning_with_weights(self, tiny_checkpoint, recwarn):
        load_model(ModelSpec(source="model_factories:tiny_cnn", weights=str(tiny_checkpoint[0])))
        assert not [warning for warning in recwarn if warning.category is RandomWeightsWarning]
