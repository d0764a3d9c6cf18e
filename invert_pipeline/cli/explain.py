"""``invert explain``: run the pipeline on any dataset, model and layers.

The dataset, model, search and extraction options map one to one onto the fields of the specs in
:mod:`invert_pipeline.specs`; options left out keep the spec's default. ``invert serve`` reuses them
as the parameters of its deployments.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from invert_core.parameters import SEARCH_PARAMETERS

from invert_pipeline.cli import layer_options
from invert_pipeline.cli.locations import add_workspace_option
from invert_pipeline.cli.prefect_settings import foreground_runs
from invert_pipeline.cli.summary import (
    print_next_commands,
    print_significant_per_layer,
    print_spurious_findings,
    shown_path,
)
from invert_pipeline.model_sources import imported_modules
from invert_pipeline.runners import RUNNER_NAMES
from invert_pipeline.specs import DatasetSpec, ExtractionParams, ModelSpec, SearchParams
from invert_pipeline.workspace import top_module_in

# (flag, spec field, argparse options) per spec; flags left out keep the spec's default.
DATASET_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--dataset", "path", {"help": "hub name, Parquet file/folder, image folder or save_to_disk folder "
                                   "(default: the embedded Fashion-MNIST test split)"}),
    ("--dataset-config", "name", {"help": "dataset configuration name on the hub"}),
    ("--split", "split", {"help": "split to use (default: test)"}),
    ("--limit", "limit", {"type": int, "help": "keep at most this many samples (seeded random subset)"}),
    ("--first", "first", {"type": int, "help": "keep the first this many samples (instead of --limit's random ones)"}),
    ("--dataset-seed", "seed", {"type": int, "help": "seed of the --limit subset"}),
    ("--image-column", "image_column", {"help": "image column (default: found from the features)"}),
    ("--label-column", "label_column", {"help": "class label column (default: found from the features)"}),
    ("--hierarchy", "hierarchy", {"help": "'wordnet' or a CSV/JSON parent map (child -> parent)"}),
    ("--attribute-column", "attribute_columns", {"action": "append", "help": "boolean or list-of-names column "
                                                                          "used as concepts (repeatable)"}),
    ("--annotations", "annotations", {"action": "append", "help": "Parquet/CSV of sample_id, concept (repeatable)"}),
    ("--min-positives", "min_positives", {"type": int, "help": "drop concepts with fewer positives"}),
    ("--class-names", "class_names", {"nargs": "+", "help": "the class names by class index (the model's output "
                                                        "order), or a file of them (one per line, a JSON list or "
                                                        "a JSON object index -> name); default: the label "
                                                        "column's ClassLabel names"}),
)
MODEL_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--model", "source", {"help": "torchvision architecture, TorchScript file, or import path 'pkg.module:factory' "
                                   "of a function called with no arguments that returns the torch.nn.Module"}),
    ("--weights", "weights", {"help": "checkpoint (state dict) or torchvision weights enum name, read from the torch "
                                      "hub cache (nothing is downloaded); without it the weights are a random "
                                      "initialisation, with a warning"}),
    ("--model-name", "name", {"help": "name recorded in the warehouse"}),
    ("--model-version", "version", {"help": "version recorded in the warehouse"}),
    ("--preprocess", "preprocess", {"help": "import path 'pkg.module:factory' of a function called with no "
                                            "arguments that returns a function PIL image -> float tensor [C, H, W] "
                                            "(default: the weights' own transforms, else grayscale/RGB, resize to "
                                            "--input-size, scale to [0, 1])"}),
    ("--input-size", "input_size", {"type": int, "nargs": 3, "metavar": ("C", "H", "W"),
                                    "help": "size of one input (default: the weights' crop, the module's input_size "
                                            "attribute, or the shape --preprocess gives)"}),
)
# Search flags come from invert_core's one definition of each parameter, plus the pipeline's own.
_SEARCH_FLAGS = {"seed": "--search-seed"}
SEARCH_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = tuple(
    (_SEARCH_FLAGS.get(parameter.name, "--" + parameter.name.replace("_", "-")), parameter.name,
     {"help": parameter.help if parameter.optional else
      f"{parameter.help} (default {SearchParams.model_fields[parameter.name].default})",
      **({"choices": parameter.choices} if parameter.choices else {"type": parameter.kind})})
    for parameter in SEARCH_PARAMETERS
) + (
    ("--search-device", "device", {"help": "torch device of the search: auto (cuda where present, else cpu; the default), cpu, cuda"}),
    ("--top-k", "top_k", {"type": int, "help": "ranks kept per neuron (default 10)"}),
    ("--neuron-chunk", "neuron_chunk", {"type": int, "help": "neurons per search task (default: whole layer)"}),
    ("--memory-budget", "memory_budget", {"help": "memory a search task's working arrays may use, such as 512MiB "
                                                  "(default 1GiB): a smaller budget scores fewer neurons at once, "
                                                  "with the same result"}),
)
EXTRACTION_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--reduce", "reduce", {"choices": ("mean", "max"), "help": "reduction of conv maps over H, W"}),
    ("--tokens", "tokens", {"choices": ("cls", "mean"), "help": "reduction of token outputs"}),
    ("--batch-size", "batch_size", {"type": int, "help": "images per forward pass (default 256)"}),
    ("--device", "device", {"help": "extraction device: auto, cpu, cuda, mps (default auto)"}),
    ("--autocast", "autocast", {"choices": ("bf16", "fp16"), "help": "autocast on GPU"}),
    ("--num-workers", "num_workers", {"type": int, "help": "DataLoader workers"}),
    ("--shard-size", "shard_size", {"type": int, "help": "samples per extraction task (default: one task)"}),
)
_GROUPS = (
    ("dataset", DatasetSpec, DATASET_OPTIONS),
    ("model", ModelSpec, MODEL_OPTIONS),
    ("search", SearchParams, SEARCH_OPTIONS),
    ("extraction", ExtractionParams, EXTRACTION_OPTIONS),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain the neurons of any model's layers on any dataset",
        description="Run the whole pipeline (dataset -> activations -> INVERT search -> warehouse -> report) "
        "as the Prefect flow explain_model. Unchanged inputs are cache hits. The dataset, model, layers, input size "
        "and LAYER=VALUE options are checked before Prefect starts: a mistake ends in one line naming the flag.",
    )
    add_pipeline_arguments(parser, model_required=True)
    parser.set_defaults(handler=run_explain)


def add_pipeline_arguments(parser: argparse.ArgumentParser, *, model_required: bool) -> None:
    """The spec options, ``--layers``, ``--workspace``, ``--runner`` and ``--dask-address``."""
    for title, _, options in _GROUPS:
        group = parser.add_argument_group(title, layer_options.DESCRIPTION if title == "search" else None)
        for flag, field, kwargs in options:
            required = model_required and flag == "--model"
            if title == "search":
                kwargs = layer_options.per_layer_argument(flag, kwargs)
            elif "choices" not in kwargs:
                kwargs = {"metavar": flag.lstrip("-").replace("-", "_").upper(), **kwargs}
            group.add_argument(flag, dest=f"{title}__{field}", default=None, required=required, **kwargs)
    parser.add_argument("--layers", nargs="+", required=model_required, metavar="LAYER",
                        help="layer names or globs ('features.*'); 'logits' is the model output")
    add_workspace_option(parser)
    parser.add_argument("--runner", choices=RUNNER_NAMES, default="local",
                        help="'local': a thread per core; 'dask': a Dask cluster (default %(default)s)")
    parser.add_argument("--dask-address", default=None, help="scheduler address of an existing Dask cluster")


def flow_parameters(
    args: argparse.Namespace, *, defaults: dict[str, BaseModel] | None = None, layers: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``explain_model`` parameters the options describe, validated, as JSON values.

    ``defaults`` maps a group (``"dataset"``, ``"model"``, ``"search"``, ``"extraction"``) to the spec
    its options update (else the spec class's defaults); ``layers`` applies when ``--layers`` is absent.

    Raises
    ------
    ValueError
        One line per invalid option, naming the option, what it received and why it is refused.
    """
    defaults = defaults or {}
    parameters: dict[str, Any] = {}
    for title, spec_class, options in _GROUPS:
        given = {field: getattr(args, f"{title}__{field}") for _, field, _ in options}
        given = {field: value for field, value in given.items() if value is not None}
        if title == "search":
            given = layer_options.split_layer_values(given)
        if title in defaults:
            given = {**defaults[title].model_dump(exclude_defaults=True), **given}
        elif title == "dataset" and not given:
            continue  # explain_model's default dataset
        elif title == "dataset" and "path" not in given:
            given = {**_default_dataset(given), **given}
        if title == "search":
            _check_layer_values(given, options)
        parameters[title] = validated_spec(spec_class, given, options).model_dump(mode="json")
    if not (args.layers or layers):
        raise ValueError("--layers is required: name the layers to explain (`invert layers MODEL` lists them)")
    parameters.update(layers=list(args.layers or layers), workspace=str(Path(args.workspace).expanduser().resolve()),
                      runner=args.runner, dask_address=args.dask_address)
    if args.dask_address is not None and args.runner != "dask":
        raise ValueError(f"--dask-address {args.dask_address!r} needs --runner dask")
    return _with_absolute_paths(parameters)


def _with_absolute_paths(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with every local file or folder their model and dataset name made absolute, so that a flow
    run or a Dask worker started in another folder reads the same files, and with the current folder as the
    model's ``code_folder`` when a module its import paths name lies there (:func:`with_code_folder`). A value
    naming no local file or folder (a hub dataset, a torchvision weights name, an import path, a mistyped path
    the checks will name) stays."""
    model = {**parameters["model"], **{field: _absolute(parameters["model"][field]) for field in ("source", "weights")}}
    model = with_code_folder(ModelSpec(**model)).model_dump(mode="json")
    travelling = {**parameters, "model": model}
    if "dataset" in parameters:
        dataset = parameters["dataset"]
        travelling["dataset"] = {**dataset, "path": _absolute(dataset["path"]), "hierarchy": _absolute(dataset["hierarchy"]),
                                 "annotations": [_absolute(path) for path in dataset["annotations"]]}
    return travelling


def with_code_folder(model: ModelSpec) -> ModelSpec:
    """``model`` with the current folder (absolute) as its ``code_folder`` when an import path it names (``--model``,
    ``--preprocess``) is the user's code there (:func:`_code_here`): every process that loads the model, a Dask
    worker started elsewhere too, then imports it from that folder."""
    here = Path.cwd()
    if any(_code_here(name, here) for name in imported_modules(model)):
        return model.model_copy(update={"code_folder": str(here)})
    return model


def _code_here(module: str, here: Path) -> bool:
    """Whether the top-level module or package of ``module`` lies in ``here`` and this process would import it
    from there, if at all (not a package installed elsewhere that happens to share its name with a folder here)."""
    found = top_module_in(module, here)
    if found is None:
        return False
    imported = importlib.util.find_spec(module.split(".", 1)[0])  # a top-level name: imports nothing
    if imported is None:
        return True
    return imported.origin is not None and Path(imported.origin).resolve() == Path(found.origin).resolve()


def _absolute(value: str | None) -> str | None:
    """``value`` as an absolute path when it names a local file or folder; otherwise as given."""
    if value is None or not Path(value).expanduser().exists():
        return value
    return str(Path(value).expanduser().resolve())


def _check_layer_values(given: dict[str, Any], options) -> None:
    """Validate the search options of each layer that has its own, naming the flags and the layer."""
    for_every_layer = {field: value for field, value in given.items() if field != "per_layer"}
    for layer, values in given.get("per_layer", {}).items():
        try:
            validated_spec(SearchParams, {**for_every_layer, **values}, options)
        except ValueError as error:
            raise ValueError(f"{error} (the search options for layer {layer!r}, given as {layer}=VALUE)") from None


def _default_dataset(given: dict[str, Any]) -> dict[str, Any]:
    """The fields of the shipped Fashion-MNIST split (``--split``, default test) that options without --dataset apply to."""
    from invert_pipeline.datasets import fashion_mnist_spec

    split = given.get("split", DatasetSpec.model_fields["split"].default)
    return fashion_mnist_spec(split).model_dump(exclude_defaults=True)


def quiet_tracebacks() -> None:
    """Show flow and task errors in the terminal once, as one line: the command prints the error a failed flow
    ends with, so Prefect's records that repeat it are left out, and the others lose their tracebacks. All of
    them still reach the Prefect API.

    Changes the root logger's handlers for the rest of the command; :func:`invert_pipeline.cli.main`
    puts them back when the command returns.
    """
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_WithoutTraceback(handler.formatter or logging.Formatter()))
        handler.addFilter(_not_a_repeated_failure)


# How Prefect's run loggers repeat the exception a task or flow run failed with.
_REPEATED_FAILURE = ("Finished in state Failed(", "Finished in state Crashed(", "Encountered exception during execution")


def _not_a_repeated_failure(record: logging.LogRecord) -> bool:
    """False for a Prefect record that repeats the error a failed run ends with (printed once by the command)."""
    return not (record.name.startswith("prefect") and record.getMessage().startswith(_REPEATED_FAILURE))


def checked_flow_parameters(args: argparse.Namespace, **options: Any) -> dict[str, Any]:
    """:func:`flow_parameters` (``options`` are its keyword arguments), once everything they name that can be
    checked without running the pipeline is (:mod:`invert_pipeline.cli.preflight`): before Prefect starts."""
    from invert_pipeline.cli.preflight import check_explain

    parameters = flow_parameters(args, **options)
    check_explain(
        ModelSpec(**parameters["model"]), parameters["layers"],
        DatasetSpec(**parameters["dataset"]) if "dataset" in parameters else None, SearchParams(**parameters["search"]),
    )
    return parameters


def run_explain(args: argparse.Namespace) -> int:
    parameters = checked_flow_parameters(args)
    from flows.explain_model import explain_model
    from invert_pipeline.findings import previous_version

    if not args.debug:
        quiet_tracebacks()
    with foreground_runs():
        result = explain_model(**parameters)
    db_path = Path(result["warehouse"])
    runs = {"this run": result["run_id"]}
    print(f"run {result['run_id']}")
    print_significant_per_layer(db_path, runs)
    print_spurious_findings(db_path, runs)
    print("\nWhere the results are")
    for name in ("manifest", "warehouse", "report"):
        print(f"  {name:<10} {shown_path(result[name])}")
    print_next_commands(args.workspace, result["run_id"], compare_with=previous_version(db_path, result["run_id"]))
    return 0


def validated_spec(spec_class: type[BaseModel], given: dict[str, Any], options) -> BaseModel:
    """``spec_class(**given)``, its validation errors as one line naming the command-line flags."""
    flags = {field: flag for flag, field, _ in options}
    try:
        return spec_class(**given)
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            if not detail["loc"]:  # a rule across fields: its message says which
                problems.append(detail["msg"].removeprefix("Value error, "))
                continue
            field = str(detail["loc"][0])
            where = flags.get(field, spec_class.__name__)
            received = f" (got {detail['input']!r})" if field in given else ""
            problems.append(f"{where}: {detail['msg']}{received}")
        raise ValueError("; ".join(problems)) from None


class _WithoutTraceback(logging.Formatter):
    """Formats through ``inner`` without the exception's traceback (the record itself is left as is)."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return self.inner.format(record)
