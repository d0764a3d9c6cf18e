"""Checking a warehouse against its workspace: every block readable, every run's rows the ones loaded from its files."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from invert_pipeline.warehouse.connection import DEFAULT_WAIT_S, read_connection, rebuild_command
from invert_pipeline.warehouse.errors import WarehouseBusyError, WarehouseError
from invert_pipeline.warehouse.loading import run_problem
from invert_pipeline.warehouse.manifest import find_run_ids, read_manifest
from invert_pipeline.warehouse.run_tables import source_digest
from invert_pipeline.workspace import DamagedFileError


def warehouse_problems(
    db_path: str | os.PathLike, workspace: str | os.PathLike, *, wait_s: float = DEFAULT_WAIT_S
) -> list[str]:
    """What is wrong with the warehouse at ``db_path``, one line each (none when there is no file, or nothing is).

    The whole file is read (DuckDB checks every block against its checksum), then each run it
    holds is compared with the workspace: its manifest must exist, its files must be those it was
    loaded from, and its rows in every table those its load inserted
    (:func:`invert_pipeline.warehouse.loading.run_problem`). A run whose manifest is damaged is left
    to the check of the workspace's files, which names it.
    """
    path = Path(db_path)
    if not path.is_file():
        return []
    expected, damaged_manifests = {}, set()
    for run_id in find_run_ids(workspace):
        try:
            expected[run_id] = source_digest(read_manifest(workspace, run_id))
        except (WarehouseError, DamagedFileError):
            damaged_manifests.add(run_id)
    fix = f"`invert run` loads such a run again, or recreate the warehouse with `{rebuild_command(path)}`"
    problems = []
    try:
        with read_connection(path, wait_s=wait_s) as connection:
            _read_every_table(connection)
            for (run_id,) in connection.execute("select run_id from runs order by run_id").fetchall():
                if run_id in damaged_manifests:
                    continue
                problem = run_problem(connection, run_id, expected[run_id]) if run_id in expected else (
                    "the workspace has no manifest of it"
                )
                if problem is not None:
                    problems.append(f"run {run_id}: {problem}; {fix}")
    except WarehouseBusyError:
        raise
    except WarehouseError as error:  # damaged, or of another schema: the message names the rebuild
        return [str(error)]
    return problems


def _read_every_table(connection: duckdb.DuckDBPyConnection) -> None:
    """Read every column of every table, so that DuckDB checks each block of the file."""
    tables = connection.execute(
        "select table_name from duckdb_tables() where database_name = current_database() order by 1"
    ).fetchall()
    for (table,) in tables:
        connection.execute(f'select count(*), sum(hash(t)) from "{table}" t').fetchall()
