"""What a run found, from the warehouse: spurious findings, and what changed since the model's previous version.

A *spurious finding* is a class that follows a concept outside its own hierarchy: its logit, or a
neuron among its strongest inputs, is significantly explained by a formula that names such a
concept (queries ``spurious_logit_explanations`` and ``spurious_class_features``). The *previous
version* of a run is the latest earlier run of the same model name on the same dataset with other
weights; :func:`changes_since` compares the two (queries ``run_diff_concepts`` and
``run_diff_explanations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query

# Concept kinds outside every class hierarchy: a class that follows one of them follows a property
# of the images, not of any class.
ATTRIBUTE_KINDS = ("attribute", "annotation")


@dataclass(frozen=True)
class Finding:
    """One spurious finding of a run: a class that follows a concept outside its own hierarchy."""

    class_name: str
    concepts: tuple[str, ...]  # the formula's non-negated concepts outside the class's hierarchy
    layer: str
    neuron: int
    formula: str
    auc: float
    q_value: float  # the effective q-value (held-out when the run has one) of the formula
    via: Literal["logit", "feeds"]  # the class's own output, or a neuron among its strongest inputs
    is_attribute: bool  # one of ``concepts`` is outside the hierarchy altogether (attribute, annotation)

    def describe(self) -> str:
        if self.via == "logit":
            where = "its logit"
        elif self.via == "feeds":
            where = f"{self.layer} neuron {self.neuron}, which feeds it,"
        else:
            raise ValueError(f"Finding.via must be 'logit' or 'feeds'; got {self.via!r}")
        return f"class {self.class_name}: {where} is explained by `{self.formula}` (AUC {self.auc:.3f})"


@dataclass(frozen=True)
class Changes:
    """What changed from a model's previous version (``run_a``) to a run (``run_b``)."""

    run_a: str
    run_b: str
    gained: tuple[str, ...]  # concepts only ``run_b`` explains significantly
    lost: tuple[str, ...]  # concepts only ``run_a`` explains significantly
    logits: tuple[dict, ...]  # class outputs whose best formula changed: class_name, formula_a, formula_b
    n_changed: int  # neurons whose best formula changed (or that only one of the runs explains)


def spurious_findings(db_path: str | Path, run_id: str) -> list[Finding]:
    """The run's spurious findings (queries ``spurious_logit_explanations`` and ``spurious_class_features``).

    The queries decide what lies outside a class's hierarchy; a finding names the formula's
    non-negated concepts among those (a formula such as ``Trouser & ~watermark`` relies on the
    absence of the watermark, not on it). Findings that involve a concept outside the hierarchy
    altogether (an attribute or an annotation, such as ``watermark``) come first; within each
    group, highest AUC first.
    """
    query = {"run": run_id, "max_q_value": SIGNIFICANCE_LEVEL}
    logit_concepts: dict[tuple, dict[str, str]] = {}
    for row in run_named_query(db_path, "spurious_logit_explanations", query).to_pylist():
        key = (row["class_name"], row["layer"], row["neuron"], row["formula"], row["auc"], row["effective_q_value"])
        concepts = logit_concepts.setdefault(key, {})
        if not row["negated"]:
            concepts[row["concept"]] = row["concept_kind"]
    candidates = [(*key, "logit", concepts) for key, concepts in logit_concepts.items()]
    for row in run_named_query(db_path, "spurious_class_features", query).to_pylist():
        concepts = dict(zip(row["unrelated_concepts"] or [], row["unrelated_kinds"] or [], strict=True))
        candidates.append((row["class_name"], row["source_layer"], row["source_neuron"], row["formula"], row["auc"],
                           row["effective_q_value"], "feeds", concepts))
    findings = [
        Finding(class_name, tuple(concepts), layer, neuron, formula, auc, q_value, via,
                any(kind in ATTRIBUTE_KINDS for kind in concepts.values()))
        for class_name, layer, neuron, formula, auc, q_value, via, concepts in candidates
        if concepts
    ]
    return sorted(findings, key=lambda found: (not found.is_attribute, -found.auc, found.class_name, found.neuron))


def previous_version(db_path: str | Path, run_id: str) -> str | None:
    """The latest run finished before ``run_id`` of the same model name and dataset with other weights, if any
    (the named query ``previous_version``)."""
    rows = run_named_query(db_path, "previous_version", {"run": run_id}).column("run_id").to_pylist()
    return rows[0] if rows else None


def changes_since(db_path: str | Path, run_a: str, run_b: str) -> Changes:
    """What changed from ``run_a`` (the earlier version) to ``run_b``: concepts, class outputs, neurons."""
    pair = {"run_a": run_a, "run_b": run_b}
    concepts = run_named_query(db_path, "run_diff_concepts", {**pair, "max_q_value": SIGNIFICANCE_LEVEL}).to_pylist()
    changed = run_named_query(db_path, "run_diff_explanations", pair).to_pylist()
    return Changes(
        run_a=run_a,
        run_b=run_b,
        gained=tuple(row["concept"] for row in concepts if row["change"] == "gained"),
        lost=tuple(row["concept"] for row in concepts if row["change"] == "lost"),
        logits=tuple(
            {name: row[name] for name in ("class_name", "formula_a", "formula_b")}
            for row in changed
            if row["class_name"] is not None and row["change"] == "changed"
        ),
        n_changed=len(changed),
    )
