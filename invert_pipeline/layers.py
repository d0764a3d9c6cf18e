"""Layers and neurons: which module outputs can be read, how they become neurons, what feeds what.

A layer is a module name from ``module.named_modules()`` (``"layer4.1.conv2"``) or ``"logits"``,
the model's output (the name always means the output, even if a submodule is called that). Its
output, read by a forward hook, is a tensor, or the ``logits`` entry / first element of a structured
output. A module called several times in one forward pass gives the output of its last call (the
shared ``relu`` of a torchvision ``BasicBlock`` then equals the block output).

A neuron is (layer, index). Outputs become ``[N, K]`` neurons by :func:`to_neurons`:

- ``[N, C, H, W]`` (or any ``[N, C, ...]`` with two or more trailing dimensions): one neuron per
  channel, the mean or the max over the trailing dimensions (``reduce``);
- ``[N, T, D]``: token sequences, one neuron per feature, from the first (CLS) token or the mean over
  tokens (``tokens``);
- ``[N, D]``: as is; ``[N]``: one neuron.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from invert_pipeline.models import LoadedModel, load_model
from invert_pipeline.specs import ModelSpec
from invert_pipeline.suggestions import did_you_mean

OUTPUT_LAYER = "logits"
INFLUENCE_SCHEMA = pa.schema(
    [
        ("source_layer", pa.string()),
        ("source_neuron", pa.int32()),
        ("target_layer", pa.string()),
        ("target_neuron", pa.int32()),
        ("weight", pa.float64()),
    ]
)
_GLOB_CHARACTERS = frozenset("*?[")
_DUMMY_SEED = 0


def output_tensor(output: object) -> torch.Tensor | None:
    """The tensor a module output stands for: itself, its ``logits``, or its first element."""
    if isinstance(output, torch.Tensor):
        return output
    logits = output.get(OUTPUT_LAYER) if isinstance(output, dict) else getattr(output, OUTPUT_LAYER, None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


@contextmanager
def capture_outputs(
    module: nn.Module,
    layers: Sequence[str],
    transform: Callable[[torch.Tensor], torch.Tensor] = lambda tensor: tensor,
) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that put ``transform(output)`` of each named submodule into the yielded dict.

    ``"logits"`` is skipped (callers take it from the return value). The hooks are removed on exit.
    """
    captured: dict[str, torch.Tensor] = {}
    modules = dict(module.named_modules())

    def hook_for(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            tensor = output_tensor(output)
            if tensor is not None:
                captured[name] = transform(tensor)

        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in layers if name != OUTPUT_LAYER]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def is_scripted(module: nn.Module) -> bool:
    """Whether ``module`` is a TorchScript model, whose submodules take no forward hooks (only ``logits`` is read)."""
    return isinstance(module, torch.jit.ScriptModule)


def list_layers(
    module: nn.Module, input_size: Sequence[int], *, size_from: str = "input_size"
) -> list[tuple[str, tuple[int, ...]]]:
    """Every submodule with a tensor output, and its output shape for one input, then ``logits``.

    Parameters
    ----------
    module : the model, in eval mode.
    input_size : (C, H, W) of one input.
    size_from : where ``input_size`` came from (a flag), named when the model refuses it.

    Returns
    -------
    ``[(name, shape)]`` in ``named_modules`` order, shapes without the batch dimension. Modules not
    called by ``forward`` are absent, and so are the submodules of a TorchScript model, which take
    no hooks: it lists ``logits`` alone.
    """
    names = [] if is_scripted(module) else [name for name, _ in module.named_modules() if name]
    with capture_outputs(module, names) as captured:
        output = _dummy_forward(module, input_size, size_from=size_from)
    shapes = [(name, tuple(captured[name].shape[1:])) for name in names if name in captured]
    return [*shapes, (OUTPUT_LAYER, tuple(output.shape[1:]))]


def resolve_layers(module: nn.Module, patterns: Sequence[str], *, flag: str = "--layers") -> list[str]:
    """Layer names matching exact names or globs (``"layer4.*"``, fnmatch), in first-match order.

    A glob's matches come in ``named_modules`` order; duplicates are dropped. ``"logits"`` is the
    model output. ``flag`` is the command-line option the messages name.

    Raises
    ------
    ValueError
        When ``patterns`` is empty, a name is unknown (the message lists close matches), a glob
        matches nothing, or a TorchScript model is asked for a layer other than ``logits``.
    """
    if isinstance(patterns, str) or not patterns:
        raise ValueError(f"layers must be a non-empty list of layer names or globs; got {patterns!r}")
    available = [name for name, _ in module.named_modules() if name] + [OUTPUT_LAYER]
    resolved: dict[str, None] = {}
    for pattern in patterns:
        if _GLOB_CHARACTERS & set(pattern):
            matches = [name for name in available if fnmatch.fnmatchcase(name, pattern)]
            if not matches:
                raise ValueError(f"{flag}: the glob {pattern!r} matches no layer; layers: {_summary(available)}")
        elif pattern in available:
            matches = [pattern]
        else:
            raise ValueError(
                f"{flag}: the model has no layer {pattern!r}; {did_you_mean(pattern, available)}"
                "`invert layers MODEL` lists every layer"
            )
        resolved.update(dict.fromkeys(matches))
    if is_scripted(module) and list(resolved) != [OUTPUT_LAYER]:
        raise ValueError(
            f"layers {[name for name in resolved if name != OUTPUT_LAYER]} cannot be read from a TorchScript "
            f"model (its submodules take no hooks): only {OUTPUT_LAYER!r} is available"
        )
    return list(resolved)


def check_forward(module: nn.Module, input_size: Sequence[int], *, size_from: str) -> None:
    """Run one input of ``input_size`` (C, H, W) through ``module``; ``size_from``, the flag that sets the
    size, is what the error names when the model refuses it.

    Raises
    ------
    ValueError
        One line: the flag, the shape, torch's reason and, when the model's first convolution takes
        other channels, how many.
    """
    _dummy_forward(module, input_size, size_from=size_from)


def to_neurons(
    output: torch.Tensor, reduce: Literal["mean", "max"], tokens: Literal["cls", "mean"]
) -> torch.Tensor:
    """Reduce a layer output ``[N, ...]`` to float32 neurons ``[N, K]`` (see the module docstring)."""
    output = output.float()
    if output.ndim == 1:
        return output[:, None]
    if output.ndim == 2:
        return output
    if output.ndim == 3:
        if tokens == "cls":
            return output[:, 0, :]
        elif tokens == "mean":
            return output.mean(dim=1)
        else:
            raise ValueError(f"tokens must be 'cls' or 'mean'; got {tokens!r}")
    spatial = output.flatten(start_dim=2)
    if reduce == "mean":
        return spatial.mean(dim=2)
    elif reduce == "max":
        return spatial.amax(dim=2)
    else:
        raise ValueError(f"reduce must be 'mean' or 'max'; got {reduce!r}")


def linear_influence(
    model: ModelSpec | LoadedModel, layers: Sequence[str], input_size: Sequence[int] | None = None
) -> pa.Table:
    """Weights of the ``nn.Linear`` layers that read a requested layer's neurons directly.

    One forward pass on a random input finds, for each ``nn.Linear``, whether its input equals a
    requested layer's output (possibly flattened: same number of elements, ``in_features`` equal to
    the layer's neuron count, e.g. a ``[1, C, 1, 1]`` pooled map). Dropout and identities in eval
    mode keep the values equal, so they are seen through.

    Parameters
    ----------
    model : a spec, or a model already loaded.
    layers : layer names or globs (see :func:`resolve_layers`).
    input_size : (C, H, W) of one input; default: the loaded model's.

    Returns
    -------
    Table with columns ``source_layer``, ``source_neuron`` (int32), ``target_layer`` (``"logits"``
    when the linear layer produces the model output, else its module name), ``target_neuron``
    (int32), ``weight`` (float64, ``linear.weight[target, source]``); one row per pair.
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    module = loaded.module
    sources = [name for name in resolve_layers(module, layers) if name != OUTPUT_LAYER]
    linears = {name: m for name, m in module.named_modules() if isinstance(m, nn.Linear)}
    linear_inputs: dict[str, torch.Tensor] = {}
    linear_outputs: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            linear_inputs[name], linear_outputs[name] = inputs[0], output

        return hook

    handles = [linear.register_forward_hook(hook_for(name)) for name, linear in linears.items()]
    try:
        with capture_outputs(module, sources) as source_outputs:
            model_output = _dummy_forward(module, input_size or loaded.input_size)
    finally:
        for handle in handles:
            handle.remove()

    columns: dict[str, list[np.ndarray]] = {field.name: [] for field in INFLUENCE_SCHEMA}
    for source in sources:
        if source not in source_outputs:
            continue
        source_output = source_outputs[source]
        n_neurons = to_neurons(source_output, "mean", "cls").shape[1]
        for name, linear in linears.items():
            if name not in linear_inputs or not _same_values(linear_inputs[name], source_output, n_neurons):
                continue
            is_output = _same_tensor(linear_outputs[name], model_output)
            weight = linear.weight.detach().double().cpu().numpy()  # [targets, sources]
            targets, source_neurons = np.meshgrid(
                np.arange(weight.shape[0], dtype=np.int32), np.arange(weight.shape[1], dtype=np.int32), indexing="ij"
            )
            columns["source_layer"].append(np.full(weight.size, source, dtype=object))
            columns["source_neuron"].append(source_neurons.reshape(-1))
            columns["target_layer"].append(np.full(weight.size, OUTPUT_LAYER if is_output else name, dtype=object))
            columns["target_neuron"].append(targets.reshape(-1))
            columns["weight"].append(weight.reshape(-1))
    arrays = [
        pa.array(np.concatenate(values) if values else [], type=field.type)
        for field, values in zip(INFLUENCE_SCHEMA, columns.values(), strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=INFLUENCE_SCHEMA)


def _same_values(linear_input: torch.Tensor, layer_output: torch.Tensor, n_neurons: int) -> bool:
    return (
        linear_input.numel() == layer_output.numel()
        and linear_input.shape[-1] == n_neurons
        and torch.equal(linear_input.reshape(-1), layer_output.reshape(-1))
    )


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a is b or (a.shape == b.shape and torch.equal(a, b))


def _dummy_forward(module: nn.Module, input_size: Sequence[int], *, size_from: str = "input_size") -> torch.Tensor:
    """Output tensor of the model for one random input ``[1, *input_size]`` (seeded, no grad); ``size_from``
    names where the size came from in the error."""
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(_DUMMY_SEED)
    dummy = torch.rand((1, *input_size), generator=generator).to(device)
    try:
        with torch.inference_mode():
            output = output_tensor(module(dummy))
    except RuntimeError as error:
        raise ValueError(
            f"{size_from}: the model fails on one input of shape {tuple(dummy.shape)} "
            f"({str(error).splitlines()[0]}){_channels_hint(module, input_size)}; pass the (C, H, W) of one input "
            "the model takes"
        ) from error
    if output is None:
        raise ValueError(
            f"the model returned no tensor (nor a 'logits' entry or a tuple starting with a tensor) for an "
            f"input of shape {tuple(dummy.shape)}"
        )
    return output


def _channels_hint(module: nn.Module, input_size: Sequence[int]) -> str:
    """``"; its first convolution 'conv' takes 3 channels"`` when it takes other channels than ``input_size``'s."""
    for name, layer in module.named_modules():
        if isinstance(layer, nn.modules.conv._ConvNd):
            if layer.in_channels == input_size[0]:
                return ""
            return f"; its first convolution {name!r} takes {layer.in_channels} channels, not {input_size[0]}"
    return ""


def _summary(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
