"""``invert_pipeline.cli.main`` leaves the process as it found it: environment and root logging handlers."""

from __future__ import annotations

import logging
import os

import pytest

from invert_pipeline.cli import explain, main
from invert_pipeline.cli.prefect_settings import STARTUP_TIMEOUT_VARIABLE


@pytest.fixture
def root_handler():
    """A handler on the root logger for the test's duration, with a formatter of its own."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_environment_is_restored_after_a_command(monkeypatch):
    """The Prefect defaults a command sets are gone once main returns; variables the caller set stay."""
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    monkeypatch.delenv(STARTUP_TIMEOUT_VARIABLE, raising=False)
    monkeypatch.setenv("INVERT_TEST_KEPT", "1")
    before = dict(os.environ)
    assert main(["query", "--list"]) == 0
    assert dict(os.environ) == before


def test_environment_and_logging_are_restored_after_a_failing_command(monkeypatch, root_handler, capsys):
    """A command that sets variables, quiets tracebacks and adds a root handler, then fails: all put back."""
    seen = {}

    def command(args):
        explain.quiet_tracebacks()
        seen["formatter"] = root_handler.formatter
        logging.getLogger().addHandler(logging.NullHandler())
        os.environ["INVERT_TEST_ADDED"] = "1"
        raise RuntimeError("the command failed")

    monkeypatch.setattr(explain, "run_explain", command)
    handlers = list(logging.getLogger().handlers)
    formatters = [handler.formatter for handler in handlers]
    filters = [list(handler.filters) for handler in handlers]
    before = dict(os.environ)
    assert main(["explain", "--model", "resnet18", "--layers", "fc"]) == 2
    assert "the command failed" in capsys.readouterr().err
    assert seen["formatter"] is not formatters[handlers.index(root_handler)]  # quieted while it ran
    assert logging.getLogger().handlers == handlers
    assert [handler.formatter for handler in handlers] == formatters
    assert [handler.filters for handler in handlers] == filters
    assert dict(os.environ) == before
