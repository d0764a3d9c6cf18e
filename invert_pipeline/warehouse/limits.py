"""The bounds of a read query (``invert sql``, ``invert query``): how long it may run, how much memory it may use.

A reader holds the warehouse file against writers for as long as its connection is open, so the
time limit also bounds how long a query keeps a writer waiting; the default stays below the
writers' own wait (:data:`~invert_pipeline.warehouse.connection.DEFAULT_WAIT_S`), so a load that
meets a query waits it out. The memory limit is DuckDB's ``memory_limit`` (with no spilling to disk)
and also caps the result fetched into Python.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
from pydantic import ByteSize, TypeAdapter, ValidationError

from invert_pipeline.warehouse.errors import WarehouseError
from invert_pipeline.warehouse_defaults import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT_S

_SMALLEST_MEMORY_LIMIT = 16 * 2**20  # DuckDB needs a few blocks of 256 KiB per thread to run anything


@dataclass(frozen=True)
class QueryLimits:
    """How long a read connection may stay open (seconds) and how much memory its queries may use (bytes)."""

    time_s: float
    memory_bytes: int

    def describe_memory(self) -> str:
        return f"{self.memory_bytes / 2**20:g} MiB"


def query_limits(time_limit_s: float = DEFAULT_TIME_LIMIT_S, memory_limit: str | int = DEFAULT_MEMORY_LIMIT) -> QueryLimits:
    """Checked limits: ``time_limit_s`` a finite number of seconds > 0, ``memory_limit`` a size (``"512MiB"``,
    ``"2GB"``, or bytes) of at least 16 MiB; errors name the flag and the fix."""
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, (int, float)) or not (
        math.isfinite(time_limit_s) and time_limit_s > 0
    ):
        raise WarehouseError(f"--time-limit must be a number of seconds > 0, got {time_limit_s!r}")
    try:
        memory_bytes = int(TypeAdapter(ByteSize).validate_python(memory_limit))
    except ValidationError:
        raise WarehouseError(
            f"--memory-limit must be a size such as 512MiB or 2GB, got {memory_limit!r}"
        ) from None
    if memory_bytes < _SMALLEST_MEMORY_LIMIT:
        raise WarehouseError(f"--memory-limit must be at least 16MiB for DuckDB to run a query, got {memory_limit!r}")
    return QueryLimits(time_s=float(time_limit_s), memory_bytes=memory_bytes)


@contextmanager
def time_limited(connection: duckdb.DuckDBPyConnection, limits: QueryLimits) -> Iterator[None]:
    """Interrupt what ``connection`` runs once ``limits.time_s`` have passed; the interruption is a
    :class:`WarehouseError` naming the limit."""
    timer = threading.Timer(limits.time_s, connection.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException as error:
        raise WarehouseError(
            f"the query ran past its time limit of {limits.time_s:g} s and was stopped; narrow it (a WHERE, a "
            "LIMIT) or give it longer with --time-limit SECONDS. While a query runs, writers wait for it"
        ) from error
    finally:
        timer.cancel()


def out_of_memory(limits: QueryLimits, detail: str) -> WarehouseError:
    """The error of a query that needed more than ``limits.memory_bytes`` (``detail``: what ran out)."""
    return WarehouseError(
        f"the query needs more memory than its limit of {limits.describe_memory()} ({detail.splitlines()[0]}); "
        "narrow it (a WHERE, a LIMIT, fewer joined rows) or raise --memory-limit"
    )
