"""``invert report --run ID [--run ID2]``: the static HTML report of runs in the warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path

from invert_pipeline.cli.warehouse import warehouse_file
from invert_pipeline.warehouse import DEFAULT_DB_NAME, WarehouseError, resolve_run
from invert_pipeline.workspace import DEFAULT_WORKSPACE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the static HTML report of one or more runs",
        description="Write <workspace>/reports/<run ids joined by '+'>/index.html with PNG figures: AUC "
        "histograms per layer, each shown neuron's explanation beside its most and least activating "
        "images, where each concept of the hierarchy is explained, the spurious findings, and, for "
        "two or more runs, what changed between consecutive runs. It opens from disk in any browser.",
    )
    parser.add_argument("--run", dest="runs", action="append", required=True, metavar="RUN",
                        help="a run id of the warehouse, or a model version (its latest run), as `invert query "
                        "--param run=` takes (repeat for several; diffs compare them in order)")
    parser.add_argument("--workspace", default=str(DEFAULT_WORKSPACE), help="workspace folder (default %(default)s)")
    parser.add_argument("--db", default=None, help=f"warehouse file (default: <workspace>/{DEFAULT_DB_NAME})")
    parser.add_argument("--out", default=None, help="report folder (default: <workspace>/reports/<run ids>)")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from invert_pipeline.report import write_report

    workspace = Path(args.workspace)
    if not workspace.is_dir():
        raise FileNotFoundError(f"--workspace {args.workspace!r} is not a folder: pass the folder `invert run` wrote to")
    db_path = warehouse_file(args)
    run_ids = [_run_id(db_path, reference) for reference in args.runs]
    out_dir = Path(args.out) if args.out else workspace / "reports" / "+".join(run_ids)
    index = write_report(db_path, workspace, run_ids, out_dir)
    print(f"report: {index.resolve()}")
    return 0


def _run_id(db_path: Path, reference: str) -> str:
    """The run id ``--run`` names (a run id or a model version), with the flag in the error."""
    try:
        return resolve_run(db_path, reference)
    except WarehouseError as error:
        raise WarehouseError(f"--run {reference!r}: {error}") from None
