"""Loading runs into the warehouse (one transaction per run) and rebuilding it from the workspace.

Loading a run again replaces it: in one transaction the run's leaf rows (explanations, their
concepts, atomic scores, influences) are deleted and inserted anew, while the rows other tables
refer to (the dataset, its concepts, the run, its layers and neurons) are inserted or updated in
place. A crash at any point leaves the previous state, since DuckDB commits all or nothing.

Each load records the count and digest of the rows it inserted (:mod:`.contents`): a run counts as
loaded only while its files are the ones loaded and its rows the ones inserted, so rows deleted or
edited in the warehouse are loaded again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from invert_pipeline.faults import fault_point
from invert_pipeline.regression_records import regression_records
from invert_pipeline.warehouse.connection import (
    DEFAULT_WAIT_S,
    exclusive_connection,
    read_connection,
    write_connection,
)
from invert_pipeline.warehouse.contents import contents_differences, record_contents
from invert_pipeline.warehouse.errors import WarehouseDamagedError, WarehouseError
from invert_pipeline.warehouse.manifest import find_run_ids, read_manifest
from invert_pipeline.warehouse.regressions import insert_regressions
from invert_pipeline.warehouse.run_tables import RunTables, read_run_tables, source_digest
from invert_pipeline.workspace import DamagedFileError, temporary_dir

logger = logging.getLogger(__name__)

# Rows that other tables reference: inserted when new, otherwise updated in place (never deleted
# during a load, which DuckDB would refuse once their referencing rows were deleted). Per table:
# the primary key, then the other columns an update must not touch: DuckDB updates a key or
# foreign-key column by deleting and reinserting the row, which the same rule refuses.
_PARENT_KEYS = {
    "runs": (("run_id",), ("dataset_fingerprint",)),
    "layers": (("run_id", "layer"), ()),
    "neurons": (("run_id", "layer", "neuron"), ()),
}
# Rows nothing references: replaced as a whole for the run.
_LEAF_TABLES = ("explanations", "explanation_concepts", "atomic_scores", "neuron_influence")


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild loaded, and the runs it left out with the reason."""

    loaded: tuple[str, ...]
    skipped: dict[str, str]


def load_run(
    db_path: str | os.PathLike, workspace: str | os.PathLike, run_id: str, *, wait_s: float = DEFAULT_WAIT_S
) -> bool:
    """Load (or replace) the run ``run_id`` of ``workspace`` into the warehouse at ``db_path``.

    Returns ``False`` when the warehouse already holds this run loaded from the same files by the
    same code, with the rows that load inserted (nothing to do), ``True`` after a load; a run
    whose rows differ is loaded again with a warning saying how they differ. The run's files are
    read and checked first; then the warehouse is opened for writing (waiting up to ``wait_s``
    seconds for another writer), changed in one transaction, and closed.
    """
    problem = load_problem(db_path, workspace, run_id, wait_s=wait_s)
    if problem is None:
        return False
    if problem != NOT_LOADED:
        logger.warning("run %s in the warehouse %s: %s; loading it again", run_id, db_path, problem)
    tables = read_run_tables(read_manifest(workspace, run_id))
    with write_connection(db_path, wait_s=wait_s) as connection:
        replace_run(connection, tables)
    return True


def is_loaded(
    db_path: str | os.PathLike, workspace: str | os.PathLike, run_id: str, *, wait_s: float = DEFAULT_WAIT_S
) -> bool:
    """Whether the warehouse at ``db_path`` holds ``run_id`` loaded from its current files by this code,
    with the rows that load inserted (:func:`load_problem` finds nothing)."""
    return load_problem(db_path, workspace, run_id, wait_s=wait_s) is None


NOT_LOADED = "it is not in the warehouse"


def load_problem(
    db_path: str | os.PathLike, workspace: str | os.PathLike, run_id: str, *, wait_s: float = DEFAULT_WAIT_S
) -> str | None:
    """Why the warehouse at ``db_path`` does not hold ``run_id`` as its files give it (``None``: it does).

    :data:`NOT_LOADED` when the run (or the warehouse file) is missing; else what differs: the files
    or code it was loaded from, or its rows in a table (:func:`.contents.contents_differences`).
    """
    expected = source_digest(read_manifest(workspace, run_id))  # files read before the lock is taken
    path = Path(db_path)
    if not path.is_file():
        return NOT_LOADED
    with read_connection(path, wait_s=wait_s) as connection:
        return run_problem(connection, run_id, expected)


def run_problem(connection: duckdb.DuckDBPyConnection, run_id: str, expected_source: str) -> str | None:
    """How the warehouse of ``connection`` differs for ``run_id`` from a load of files of digest ``expected_source``."""
    rows = connection.execute("select source_digest from runs where run_id = $run_id", {"run_id": run_id}).fetchall()
    if not rows:
        return NOT_LOADED
    if rows[0][0] != expected_source:
        return "it was loaded from other files, or by other loading code, than the workspace has now"
    differences = contents_differences(connection, run_id)
    if differences:
        return "its rows differ from those loaded from its files: " + "; ".join(differences)
    return None


def rebuild(
    db_path: str | os.PathLike, workspace: str | os.PathLike, *, wait_s: float = DEFAULT_WAIT_S
) -> RebuildResult:
    """Recreate the warehouse from every completed run manifest of ``workspace``, and the regressions recorded
    for the runs it loads.

    A run that is not completed, or whose files are missing or damaged (they fail their digest
    record), is skipped and named in the result with the reason; the others are loaded. The new
    warehouse is built in a temporary file beside ``db_path`` and renamed over it while the old
    file's lock is held, so readers see either the old warehouse or the new one.
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    loaded, skipped = [], {}
    folder = temporary_dir(path)
    try:
        fresh = folder / path.name
        with write_connection(fresh, wait_s=0) as connection:
            for run_id in find_run_ids(workspace):
                try:
                    manifest = read_manifest(workspace, run_id)
                    if manifest.status != "completed":
                        skipped[run_id] = f"status is {manifest.status!r}, not 'completed'"
                        continue
                    tables = read_run_tables(manifest)
                except (WarehouseError, DamagedFileError) as error:
                    skipped[run_id] = str(error)
                    continue
                replace_run(connection, tables)
                loaded.append(run_id)
            insert_regressions(connection, (record for record in regression_records(workspace) if record.run in loaded))
        try:
            with exclusive_connection(path, wait_s=wait_s) as old:
                if old is not None:
                    old.execute("checkpoint")  # nothing of the old file may stay in its write-ahead log
                os.replace(fresh, path)
        except WarehouseDamagedError:  # no process can use a damaged file, and it holds nothing to keep
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
            os.replace(fresh, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return RebuildResult(loaded=tuple(loaded), skipped=skipped)


def replace_run(connection: duckdb.DuckDBPyConnection, tables: RunTables) -> None:
    """Replace the run of ``tables`` in the warehouse of ``connection``, in one transaction."""
    connection.execute("begin transaction")
    try:
        if not _dataset_present(connection, tables.dataset_fingerprint):
            for name in ("datasets", "concepts", "concept_edges"):
                _insert(connection, name, getattr(tables, name), tables.run_id)
        _check_same_shape(connection, tables)
        _upsert(connection, "runs", tables.runs, tables.run_id)
        for name in _LEAF_TABLES:
            connection.execute(f"delete from {name} where run_id = $run_id", {"run_id": tables.run_id})
        _upsert(connection, "layers", tables.layers, tables.run_id)
        _upsert(connection, "neurons", tables.neurons, tables.run_id)
        for name in _LEAF_TABLES:
            _insert(connection, name, getattr(tables, name), tables.run_id)
        record_contents(connection, tables.run_id)
        fault_point("warehouse:commit")
        connection.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # the transaction may already be gone
            connection.execute("rollback")
        raise


def _dataset_present(connection: duckdb.DuckDBPyConnection, fingerprint: str) -> bool:
    """A dataset's rows are fixed by its fingerprint: once loaded, they stay as they are."""
    return bool(
        connection.execute(
            "select count(*) from datasets where dataset_fingerprint = $fingerprint",
            {"fingerprint": fingerprint},
        ).fetchall()[0][0]
    )


def _check_same_shape(connection: duckdb.DuckDBPyConnection, tables: RunTables) -> None:
    """A run already loaded keeps its dataset and its layers: those rows cannot be replaced in place."""
    rows = connection.execute(
        "select dataset_fingerprint from runs where run_id = $run_id", {"run_id": tables.run_id}
    ).fetchall()
    if not rows:
        return
    row = rows[0]
    before = connection.execute(
        "select layer, n_neurons from layers where run_id = $run_id order by layer", {"run_id": tables.run_id}
    ).fetchall()
    after = sorted(
        zip(
            tables.layers.column("layer").to_pylist(),
            tables.layers.column("n_neurons").to_pylist(),
            strict=True,
        )
    )
    if row[0] != tables.dataset_fingerprint or before != after:
        raise WarehouseError(
            f"run {tables.run_id} is in the warehouse with dataset {row[0]} and layers {before}, but its "
            f"manifest now has dataset {tables.dataset_fingerprint} and layers {after}; the dataset and "
            "layers of a loaded run cannot change in place. Recreate the warehouse from the Parquet files "
            "with `invert warehouse rebuild`"
        )


def _insert(connection: duckdb.DuckDBPyConnection, name: str, rows: pa.Table, run_id: str) -> None:
    _write(connection, name, rows, run_id, f"insert into {name} by name select * from incoming")


def _upsert(connection: duckdb.DuckDBPyConnection, name: str, rows: pa.Table, run_id: str) -> None:
    keys, fixed = _PARENT_KEYS[name]
    columns = ", ".join(rows.column_names)
    changing = [column for column in rows.column_names if column not in keys + fixed]
    updates = ", ".join(f"{column} = excluded.{column}" for column in changing)
    action = f"do update set {updates}" if updates else "do nothing"
    conflict = f"on conflict ({', '.join(keys)}) {action}"
    statement = f"insert into {name} ({columns}) select {columns} from incoming {conflict}"
    _write(connection, name, rows, run_id, statement)


def _write(
    connection: duckdb.DuckDBPyConnection, name: str, rows: pa.Table, run_id: str, statement: str
) -> None:
    """Run ``statement`` with ``rows`` visible as the view ``incoming``."""
    connection.register("incoming", rows)
    try:
        connection.execute(statement)
    except duckdb.Error as error:  # the transaction is aborted: the caller rolls back and closes
        raise WarehouseError(f"loading run {run_id} into table {name}: {error}") from error
    connection.unregister("incoming")
