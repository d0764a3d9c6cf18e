"""``invert check --run NEW --against OLD --fail-on spurious``: the regression gate, with an exit code for CI.

Exit codes: 0 when no check named by ``--fail-on`` found anything, 1 when one did (the findings are
printed either way), 2 on an error (a run missing from the warehouse, say).
"""

from __future__ import annotations

import argparse

from invert_pipeline.cli.locations import add_warehouse_options, run_id_of, warehouse_file
from invert_pipeline.regression import CHECKS

EXIT_REGRESSED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="compare a run of a new model version with an earlier one; exit 1 on a regression (for CI)",
        description="The regression gate that explain_model applies after every retrain, on two runs of the "
        "warehouse: spurious findings NEW has and OLD has not (a class following a concept outside its "
        "hierarchy, such as a watermark), classes whose logit is explained by another formula, and concepts "
        "OLD explains significantly and NEW no longer does. Prints every finding; exits 1 when a check named "
        "by --fail-on found something, else 0.",
    )
    parser.add_argument("--run", required=True, metavar="NEW", help="the new run: run id or model version")
    parser.add_argument("--against", required=True, metavar="OLD", help="the earlier run: run id or model version")
    parser.add_argument("--fail-on", action="append", choices=CHECKS, default=None, metavar="CHECK",
                        help=f"a check that fails the gate: {', '.join(CHECKS)} (repeatable; default spurious)")
    add_warehouse_options(parser)
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    from invert_pipeline.regression import compare_runs

    db_path = warehouse_file(args)
    run, against = (run_id_of(db_path, reference, flag) for flag, reference in (("--run", args.run), ("--against", args.against)))
    regression = compare_runs(db_path, run, against)
    for line in regression.lines():
        print(line)
    failed = regression.failed(args.fail_on or ["spurious"])
    if failed:
        print(f"regression: {', '.join(failed)} (exit {EXIT_REGRESSED})")
        return EXIT_REGRESSED
    return 0
