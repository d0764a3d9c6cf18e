"""``write_report``: one static HTML page with PNG figures for one or more runs of the warehouse.

Layout of ``out_dir``::

    index.html                      the page (relative links only: it opens from disk)
    figures/<run>-auc.png           per run: AUC histogram of each layer
    figures/<run>-hierarchy.png     per run: concepts (in hierarchy order) x layers
    figures/<run>-<layer>-<n>.png   per shown neuron: most and least activating images
    figures/diff-<a>-<b>.png        per pair of consecutive runs: AUC before against after

Each layer shows its ``NEURONS_PER_LAYER`` best explained neurons, plus every neuron a spurious
query points at, so the page stays small whatever the size of the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from invert_pipeline.report import figures, html
from invert_pipeline.report.contents import (
    SIGNIFICANCE_LEVEL,
    RunContents,
    RunDiff,
    known_runs,
    read_diff,
    read_run,
)
from invert_pipeline.report.html import Column
from invert_pipeline.report.samples import layer_extremes, load_images
from invert_pipeline.workspace import REPORT_INDEX, Workspace, atomic_write_text

NEURONS_PER_LAYER = 8
SAMPLES_PER_END = 6
DIFF_ROWS = 40
FIGURES = "figures"


def write_report(
    db_path: str | Path, workspace: str | Path, run_ids: Sequence[str], out_dir: str | Path
) -> Path:
    """Write the report of ``run_ids`` (in the order given; diffs compare consecutive runs).

    Parameters
    ----------
    db_path : the warehouse file holding the runs.
    workspace : the workspace of the runs (their manifests, activations and datasets).
    run_ids : one or more run ids of the warehouse, distinct.
    out_dir : the report folder (created); ``index.html`` and ``figures/`` go there.

    Returns
    -------
    The path of ``index.html``.
    """
    run_ids = _checked_run_ids(db_path, run_ids)
    out_dir = Path(out_dir)
    figure_dir = out_dir / FIGURES
    written: set[Path] = set()
    runs = [read_run(db_path, workspace, run_id) for run_id in run_ids]
    sections = [_overview(runs)]
    for contents in runs:
        sections.append(_run_section(contents, Path(workspace), figure_dir, written))
    diffs = [read_diff(db_path, a.run["run_id"], b.run["run_id"]) for a, b in pairwise(runs)]
    for diff, (before, after) in zip(diffs, pairwise(runs), strict=True):
        sections.append(_diff_section(diff, before, after, figure_dir, written))
    navigation = [("overview", "Overview")]
    navigation += [(_slug(run.run["run_id"]), _run_label(run)) for run in runs]
    navigation += [(f"diff-{_slug(d.run_a)}-{_slug(d.run_b)}", "What changed") for d in diffs]
    title = "INVERT report: " + ", ".join(_run_label(run) for run in runs)
    index = atomic_write_text(html.page(title, navigation, sections), out_dir / REPORT_INDEX)
    for stale in figure_dir.glob("*.png"):  # figures of an earlier report in this folder
        if stale not in written:
            stale.unlink()
    return index


def _checked_run_ids(db_path: str | Path, run_ids: Sequence[str]) -> list[str]:
    if isinstance(run_ids, str) or not run_ids or not all(isinstance(run, str) and run for run in run_ids):
        raise ValueError(f"run_ids must be a non-empty list of run ids; got {run_ids!r}")
    if len(set(run_ids)) != len(run_ids):
        raise ValueError(f"run_ids must be distinct; got {list(run_ids)}")
    known = known_runs(db_path)
    missing = [run for run in run_ids if run not in known]
    if missing:
        raise ValueError(
            f"run(s) {missing} are not in the warehouse {db_path}; it holds: {', '.join(known) or 'no runs'}"
        )
    return list(run_ids)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def _run_label(contents: RunContents) -> str:
    run = contents.run
    return " ".join(str(part) for part in (run["model_name"], run["model_version"]) if part) or run["run_id"]


def _overview(runs: list[RunContents]) -> str:
    rows = []
    for contents in runs:
        summary = contents.layer_summary.to_pylist()
        rows.append({
            **contents.run,
            "label": _run_label(contents),
            "n_neurons": sum(row["n_neurons"] for row in summary),
            "n_significant": sum(row["n_significant"] for row in summary),
        })
    columns = [
        Column("label", "model"), Column("run_id", "run"), Column("dataset_name", "dataset"),
        Column("n_neurons", "neurons", number=True),
        Column("n_significant", f"significant (q < {SIGNIFICANCE_LEVEL})", number=True),
        Column("finished_at", "finished"),
    ]
    return (
        '<h2 id="overview">Overview</h2>'
        + html.table(rows, columns)
        + '<p class="note">Each neuron is labelled with the formula over concepts whose truth best ranks '
        "its activations (AUC); significant means a Benjamini–Hochberg q-value below "
        f"{SIGNIFICANCE_LEVEL} (held-out when the run has one).</p>"
    )


def _run_section(contents: RunContents, workspace: Path, figure_dir: Path, written: set[Path]) -> str:
    run_id = contents.run["run_id"]
    slug = _slug(run_id)
    histogram = figures.auc_histograms(contents.best, contents.layers, SIGNIFICANCE_LEVEL, figure_dir / f"{slug}-auc.png")
    labels, counts = _hierarchy_counts(contents)
    hierarchy = figures.hierarchy_map(labels, contents.layers, counts, figure_dir / f"{slug}-hierarchy.png")
    written.update({histogram, hierarchy})
    summary_columns = [
        Column("layer", "layer"), Column("n_neurons", "neurons", number=True),
        Column("n_dead", "dead", number=True),
        Column("n_significant", "significant", number=True),
        Column("share_significant", "share", html.decimal, number=True),
        Column("mean_significant_auc", "mean AUC (significant)", html.decimal, number=True),
    ]
    parts = [
        f'<h2 id="{slug}">{html.text(_run_label(contents))} <span class="note">run {html.text(run_id)}</span></h2>',
        "<h3>Layers</h3>",
        html.table(contents.layer_summary, summary_columns),
        html.figure(f"{FIGURES}/{histogram.name}", f"AUC histograms of {run_id}"),
        "<h3>Spurious findings</h3>",
        _spurious(contents),
        "<h3>Where each concept is explained</h3>",
        (
            '<p class="note">Concepts in hierarchy order (children indented under their parents; concepts '
            "outside the hierarchy last) against layers: how many neurons of the layer have a significant "
            "explanation naming the concept.</p>"
        ),
        html.figure(f"{FIGURES}/{hierarchy.name}", f"concept hierarchy map of {run_id}"),
        "<h3>Neurons</h3>",
        (
            f'<p class="note">Per layer, the {NEURONS_PER_LAYER} best explained neurons and every neuron a '
            f"spurious finding names, each with its {SAMPLES_PER_END} most activating samples, then its "
            f"{SAMPLES_PER_END} least activating ones, in the row below.</p>"
        ),
    ]
    parts += _neuron_tables(contents, workspace, figure_dir, written)
    return "".join(parts)


def _spurious(contents: RunContents) -> str:
    features = [
        Column("class_name", "class"), Column("source_layer", "layer"), Column("source_neuron", "neuron", number=True),
        Column("weight", "weight into the class", html.decimal, number=True),
        Column("formula", "explanation", html.formula), Column("auc", "AUC", html.decimal, number=True),
        Column("effective_q_value", "q", html.probability, number=True),
        Column("unrelated_literals", "outside the class's hierarchy"),
    ]
    logits = [
        Column("class_name", "class"), Column("formula", "explanation of its logit", html.formula),
        Column("auc", "AUC", html.decimal, number=True), Column("effective_q_value", "q", html.probability, number=True),
        Column("literal", "literal outside the class's hierarchy"), Column("concept_kind", "kind"),
    ]
    logit_rows = [
        {**row, "literal": ("~" if row["negated"] else "") + row["concept"]}
        for row in contents.spurious_logits.to_pylist()
    ]
    return (
        '<p class="note">Neurons that strongly feed a class while their explanation has nothing to do with '
        "the class (no literal names the class, an ancestor or a descendant):</p>"
        + html.table(contents.spurious_features, features)
        + '<p class="note">Class outputs whose explanation uses a concept outside the class\'s hierarchy:</p>'
        + html.table(logit_rows, logits)
    )


def _tree_order(contents: RunContents) -> list[tuple[str, int]]:
    """Concepts depth-first from the hierarchy's roots (children by name), then the rest, with tree depth."""
    concepts = contents.concepts.to_pylist()
    in_tree = {row["concept"] for row in concepts if row["kind"] in ("class", "ancestor")}
    children: dict[str, list[str]] = {}
    has_parent = set()
    for child, parent in contents.edges:
        children.setdefault(parent, []).append(child)
        has_parent.add(child)
    order: list[tuple[str, int]] = []
    seen: set[str] = set()

    def visit(concept: str, depth: int) -> None:
        if concept in seen:
            return
        seen.add(concept)
        order.append((concept, depth))
        for child in sorted(children.get(concept, [])):
            visit(child, depth + 1)

    for root in sorted(in_tree - has_parent):
        visit(root, 0)
    order += [(row["concept"], 0) for row in concepts if row["concept"] not in seen]
    return order


def _hierarchy_counts(contents: RunContents) -> tuple[list[str], np.ndarray]:
    order = _tree_order(contents)
    row_of = {concept: index for index, (concept, _) in enumerate(order)}
    column_of = {layer: index for index, layer in enumerate(contents.layers)}
    counts = np.zeros((len(order), len(contents.layers)), dtype=np.int64)
    for row in contents.explained_concepts.to_pylist():
        if row["concept"] in row_of and row["layer"] in column_of:
            counts[row_of[row["concept"]], column_of[row["layer"]]] = row["n_neurons"]
    return ["  " * depth + concept for concept, depth in order], counts


def _shown_neurons(contents: RunContents, layer: str) -> list[int]:
    """The spurious queries' neurons of ``layer`` first, then its best explained ones, up to the limit."""
    spotlight = [
        row["source_neuron"] for row in contents.spurious_features.to_pylist() if row["source_layer"] == layer
    ] + [row["neuron"] for row in contents.spurious_logits.to_pylist() if row["layer"] == layer]
    rows = [row for row in contents.best.to_pylist() if row["layer"] == layer]
    # Most decisive first: far from 0.5 in either direction, so that negative-mode runs rank too.
    ranked = sorted(rows, key=lambda row: (not _is_significant(row), -abs(row["auc"] - 0.5), row["neuron"]))
    best = [row["neuron"] for row in ranked[:NEURONS_PER_LAYER]]
    return list(dict.fromkeys([*spotlight, *best]))


def _is_significant(row: dict) -> bool:
    return row["effective_q_value"] is not None and row["effective_q_value"] < SIGNIFICANCE_LEVEL


def _neuron_tables(contents: RunContents, workspace: Path, figure_dir: Path, written: set[Path]) -> list[str]:
    run_slug = _slug(contents.run["run_id"])
    root = Workspace(workspace)
    layer_dirs = {layer["name"]: root.path(layer["activations"]) for layer in contents.manifest["layers"]}
    shown = {layer: _shown_neurons(contents, layer) for layer in contents.layers}
    extremes = {layer: layer_extremes(layer_dirs[layer], shown[layer], SAMPLES_PER_END) for layer in contents.layers}
    wanted = {int(i) for layer in extremes.values() for top, bottom in layer.values() for i in (*top, *bottom)}
    images = load_images(root.path(contents.manifest["dataset"]["dir"]), wanted)
    best = {(row["layer"], row["neuron"]): row for row in contents.best.to_pylist()}
    columns = [
        Column("label", "neuron", html.markup), Column("explanation", "explanation", html.markup),
        Column("auc", "AUC", html.decimal, number=True), Column("p", "p-value", html.markup, number=True),
        Column("effective_q_value", "q", html.probability, number=True),
        Column("heldout_auc", "held-out AUC", html.decimal, number=True, optional=True),
        Column("heldout_p_value", "held-out p", html.probability, number=True, optional=True),
        Column("empirical_p_value", "permutation p", html.probability, number=True, optional=True),
        Column("average_precision", "AP", html.decimal, number=True),
        Column("f1", "F1 (top act.)", html.decimal, number=True),
        Column("iou", "IoU (top act.)", html.decimal, number=True),
        Column("mean_difference", "mean diff. (σ)", html.decimal, number=True),
        Column("stability", "bootstrap stability", html.decimal, number=True, optional=True),
        Column("fraction", "share true", html.decimal, number=True),
    ]
    strip_row = Column("strip", "sample images", html.markup)
    parts = []
    for layer in contents.layers:
        rows = []
        for neuron in shown[layer]:
            row = best.get((layer, neuron), {"neuron": neuron, "class_name": None})
            top, bottom = extremes[layer][neuron]
            strip = figures.sample_strip(
                [images[int(i)] for i in top], [images[int(i)] for i in bottom],
                figure_dir / f"{run_slug}-{_slug(layer)}-{neuron}.png",
            )
            written.add(strip)
            rows.append({
                **row,
                "label": html.text(neuron if row.get("class_name") is None else f"{neuron} ({row['class_name']})"),
                "explanation": html.formula_with_synonyms(row.get("formula"), row.get("synonyms")),
                "p": html.p_value(row.get("p_value"), row.get("log10_p")),
                "strip": f'<span class="note">{SAMPLES_PER_END} most activating, then {SAMPLES_PER_END} least '
                f"activating images of neuron {html.text(neuron)}</span>"
                + html.figure(f"{FIGURES}/{strip.name}", f"{layer} {neuron} samples", css_class="strip"),
            })
        parts.append(f"<h3>{html.text(layer)}</h3>" + html.table(rows, columns, below=strip_row))
    return parts


def _dead_note(runs: Sequence[RunContents]) -> str:
    """Which neurons of each run are dead, for the note under the table of changes that leaves them out."""
    listed = []
    for contents in runs:
        by_layer: dict[str, list[int]] = {}
        for row in contents.dead.to_pylist():  # in network order, then by neuron
            by_layer.setdefault(row["layer"], []).append(row["neuron"])
        if by_layer:
            neurons = "; ".join(f"{layer} {', '.join(map(str, found))}" for layer, found in by_layer.items())
            listed.append(f"{html.text(_run_label(contents))}: {html.text(neurons)}")
    if not listed:
        return ""
    return (
        '<p class="note">Left out above: dead neurons, whose activation is the same on every sample, so that no '
        f"formula can explain them. {'. '.join(listed)}.</p>"
    )


def _diff_section(
    diff: RunDiff,
    before: RunContents,
    after: RunContents,
    figure_dir: Path,
    written: set[Path],
) -> str:
    anchor = f"diff-{_slug(diff.run_a)}-{_slug(diff.run_b)}"
    scatter = figures.auc_changes(diff.auc, after.layers, figure_dir / f"{anchor}.png")
    written.add(scatter)
    changed = [
        Column("layer", "layer"), Column("neuron", "neuron", number=True), Column("class_name", "class"),
        Column("change", "change"), Column("formula_a", "before", html.formula), Column("formula_b", "after", html.formula),
        Column("auc_a", "AUC before", html.decimal, number=True), Column("auc_b", "AUC after", html.decimal, number=True),
    ]
    concepts = [Column(name, name.replace("_", " ")) for name in diff.concepts.column_names]
    moved = sorted(diff.explanations.to_pylist(), key=lambda row: -abs(row["auc_change"] or 0.0))
    return (
        f'<h2 id="{anchor}">What changed: {html.text(_run_label(before))} → {html.text(_run_label(after))}</h2>'
        + html.figure(f"{FIGURES}/{scatter.name}", "AUC before and after")
        + "<h3>Concepts gained and lost</h3>"
        + html.table(diff.concepts, concepts)
        + f"<h3>Neurons whose explanation changed ({len(moved)}), largest AUC change first</h3>"
        + html.table(moved, changed, limit=DIFF_ROWS)
        + _dead_note([before, after])
    )
