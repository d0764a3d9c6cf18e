"""What a run shows in the Prefect UI (progress bars, a table per layer, a markdown summary) and, in a
terminal, as progress bars.

The tables and the summary read the warehouse, so they count and show exactly what SQL queries and
the report do (one meaning of "significant": the effective q-value below ``SIGNIFICANCE_LEVEL``).

Plain functions called from flows (artifacts belong to the flow run that creates them); none of
them is a task, so they never take part in caching.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_progress_artifact
from prefect.artifacts import create_table_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed
from rich.console import Console
from rich.progress import Progress

from invert_pipeline.findings import Changes, Finding, changes_since, spurious_findings
from invert_pipeline.report.html import p_value, probability
from invert_pipeline.report_server import served_report_url
from invert_pipeline.specs import RetrainedWeights
from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query
from invert_pipeline.warehouse.connection import read_connection

TABLE_ROWS = 20
FINDINGS_SHOWN = 10
# ASCII punctuation that markdown may interpret ("|" is escaped in table cells only, see table_row).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!~])")


def artifact_key(*parts: str) -> str:
    """An artifact key (lowercase letters, digits and dashes) from readable parts."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def results_with_progress(futures: Iterable[PrefectFuture], description: str) -> list:
    """Wait for ``futures``, updating a progress artifact (and, in a terminal, a progress bar) as each
    finishes; results in input order.

    Raises the first failure, after the progress artifact shows how far the stage got.
    """
    futures = list(futures)
    artifact_id = create_progress_artifact(progress=0.0, description=description)
    with _terminal_progress(description, len(futures)) as advance:
        for done, _ in enumerate(as_completed(futures), start=1):
            update_progress_artifact(artifact_id, progress=100.0 * done / len(futures))
            advance()
    return [future.result() for future in futures]


@contextlib.contextmanager
def _terminal_progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar on standard error when it is a terminal; yields the function that advances it."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    with Progress(*Progress.get_default_columns(), console=Console(stderr=True)) as progress:
        task_id = progress.add_task(description, total=total)
        yield lambda: progress.advance(task_id)


def publish_layer_tables(db_path: str | Path, run_id: str, model_label: str) -> None:
    """Per explained layer, a table artifact with its best explanations from the warehouse, highest AUC first.

    ``q`` is the warehouse's effective q-value, the one significance is judged by.
    """
    with read_connection(db_path) as connection:
        best = connection.sql(
            """
            select best.layer, best.neuron, best.formula, best.auc, best.p_value, best.log10_p,
                best.effective_q_value, best.heldout_auc, best.fraction
            from best_explanations as best
            join layers using (run_id, layer)
            where best.run_id = $run
            qualify row_number() over (partition by best.layer order by best.auc desc, best.neuron) <= $rows
            order by layers.layer_index, best.auc desc, best.neuron
            """,
            params={"run": run_id, "rows": TABLE_ROWS},
        ).to_arrow_table().to_pylist()
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
) -> None:
    """A markdown artifact summarising the run from the warehouse: its headline findings, what changed
    since the model's ``previous`` version (a run id or version, None: none), where the retrained
    weights came from, the significant neurons per layer, and where the report is."""
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
    )
    create_markdown_artifact(key=artifact_key("summary", model_label), markdown=markdown, description=f"INVERT run {run_id}")


def summary_markdown(
    *,
    run_id: str,
    model_label: str,
    dataset_label: str,
    significant: list[dict],
    findings: list[Finding],
    changes: Changes | None,
    retrained: RetrainedWeights | None,
    stated_changes: Mapping[str, tuple[object, object]],
    report: str | None,
    manifest: str,
    report_link: str | None = None,
) -> str:
    """The summary's markdown; every name and formula escaped, p- and q-values in scientific notation.

    ``significant`` holds the rows of the warehouse query ``significant_neurons_by_layer``.
    """
    lines = [
        f"# INVERT run {code(run_id)}",
        "",
        f"Model **{text(model_label)}** on dataset **{text(dataset_label)}**.",
        "",
        "## Headline findings",
        "",
        *_finding_lines(findings),
        "",
    ]
    if changes is not None:
        lines += [f"## What changed since {code(changes.run_a)}", "", *_change_lines(changes), ""]
    if retrained is not None:
        lines += ["## Retrained weights", "", *_retrained_lines(retrained, stated_changes), ""]
    lines += [
        "## Significant neurons per layer",
        "",
        f"Significant: q < {SIGNIFICANCE_LEVEL}, with q the held-out q-value when the run has a held-out split, "
        "else the search's q-value.",
        "",
        table_row(["layer", "neurons", "explained", "significant"]),
        "|---|---:|---:|---:|",
        *(
            table_row([text(row["layer"]), str(row["n_neurons"]), str(row["n_explained"]), str(row["n_significant"])])
            for row in significant
        ),
        table_row([
            "**all**", *(str(sum(row[column] for row in significant)) for column in ("n_neurons", "n_explained", "n_significant"))
        ]),
        "",
        f"Manifest: {code(manifest)}",
        f"Report: {code(report)}" if report else "Report: not written.",
    ]
    if report_link:
        lines += ["", f"Open it: [{text(report_link)}]({report_link}) (while `invert report --serve` runs)"]
    return "\n".join(lines) + "\n"


def _finding_lines(findings: list[Finding]) -> list[str]:
    """One list item per spurious finding, those involving an attribute first (marked **!**)."""
    if not findings:
        return ["No spurious findings: every significant explanation of a class, or of a neuron feeding one, "
                "stays within the class's own hierarchy."]
    lines = []
    for finding in findings[:FINDINGS_SHOWN]:
        where = "its logit" if finding.via == "logit" else f"{text(finding.layer)} neuron {finding.neuron}, which feeds it,"
        mark = "**!** " if finding.is_attribute else ""
        lines.append(
            f"- {mark}class {text(finding.class_name)}: {where} is explained by {code(finding.formula)} "
            f"(AUC {finding.auc:.3f}, q {probability(finding.q_value)})"
        )
    if len(findings) > FINDINGS_SHOWN:
        lines.append(f"- and {len(findings) - FINDINGS_SHOWN} more (`invert query spurious_class_features`)")
    return lines


def _change_lines(changes: Changes) -> list[str]:
    def concepts(names: tuple[str, ...]) -> str:
        return ", ".join(code(name) for name in names) or "none"

    return [
        f"- concepts explained only now: {concepts(changes.gained)}",
        f"- concepts no longer explained: {concepts(changes.lost)}",
        *(
            f"- class {text(row['class_name'])}: logit explained by {code(row['formula_a'])} before, "
            f"{code(row['formula_b'])} now"
            for row in changes.logits
        ),
        f"- neurons whose best explanation changed: {changes.n_changed}",
    ]


def _retrained_lines(retrained: RetrainedWeights, stated_changes: Mapping[str, tuple[object, object]]) -> list[str]:
    lines = [f"- checkpoint {code(retrained.checkpoint)}, version {code(retrained.version)}"]
    lines += [f"- {text(key)}: {code(value)}" for key, value in retrained.metadata.items()]
    if not stated_changes:
        lines.append("- architecture, preprocessing and input size: the deployment's own (no change stated)")
    lines += [
        f"- **stated change** of {text(field)}: {code(before)} -> {code(after)}"
        for field, (before, after) in stated_changes.items()
    ]
    return lines


def text(value: object) -> str:
    """``value`` as markdown text: every character markdown would interpret escaped (``|`` by :func:`table_row`)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


def code(value: object) -> str:
    """``value`` as an inline code span, fenced with more backticks than it contains in a row."""
    value = str(value)
    fence = "`" * (max((len(run) for run in re.findall("`+", value)), default=0) + 1)
    padding = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{padding}{value}{padding}{fence}"


def table_row(cells: Iterable[str]) -> str:
    """A markdown table row; ``|`` inside a cell (a formula's "or") is escaped so that cells never shift."""
    return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value
