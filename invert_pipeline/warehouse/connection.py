"""Connections to the warehouse file: short writes, read-only reads, a bounded wait for the lock.

DuckDB lets one process open a database file read-write, or several open it read-only, never
both: an open read-write connection locks the file against every other process. So writers keep
their connection for one load and close it, and every connection attempt that meets a lock is
retried until ``wait_s`` seconds have passed, then fails naming the process that holds the lock.

A new warehouse file is built under a temporary name and linked into place only once its schema is
committed and checkpointed, so a process killed while creating it never leaves a file without a
schema behind. A file DuckDB finds damaged (truncated, failing a block checksum, not a DuckDB file),
when it opens it or later when a query reads a damaged block, raises
:class:`~invert_pipeline.warehouse.errors.WarehouseDamagedError` naming the file and the command
that rebuilds it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from invert_pipeline.warehouse.access import NO_FILES, FileAccess, connect_config, restrict
from invert_pipeline.warehouse.catalog import schema_digest, schema_sql
from invert_pipeline.warehouse.errors import WarehouseBusyError, WarehouseDamagedError, WarehouseError
from invert_pipeline.warehouse_defaults import DEFAULT_WAIT_S
from invert_pipeline.workspace import WAREHOUSE_FILE, temporary_dir

_FIRST_RETRY_S = 0.05
_LONGEST_RETRY_S = 1.0
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?)(?:\. See also|$)")
# What DuckDB says of a file it cannot read (DuckDB 2.0's messages).
_DAMAGE_SIGNS = ("Could not read enough bytes", "Corrupt database file", "not a valid DuckDB database file", "checksum")


def validate_wait(wait_s: float) -> float:
    """``wait_s`` as a float, or an error naming it when it is negative or not a number."""
    if isinstance(wait_s, bool) or not isinstance(wait_s, (int, float)) or not wait_s >= 0:
        raise WarehouseError(f"`wait_s` must be a number of seconds >= 0, got {wait_s!r}")
    return float(wait_s)


@contextmanager
def write_connection(
    db_path: str | os.PathLike, *, wait_s: float = DEFAULT_WAIT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with the schema in place, closed on exit.

    Creates the file (and its schema) when missing, atomically (:func:`create_warehouse`). Refuses
    a file created by another version of ``sql/schema.sql``: ``invert warehouse rebuild`` recreates
    it from the Parquet files.
    """
    path = Path(db_path)
    wait_s = validate_wait(wait_s)
    if not path.exists():
        create_warehouse(path)
    connection = _connect(path, read_only=False, wait_s=wait_s)
    try:
        with reporting_damage(path):
            check_schema(connection, path)
            yield connection
    finally:
        connection.close()


def create_warehouse(db_path: str | os.PathLike) -> bool:
    """Create an empty warehouse of this schema at ``db_path`` unless a file is already there.

    The file is made in a temporary folder beside ``db_path``, its schema committed and
    checkpointed (no write-ahead log left), then hard-linked to ``db_path``, which never replaces
    a file another process created meanwhile. A kill at any point leaves either no file at
    ``db_path`` or a complete one; the temporary folder a kill leaves names its process and is
    removed by the next creation once that process is gone. Returns whether this call created the file.
    """
    path = Path(db_path)
    folder = temporary_dir(path)
    try:
        fresh = folder / path.name
        connection = duckdb.connect(str(fresh))
        try:
            connection.execute("begin transaction")
            connection.execute(schema_sql())
            connection.execute(
                "insert into warehouse_info values ('schema_digest', $digest)", {"digest": schema_digest()}
            )
            connection.execute("commit")
            connection.execute("checkpoint")
        finally:
            connection.close()
        try:
            os.link(fresh, path)
        except FileExistsError:
            return False
        return True
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def exclusive_connection(
    db_path: str | os.PathLike, *, wait_s: float = DEFAULT_WAIT_S
) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """Hold the lock of an existing database file (``None`` when there is no file), whatever its schema.

    While it is held no other process can open the file, so the file can be replaced safely.
    """
    path = Path(db_path)
    if not path.exists():
        yield None
        return
    connection = _connect(path, read_only=False, wait_s=validate_wait(wait_s))
    try:
        with reporting_damage(path):
            yield connection
    finally:
        connection.close()


@contextmanager
def read_connection(
    db_path: str | os.PathLike,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    access: FileAccess = NO_FILES,
    memory_limit_bytes: int | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a warehouse of this schema, closed on exit; DuckDB refuses writes.

    The connection is locked down (:mod:`invert_pipeline.warehouse.access`): no extension, no
    network, no file but the warehouse and those ``access`` allows, and a locked configuration.
    While it is open, writers wait: DuckDB lets no process write a file that another reads.
    ``memory_limit_bytes`` (``None``: DuckDB's default) caps the memory its queries use, with no
    spilling to disk.
    """
    path = Path(db_path)
    if not isinstance(access, FileAccess):
        raise WarehouseError(f"`access` must be a FileAccess (see file_access()), got {access!r}")
    config = connect_config(access)
    if memory_limit_bytes is not None:
        config.update(memory_limit=f"{int(memory_limit_bytes)}B", temp_directory="")
    if not path.is_file():
        raise WarehouseError(
            f"no warehouse at {path}: load a run first (`invert run`, `invert warehouse load RUN_ID`) "
            "or recreate it with `invert warehouse rebuild --workspace DIR`"
        )
    connection = _connect(path, read_only=True, wait_s=validate_wait(wait_s), config=config)
    try:
        with reporting_damage(path):
            restrict(connection, access)
            check_schema(connection, path)
            yield connection
    finally:
        connection.close()


@contextmanager
def reporting_damage(db_path: str | os.PathLike) -> Iterator[None]:
    """Turn DuckDB's error for a damaged file, raised in the block, into a :class:`WarehouseDamagedError` naming it."""
    try:
        yield
    except duckdb.Error as error:
        if not any(sign in str(error) for sign in _DAMAGE_SIGNS):
            raise
        raise WarehouseDamagedError(
            f"the warehouse {db_path} is damaged ({error}); it holds nothing the workspace's files do not: "
            f"recreate it from them with `{rebuild_command(db_path)}`"
        ) from error


def rebuild_command(db_path: str | os.PathLike) -> str:
    """The command line that recreates the warehouse ``db_path`` from its workspace."""
    path = Path(db_path)
    if path.name == WAREHOUSE_FILE:
        return f"invert warehouse rebuild --workspace {path.parent}"
    return f"invert warehouse rebuild --workspace WORKSPACE --db {path}"


def check_schema(connection: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a database that is not a warehouse of this schema, advising a rebuild."""
    found = None
    if _has_schema_digest(connection):
        rows = connection.execute("select value from warehouse_info where key = 'schema_digest'").fetchall()
        found = rows[0][0] if rows else None
    if found is None:
        raise WarehouseError(
            f"{path} is not a warehouse of invert (it has no schema digest; an interrupted creation by "
            "an older version leaves such a file): recreate it from the Parquet files with "
            "`invert warehouse rebuild`"
        )
    if found != schema_digest():
        raise WarehouseError(
            f"the warehouse {path} was made with another version of sql/schema.sql "
            f"(schema digest {found!r}, this code has {schema_digest()!r}): "
            "recreate it from the Parquet files with `invert warehouse rebuild`"
        )


def _has_schema_digest(connection: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        connection.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and table_name = 'warehouse_info'"
        ).fetchall()[0][0]
    )


def _connect(
    path: Path, *, read_only: bool, wait_s: float, config: dict[str, bool | str] | None = None
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    delay = _FIRST_RETRY_S
    while True:
        try:
            with reporting_damage(path):
                return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as error:
            holder = _lock_holder(str(error))
            if holder is None:
                raise WarehouseError(f"cannot open the warehouse {path}: {error}") from error
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseBusyError(
                    f"the warehouse {path} is locked by another process ({holder}); gave up after "
                    f"waiting {wait_s:g} s. A writer (invert run, invert warehouse load or rebuild) "
                    "locks it against everyone, and a reader (invert sql, invert query, a report) "
                    "against writers, while its connection is open. Wait for that process to finish, "
                    "or pass a longer wait (--wait SECONDS)"
                ) from error
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _LONGEST_RETRY_S)


def _lock_holder(message: str) -> str | None:
    """The lock holder DuckDB names in a lock conflict message, else ``None`` (not a lock problem)."""
    if "Could not set lock" not in message:
        return None
    match = _LOCK_HOLDER.search(message)
    return match.group("holder") if match else "holder not named by DuckDB"
