"""The Prefect events of the pipeline and the resource that names a model in them.

- ``model.retrained``: a training job brings new weights (``invert notify-retrained``); the
  on-retrain deployments of the model run on it.
- ``invert.model.regressed``: a run of a new version of the model found a regression against the
  previous version (:mod:`invert_pipeline.regression`); ``deployments/regression-automation.yaml``
  reacts to it.

Both name the model by the resource ``invert.model.<label>`` (the label of its model spec: its
name, else its source). :func:`emit_model_retrained` sends ``model.retrained``; it imports Prefect
only when called, so that a training job (``invert_pipeline.demo.train``) can import this module
without the pipeline.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.events import Event

    from invert_pipeline.specs import RetrainedWeights

MODEL_RETRAINED = "model.retrained"
MODEL_REGRESSED = "invert.model.regressed"
MODEL_RESOURCE_PREFIX = "invert.model."


def model_resource(model_label: str) -> str:
    """The resource id of a model in the pipeline's events: ``invert.model.<label>``."""
    return f"{MODEL_RESOURCE_PREFIX}{model_label}"


def model_retrained_event(model_label: str, retrained: RetrainedWeights) -> Event:
    """The ``model.retrained`` event bringing ``retrained`` to the model labelled ``model_label``.

    The payload keeps only the fields given (so an unstated change stays unstated).
    """
    from prefect.events import Event

    return Event(
        event=MODEL_RETRAINED,
        resource={"prefect.resource.id": model_resource(model_label), "prefect.resource.name": model_label},
        payload=retrained.model_dump(mode="json", exclude_unset=True),
    )


def emit_model_retrained(model_label: str, retrained: RetrainedWeights) -> Event:
    """Send the ``model.retrained`` event to the Prefect server at ``PREFECT_API_URL`` and wait until it is sent.

    Raises
    ------
    RuntimeError
        When ``PREFECT_API_URL`` is not set (an event needs a running server to trigger anything).
    """
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise RuntimeError(
            "PREFECT_API_URL is not set: start a Prefect server (`prefect server start`) and "
            "set PREFECT_API_URL=http://127.0.0.1:4200/api (your server's address)"
        )
    event = model_retrained_event(model_label, retrained)
    asyncio.run(_send(event))
    return event


async def _send(event: Event) -> None:
    from prefect.events.clients import get_events_client

    async with get_events_client(reconnection_attempts=2) as client:
        await client.emit(event)
