"""Fixtures of the orchestration tests: one Prefect test harness, a tiny dataset and model, a real server.

``flow_models`` (this folder) is put on ``sys.path`` and on ``PYTHONPATH`` for subprocesses, so the
model spec ``flow_models:tiny_cnn`` imports everywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import flow_models  # noqa: E402  (needs HERE on sys.path)
from flow_servers import PrefectServer, running_prefect_server  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One ephemeral Prefect API with a temporary database for every flow run of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@dataclass(frozen=True)
class TinyProblem:
    """A generated image dataset and two checkpoints (v1, v2) of a tiny CNN."""

    dataset_dir: Path
    checkpoint_v1: Path
    checkpoint_v2: Path


@pytest.fixture(scope="session")
def tiny_problem(tmp_path_factory: pytest.TempPathFactory) -> TinyProblem:
    """36 generated 12x12 images of 3 classes saved with ``save_to_disk``, and two tiny CNN checkpoints."""
    root = tmp_path_factory.mktemp("tiny")
    generator = np.random.default_rng(0)  # session-scoped data: a seeded generator of its own
    dataset_dir = flow_models.write_tiny_dataset(root / "dataset", generator)
    checkpoint_v1 = root / "tiny_v1.pt"
    checkpoint_v2 = root / "tiny_v2.pt"
    torch.save(flow_models.tiny_cnn(seed=1).state_dict(), checkpoint_v1)
    torch.save(flow_models.tiny_cnn(seed=2).state_dict(), checkpoint_v2)
    return TinyProblem(dataset_dir, checkpoint_v1, checkpoint_v2)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A real Prefect server on a free loopback port with its own PREFECT_HOME; stopped by its pid."""
    # Scheduled runs are inserted by a loop service; a short loop makes a new schedule's runs appear at once.
    with running_prefect_server(
        tmp_path_factory.mktemp("prefect-home"), ui=False,
        extra_env={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"},
    ) as server:
        yield server
