"""``invert serve`` (the deployments of explain_model) and ``invert notify-retrained`` (their event)."""

from __future__ import annotations

import argparse

from pathlib import Path

from invert_pipeline.cli.explain import (
    MODEL_OPTIONS,
    add_pipeline_arguments,
    flow_parameters,
    quiet_tracebacks,
    validated_spec,
)
from invert_pipeline.specs import ModelSpec


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve explain_model on a cron schedule and on model.retrained events",
        description="Register two deployments of explain_model with the Prefect server at PREFECT_API_URL "
        "(NAME-scheduled on --cron, NAME-on-retrain on each model.retrained event) and run their flow runs "
        "in this process until interrupted. The options are the deployments' default parameters; without "
        "--model they are the embedded demo's (the Fashion-MNIST CNN v2 on the watermarked probe set).",
    )
    add_pipeline_arguments(serve, model_required=False)
    serve.add_argument("--cron", default=None, help="cron schedule, five fields, UTC (default: '0 3 * * *')")
    serve.add_argument("--name", default=None, help="deployment name prefix (default: explain-model)")
    serve.set_defaults(handler=run_serve)

    notify = subparsers.add_parser(
        "notify-retrained",
        help="emit a model.retrained event (after training) so the served deployment explains the new weights",
        description="Send a model.retrained event to the Prefect server at PREFECT_API_URL. Its payload holds the "
        "model spec with --checkpoint as its weights; the on-retrain deployment runs explain_model with it.",
    )
    for flag, field, kwargs in MODEL_OPTIONS:
        if field != "weights":
            notify.add_argument(flag, dest=field, required=flag == "--model", **kwargs)
    notify.add_argument("--checkpoint", required=True, help="the new checkpoint (state dict) of the model")
    notify.set_defaults(handler=run_notify_retrained)


def run_serve(args: argparse.Namespace) -> int:
    if args.model__source is None:
        from invert_pipeline.demo.probe import probe_spec
        from invert_pipeline.demo.specs import DEMO_LAYERS, DEMO_SEARCH, model_spec

        demo = {"model": model_spec("v2"), "dataset": probe_spec(), "search": DEMO_SEARCH}
        parameters = flow_parameters(args, defaults=demo, layers=DEMO_LAYERS)
    else:
        parameters = flow_parameters(args)
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
    from flows.serving import emit_model_retrained

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint!r} is not a file: pass the checkpoint training wrote")
    given = {field: getattr(args, field) for _, field, _ in MODEL_OPTIONS if field != "weights"}
    given = {field: value for field, value in given.items() if value is not None}
    # The flow run may start in another folder: the event names the checkpoint by its absolute path.
    model = validated_spec(ModelSpec, {**given, "weights": str(checkpoint.resolve())}, MODEL_OPTIONS)
    event = emit_model_retrained(model)
    print(f"emitted {event.event} for {event.resource.id} (event {event.id})")
    return 0
