"""The Prefect settings the ``invert`` command starts with, the settings of the flow runs it runs itself, and what
to do when Prefect's temporary API is too slow.

Without ``PREFECT_API_URL``, Prefect starts a temporary API server for the process and waits for it
up to ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (Prefect's default: 20 s). On a busy
machine that server takes longer than that to start, so the command waits up to
:data:`DEFAULT_STARTUP_TIMEOUT_S` unless that variable is set. The settings must be in the
environment before Prefect is imported: Prefect reads them once, at import.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, MutableMapping

STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
DEFAULT_STARTUP_TIMEOUT_S = 120
# The start of the error Prefect raises when its temporary API server did not answer in time.
STARTUP_TIMEOUT_ERROR = "Timed out while attempting to connect to ephemeral Prefect API server"


def set_default_settings(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the command's Prefect defaults in ``environ``, keeping any value already there."""
    # The temporary API's telemetry needs the internet, and on a fresh Prefect database it logs a
    # "database is locked" traceback at start-up.
    environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    environ.setdefault(STARTUP_TIMEOUT_VARIABLE, str(DEFAULT_STARTUP_TIMEOUT_S))


def startup_timeout_advice(error: BaseException) -> str | None:
    """What to do about ``error`` when it is Prefect's start-up timeout of its temporary API; else None."""
    if STARTUP_TIMEOUT_ERROR not in str(error):
        return None
    limit = os.environ.get(STARTUP_TIMEOUT_VARIABLE, "20")
    return (
        f"Prefect's temporary API server did not start within {limit} s (is the machine busy?). Either start "
        "a Prefect server once and run against it: `prefect server start` in another shell, then "
        "`export PREFECT_API_URL=http://127.0.0.1:4200/api`; or give the temporary server longer: "
        f"`export {STARTUP_TIMEOUT_VARIABLE}=300`. (--debug shows Prefect's own message.)"
    )


@contextlib.contextmanager
def foreground_runs() -> Iterator[None]:
    """Prefect settings for the flow runs a command runs in its own process (``invert run``, ``invert explain``).

    They send no heartbeats. Prefect's flow run heartbeats let an automation mark the runs of a
    deployment whose worker died as crashed; a foreground run ends with its process, which the user
    watches, and stopping its heartbeat thread costs up to a second at the end of every flow run.
    Deployment runs (``invert serve``, a work pool's worker) keep Prefect's heartbeats.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
