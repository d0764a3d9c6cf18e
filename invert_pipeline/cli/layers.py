"""``invert layers MODEL``: the layers of a model with their output shapes and neuron counts.

Prints one line per submodule that the forward pass calls, in definition order, and ``logits`` (the
model output) last, for one input of the model's input size. These are the names ``--layers``
accepts (exactly or as globs).
"""

from __future__ import annotations

import argparse

from invert_pipeline.cli.explain import MODEL_OPTIONS, with_code_folder
from invert_pipeline.specs import ModelSpec


SCRIPTED_NOTE = (
    "{model} is a TorchScript file: its submodules take no forward hooks, so only logits can be listed and "
    "explained. To explain inner layers, pass the architecture instead (--model pkg.module:factory or a "
    "torchvision name) with --weights a state dict saved by torch.save(model.state_dict(), path)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "layers",
        help="list a model's layers with their output shapes",
        description="List the layers of MODEL (a torchvision architecture, an import path 'pkg.module:factory' "
        "or a TorchScript file) with their output shapes for one input, and their number of neurons.",
    )
    parser.add_argument("model", metavar="MODEL", help="torchvision architecture, 'pkg.module:factory' or TorchScript file")
    for flag, field, kwargs in MODEL_OPTIONS:
        if field != "source":
            parser.add_argument(flag, dest=field, default=None, **kwargs)
    parser.add_argument("--match", nargs="+", metavar="LAYER", help="only these layer names or globs ('layer4.*')")
    parser.set_defaults(handler=run_layers)


def run_layers(args: argparse.Namespace) -> int:
    from invert_pipeline.cli.preflight import size_flag
    from invert_pipeline.layers import is_scripted, list_layers, resolve_layers
    from invert_pipeline.models import load_model

    fields = ("weights", "name", "version", "preprocess", "input_size")
    spec = with_code_folder(
        ModelSpec(source=args.model, **{field: getattr(args, field) for field in fields if getattr(args, field)})
    )
    loaded = load_model(spec)
    layers = list_layers(loaded.module, loaded.input_size, size_from=size_flag(spec))
    if args.match:
        wanted = set(resolve_layers(loaded.module, args.match, flag="--match"))
        layers = [(name, shape) for name, shape in layers if name in wanted]
    rows = [(name, "x".join(map(str, shape)) or "scalar", str(neuron_count(shape))) for name, shape in layers]
    print(f"{loaded.name} (version {loaded.version}, weights {loaded.fingerprint[:12]}), "
          f"input {'x'.join(map(str, loaded.input_size))}")
    widths = [max(len(row[i]) for row in [("layer", "output shape", "neurons"), *rows]) for i in range(3)]
    for row in [("layer", "output shape", "neurons"), *rows]:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}")
    if is_scripted(loaded.module):
        print(SCRIPTED_NOTE.format(model=args.model))
    return 0


def neuron_count(shape: tuple[int, ...]) -> int:
    """Neurons of a layer whose output for one sample has ``shape`` (see ``layers.to_neurons``)."""
    import torch

    from invert_pipeline.layers import to_neurons

    return to_neurons(torch.empty((1, *shape), device="meta"), "mean", "cls").shape[1]
