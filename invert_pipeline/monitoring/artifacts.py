"""The artifacts of a run on its flow run page: a table per layer, the report link and the summary.

The tables and the summary read the warehouse, so they count and show exactly what SQL queries and
the report do (one meaning of "significant": the effective q-value below ``SIGNIFICANCE_LEVEL``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from invert_pipeline.findings import changes_since, spurious_findings
from invert_pipeline.monitoring.summary import summary_markdown
from invert_pipeline.report.html import p_value, probability
from invert_pipeline.report_server import served_report_url
from invert_pipeline.specs import RetrainedWeights
from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query

TABLE_ROWS = 20


def artifact_key(*parts: str) -> str:
    """An artifact key (lowercase letters, digits and dashes) from readable parts."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def publish_layer_tables(db_path: str | Path, run_id: str, model_label: str) -> None:
    """Per explained layer, a table artifact with its best explanations from the warehouse, highest AUC first.

    ``q`` is the warehouse's effective q-value, the one significance is judged by.
    """
    best = run_named_query(db_path, "top_explanations_by_layer", {"run": run_id, "top_n": TABLE_ROWS}).to_pylist()
    for layer in dict.fromkeys(row["layer"] for row in best):
        rows = [
            {
                "neuron": row["neuron"],
                "formula": row["formula"],
                "auc": _rounded(row["auc"]),
                "p": p_value(row["p_value"], row["log10_p"]),
                "q": probability(row["effective_q_value"]),
                "heldout_auc": _rounded(row["heldout_auc"]),
                "fraction": _rounded(row["fraction"]),
            }
            for row in best
            if row["layer"] == layer
        ]
        create_table_artifact(
            key=artifact_key("explanations", model_label, layer),
            table=rows,
            description=f"Top {len(rows)} explanations of layer `{layer}` of {model_label} (rank 0, by AUC)",
        )


def publish_report_link(report: str, workspace: str, model_label: str) -> str:
    """A link artifact to the run's report over http (``invert report --serve``), which opens from the
    Prefect UI where a ``file://`` link does not; returns the link."""
    link = served_report_url(report, workspace)
    create_link_artifact(
        key=artifact_key("report", model_label),
        link=link,
        link_text=f"report of {model_label}",
        description=f"Opens while `invert report --serve --workspace {workspace}` runs (file: {report})",
    )
    return link


def publish_summary(
    *,
    db_path: str | Path,
    run_id: str,
    model_label: str,
    dataset_label: str,
    report: str | None,
    manifest: str,
    previous: str | None,
    report_link: str | None = None,
    retrained: RetrainedWeights | None = None,
    stated_changes: Mapping[str, tuple[object, object]] | None = None,
    regression_gate: str | None = None,
) -> None:
    """A markdown artifact summarising the run from the warehouse: its headline findings, what changed
    since the model's ``previous`` version (a run id or version, None: none), the regression gate's verdict
    (``regression_gate``, one sentence), where the retrained weights came from, the significant neurons per
    layer, and where the report is."""
    significant = run_named_query(
        db_path, "significant_neurons_by_layer", {"run": run_id, "max_q_value": SIGNIFICANCE_LEVEL}
    ).to_pylist()
    markdown = summary_markdown(
        run_id=run_id,
        model_label=model_label,
        dataset_label=dataset_label,
        significant=significant,
        findings=spurious_findings(db_path, run_id),
        changes=None if previous is None else changes_since(db_path, previous, run_id),
        retrained=retrained,
        stated_changes=stated_changes or {},
        report=report,
        report_link=report_link,
        manifest=manifest,
        regression_gate=regression_gate,
    )
    create_markdown_artifact(key=artifact_key("summary", model_label), markdown=markdown, description=f"INVERT run {run_id}")


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value
