"""The regression gate of a run: compare it with the model's previous version and announce a regression the
first time it is found (a markdown artifact and the event ``invert.model.regressed``), recording it so that no
later run announces it again (:mod:`invert_pipeline.regression_records`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from invert_pipeline.events import MODEL_REGRESSED, model_resource
from invert_pipeline.monitoring.artifacts import artifact_key
from invert_pipeline.monitoring.summary import code, text
from invert_pipeline.regression import Regression, compare_runs
from invert_pipeline.regression_records import RegressionRecord, record_regression
from invert_pipeline.warehouse import resolve_run
from invert_pipeline.warehouse.regressions import store_regression


@dataclass(frozen=True)
class GateVerdict:
    """What the gate found: the ``regression`` and, when there is one, its ``record`` (``is_new``: this run alerted)."""

    regression: Regression
    record: RegressionRecord | None

    def summary_line(self) -> str:
        """One sentence for the run summary: no regression, a regression alerted now, or one alerted before."""
        if self.record is None:
            return self.regression.lines()[0]
        found = f"regression against {self.record.against} ({', '.join(self.regression.failed())})"
        if self.record.is_new:
            return f"{found}: first seen by this run, alerted with {MODEL_REGRESSED}"
        return f"{found}: already recorded, first seen at {self.record.first_seen} and alerted then; no new alert"


def regression_gate(
    workspace: str | Path, db_path: str | Path, run_id: str, against: str, model_label: str, model_name: str
) -> GateVerdict:
    """Compare ``run_id`` with ``against`` (a run id or model version); on a regression not recorded before,
    record it, log it, publish it and emit ``invert.model.regressed``; on one recorded before, log that it was.

    The event's id is derived from the pair of run ids (so Prefect takes a re-delivery for the same
    event), its resource is the model (``invert.model.<model_name>``, as in ``model.retrained``),
    its related resources the two runs, its payload :meth:`Regression.payload`; Prefect adds the
    flow run (and its deployment, when there is one) as related resources.
    """
    regression = compare_runs(db_path, run_id, resolve_run(db_path, against))
    logger = get_run_logger()
    if not regression.regressed:
        logger.info("regression gate: %s", regression.lines()[0])
        return GateVerdict(regression, None)
    record = record_regression(workspace, regression.payload(), datetime.now(UTC).isoformat(timespec="seconds"))
    store_regression(db_path, record)
    verdict = GateVerdict(regression, record)
    if not record.is_new:
        logger.info("regression gate: %s", verdict.summary_line())
        return verdict
    for line in regression.lines():
        logger.warning("regression gate against %s: %s", regression.against, line)
    create_markdown_artifact(
        key=artifact_key("regression", model_label),
        markdown="\n".join([f"# Regression of {code(run_id)} against {code(regression.against)}", "",
                            *(f"- {text(line)}" for line in regression.lines())]) + "\n",
        description=f"{MODEL_REGRESSED}: {', '.join(regression.failed())}",
    )
    emit_event(
        event=MODEL_REGRESSED,
        id=record.event_id,
        resource={"prefect.resource.id": model_resource(model_name), "prefect.resource.name": model_name},
        related=[
            {"prefect.resource.id": f"invert.run.{run_id}", "prefect.resource.role": "run"},
            {"prefect.resource.id": f"invert.run.{regression.against}", "prefect.resource.role": "previous-run"},
        ],
        payload=regression.payload(),
    )
    return verdict
