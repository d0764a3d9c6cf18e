"""What a model spec is made of, read without building the model or importing torch.

:func:`model_source_digest` names everything a model's weights fingerprint follows from (the spec's
source and weights, the bytes of a checkpoint or TorchScript file, the source of the user code it names,
the torch and torchvision versions), so that a run whose model is already known (its fingerprint, name,
version and layers: the cached task ``identify model``) needs no torch. :func:`user_code_version` is part
of the activations' cache key.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from invert_pipeline.specs import ModelSpec
from invert_pipeline.workspace import file_digest, fingerprint, source_version


def is_import_path(source: str) -> bool:
    """Whether ``source`` has the form ``"package.module:attribute"``."""
    module_name, colon, attribute = source.partition(":")
    return bool(colon) and attribute.isidentifier() and all(p.isidentifier() for p in module_name.split("."))


def user_code_version(spec: ModelSpec) -> str | None:
    """A digest of the source files of the modules that ``spec``'s import paths (model factory,
    preprocessing) name, found in ``spec.code_folder`` or on ``sys.path`` as the loader finds them (never by
    the folder's path, so a run keeps its id wherever its code lies); ``None`` when it names none. Part of
    the activations' cache key: the same weights behind an edited ``forward`` give other activations.

    Raises
    ------
    ImportError
        When an import path names a module that does not exist.
    """
    names = imported_modules(spec)
    try:
        return source_version(names, spec.code_folder) if names else None
    except ModuleNotFoundError as error:
        where = "" if spec.code_folder is None else f" in {spec.code_folder} or"
        raise ImportError(
            f"--model/--preprocess names module {error.name!r}, which cannot be found{where} on sys.path: check that "
            "the package is installed or on PYTHONPATH"
        ) from error


def imported_modules(spec: ModelSpec) -> list[str]:
    """The modules ``spec``'s import paths (model factory, preprocessing) name, in that order."""
    paths = (spec.source, spec.preprocess)
    return [path.split(":", 1)[0] for path in paths if path is not None and is_import_path(path)]


def model_source_digest(spec: ModelSpec) -> str | None:
    """A digest of what the weights of the model ``spec`` names follow from, or ``None`` when the model is to
    be loaded every run: a factory given no checkpoint returns whatever it likes, and a model given no
    ``weights`` at all (a random initialisation) is loaded so that its warning shows on every run.

    A checkpoint or TorchScript file enters by its content, never by its path or time stamps.
    """
    if is_import_path(spec.source):
        known = spec.weights is not None and Path(spec.weights).is_file()
    else:  # a torchvision architecture with named or checkpoint weights, or a TorchScript file holding its own
        known = spec.weights is not None or Path(spec.source).is_file()
    if not known:
        return None
    files = [path for path in (spec.source, spec.weights) if path is not None and Path(path).is_file()]
    return fingerprint(
        "model-source",
        spec.model_dump(mode="json", include={"source", "weights"}),
        [file_digest(path) for path in files],
        user_code_version(spec),
        importlib.metadata.version("torch"),
        importlib.metadata.version("torchvision"),
    )
