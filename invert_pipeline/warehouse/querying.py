"""Running named queries and ad-hoc SQL on a read-only, locked-down connection, with bound parameters.

Both read the warehouse's tables; besides them, SQL may read the files under ``workspace`` when one
is given, or every local file with ``allow_files``, and never the network or an extension (see
:mod:`invert_pipeline.warehouse.access`). Both run within :class:`~.limits.QueryLimits`: a time limit
(the connection is interrupted, so a writer waits no longer) and a memory limit (DuckDB's, and the
size of the result).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from invert_pipeline.suggestions import did_you_mean
from invert_pipeline.warehouse.access import FileAccess, explain_refusal, file_access
from invert_pipeline.warehouse.catalog import NamedQuery, QueryParameter, get_query
from invert_pipeline.warehouse.connection import DEFAULT_WAIT_S, read_connection
from invert_pipeline.warehouse.errors import WarehouseError
from invert_pipeline.warehouse.limits import QueryLimits, out_of_memory, query_limits, time_limited

_READ_ONLY_HINT = (
    "to change the warehouse, load a run (`invert warehouse load RUN_ID`) or recreate it from the "
    "Parquet files (`invert warehouse rebuild`)"
)


def run_named_query(
    db_path: str | os.PathLike,
    name: str,
    params: Mapping[str, object] | None = None,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    workspace: str | os.PathLike | None = None,
    allow_files: bool = False,
    limits: QueryLimits | None = None,
) -> pa.Table:
    """Run the named query ``name`` of ``sql/queries`` with ``params`` bound, on a read-only connection.

    ``params`` maps parameter names to values, or to their text (as ``--param key=value`` gives
    it), which is converted to the declared type. Parameters not given take their default; a
    ``run`` parameter names a run by id or model version. ``workspace`` and ``allow_files`` say
    which files the connection may read besides the warehouse, and ``limits`` its time and memory
    (default :func:`~.limits.query_limits`), as for :func:`run_sql`.
    """
    access = _access(workspace, allow_files)
    limits = _limits(limits)
    query = get_query(name)
    values = _parameter_values(query, dict(params or {}))
    with _limited_connection(db_path, wait_s, access, limits) as connection:
        for parameter in query.parameters:
            if values[parameter.name] is not None:
                values[parameter.name] = _check_reference(connection, parameter, values[parameter.name])
        return _fetch(connection, query.sql, values, access, limits)


def run_sql(
    db_path: str | os.PathLike,
    sql: str,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    workspace: str | os.PathLike | None = None,
    allow_files: bool = False,
    limits: QueryLimits | None = None,
) -> pa.Table:
    """Run one ad-hoc SELECT statement on a read-only connection; anything else is refused.

    Besides the warehouse's tables the statement may read the files under ``workspace`` (when
    given) or, with ``allow_files``, every local file; never a network address or an extension.
    It runs within ``limits`` (default :func:`~.limits.query_limits`): past its time limit it is
    stopped, and past its memory limit it fails, each with an error naming the flag to raise it.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise WarehouseError(f"`sql` must be one SELECT statement, got {sql!r}")
    access = _access(workspace, allow_files)
    limits = _limits(limits)
    with _limited_connection(db_path, wait_s, access, limits) as connection:
        try:
            statements = connection.extract_statements(sql)
        except duckdb.Error as error:
            raise WarehouseError(f"cannot parse the SQL: {error}") from error
        if len(statements) != 1:
            raise WarehouseError(f"give exactly one SQL statement, got {len(statements)}")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise WarehouseError(
                f"invert sql is read-only: it runs one SELECT statement, got {kind.name}; {_READ_ONLY_HINT}"
            )
        return _fetch(connection, sql, None, access, limits)


def resolve_run(db_path: str | os.PathLike, reference: str, *, wait_s: float = DEFAULT_WAIT_S) -> str:
    """The run id that ``reference`` names, as a named query's ``run`` parameter reads it: a run id,
    else the latest run (by place in history) of the model version it names."""
    with read_connection(db_path, wait_s=wait_s) as connection:
        return _resolve_run(connection, reference)


def _access(workspace: str | os.PathLike | None, allow_files: bool) -> FileAccess:
    """The files a query may read: ``workspace``'s (when given), or every local one with ``allow_files``."""
    if workspace is not None and not isinstance(workspace, (str, os.PathLike)):
        raise WarehouseError(f"`workspace` must be a folder path or None, got {workspace!r}")
    return file_access(() if workspace is None else (workspace,), any_local_file=allow_files)


@contextmanager
def _limited_connection(
    db_path: str | os.PathLike, wait_s: float, access: FileAccess, limits: QueryLimits
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read connection within ``limits``: its memory capped, and interrupted once its time is up."""
    with read_connection(db_path, wait_s=wait_s, access=access, memory_limit_bytes=limits.memory_bytes) as connection:
        with time_limited(connection, limits):
            yield connection


def _limits(limits: QueryLimits | None) -> QueryLimits:
    if limits is None:
        return query_limits()
    if not isinstance(limits, QueryLimits):
        raise WarehouseError(f"`limits` must be a QueryLimits (see query_limits()), got {limits!r}")
    return limits


def _fetch(
    connection: duckdb.DuckDBPyConnection, sql: str, params: dict | None, access: FileAccess, limits: QueryLimits
) -> pa.Table:
    """The result of ``sql``, refused once it holds more than the memory limit; DuckDB's refusals become
    errors that say why and what to do."""
    try:
        reader = connection.sql(sql, params=params).to_arrow_reader()
        batches, size = [], 0
        for batch in reader:
            size += batch.nbytes
            if size > limits.memory_bytes:
                raise out_of_memory(limits, f"its result holds more than {limits.describe_memory()}")
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.OutOfMemoryException as error:
        raise out_of_memory(limits, str(error)) from error
    except duckdb.InterruptException:
        raise  # the time limit's: time_limited says so
    except duckdb.Error as error:
        refusal = explain_refusal(error, access)
        if refusal is not None:
            raise WarehouseError(refusal) from error
        if "read-only mode" in str(error):
            raise WarehouseError(f"invert sql is read-only ({error}); {_READ_ONLY_HINT}") from error
        raise WarehouseError(f"the SQL failed: {error}") from error


def _parameter_values(query: NamedQuery, given: dict[str, object]) -> dict[str, object]:
    """Every declared parameter's value: given (converted from text) or its default."""
    declared = {parameter.name: parameter for parameter in query.parameters}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise WarehouseError(
            f"query {query.name!r} has no parameter(s) {unknown}; its parameters: {_describe(query)}"
        )
    values = {}
    for name, parameter in declared.items():
        if name in given:
            values[name] = _typed(parameter, given[name])
        elif parameter.required:
            raise WarehouseError(
                f"query {query.name!r} needs --param {name}=... ({parameter.description.rstrip('.')}); "
                f"its parameters: {_describe(query)}"
            )
        else:
            values[name] = parameter.default
    return values


def _typed(parameter: QueryParameter, value: object) -> object:
    """``value`` (or its text) as the parameter's type.

    NaN is refused: DuckDB orders NaN above every number, so a filter such as
    ``q_value < $max_q_value`` would keep every row.
    """
    if isinstance(value, str):
        value = parameter.convert(value)
    else:
        expected = {"integer": int, "double": (int, float), "boolean": bool}.get(parameter.type, str)
        if (
            value is None
            or (isinstance(value, bool) and parameter.type != "boolean")
            or not isinstance(value, expected)
        ):
            raise WarehouseError(
                f"parameter {parameter.name!r} must be of type {parameter.type}, got {value!r}"
            )
    if parameter.type != "double":
        return value
    if not math.isfinite(value):
        example = "" if parameter.default is None else f" such as its default {parameter.default!r}"
        raise WarehouseError(
            f"parameter {parameter.name!r} must be a finite number, got {value!r}: NaN and infinities are above "
            f"or below every number, so its filter would keep every row or none; give --param "
            f"{parameter.name}=<number>{example}"
        )
    return float(value)


def _check_reference(
    connection: duckdb.DuckDBPyConnection, parameter: QueryParameter, value: object
) -> object:
    """Resolve a run reference to its run id; check that a concept or class exists."""
    if parameter.type == "run":
        return _resolve_run(connection, str(value))
    if parameter.type == "concept":
        known = [row[0] for row in connection.execute("select distinct concept from concepts").fetchall()]
    elif parameter.type == "class":
        known = [
            row[0]
            for row in connection.execute("select distinct unnest(class_names) from datasets").fetchall()
        ]
    else:
        return value
    if value not in known:
        close = difflib.get_close_matches(str(value), known, n=5)
        hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"{len(known)} are known"
        raise WarehouseError(
            f"no {parameter.type} named {value!r} in the warehouse ({parameter.name}); {hint}"
        )
    return value


def _resolve_run(connection: duckdb.DuckDBPyConnection, reference: str) -> str:
    """The run with id ``reference``, else the latest run of model version ``reference`` (by place in history)."""
    rows = connection.execute(
        """
        select run_id
        from runs
        where run_id = $reference or model_version = $reference
        order by run_id = $reference desc, created_at desc nulls last, sequence desc nulls last, run_id desc
        limit 1
        """,
        {"reference": reference},
    ).fetchall()
    if not rows:
        runs = connection.execute("select run_id, model_version from runs order by run_id").fetchall()
        listing = ", ".join(f"{run_id} (version {version})" for run_id, version in runs) or "none"
        known = sorted({name for row in runs for name in row if name})
        raise WarehouseError(
            f"no run with id or model version {reference!r}; {did_you_mean(reference, known)}runs in the warehouse: {listing}"
        )
    return rows[0][0]


def _describe(query: NamedQuery) -> str:
    return (
        ", ".join(
            f"{parameter.name} ({parameter.type}"
            + ("" if parameter.required else f", default {parameter.default!r}")
            + ")"
            for parameter in query.parameters
        )
        or "none"
    )
