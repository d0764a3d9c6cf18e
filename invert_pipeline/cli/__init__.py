"""The ``invert`` command.

One module per group of commands; each exposes ``register(subparsers)`` that adds its commands,
each with a ``handler(args) -> int`` set through ``set_defaults(handler=...)``. Errors reach the
user as one clear line (exit code 2) unless ``--debug`` asks for the traceback. What a command changes
for the whole process (environment variables, the root logger's formatters) is put back when
:func:`main` returns.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from invert_pipeline.cli.failures import out_of_memory_advice
from invert_pipeline.cli.guard import guard_descendants
from invert_pipeline.cli.prefect_settings import set_default_settings, startup_timeout_advice
from invert_pipeline.cli.process_state import restored_process_state

COMMAND_MODULES = (
    "invert_pipeline.cli.run",
    "invert_pipeline.cli.explain",
    "invert_pipeline.cli.layers",
    "invert_pipeline.cli.serve",
    "invert_pipeline.cli.warehouse",
    "invert_pipeline.cli.report",
    "invert_pipeline.cli.verify",
    "invert_pipeline.cli.check",
    "invert_pipeline.cli.alerts",
)
# Commands that start no process (no Prefect server, no Dask cluster): no watchdog needed.
STARTS_NO_PROCESS = frozenset({"sql", "query", "warehouse", "verify", "layers"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="invert", description="Explain what the neurons of a deep network have learned (INVERT)."
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names; its exit status. The environment and the root logger's handlers are
    restored on return (:mod:`invert_pipeline.cli.process_state`). ``args.started_at`` is the command's start
    (``time.monotonic()``), which "finished in" counts from."""
    started_at = time.monotonic()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.started_at = started_at
    with restored_process_state():
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    if args.command not in STARTS_NO_PROCESS:
        guard_descendants()  # a Prefect server or Dask worker it starts dies with it, even on SIGKILL
    set_default_settings()  # before any command imports Prefect
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("invert: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one clear line unless --debug
        if args.debug:
            raise
        advice = startup_timeout_advice(error) or out_of_memory_advice(error)
        print(f"invert {args.command}: error: {advice or error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
