"""The DuckDB warehouse: runs loaded from their Parquet files, named SQL analyses, ad-hoc SQL.

The Parquet files of a workspace stay the source of truth; the warehouse file
(``<workspace>/warehouse.duckdb`` by default) is built from the run manifests and can always be
rebuilt. The schema is ``sql/schema.sql``; the named queries are ``sql/queries/<name>.sql``.

Writers hold the file for one load at a time (a second writer waits up to ``wait_s`` seconds);
readers use read-only connections.
"""

from invert_pipeline.warehouse.catalog import NamedQuery, QueryParameter, list_queries
from invert_pipeline.warehouse.connection import DEFAULT_WAIT_S
from invert_pipeline.warehouse.errors import WarehouseBusyError, WarehouseError
from invert_pipeline.warehouse.loading import RebuildResult, is_loaded, load_run, rebuild
from invert_pipeline.warehouse.querying import resolve_run, run_named_query, run_sql
from invert_pipeline.workspace import WAREHOUSE_FILE

DEFAULT_DB_NAME = WAREHOUSE_FILE  # the warehouse's name in a workspace (invert_pipeline.workspace.Workspace)
# A best explanation is significant when its effective q-value (held-out when the run has one) is
# below this: the default max_q_value of the named queries, and what summaries and reports count.
SIGNIFICANCE_LEVEL = 0.05

__all__ = [
    "DEFAULT_DB_NAME",
    "DEFAULT_WAIT_S",
    "SIGNIFICANCE_LEVEL",
    "NamedQuery",
    "QueryParameter",
    "RebuildResult",
    "WarehouseBusyError",
    "WarehouseError",
    "is_loaded",
    "list_queries",
    "load_run",
    "rebuild",
    "resolve_run",
    "run_named_query",
    "run_sql",
]
