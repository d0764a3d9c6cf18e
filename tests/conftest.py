"""Shared fixtures: offline Hugging Face, a seeded random generator; every process a test run starts dies with it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from invert_pipeline.cli.guard import guard_descendants

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def pytest_configure(config: pytest.Config) -> None:
    """Tag the test run's environment with an owner token and start the watchdog that stops every process
    carrying it once the run is gone (:mod:`invert_pipeline.cli.guard`): a Prefect server or worker a test
    starts does not outlive a test run killed with SIGKILL (``tests/test_session_guard.py``)."""
    guard_descendants()


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every random test is reproducible."""
    return np.random.default_rng(0)
