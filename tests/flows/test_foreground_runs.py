"""The settings of the flow runs the CLI runs in its own process (invert_pipeline.cli.prefect_settings.foreground_runs)."""

from __future__ import annotations

from prefect import flow
from prefect.settings import get_current_settings

from invert_pipeline.cli.prefect_settings import foreground_runs


@flow
def heartbeat_frequency() -> int | None:
    """The heartbeat interval the flow run engine reads for this run (None: no heartbeat thread)."""
    return get_current_settings().flows.heartbeat_frequency


def test_foreground_runs_send_no_heartbeats_and_the_setting_is_restored(prefect_harness):
    """Inside foreground_runs a flow run has no heartbeat interval; before and after, Prefect's own applies."""
    before = heartbeat_frequency()
    with foreground_runs():
        assert heartbeat_frequency() is None
    assert before is not None and heartbeat_frequency() == before
