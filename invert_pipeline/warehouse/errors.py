"""The errors the warehouse raises: each message says what went wrong and how to fix it."""

from __future__ import annotations


class WarehouseError(Exception):
    """A problem with the warehouse file, a run's files or a query's inputs."""


class WarehouseBusyError(WarehouseError):
    """Another process held the warehouse file's lock for longer than the caller agreed to wait."""


class WarehouseDamagedError(WarehouseError):
    """The warehouse file cannot be read: truncated, with bytes that fail DuckDB's checksums, or not a DuckDB file."""
