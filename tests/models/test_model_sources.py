"""Tests of invert_pipeline.model_sources: what identifies a model before it is loaded."""

from __future__ import annotations

import sys

import pytest

from invert_pipeline.model_sources import is_import_path, model_source_digest, user_code_version
from invert_pipeline.specs import ModelSpec


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A model factory module ``user_models`` on sys.path, and a checkpoint file beside it."""
    module = tmp_path / "user_models.py"
    module.write_text("def net():\n    return None\n")
    checkpoint = tmp_path / "weights.pt"
    checkpoint.write_bytes(b"first weights")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module, checkpoint
    sys.modules.pop("user_models", None)


def test_checkpoint_content_decides_the_digest(user_module):
    """Other bytes in the same checkpoint file give another digest; the same bytes the same one."""
    _, checkpoint = user_module
    spec = ModelSpec(source="user_models:net", weights=str(checkpoint))
    before = model_source_digest(spec)
    assert model_source_digest(spec) == before
    checkpoint.write_bytes(b"retrained weights")
    assert model_source_digest(spec) != before


def test_user_code_decides_the_digest_without_importing_it(user_module):
    """An edited factory module changes the digest and the code version; the module is never imported."""
    module, checkpoint = user_module
    spec = ModelSpec(source="user_models:net", weights=str(checkpoint))
    digest, code = model_source_digest(spec), user_code_version(spec)
    module.write_text("def net():\n    return 1\n")
    assert model_source_digest(spec) != digest and user_code_version(spec) != code
    assert "user_models" not in sys.modules


def test_a_code_folder_versions_the_files_sys_path_would(tmp_path, monkeypatch):
    """User code found in its code folder has the version it has on sys.path: the run id does not follow where
    the code was found, only what it says."""
    (tmp_path / "folder_models.py").write_text("def net():\n    return None\n")
    in_folder = user_code_version(ModelSpec(source="folder_models:net", weights="w.pt", code_folder=str(tmp_path)))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert user_code_version(ModelSpec(source="folder_models:net", weights="w.pt")) == in_folder
    assert "folder_models" not in sys.modules


def test_a_factory_without_weights_is_unknown(user_module):
    """A factory given no checkpoint may return any weights: no digest, so the model is loaded every run."""
    assert model_source_digest(ModelSpec(source="user_models:net")) is None
    assert model_source_digest(ModelSpec(source="user_models:net", weights="missing.pt")) is None


def test_torchscript_file_enters_by_content(tmp_path):
    """A TorchScript model file is its own source: its bytes decide the digest."""
    path = tmp_path / "model.ts"
    path.write_bytes(b"scripted v1")
    spec = ModelSpec(source=str(path))
    before = model_source_digest(spec)
    path.write_bytes(b"scripted v2")
    assert before is not None and model_source_digest(spec) != before


def test_torchvision_weights_by_name_have_a_digest():
    """A torchvision architecture with named weights is known by name and library versions."""
    assert model_source_digest(ModelSpec(source="resnet18", weights="IMAGENET1K_V1")) is not None


def test_a_model_without_weights_is_loaded_every_run():
    """A random initialisation has no digest: the model is loaded, and its RandomWeightsWarning given, every run."""
    assert model_source_digest(ModelSpec(source="resnet18")) is None


def test_missing_user_module_is_a_clear_import_error():
    with pytest.raises(ImportError, match="no_such_package_xyz"):
        user_code_version(ModelSpec(source="no_such_package_xyz.models:net", weights="w.pt"))


def test_import_path_form():
    assert is_import_path("pkg.module:factory") and not is_import_path("resnet18") and not is_import_path("a/b.pt")
