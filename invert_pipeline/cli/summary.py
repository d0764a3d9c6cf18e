"""What ``invert run`` and ``invert explain`` print when a run is done: the significant neurons per
layer, the spurious findings, and the commands to type next. Everything is read from the warehouse."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

OTHER_FINDINGS_SHOWN = 3


def shown_path(path: str | Path) -> str:
    """``path`` as the results list shows it: relative to the current folder when it lies inside it."""
    absolute = Path(path).resolve()
    return str(absolute.relative_to(Path.cwd())) if absolute.is_relative_to(Path.cwd()) else str(absolute)


def print_significant_per_layer(db_path: Path, runs: Mapping[str, str]) -> None:
    """One table: each layer's neuron count and, per run (label -> run id), its significant neurons."""
    from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query
    from invert_pipeline.warehouse.output import format_table

    per_layer = None
    for label, run_id in runs.items():
        table = run_named_query(
            db_path, "significant_neurons_by_layer", {"run": run_id, "max_q_value": SIGNIFICANCE_LEVEL}
        )
        if per_layer is None:
            per_layer = table.select(["layer", "n_neurons"])
        heading = "significant" if len(runs) == 1 else f"significant {label}"
        per_layer = per_layer.append_column(heading, table.column("n_significant"))
    print(f"\nNeurons with a significant explanation (q < {SIGNIFICANCE_LEVEL}), per layer")
    print(format_table(per_layer))


def print_spurious_findings(db_path: Path, runs: Mapping[str, str]) -> None:
    """Per run (label -> run id): the classes that follow an attribute concept (all of them), then up to
    ``OTHER_FINDINGS_SHOWN`` that follow a concept of another class's hierarchy."""
    from invert_pipeline.findings import spurious_findings

    print("\nSpurious findings: classes that follow a concept outside their own hierarchy")
    for label, run_id in runs.items():
        findings = spurious_findings(db_path, run_id)
        outside = [finding for finding in findings if finding.is_attribute]
        others = [finding for finding in findings if not finding.is_attribute]
        print(f"  {label} ({run_id}):")
        if not outside:
            print("    no class relies on an attribute concept (such as watermark)")
        for finding in outside:
            print(f"    ! {finding.describe()}")
        for finding in others[:OTHER_FINDINGS_SHOWN]:
            print(f"    - {finding.describe()}")
        if len(others) > OTHER_FINDINGS_SHOWN:
            print(f"    - and {len(others) - OTHER_FINDINGS_SHOWN} more involving other classes")


def print_next_commands(workspace: str, run: str, *, compare_with: str | None = None) -> None:
    """The commands that look further into ``run`` (a run id or model version) in ``workspace``;
    with ``compare_with`` (an earlier run), the one that compares them."""
    where = f"--workspace {shlex.quote(workspace)}"
    quoted = shlex.quote(run)
    commands = [
        f"invert query spurious_logit_explanations --param run={quoted} {where}",
        f"invert query significant_neurons_by_layer --param run={quoted} {where}",
        f"invert sql \"select layer, neuron, formula, auc from best_explanations where run_id = '{run}' "
        f"order by auc desc limit 10\" {where}",
        f"invert query --list {where}   (every named query)",
    ]
    if compare_with is not None:
        commands.insert(
            2, f"invert query run_diff_explanations --param run_a={shlex.quote(compare_with)} "
            f"--param run_b={quoted} {where}",
        )
    print("\nNext")
    for command in commands:
        print(f"  {command}")
