"""``invert alert-on-regression``: the automation that notifies of each ``invert.model.regressed`` event."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    alert = subparsers.add_parser(
        "alert-on-regression",
        help="create the automation that notifies through your block when a model regresses",
        description="Create the automation of deployments/regression-automation.yaml on the Prefect server at "
        "PREFECT_API_URL, sending its notification through the notification block --block. The block must exist "
        "on the server; an automation of the same name is replaced, so running this again never doubles the "
        "notifications.",
    )
    alert.add_argument("--block", required=True, metavar="TYPE/NAME",
                       help="the notification block, as `prefect block ls` names it: custom-webhook/invert-regressions")
    alert.set_defaults(handler=run_alert_on_regression)


def run_alert_on_regression(args: argparse.Namespace) -> int:
    from invert_pipeline.monitoring.regression_automation import create_regression_automation

    try:
        automation_id, replaced = create_regression_automation(args.block)
    except ValueError as error:
        raise ValueError(f"--block: {error}") from None
    print(f"{'replaced' if replaced else 'created'} the automation invert-model-regressed ({automation_id}): "
          f"each invert.model.regressed event notifies through {args.block}")
    return 0
