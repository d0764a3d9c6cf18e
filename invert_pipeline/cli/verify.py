"""``invert verify``: check every file of a workspace against the digest recorded when it was written, and
its warehouse against the files.

invert verify [--workspace WORKSPACE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from invert_pipeline.cli.locations import add_workspace_option
from invert_pipeline.workspace import Workspace, damaged_files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check every file of a workspace against its recorded digest, and the warehouse against the files",
        description="Check that every file of the workspace (datasets, activations, search outputs, run manifests, "
        "reports) holds the bytes written: the size and sha256 recorded beside it when it was written. Lists the "
        "damaged files (exit code 1); the next run recomputes them, as it treats a damaged file as missing. Then "
        "reads the whole warehouse and checks that each run it holds was loaded from the files the workspace has "
        "and still has the rows that load inserted; the next run loads such a run again.",
    )
    add_workspace_option(parser)
    # Earlier versions took the workspace as a positional argument: say how every command takes it now.
    parser.add_argument("positional_workspace", nargs="?", default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    if args.positional_workspace is not None:
        raise ValueError(
            f"give the workspace as --workspace {args.positional_workspace} (every command takes it so)"
        )
    if not Path(args.workspace).is_dir():
        raise FileNotFoundError(f"--workspace {args.workspace!r} is not a folder: pass the --workspace of the runs to check")
    damaged = damaged_files(args.workspace)
    for path, problem in damaged.items():
        print(f"damaged: {path}: {problem}")
    from invert_pipeline.warehouse.verification import warehouse_problems

    db_path = Workspace(args.workspace).warehouse
    warehouse = warehouse_problems(db_path, args.workspace)
    for problem in warehouse:
        print(f"damaged: {db_path}: {problem}")
    if damaged:
        print(f"{len(damaged)} damaged file(s) in {args.workspace}: run the pipeline again to recompute them")
    if damaged or warehouse:
        return 1
    print(f"every file of {args.workspace} is intact, and so is its warehouse")
    return 0
