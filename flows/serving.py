"""``explain_model`` as deployments: on a cron schedule, and whenever a model is retrained.

A training job announces new weights with a ``model.retrained`` event (:func:`invert_pipeline.events.emit_model_retrained`,
``invert notify-retrained``). Its resource ``invert.model.<label>`` names the model a deployment
explains (the label of its model spec: its name, else its source), and its payload is a
:class:`~invert_pipeline.specs.RetrainedWeights`: the new checkpoint, a version, optional metadata
and any explicitly stated change of architecture or preprocessing. The ``on-retrain`` deployment of
that model passes the payload as the run's ``retrained`` parameter; the run merges it into the
deployment's own model spec, so everything else about the model stays.

Deployments are named ``<name>-<trigger>-<executor>``: the trigger is ``scheduled`` or ``on-retrain``,
the executor ``served`` (``invert serve``) or ``work-pool`` (``deployments/prefect.yaml``), so the two ways
of running them never overwrite, pause or take over each other's deployments. The served deployments own
the schedule and the ``model.retrained`` trigger: the work-pool ones ship with both switched off, so one
event starts one run (see the top of ``deployments/prefect.yaml`` to hand them to the work pool).
"""

from __future__ import annotations

from typing import Any, Literal

from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger

from flows.explain_model import explain_model
from invert_pipeline.events import MODEL_RETRAINED, model_resource
from invert_pipeline.specs import ModelSpec

DEFAULT_CRON = "0 3 * * *"
DEFAULT_DEPLOYMENT_NAME = "explain-model"
Trigger = Literal["scheduled", "on-retrain"]
Executor = Literal["served", "work-pool"]  # what executes the runs: `invert serve`, or a work pool's worker


def deployment_name(name: str, trigger: Trigger, executor: Executor) -> str:
    """``<name>-<trigger>-<executor>``: the name of a deployment of ``explain_model`` (see the module docstring)."""
    return f"{name}-{trigger}-{executor}"


def retrained_trigger(model: ModelSpec) -> DeploymentEventTrigger:
    """Run the deployment on each ``model.retrained`` event of ``model``, the payload as ``retrained``."""
    return DeploymentEventTrigger(
        name=f"explain {model.label} when retrained",
        expect={MODEL_RETRAINED},
        match={"prefect.resource.id": model_resource(model.label)},
        parameters={"retrained": "{{ event.payload }}"},
    )


def build_deployments(
    parameters: dict[str, Any], *, cron: str = DEFAULT_CRON, name: str = DEFAULT_DEPLOYMENT_NAME
) -> list[RunnerDeployment]:
    """The two served deployments of ``explain_model`` with the same default ``parameters`` (JSON values).

    ``<name>-scheduled-served`` runs on ``cron`` (standard five fields, server time zone UTC);
    ``<name>-on-retrain-served`` runs on each ``model.retrained`` event of ``parameters["model"]``
    (:func:`retrained_trigger`). Flow runs import ``flows.explain_model`` as a module (the installed
    package), from any folder.
    """
    scheduled = explain_model.to_deployment(
        name=deployment_name(name, "scheduled", "served"),
        entrypoint_type=EntrypointType.MODULE_PATH,
        cron=cron,
        parameters=parameters,
        tags=["invert", "scheduled"],
        description="Explain the model's neurons on a schedule; unchanged inputs are cache hits.",
    )
    on_retrain = explain_model.to_deployment(
        name=deployment_name(name, "on-retrain", "served"),
        entrypoint_type=EntrypointType.MODULE_PATH,
        triggers=[retrained_trigger(ModelSpec.model_validate(parameters["model"]))],
        parameters=parameters,
        tags=["invert", "retrained"],
        description=f"Explain new weights of the model whenever a {MODEL_RETRAINED!r} event announces them.",
    )
    return [scheduled, on_retrain]

