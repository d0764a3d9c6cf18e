"""The run summary's markdown, with every name and formula escaped (no Prefect here: it is a string)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from invert_pipeline.findings import Changes, Finding
from invert_pipeline.report.html import probability
from invert_pipeline.specs import RetrainedWeights
from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL

FINDINGS_SHOWN = 10
# ASCII punctuation that markdown may interpret ("|" is escaped in table cells only, see table_row).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!~])")


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
    regression_gate: str | None = None,
) -> str:
    """The summary's markdown; every name and formula escaped, p- and q-values in scientific notation.

    ``significant`` holds the rows of the warehouse query ``significant_neurons_by_layer``;
    ``regression_gate`` is the gate's verdict in one sentence (``None``: the run had nothing to be compared with).
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
    if regression_gate is not None:
        lines += ["## Regression gate", "", text(regression_gate), ""]
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
        # The link's text is plain words: Prefect's UI shows markdown escapes in a link's text literally.
        lines += ["", f"Open it: [the report]({report_link}), {code(report_link)} (while `invert report --serve` runs)"]
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
