"""The Prefect events of the pipeline and the resource that names a model in them.

- ``model.retrained``: a training job brings new weights (``invert notify-retrained``); the
  on-retrain deployments of the model run on it.
- ``invert.model.regressed``: a run of a new version of the model found a regression against the
  previous version (:mod:`invert_pipeline.regression`); ``deployments/regression-automation.yaml``
  reacts to it.

Both name the model by the resource ``invert.model.<label>`` (the label of its model spec: its
name, else its source). :func:`emit_model_retrained` sends ``model.retrained``; it imports Prefect
only when called, so that a training job (``invert_pipeline.demo.train``) can import this module
without the pipeline. Any producer may send ``model.retrained``, so the flow takes its payload as it
came and checks it with :func:`retrained_from_payload`: a malformed payload fails the flow run with a
message naming the event's field, rather than the automation failing where only the Event Feed shows it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.events import Event

    from invert_pipeline.specs import RetrainedWeights

MODEL_RETRAINED = "model.retrained"
MODEL_REGRESSED = "invert.model.regressed"
MODEL_RESOURCE_PREFIX = "invert.model."


def model_resource(model_label: str) -> str:
    """The resource id of a model in the pipeline's events: ``invert.model.<label>``."""
    return f"{MODEL_RESOURCE_PREFIX}{model_label}"


def retrained_from_payload(payload: RetrainedWeights | dict[str, Any]) -> RetrainedWeights:
    """The :class:`~invert_pipeline.specs.RetrainedWeights` a ``model.retrained`` event's ``payload`` (a JSON
    object) holds; ``payload`` itself when it is one already.

    Raises
    ------
    ValueError
        One message naming every malformed field as ``payload.<field>``, and how to send a checked event.
    """
    from pydantic import ValidationError

    from invert_pipeline.specs import RetrainedWeights

    if isinstance(payload, RetrainedWeights):
        return payload
    if not isinstance(payload, dict):
        raise ValueError(f"the {MODEL_RETRAINED} event's payload must be a JSON object, got {payload!r}")
    try:
        return RetrainedWeights.model_validate(payload)
    except ValidationError as error:
        problems = "; ".join(_field_problem(problem) for problem in error.errors())
    raise ValueError(
        f"the {MODEL_RETRAINED} event's payload is malformed: {problems}. Send the event with "
        "`invert notify-retrained --model NAME --checkpoint PATH --version LABEL`, which checks every field"
    )


def _field_problem(problem: dict) -> str:
    """One pydantic error as ``payload.<field>: <what is wrong>``."""
    field = ".".join(["payload", *map(str, problem["loc"])])
    if problem["type"] == "missing":
        return f"{field} is missing"
    if problem["type"] == "extra_forbidden":
        return f"{field} is not a field of the event"
    return f"{field}: {problem['msg'][0].lower()}{problem['msg'][1:]}, got {problem['input']!r}"


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
    require_server()
    event = model_retrained_event(model_label, retrained)
    asyncio.run(_send(event))
    return event


def require_server() -> str:
    """The Prefect API URL in ``PREFECT_API_URL``; a ``RuntimeError`` saying how to set it when it is not set (an
    event, or an automation, needs a running server: Prefect's temporary one would be gone with the command)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise RuntimeError(
            "PREFECT_API_URL is not set: start a Prefect server (`prefect server start`) and "
            "set PREFECT_API_URL=http://127.0.0.1:4200/api (your server's address)"
        )
    return url


async def _send(event: Event) -> None:
    from prefect.events.clients import get_events_client

    async with get_events_client(reconnection_attempts=2) as client:
        await client.emit(event)
