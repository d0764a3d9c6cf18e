"""``invert serve`` (the deployments of explain_model) and ``invert notify-retrained`` (their event)."""

from __future__ import annotations

import argparse
from pathlib import Path

from invert_pipeline.cli.explain import (
    MODEL_OPTIONS,
    add_pipeline_arguments,
    checked_flow_parameters,
    quiet_tracebacks,
    validated_spec,
)
from invert_pipeline.specs import ModelChanges, RetrainedWeights

# The model spec fields a retrain event may change, each only when stated (--new-...).
CHANGEABLE_FIELDS = tuple(ModelChanges.model_fields)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve explain_model on a cron schedule and on model.retrained events",
        description="Register two deployments of explain_model with the Prefect server at PREFECT_API_URL "
        "(NAME-scheduled-served on --cron, NAME-on-retrain-served on each model.retrained event of the served "
        "model) and run their flow runs in this process until interrupted. The options are the deployments' "
        "default parameters; without --model they are the embedded demo's (the Fashion-MNIST CNN v2 on the "
        "watermarked probe set, model name fashion-cnn). The work-pool deployments of deployments/prefect.yaml "
        "(NAME-...-work-pool) are separate: serving never changes or pauses them.",
    )
    add_pipeline_arguments(serve, model_required=False)
    serve.add_argument("--cron", default=None, help="cron schedule, five fields, UTC (default: '0 3 * * *')")
    serve.add_argument("--name", default=None, help="deployment name prefix (default: explain-model)")
    serve.set_defaults(handler=run_serve)

    notify = subparsers.add_parser(
        "notify-retrained",
        help="emit a model.retrained event (after training) so the served deployment explains the new weights",
        description="Send a model.retrained event for the model --model to the Prefect server at PREFECT_API_URL. "
        "It brings new weights, not a new model: the on-retrain deployment of that model runs explain_model with "
        "its own model spec, --checkpoint as the weights and --version as the version, so name, layers, "
        "preprocessing and input size stay. A change of architecture or preprocessing must be stated with "
        "--new-architecture, --new-preprocess or --new-input-size; the run reports it.",
    )
    notify.add_argument("--model", required=True, metavar="MODEL",
                        help="the model the deployment explains: its --model-name, else its --model source")
    notify.add_argument("--checkpoint", required=True, help="the new checkpoint (state dict) of the model")
    notify.add_argument("--version", required=True, help="the version of the new weights (recorded in the warehouse)")
    notify.add_argument("--follows", default=None, metavar="RUN_ID",
                        help="the run that explained the weights these replace (default: the latest earlier "
                        "version in the warehouse); the run's summary says what changed since it")
    notify.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE",
                        help="shown with the run, for example the training job (repeatable)")
    for flag, field, kwargs in MODEL_OPTIONS:
        if field in CHANGEABLE_FIELDS:
            notify.add_argument(_change_flag(flag), dest=f"new_{field}", default=None,
                                **{"metavar": field.upper(), **kwargs, "help": f"stated change: {kwargs['help']}"})
    notify.set_defaults(handler=run_notify_retrained)


def run_serve(args: argparse.Namespace) -> int:
    if args.model__source is None:
        from invert_pipeline.demo.probe import probe_spec
        from invert_pipeline.demo.specs import DEMO_LAYERS, DEMO_SEARCH, model_spec

        demo = {"model": model_spec("v2"), "dataset": probe_spec(), "search": DEMO_SEARCH}
        parameters = checked_flow_parameters(args, defaults=demo, layers=DEMO_LAYERS)
    else:
        parameters = checked_flow_parameters(args)
    from prefect import serve

    from flows.serving import DEFAULT_CRON, DEFAULT_DEPLOYMENT_NAME, build_deployments

    if not args.debug:
        quiet_tracebacks()
    deployments = build_deployments(
        parameters, cron=args.cron or DEFAULT_CRON, name=args.name or DEFAULT_DEPLOYMENT_NAME
    )
    serve(*deployments)
    return 0


def run_notify_retrained(args: argparse.Namespace) -> int:
    from invert_pipeline.events import emit_model_retrained

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint!r} is not a file: pass the checkpoint training wrote")
    changes = {field: getattr(args, f"new_{field}") for field in CHANGEABLE_FIELDS}
    retrained = {
        # The flow run may start in another folder: the event names the checkpoint by its absolute path.
        "checkpoint": str(checkpoint.resolve()),
        "version": args.version,
        "metadata": _metadata(args.metadata),
        "changes": {field: value for field, value in changes.items() if value is not None},
        "follows": args.follows,
    }
    event = emit_model_retrained(args.model, validated_spec(RetrainedWeights, retrained, ()))
    print(f"emitted {event.event} for {event.resource.id} (event {event.id})")
    return 0


def _change_flag(flag: str) -> str:
    """``--model`` -> ``--new-architecture``; ``--preprocess`` -> ``--new-preprocess``."""
    return "--new-architecture" if flag == "--model" else f"--new-{flag.removeprefix('--')}"


def _metadata(pairs: list[str]) -> dict[str, str]:
    """``["job=42", "data=2024-05"]`` -> ``{"job": "42", "data": "2024-05"}``."""
    refused = [pair for pair in pairs if "=" not in pair]
    if refused:
        raise ValueError(f"--metadata takes KEY=VALUE; got {refused[0]!r}")
    return dict(pair.split("=", 1) for pair in pairs)
