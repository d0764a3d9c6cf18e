"""What a run shows in the Prefect UI (progress bars, a table per layer, a markdown summary) and, in a
terminal, as progress bars.

Plain functions called from flows (artifacts belong to the flow run that creates them); none of
them is a task, so they never take part in caching.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact
from prefect.artifacts import update_progress_artifact
from prefect.futures import PrefectFuture, as_completed
from rich.console import Console
from rich.progress import Progress

from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query

TABLE_ROWS = 20
_TABLE_COLUMNS = ("neuron", "formula", "auc", "log10_p", "q_value", "fraction")


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


def best_explanations(explanations_path: str | Path):
    """Rank-0 rows of a layer's explanations file (one per neuron), as a pyarrow table."""
    table = pq.read_table(explanations_path)
    return table.filter(pc.equal(table["rank"], 0))


def publish_layer_table(model_label: str, layer: str, explanations_path: str | Path) -> None:
    """A table artifact with the layer's best explanations, highest AUC first."""
    best = best_explanations(explanations_path).sort_by([("auc", "descending")]).slice(0, TABLE_ROWS)
    rows = [
        {name: _rounded(row[name]) for name in _TABLE_COLUMNS if name in row}
        for row in best.to_pylist()
    ]
    create_table_artifact(
        key=artifact_key("explanations", model_label, layer),
        table=rows,
        description=f"Top {len(rows)} explanations of layer `{layer}` of {model_label} (rank 0, by AUC)",
    )


def summarise(layer_files: Mapping[str, str | Path]) -> list[dict]:
    """Per layer: neurons explained and neurons with a significant best explanation (q < 0.05)."""
    summary = []
    for layer, path in layer_files.items():
        best = best_explanations(path)
        significant = pc.sum(pc.less(best["q_value"], SIGNIFICANCE_LEVEL)).as_py() or 0
        summary.append({"layer": layer, "explained": best.num_rows, "significant": significant})
    return summary


def spurious_candidates(db_path: str | Path, run_id: str, limit: int = 10) -> list[dict]:
    """The run's strongest spurious findings: the warehouse query ``spurious_class_features``, first rows."""
    return run_named_query(db_path, "spurious_class_features", {"run": run_id}).slice(0, limit).to_pylist()


def publish_summary(
    *,
    run_id: str,
    model_label: str,
    dataset_label: str,
    layer_summary: list[dict],
    spurious: list[dict],
    report: str | None,
    manifest: str,
) -> None:
    """A markdown artifact summarising the run."""
    lines = [
        f"# INVERT run `{run_id}`",
        "",
        f"Model **{model_label}** on dataset **{dataset_label}**.",
        "",
        f"| layer | neurons explained | significant (q < {SIGNIFICANCE_LEVEL}) |",
        "|---|---:|---:|",
        *(f"| {row['layer']} | {row['explained']} | {row['significant']} |" for row in layer_summary),
        f"| **all** | {sum(r['explained'] for r in layer_summary)} | {sum(r['significant'] for r in layer_summary)} |",
        "",
    ]
    if not spurious:
        lines.append("Spurious candidates: none found.")
    else:
        lines += ["## Spurious candidates", "", "| " + " | ".join(spurious[0]) + " |"]
        lines.append("|" + "---|" * len(spurious[0]))
        lines += ["| " + " | ".join(str(_rounded(value)) for value in row.values()) + " |" for row in spurious]
    lines += ["", f"Manifest: `{manifest}`"]
    lines.append(f"Report: [{report}](file://{report})" if report else "Report: not written.")
    create_markdown_artifact(
        key=artifact_key("summary", model_label), markdown="\n".join(lines) + "\n", description=f"INVERT run {run_id}"
    )


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value
