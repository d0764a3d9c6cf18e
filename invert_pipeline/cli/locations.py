"""Where a command finds its files: the ``--workspace`` option of every command that reads or writes a
workspace, and ``--db`` for the commands that read its warehouse."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from invert_pipeline.workspace import DEFAULT_WORKSPACE, WAREHOUSE_FILE, Workspace

WORKSPACE_HELP = "workspace folder (default %(default)s)"


def add_workspace_option(parser: argparse.ArgumentParser) -> None:
    """``--workspace``, defaulting to the default workspace: the one way every command takes a workspace."""
    parser.add_argument("--workspace", default=str(DEFAULT_WORKSPACE), help=WORKSPACE_HELP)


def add_warehouse_options(parser: argparse.ArgumentParser) -> None:
    """``--workspace`` and ``--db`` (the warehouse file, default ``<workspace>/warehouse.duckdb``)."""
    add_workspace_option(parser)
    parser.add_argument("--db", default=None, help=f"warehouse file (default <workspace>/{WAREHOUSE_FILE})")


def warehouse_file(args: argparse.Namespace) -> Path:
    """The warehouse file of a command's ``--db`` and ``--workspace`` options."""
    return Path(args.db) if args.db else Workspace(args.workspace).warehouse


def run_id_of(db_path: Path, reference: str, flag: str) -> str:
    """The run id ``reference`` (a run id or a model version) names in the warehouse; the error names ``flag``.

    A model version is resolved to its latest run, which is said on stderr (stdout stays the command's result).
    """
    from invert_pipeline.warehouse import WarehouseError, resolve_run

    try:
        run_id = resolve_run(db_path, reference)
    except WarehouseError as error:
        raise WarehouseError(f"{flag} {reference!r}: {error}") from None
    if run_id != reference:
        print(f"{flag} {reference}: run {run_id}, the latest run of model version {reference!r} "
              "(by when each run was first created; give a run id to choose another)", file=sys.stderr)
    return run_id
