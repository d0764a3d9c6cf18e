"""Fault-injection suite (issue 14, item 8): kill, corrupt and race the pipeline, then compare warehouses.

Every test ends the same way: the pipeline run again over the damaged workspace must give a
warehouse equal, table by table, to the one of a clean run (``fault_runs.warehouse_hashes``). To
extend the suite, add a fault point name to ``test_kills.KILL_POINTS`` (see
:mod:`invert_pipeline.faults` for the names; ``fault_point("...")`` adds one anywhere) or a file to
``test_corruption.FILES``. ``fault_runs`` (this folder) is put on ``sys.path``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fault_runs import run_pipeline, warehouse_hashes  # noqa: E402  (needs HERE on sys.path)


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace after one uninterrupted run."""
    workspace = tmp_path_factory.mktemp("faults") / "clean"
    result = run_pipeline(workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    return workspace


@pytest.fixture(scope="session")
def clean_hashes(clean_run: Path) -> dict:
    return warehouse_hashes(clean_run / "warehouse.duckdb")


@pytest.fixture(scope="session")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the demo CNN v1 was explained, then v2 (which learnt the watermark shortcut)."""
    workspace = tmp_path_factory.mktemp("faults") / "versions"
    for version in ("v1", "v2"):
        result = run_pipeline(workspace, version=version)
        assert result.returncode == 0, result.stderr[-3000:]
    return workspace


@pytest.fixture
def copy_of_versions(two_versions: Path, tmp_path: Path) -> Path:
    """A copy of the two-version workspace to damage."""
    return Path(shutil.copytree(two_versions, tmp_path / "versions", symlinks=True))


@pytest.fixture
def copy_of_clean(clean_run: Path, tmp_path: Path) -> Path:
    """A copy of the clean workspace to damage (digest records and all)."""
    return Path(shutil.copytree(clean_run, tmp_path / "workspace", symlinks=True))
