"""A loaded run's rows, recorded and checked: per table, how many rows the load inserted and a digest of them.

A load records, in its own transaction, the count and digest of the rows it just inserted from the
run's files (table ``run_contents``). Later, the same query over the table's rows for the run tells
whether they are still the ones loaded: rows deleted, added or edited in the warehouse change the
count or the digest. The digest is DuckDB's ``sum(hash(row))`` over every column, so it does not
depend on the order of the rows.
"""

from __future__ import annotations

import duckdb

# The tables whose rows belong to one run (a dataset's rows are shared by its runs and keyed by its fingerprint).
RUN_TABLES = (
    "runs",
    "layers",
    "neurons",
    "explanations",
    "explanation_concepts",
    "atomic_scores",
    "neuron_influence",
)


def rows_digests(connection: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, tuple[int, str]]:
    """Per table of :data:`RUN_TABLES`: the number of ``run_id``'s rows and their digest (decimal text)."""
    statement = " union all ".join(
        f"select '{table}', count(*), coalesce(sum(hash(t)), 0)::varchar from {table} t where t.run_id = $run_id"
        for table in RUN_TABLES
    )
    return {table: (count, digest) for table, count, digest in connection.execute(statement, {"run_id": run_id}).fetchall()}


def record_contents(connection: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Record the digests of ``run_id``'s rows as they are now; the caller's transaction has just loaded them."""
    connection.execute("delete from run_contents where run_id = $run_id", {"run_id": run_id})
    connection.executemany(
        "insert into run_contents values (?, ?, ?, ?)",
        [[run_id, table, count, digest] for table, (count, digest) in rows_digests(connection, run_id).items()],
    )


def contents_differences(connection: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """How ``run_id``'s rows differ from those its load recorded, one line per table (none: they are the same)."""
    recorded = {
        table: (count, digest)
        for table, count, digest in connection.execute(
            "select table_name, n_rows, rows_digest from run_contents where run_id = $run_id", {"run_id": run_id}
        ).fetchall()
    }
    if not recorded:
        return ["no record of the rows its load inserted"]
    differences = []
    for table, (count, digest) in rows_digests(connection, run_id).items():
        loaded_count, loaded_digest = recorded.get(table, (None, None))
        if loaded_count is None:
            differences.append(f"table {table}: no record of the rows its load inserted")
        elif count != loaded_count:
            differences.append(f"table {table} holds {count} of its rows, {loaded_count} were loaded from its files")
        elif digest != loaded_digest:
            differences.append(f"table {table} holds its {count} rows, but their values differ from those loaded")
    return differences
