"""The regression gate: what a new version of a model lost or picked up against the version it replaces.

Three checks, each from the warehouse (:mod:`invert_pipeline.findings`):

- ``spurious``: spurious findings the new run has and the old one has not. A finding is the same
  when the same class follows the same outside concepts the same way (its logit, or a neuron
  feeding it); neuron numbers are not compared, since retraining reorders the neurons.
- ``logits``: classes whose logit is explained by another formula.
- ``lost``: concepts the old run explains significantly and the new one no longer does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the findings read the warehouse (DuckDB), imported when runs are compared
    from invert_pipeline.findings import Finding

CHECKS = ("spurious", "logits", "lost")


@dataclass(frozen=True)
class Regression:
    """What the run ``run`` regressed on against ``against`` (run ids or model versions), per check."""

    run: str
    against: str
    new_spurious: tuple[Finding, ...]
    changed_logits: tuple[dict, ...]  # class_name, formula_a (before), formula_b (now)
    lost_concepts: tuple[str, ...]

    def failed(self, checks: Iterable[str] = CHECKS) -> list[str]:
        """The checks among ``checks`` that found something, in the order of :data:`CHECKS`."""
        found = {"spurious": self.new_spurious, "logits": self.changed_logits, "lost": self.lost_concepts}
        unknown = set(checks) - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown regression checks {sorted(unknown)}; the checks are {', '.join(CHECKS)}")
        return [check for check in CHECKS if check in checks and found[check]]

    @property
    def regressed(self) -> bool:
        """Whether any check found something."""
        return bool(self.failed())

    def payload(self) -> dict:
        """The findings as JSON values: the payload of the ``invert.model.regressed`` event."""
        return {
            "run": self.run,
            "against": self.against,
            "failed": self.failed(),
            "new_spurious": [
                {"class_name": found.class_name, "via": found.via, "layer": found.layer, "neuron": found.neuron,
                 "formula": found.formula, "concepts": list(found.concepts), "auc": found.auc,
                 "is_attribute": found.is_attribute}
                for found in self.new_spurious
            ],
            "changed_logits": [dict(row) for row in self.changed_logits],
            "lost_concepts": list(self.lost_concepts),
        }

    def lines(self) -> list[str]:
        """The findings as plain text, one per line; a line saying so when there are none."""
        if not self.regressed:
            return [f"no regression of {self.run} against {self.against}: no new spurious finding, "
                    "no class logit explained otherwise, no concept lost"]
        lines = [f"new spurious finding: {found.describe()}" for found in self.new_spurious]
        lines += [f"class {row['class_name']}: logit explained by `{row['formula_a']}` before, `{row['formula_b']}` now"
                  for row in self.changed_logits]
        lines += [f"concept no longer explained: {concept}" for concept in self.lost_concepts]
        return lines


def compare_runs(db_path: str | Path, run: str, against: str) -> Regression:
    """Compare the run ``run`` with the earlier run ``against`` (run ids or model versions) on every check."""
    from invert_pipeline.findings import changes_since, spurious_findings

    before = {_same_finding(found) for found in spurious_findings(db_path, against)}
    changes = changes_since(db_path, against, run)
    return Regression(
        run=run,
        against=against,
        new_spurious=tuple(found for found in spurious_findings(db_path, run) if _same_finding(found) not in before),
        changed_logits=changes.logits,
        lost_concepts=changes.lost,
    )


def _same_finding(found: Finding) -> tuple:
    """What makes two runs' findings the same one: the class, the way it follows, and the concepts followed."""
    return found.class_name, found.via, frozenset(found.concepts)
