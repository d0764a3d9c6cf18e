"""``explain_model`` as deployments: on a cron schedule, and whenever a model is retrained.

A training job announces new weights with a ``model.retrained`` event whose payload holds the
model spec (``model``, as JSON, with ``weights`` the new checkpoint) and the checkpoint
(``checkpoint``); :func:`emit_model_retrained` sends it (``invert notify-retrained``). The
``on-retrain`` deployment's trigger passes ``event.payload.model`` as the run's ``model``; every
other parameter comes from the deployment. Its resource is ``invert.model.<name>``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger, Event
from prefect.events.clients import get_events_client
from prefect.settings import PREFECT_API_URL

from flows.explain import explain_model
from invert_pipeline.specs import ModelSpec

MODEL_RETRAINED = "model.retrained"
MODEL_RESOURCE_PREFIX = "invert.model."
DEFAULT_CRON = "0 3 * * *"
DEFAULT_DEPLOYMENT_NAME = "explain-model"


def retrained_trigger() -> DeploymentEventTrigger:
    """Run the deployment on every ``model.retrained`` event, with the event's model spec as ``model``."""
    return DeploymentEventTrigger(
        name="explain the retrained model",
        expect={MODEL_RETRAINED},
        match={"prefect.resource.id": f"{MODEL_RESOURCE_PREFIX}*"},
        parameters={"model": "{{ event.payload.model }}"},
    )


def build_deployments(
    parameters: dict[str, Any], *, cron: str = DEFAULT_CRON, name: str = DEFAULT_DEPLOYMENT_NAME
) -> list[RunnerDeployment]:
    """Two deployments of ``explain_model`` with the same default ``parameters`` (JSON values).

    ``<name>-scheduled`` runs on ``cron`` (standard five fields, server time zone UTC);
    ``<name>-on-retrain`` runs on each ``model.retrained`` event (:func:`retrained_trigger`).
    Flow runs import ``flows.explain`` as a module (the installed package), from any folder.
    """
    scheduled = explain_model.to_deployment(
        name=f"{name}-scheduled",
        entrypoint_type=EntrypointType.MODULE_PATH,
        cron=cron,
        parameters=parameters,
        tags=["invert", "scheduled"],
        description="Explain the model's neurons on a schedule; unchanged inputs are cache hits.",
    )
    on_retrain = explain_model.to_deployment(
        name=f"{name}-on-retrain",
        entrypoint_type=EntrypointType.MODULE_PATH,
        triggers=[retrained_trigger()],
        parameters=parameters,
        tags=["invert", "retrained"],
        description=f"Explain a model whenever a {MODEL_RETRAINED!r} event announces new weights.",
    )
    return [scheduled, on_retrain]


def model_retrained_event(model: ModelSpec) -> Event:
    """The ``model.retrained`` event for ``model`` (whose ``weights`` is the new checkpoint)."""
    if model.weights is None:
        raise ValueError("model.weights must name the new checkpoint of a model.retrained event; got None")
    label = model.label
    return Event(
        event=MODEL_RETRAINED,
        resource={"prefect.resource.id": f"{MODEL_RESOURCE_PREFIX}{label}", "prefect.resource.name": label},
        payload={"model": model.model_dump(mode="json"), "checkpoint": model.weights},
    )


def emit_model_retrained(model: ModelSpec) -> Event:
    """Send the ``model.retrained`` event to the Prefect server at ``PREFECT_API_URL`` and wait until it is sent.

    Raises
    ------
    RuntimeError
        When ``PREFECT_API_URL`` is not set (an event needs a running server to trigger anything).
    """
    if not PREFECT_API_URL.value():
        raise RuntimeError(
            "PREFECT_API_URL is not set: start a Prefect server (`prefect server start`) and "
            "set PREFECT_API_URL=http://127.0.0.1:4200/api (your server's address)"
        )
    event = model_retrained_event(model)
    asyncio.run(_send(event))
    return event


async def _send(event: Event) -> None:
    async with get_events_client(reconnection_attempts=2) as client:
        await client.emit(event)
