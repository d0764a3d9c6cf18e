"""The regression gate of a run: compare it with the model's previous version and announce a regression
(a markdown artifact and the event ``invert.model.regressed``)."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from invert_pipeline.events import MODEL_REGRESSED, model_resource
from invert_pipeline.regression import Regression, compare_runs
from invert_pipeline.monitoring.artifacts import artifact_key
from invert_pipeline.monitoring.summary import code, text


def regression_gate(db_path: str | Path, run_id: str, against: str, model_label: str, model_name: str) -> Regression:
    """Compare ``run_id`` with ``against``; on a regression, log it, publish it and emit ``invert.model.regressed``.

    The event's resource is the model (``invert.model.<model_name>``, as in ``model.retrained``),
    its related resources the two runs, its payload :meth:`Regression.payload`; Prefect adds the
    flow run (and its deployment, when there is one) as related resources.
    """
    regression = compare_runs(db_path, run_id, against)
    logger = get_run_logger()
    if not regression.regressed:
        logger.info("regression gate: %s", regression.lines()[0])
        return regression
    for line in regression.lines():
        logger.warning("regression gate against %s: %s", against, line)
    create_markdown_artifact(
        key=artifact_key("regression", model_label),
        markdown="\n".join([f"# Regression of {code(run_id)} against {code(against)}", "",
                            *(f"- {text(line)}" for line in regression.lines())]) + "\n",
        description=f"{MODEL_REGRESSED}: {', '.join(regression.failed())}",
    )
    emit_event(
        event=MODEL_REGRESSED,
        resource={"prefect.resource.id": model_resource(model_name), "prefect.resource.name": model_name},
        related=[
            {"prefect.resource.id": f"invert.run.{run_id}", "prefect.resource.role": "run"},
            {"prefect.resource.id": f"invert.run.{against}", "prefect.resource.role": "previous-run"},
        ],
        payload=regression.payload(),
    )
    return regression
