"""``invert`` starts Prefect's temporary API on a busy machine, and says what to do when it cannot.

Each test runs ``invert explain`` on the tiny problem in a fresh process with a fresh Prefect home
and no ``PREFECT_API_URL``, so that Prefect starts its temporary API server (and creates its
database) as a first run does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import flow_models
from flow_servers import HERE
from invert_pipeline.cli.prefect_settings import STARTUP_TIMEOUT_VARIABLE

BUSY_PROCESSES_PER_CORE = 3
RUN_TIMEOUT_S = 600


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Spinning processes on every core (three per core) while the test runs; stopped by their pids."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(BUSY_PROCESSES_PER_CORE * (os.cpu_count() or 1))]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _invert_explain(tiny_problem, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """``invert explain`` of the tiny problem with a fresh Prefect home and Prefect's temporary API."""
    environ = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), **env,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    for name in ("PREFECT_API_URL", STARTUP_TIMEOUT_VARIABLE):
        if name not in env:
            environ.pop(name, None)
    command = [str(Path(sys.executable).parent / "invert"), "explain", "--model", "flow_models:tiny_cnn",
               "--weights", str(tiny_problem.checkpoint_v1), "--layers", *flow_models.LAYERS,
               "--dataset", str(tiny_problem.dataset_dir), "--split", "test", "--length", "2", "--beam", "3",
               "--workspace", str(tmp_path / "workspace")]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def test_first_run_completes_with_every_core_busy(tiny_problem, tmp_path, busy_cores):
    """With three spinning processes per core, the temporary API starts within the command's limit."""
    done = _invert_explain(tiny_problem, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("run ")


def test_startup_timeout_says_what_to_do(tiny_problem, tmp_path):
    """When the temporary API does not start in time, the one-line error names both ways out."""
    done = _invert_explain(tiny_problem, tmp_path, **{STARTUP_TIMEOUT_VARIABLE: "1"})
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("invert explain: error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    error = errors[0]
    assert error.startswith("invert explain: error: Prefect's temporary API server did not start within 1 s")
    assert "prefect server start" in error and "PREFECT_API_URL=http://127.0.0.1:4200/api" in error
    assert f"{STARTUP_TIMEOUT_VARIABLE}=300" in error
