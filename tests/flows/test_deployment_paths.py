"""`invert serve` and `prefect deploy --prefect-file deployments/prefect.yaml` side by side on one real server.

Each registers its own deployments (``...-served``, ``...-work-pool``): neither overwrites the other's,
and stopping `invert serve` pauses only its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import Deployment

from flow_servers import PrefectServer, stop_process_group
from flows.serving import DEFAULT_DEPLOYMENT_NAME, deployment_name

REPOSITORY = Path(__file__).parents[2]
PREFECT = [sys.executable, "-m", "prefect", "--no-prompt"]
WAIT_S = 240
SERVED = [deployment_name(DEFAULT_DEPLOYMENT_NAME, trigger, "served") for trigger in ("scheduled", "on-retrain")]
WORK_POOL = [deployment_name(DEFAULT_DEPLOYMENT_NAME, trigger, "work-pool") for trigger in ("scheduled", "on-retrain")]


def _prefect(server: PrefectServer, *arguments: str) -> None:
    """Run a ``prefect`` command against ``server`` from the repository root; fail with its output."""
    done = subprocess.run([*PREFECT, *arguments], env=server.env(), cwd=REPOSITORY, capture_output=True, text=True,
                          timeout=WAIT_S)
    assert done.returncode == 0, f"prefect {' '.join(arguments)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _deployments(server: PrefectServer) -> dict[str, Deployment]:
    """The server's deployments of explain-model by name."""
    with SyncPrefectClient(server.api_url) as client:
        return {deployment.name: deployment for deployment in client.read_deployments()}


def _wait_for(server: PrefectServer, names: list[str], process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"invert serve exited:\n{log_path.read_text()[-3000:]}"
        if set(names) <= set(_deployments(server)):
            return
        time.sleep(1)
    raise TimeoutError(f"{names} not registered in {WAIT_S} s:\n{log_path.read_text()[-3000:]}")


def _active(deployment: Deployment) -> bool:
    """Not paused, and every schedule active."""
    return not deployment.paused and all(schedule.active for schedule in deployment.schedules)


@pytest.fixture(scope="module")
def both_paths(prefect_server: PrefectServer, tmp_path_factory) -> dict:
    """`invert serve` (the demo deployments), then `prefect deploy --all` of prefect.yaml, then serve stopped.

    Returns the deployments by name while both were registered (``both``) and after serve stopped
    (``after_serve_stopped``), and serve's ``workspace``.
    """
    workspace = tmp_path_factory.mktemp("serve-beside-pool")
    log_path = workspace / "serve.log"
    serve = [str(Path(sys.executable).parent / "invert"), "serve", "--workspace", str(workspace)]
    with log_path.open("w") as log:
        process = subprocess.Popen(serve, env=prefect_server.env(), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=workspace)
        try:
            _wait_for(prefect_server, SERVED, process, log_path)
            _prefect(prefect_server, "work-pool", "create", "invert-process", "--type", "process")
            _prefect(prefect_server, "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
            both = _deployments(prefect_server)
            os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in the terminal: serve pauses its deployments and exits
            process.wait(timeout=WAIT_S)
        finally:
            stop_process_group(process)
    return {"both": both, "after_serve_stopped": _deployments(prefect_server), "workspace": str(workspace)}


class TestServeBesideWorkPool:
    def test_distinct_deployments(self, both_paths):
        """Both paths register their two deployments under their own names, with their own executor."""
        both = both_paths["both"]
        assert set(SERVED + WORK_POOL) <= set(both)
        assert all(both[name].work_pool_name is None for name in SERVED)
        assert all(both[name].work_pool_name == "invert-process" for name in WORK_POOL)

    def test_deploy_leaves_served_deployments_alone(self, both_paths):
        """`prefect deploy` changed nothing of the served deployments: their workspace and their schedule stay."""
        both = both_paths["both"]
        assert all(_active(both[name]) for name in SERVED + WORK_POOL)
        assert {both[name].parameters["workspace"] for name in WORK_POOL} == {"invert-workspace"}
        assert {both[name].parameters["workspace"] for name in SERVED} == {both_paths["workspace"]}

    def test_stopping_serve_pauses_only_its_own(self, both_paths):
        """After `invert serve` stops, its deployments are paused and the work pool's still run."""
        after = both_paths["after_serve_stopped"]
        assert all(after[name].paused for name in SERVED)
        assert all(_active(after[name]) for name in WORK_POOL)
