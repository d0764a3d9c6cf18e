"""A run's place in the history of its workspace: when it was first created, and its sequence number.

The place is fixed when a run's manifest is first written and carried over by every rewrite of it
(a recompute after a damaged manifest, deleted Prefect results or a moved workspace), so the order
of a model's versions — the previous version, the latest run of a version, the regression gate —
never turns round after a fault. It is kept in two places, the manifest (``created_at``,
``sequence``) and the warehouse's ``runs`` row; a rewrite takes it from whichever is intact.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from invert_pipeline.warehouse.connection import DEFAULT_WAIT_S, read_connection
from invert_pipeline.warehouse.errors import WarehouseBusyError, WarehouseError
from invert_pipeline.workspace import Workspace, check_file, read_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryPlace:
    """Where a run stands in its workspace's history; runs are ordered by ``(created_at, sequence, run_id)``."""

    created_at: str  # ISO-8601 in UTC, to the second: when the run's manifest was first written
    sequence: int  # 1 for the workspace's first run, then one more than the largest known at creation


def history_place(workspace: str | os.PathLike, run_id: str, now: str, *, wait_s: float = DEFAULT_WAIT_S) -> HistoryPlace:
    """The place of ``run_id``: the one its intact manifest records, else the warehouse, else a new one at ``now``.

    ``now`` is an ISO-8601 time. A new place's sequence follows every sequence the workspace's
    intact manifests and its warehouse record. The warehouse is read only when the run's own
    manifest holds no place (a first run, or a manifest damaged or deleted), waiting up to
    ``wait_s`` seconds for a writer.
    """
    if not isinstance(now, str) or not now:
        raise ValueError(f"`now` must be an ISO-8601 time, got {now!r}")
    known = _manifest_places(workspace)
    if run_id in known:
        return known[run_id]
    known = {**_warehouse_places(Workspace(workspace).warehouse, wait_s), **known}
    if run_id in known:
        return known[run_id]
    return HistoryPlace(created_at=now, sequence=1 + max((place.sequence for place in known.values()), default=0))


def _manifest_places(workspace: str | os.PathLike) -> dict[str, HistoryPlace]:
    """The places recorded by the workspace's intact manifests (a damaged one is named when it is rewritten)."""
    root = Workspace(workspace)
    places = {}
    for run_id in root.run_ids():
        path = root.manifest(run_id)
        if check_file(path) is not None:
            continue
        document = read_json(path)
        created_at, sequence = document.get("created_at"), document.get("sequence")
        if isinstance(created_at, str) and isinstance(sequence, int):
            places[run_id] = HistoryPlace(created_at=created_at, sequence=sequence)
    return places


def _warehouse_places(db_path: Path, wait_s: float) -> dict[str, HistoryPlace]:
    """The places the warehouse records; none when there is no warehouse or it cannot be read (said in a warning)."""
    if not db_path.is_file():
        return {}
    try:
        with read_connection(db_path, wait_s=wait_s) as connection:
            rows = connection.execute(
                "select run_id, created_at, sequence from runs where created_at is not null and sequence is not null"
            ).fetchall()
    except WarehouseBusyError:
        raise  # a busy warehouse may hold the only intact record: wait for it rather than guess
    except WarehouseError as error:
        logger.warning("the run history is read from the manifests only: %s", error)
        return {}
    return {run_id: HistoryPlace(created_at=_iso(created_at), sequence=sequence) for run_id, created_at, sequence in rows}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
