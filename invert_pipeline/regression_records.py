"""Regressions as recorded facts: the first gate to find a (run, against) pair records it, and only it alerts.

A regression of the run ``run`` against the earlier run ``against`` is recorded in the workspace
as ``runs/<run>/regressions/<against>.json`` (``run``, ``against``, ``first_seen``, ``findings``:
the ``invert.model.regressed`` payload). The record is made under a lock on the run's folder, so
of any number of gates that find the same pair — a cached rerun, a scheduled run, a second
executor, at the same time or years apart — exactly one makes it (``is_new``) and sends the alert;
the others read it and say that it was reported. The alert's event id is derived from the pair
(:func:`regression_event_id`), so a re-delivered event is the same event to Prefect.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from invert_pipeline.workspace import DamagedFileError, Workspace, atomic_write_json, is_intact, read_json

# The namespace of the regression events' ids (uuid5): any fixed UUID, never to be changed, since
# a new one would give already reported pairs new ids.
_EVENT_NAMESPACE = uuid.UUID("6f1b8a52-3c1e-4d5e-9a43-0d2c9b7e4f10")


@dataclass(frozen=True)
class RegressionRecord:
    """The recorded regression of the run ``run`` against the run ``against`` (both run ids)."""

    run: str
    against: str
    first_seen: str  # ISO-8601 in UTC: when a gate first found it (and alerted)
    findings: dict  # the invert.model.regressed payload (invert_pipeline.regression.Regression.payload)
    is_new: bool  # whether this call made the record (then, and only then, the caller alerts)

    @property
    def event_id(self) -> uuid.UUID:
        """The id of this regression's ``invert.model.regressed`` event (:func:`regression_event_id`)."""
        return regression_event_id(self.run, self.against)


def regression_event_id(run: str, against: str) -> uuid.UUID:
    """The stable id of the ``invert.model.regressed`` event of ``run`` against ``against``: a UUID5 of the pair."""
    for name, value in (("run", run), ("against", against)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"`{name}` must be a run id, got {value!r}")
    return uuid.uuid5(_EVENT_NAMESPACE, f"{run}\n{against}")


def record_regression(workspace: str | os.PathLike, findings: dict, now: str) -> RegressionRecord:
    """The record of the regression ``findings`` (a payload with run ids ``run`` and ``against``): made now when
    there is none (``is_new``), else the one made first.

    ``now`` is an ISO-8601 time, the ``first_seen`` of a new record.
    """
    if not isinstance(findings, dict) or not all(isinstance(findings.get(key), str) for key in ("run", "against")):
        raise ValueError(f"`findings` must be a regression payload with the run ids 'run' and 'against', got {findings!r}")
    if not isinstance(now, str) or not now:
        raise ValueError(f"`now` must be an ISO-8601 time, got {now!r}")
    root = Workspace(workspace)
    run, against = findings["run"], findings["against"]
    path = root.regression(run, against)
    with _locked(root.run_dir(run)):
        if is_intact(path):  # a damaged record counts as missing (said in a warning) and is made again
            return _read(path)
        atomic_write_json({"run": run, "against": against, "first_seen": now, "findings": findings}, path)
    return RegressionRecord(run=run, against=against, first_seen=now, findings=findings, is_new=True)


def regression_records(workspace: str | os.PathLike) -> list[RegressionRecord]:
    """Every intact regression record of ``workspace``, by run then earlier run (``is_new`` is false); a damaged
    one is left out with a warning, and made again by the next gate that finds its regression."""
    root = Workspace(workspace)
    return [_read(path) for path in sorted(root.runs_dir.glob("*/regressions/*.json")) if is_intact(path)]


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder's hidden ``.regressions.lock`` (it waits for another holder)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".regressions.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> RegressionRecord:
    """The record in ``path``, made by an earlier gate (``is_new`` false)."""
    document = read_json(path)
    try:
        return RegressionRecord(
            run=document["run"], against=document["against"], first_seen=document["first_seen"],
            findings=document["findings"], is_new=False,
        )
    except (KeyError, TypeError) as error:
        raise DamagedFileError(path, f"it is not a regression record (no {error})") from error
