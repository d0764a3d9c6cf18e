"""``invert report --run ID [--run ID2]``: the static HTML report of runs in the warehouse; ``invert report
--serve``: the workspace's reports over http on loopback, where the Prefect UI's report links point."""

from __future__ import annotations

import argparse
from pathlib import Path

from invert_pipeline.cli.locations import add_warehouse_options, run_id_of, warehouse_file
from invert_pipeline.report_server import DEFAULT_PORT, REPORTS_URL_VARIABLE
from invert_pipeline.workspace import Workspace


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the static HTML report of one or more runs, or serve the reports over http",
        description="Write <workspace>/reports/<run ids joined by '+'>/index.html with PNG figures: AUC "
        "histograms per layer, each shown neuron's explanation beside its most and least activating "
        "images, where each concept of the hierarchy is explained, the spurious findings, and, for "
        "two or more runs, what changed between consecutive runs. It opens from disk in any browser. "
        f"With --serve, serve <workspace>/reports/ on http://127.0.0.1:PORT until interrupted: the report "
        f"links of the Prefect UI point there (set {REPORTS_URL_VARIABLE} when you serve them elsewhere).",
    )
    parser.add_argument("--run", dest="runs", action="append", default=[], metavar="RUN",
                        help="a run id of the warehouse, or a model version (its latest run), as `invert query "
                        "--param run=` takes (repeat for several; diffs compare them in order)")
    add_warehouse_options(parser)
    parser.add_argument("--out", default=None, help="report folder (default: <workspace>/reports/<run ids>)")
    parser.add_argument("--serve", action="store_true",
                        help="serve <workspace>/reports/ over http on 127.0.0.1 (after writing the --run report, if any)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port of --serve (default %(default)s)")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    workspace = Workspace(args.workspace)
    if not workspace.root.is_dir():
        raise FileNotFoundError(f"--workspace {args.workspace!r} is not a folder: pass the folder `invert run` wrote to")
    if not args.runs and not args.serve:
        raise ValueError("give --run ID (the report to write) or --serve (serve the workspace's reports), or both")
    if args.runs:
        from invert_pipeline.report.writer import write_report

        db_path = warehouse_file(args)
        run_ids = [run_id_of(db_path, reference, "--run") for reference in args.runs]
        out_dir = Path(args.out) if args.out else workspace.report_dir(run_ids)
        index = write_report(db_path, workspace.root, run_ids, out_dir)
        print(f"report: {index.resolve()}", flush=True)
    if args.serve:
        serve_reports(workspace.reports_dir, args.port)
    return 0


def serve_reports(reports_dir: Path, port: int) -> None:
    """Serve ``reports_dir`` on 127.0.0.1:``port`` until interrupted."""
    from invert_pipeline.report_server import reports_server

    if not reports_dir.is_dir():
        raise FileNotFoundError(f"{reports_dir} is not a folder: no report has been written in this workspace yet")
    with reports_server(reports_dir, port) as server:
        host, bound = server.server_address[:2]
        print(f"serving {reports_dir.resolve()} on http://{host}:{bound}/ (Ctrl-C stops)", flush=True)
        server.serve_forever()

