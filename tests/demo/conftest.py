"""The one real ``invert run`` the demo's end-to-end tests and the README's quick start are checked against."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from typing import NamedTuple

import pytest


class DemoRun(NamedTuple):
    """The workspace of a finished ``invert run``, what it printed, and its wall time measured around it."""

    workspace: Path
    printed: str
    seconds: float


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``invert run`` as the README's quick start runs it (all 10,000 probe images, the default workspace
    ``invert-workspace`` of the folder it runs in), in a fresh folder and Prefect test harness."""
    from prefect.testing.utilities import prefect_test_harness

    from invert_pipeline.cli import main

    folder = tmp_path_factory.mktemp("quick-start")
    printed = io.StringIO()
    with contextlib.chdir(folder), prefect_test_harness(server_startup_timeout=90), contextlib.redirect_stdout(printed):
        started = time.monotonic()
        assert main(["run"]) == 0
        seconds = time.monotonic() - started
    return DemoRun(folder / "invert-workspace", printed.getvalue(), seconds)
