"""Where a command finds its files: the ``--workspace`` option of every command that reads or writes a
workspace, and ``--db`` for the commands that read its warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path

from invert_pipeline.workspace import DEFAULT_WORKSPACE, WAREHOUSE_FILE, Workspace

WORKSPACE_HELP = "workspace folder (default %(default)s)"


def add_workspace_option(parser: argparse.ArgumentParser, *, positional: bool = False) -> None:
    """``--workspace`` (or, with ``positional``, an optional ``workspace`` argument), defaulting to the
    default workspace."""
    name = "workspace" if positional else "--workspace"
    extra = {"nargs": "?"} if positional else {}
    parser.add_argument(name, default=str(DEFAULT_WORKSPACE), help=WORKSPACE_HELP, **extra)


def add_warehouse_options(parser: argparse.ArgumentParser) -> None:
    """``--workspace`` and ``--db`` (the warehouse file, default ``<workspace>/warehouse.duckdb``)."""
    add_workspace_option(parser)
    parser.add_argument("--db", default=None, help=f"warehouse file (default <workspace>/{WAREHOUSE_FILE})")


def warehouse_file(args: argparse.Namespace) -> Path:
    """The warehouse file of a command's ``--db`` and ``--workspace`` options."""
    return Path(args.db) if args.db else Workspace(args.workspace).warehouse
