"""Fixtures of the report tests: a small real workspace with both demo runs in its warehouse.

``report_workspace`` (this folder) is put on ``sys.path`` so the tests can import it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from invert_pipeline.warehouse import DEFAULT_DB_NAME

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from report_workspace import build_workspace  # noqa: E402  (needs HERE on sys.path)


@dataclass(frozen=True)
class ReportWorkspace:
    """A workspace holding runs of v1 and v2 and its warehouse."""

    root: Path
    db_path: Path
    run_ids: list[str]


@pytest.fixture(scope="session")
def report_workspace(tmp_path_factory: pytest.TempPathFactory) -> ReportWorkspace:
    """v1 and v2 explained on 400 probe images (layers conv1, fc, logits), loaded into a warehouse."""
    root = tmp_path_factory.mktemp("report-workspace")
    run_ids = build_workspace(root, limit=400)
    return ReportWorkspace(root, root / DEFAULT_DB_NAME, run_ids)
