"""``invert query``, ``invert sql`` and ``invert warehouse``: the DuckDB warehouse from the shell.

invert query --list
invert query spurious_class_features --param run=v2 --param top_k=3 --format csv
invert sql "select layer, count(*) from best_explanations group by layer"
invert sql --allow-files "select * from read_csv('labels.csv')"
invert warehouse load RUN_ID
invert warehouse rebuild
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from invert_pipeline.cli.locations import add_warehouse_options, warehouse_file
from invert_pipeline.warehouse_defaults import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT_S, DEFAULT_WAIT_S, OUTPUT_FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``query``, ``sql`` and ``warehouse`` commands."""
    query = subparsers.add_parser(
        "query",
        help="run a named analysis query of sql/queries",
        description="Run a named query (see --list) on a read-only connection to the warehouse.",
    )
    query.add_argument("name", nargs="?", help="the query's name (its file name in sql/queries)")
    query.add_argument("--list", action="store_true", help="list the named queries with their parameters")
    query.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of the query (repeat for several); bound, never pasted into the SQL",
    )
    _add_output_options(query)
    _add_location_options(query)
    _add_files_option(query)
    _add_limit_options(query)
    query.set_defaults(handler=_query)

    sql = subparsers.add_parser(
        "sql",
        help="run one ad-hoc SELECT on the warehouse (read-only)",
        description="Run one SQL SELECT statement on a read-only, locked-down connection: writes, "
        "network addresses, extensions and files outside the workspace (unless --allow-files) are "
        "refused. While it runs, writers (invert run, invert warehouse load) wait for it.",
    )
    sql.add_argument("sql", help='the statement, e.g. "select * from best_explanations limit 5"')
    _add_output_options(sql)
    _add_location_options(sql)
    _add_files_option(sql)
    _add_limit_options(sql)
    sql.set_defaults(handler=_sql)

    warehouse = subparsers.add_parser("warehouse", help="load runs into the warehouse, or rebuild it")
    actions = warehouse.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser("load", help="load (or replace) one run of the workspace")
    load.add_argument("run_id", help="the run's folder name under <workspace>/runs")
    _add_location_options(load)
    load.set_defaults(handler=_load)
    rebuild_parser = actions.add_parser(
        "rebuild", help="recreate the warehouse file from every completed run of the workspace"
    )
    _add_location_options(rebuild_parser)
    rebuild_parser.set_defaults(handler=_rebuild)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default="table",
        help="table (aligned text, default), csv, json, or parquet (needs --output)",
    )
    parser.add_argument("--output", metavar="FILE", help="write the result to FILE instead of printing it")


def _add_location_options(parser: argparse.ArgumentParser) -> None:
    add_warehouse_options(parser)
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for another process's lock on the file (default %(default)s)",
    )


def _add_files_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-files",
        action="store_true",
        help="let the SQL read local files outside the workspace too (read_csv, read_parquet, ...); "
        "without it only the warehouse and the workspace's files are readable. Never the network, "
        "never an extension",
    )


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-limit",
        type=float,
        default=DEFAULT_TIME_LIMIT_S,
        metavar="SECONDS",
        help="stop the query after this long (default %(default)s); while it runs, writers (invert run) wait for it",
    )
    parser.add_argument(
        "--memory-limit",
        default=DEFAULT_MEMORY_LIMIT,
        metavar="SIZE",
        help="the most memory the query and its result may use, such as 512MiB or 2GB (default %(default)s)",
    )


def _query(args: argparse.Namespace) -> int:
    if args.list:
        print(_query_listing(), end="")
        return 0
    if not args.name:
        raise ValueError("give a query name, or --list to see them")
    params = {}
    for item in args.param:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ValueError(f"--param must be KEY=VALUE, got {item!r}")
        if key in params:
            raise ValueError(f"--param {key} is given twice")
        params[key] = value
    from invert_pipeline.warehouse import run_named_query
    from invert_pipeline.warehouse.limits import query_limits

    table = run_named_query(
        warehouse_file(args),
        args.name,
        params,
        wait_s=args.wait,
        workspace=args.workspace,
        allow_files=args.allow_files,
        limits=query_limits(args.time_limit, args.memory_limit),
    )
    return _emit(table, args)


def _sql(args: argparse.Namespace) -> int:
    from invert_pipeline.warehouse import run_sql
    from invert_pipeline.warehouse.limits import query_limits

    table = run_sql(
        warehouse_file(args),
        args.sql,
        wait_s=args.wait,
        workspace=args.workspace,
        allow_files=args.allow_files,
        limits=query_limits(args.time_limit, args.memory_limit),
    )
    return _emit(table, args)


def _emit(table, args: argparse.Namespace) -> int:
    from invert_pipeline.warehouse.output import render, write_result

    if args.output:
        write_result(table, args.format, args.output)
        print(f"wrote {table.num_rows} rows to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(render(table, args.format))
    return 0


def _load(args: argparse.Namespace) -> int:
    from invert_pipeline.warehouse import load_run

    db_path = warehouse_file(args)
    if load_run(db_path, args.workspace, args.run_id, wait_s=args.wait):
        print(f"loaded run {args.run_id} into {db_path}")
    else:
        print(f"run {args.run_id} is already in {db_path}, loaded from the same files: nothing to do")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from invert_pipeline.warehouse import rebuild

    db_path = warehouse_file(args)
    result = rebuild(db_path, args.workspace, wait_s=args.wait)
    print(f"rebuilt {db_path} from {len(result.loaded)} run(s): {', '.join(result.loaded) or 'none'}")
    for run_id, reason in result.skipped.items():
        print(f"skipped run {run_id}: {reason}")
    return 0


def _query_listing() -> str:
    from invert_pipeline.warehouse import list_queries

    blocks = []
    for query in list_queries():
        lines = [query.name]
        answers = query.answers[:1].upper() + query.answers[1:]
        lines += textwrap.wrap(answers, 96, initial_indent="    ", subsequent_indent="    ")
        lines += textwrap.wrap(f"Grain: {query.grain}", 96, initial_indent="    ", subsequent_indent="    ")
        for parameter in query.parameters:
            default = "required" if parameter.required else f"default {_literal(parameter.default)}"
            lines += textwrap.wrap(
                f"--param {parameter.name}=... ({parameter.type}, {default}): {parameter.description}",
                96,
                initial_indent="    ",
                subsequent_indent="        ",
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _literal(value: object) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
