"""What ``invert explain`` checks in its own process before Prefect starts.

Every mistake that can be found without running the pipeline ends the command in one line naming
the flag and the fix, within seconds, before Prefect's temporary API starts or any flow run is
created: the dataset (a local path or a hub name, the split, the image, label and attribute
columns, the class names, the hierarchy and annotation files), the model (the factory, checkpoint
and preprocessing it names, one forward pass of one input of its input size on the CPU), the
layers (from the model's module tree, with the close names of an unknown one), the search
options given for some layers and the search's device. The flow checks the same things again when it runs (a deployment's
runs start without this command), so nothing here is trusted by it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from invert_pipeline.specs import DatasetSpec, ModelSpec, SearchParams


def check_explain(model: ModelSpec, layers: Sequence[str], dataset: DatasetSpec | None, search: SearchParams) -> None:
    """Raise the first mistake among the arguments of ``invert explain`` (``dataset=None``: the shipped default).

    Raises
    ------
    ValueError, FileNotFoundError, ImportError, ConnectionError, TypeError
        One line naming the flag, what it received and the fix.
    """
    if dataset is not None:
        from invert_pipeline.datasets import check_dataset

        check_dataset(dataset)
    resolved = check_model(model, layers)
    search.check_layer_patterns(resolved)
    check_search_device(search, resolved)


def check_search_device(search: SearchParams, layers: Sequence[str]) -> None:
    """The device each layer is searched on exists here (``--search-device``, or a layer's own)."""
    from invert_core import validate_device

    for device in dict.fromkeys(search.for_layer(layer).device for layer in layers):
        try:
            validate_device(device)
        except ValueError as error:
            raise ValueError(f"--search-device {device!r}: {error}") from None


def check_model(model: ModelSpec, layers: Sequence[str]) -> list[str]:
    """Load ``model`` on the CPU, resolve ``layers`` on it and run one input of its input size; the resolved layers.

    A model given no weights warns once, when the flow loads it, not here as well.
    """
    from invert_pipeline.layers import check_forward, resolve_layers
    from invert_pipeline.models import RandomWeightsWarning, load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        loaded = load_model(model)
    resolved = resolve_layers(loaded.module, list(layers))
    check_forward(loaded.module, loaded.input_size, size_from=size_flag(model))
    return resolved


def size_flag(model: ModelSpec) -> str:
    """Where a model's input size comes from, as the flag that changes it."""
    if model.input_size is not None:
        return "--input-size"
    return "--preprocess" if model.preprocess is not None else "--input-size (or the model's input_size attribute)"

