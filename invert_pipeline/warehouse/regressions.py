"""The warehouse's ``regressions`` table: the regression records of the workspace (:mod:`invert_pipeline.regression_records`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import duckdb

from invert_pipeline.regression_records import RegressionRecord
from invert_pipeline.warehouse.connection import DEFAULT_WAIT_S, write_connection


def store_regression(db_path: str | os.PathLike, record: RegressionRecord, *, wait_s: float = DEFAULT_WAIT_S) -> None:
    """Add ``record`` to the warehouse at ``db_path`` (a pair already there keeps its row), waiting up to
    ``wait_s`` seconds for another writer."""
    with write_connection(db_path, wait_s=wait_s) as connection:
        insert_regressions(connection, [record])


def insert_regressions(connection: duckdb.DuckDBPyConnection, records: Iterable[RegressionRecord]) -> None:
    """Insert ``records`` through ``connection``; a (run, against) pair already there keeps its row."""
    for record in records:
        if not isinstance(record, RegressionRecord):
            raise TypeError(f"`records` must hold RegressionRecord values, got {record!r}")
        connection.execute(
            "insert into regressions values ($run, $against, $first_seen, $failed, $findings) on conflict do nothing",
            {"run": record.run, "against": record.against, "first_seen": record.first_seen,
             "failed": list(record.findings.get("failed", [])), "findings": json.dumps(record.findings)},
        )
