"""Running named queries and ad-hoc SQL on a read-only connection, with bound parameters."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

import duckdb
import pyarrow as pa

from invert_pipeline.warehouse.catalog import NamedQuery, QueryParameter, get_query
from invert_pipeline.warehouse.connection import DEFAULT_WAIT_S, read_connection
from invert_pipeline.warehouse.errors import WarehouseError

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
) -> pa.Table:
    """Run the named query ``name`` of ``sql/queries`` with ``params`` bound, on a read-only connection.

    ``params`` maps parameter names to values, or to their text (as ``--param key=value`` gives
    it), which is converted to the declared type. Parameters not given take their default; a
    ``run`` parameter names a run by id or model version.
    """
    query = get_query(name)
    values = _parameter_values(query, dict(params or {}))
    with read_connection(db_path, wait_s=wait_s) as connection:
        for parameter in query.parameters:
            if values[parameter.name] is not None:
                values[parameter.name] = _check_reference(connection, parameter, values[parameter.name])
        return connection.sql(query.sql, params=values).to_arrow_table()


def run_sql(db_path: str | os.PathLike, sql: str, *, wait_s: float = DEFAULT_WAIT_S) -> pa.Table:
    """Run one ad-hoc SELECT statement on a read-only connection; anything else is refused."""
    if not isinstance(sql, str) or not sql.strip():
        raise WarehouseError(f"`sql` must be one SELECT statement, got {sql!r}")
    with read_connection(db_path, wait_s=wait_s) as connection:
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
        try:
            return connection.sql(sql).to_arrow_table()
        except duckdb.Error as error:
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
    if isinstance(value, str):
        return parameter.convert(value)
    expected = {"integer": int, "double": (int, float), "boolean": bool}.get(parameter.type, str)
    if (
        value is None
        or (isinstance(value, bool) and parameter.type != "boolean")
        or not isinstance(value, expected)
    ):
        raise WarehouseError(f"parameter {parameter.name!r} must be of type {parameter.type}, got {value!r}")
    return float(value) if parameter.type == "double" else value


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
    """The run with id ``reference``, else the latest finished run of model version ``reference``."""
    rows = connection.execute(
        """
        select run_id
        from runs
        where run_id = $reference or model_version = $reference
        order by run_id = $reference desc, finished_at desc nulls last, run_id desc
        limit 1
        """,
        {"reference": reference},
    ).fetchall()
    if not rows:
        runs = connection.execute("select run_id, model_version from runs order by run_id").fetchall()
        listing = ", ".join(f"{run_id} (version {version})" for run_id, version in runs) or "none"
        raise WarehouseError(
            f"no run with id or model version {reference!r}; runs in the warehouse: {listing}"
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
