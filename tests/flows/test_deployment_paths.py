"""`invert serve` and `prefect deploy --prefect-file deployments/prefect.yaml` side by side on one real server.

Each registers its own deployments (``...-served``, ``...-work-pool``): neither overwrites the other's,
and stopping `invert serve` pauses only its own. The served deployments own the schedule and the
``model.retrained`` trigger (the work pool's ship switched off): with serve and a worker both up, one
event starts one flow run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import Deployment

from flow_servers import PrefectServer, stop_process_group, wait_for_finished_run
from flows.serving import DEFAULT_DEPLOYMENT_NAME, deployment_name
from invert_pipeline.events import MODEL_RETRAINED

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
            with _worker(prefect_server, workspace):
                runs = _runs_of_one_retrain_event(prefect_server, both, log_path)
            os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in the terminal: serve pauses its deployments and exits
            process.wait(timeout=WAIT_S)
        finally:
            stop_process_group(process)
    return {"both": both, "after_serve_stopped": _deployments(prefect_server), "workspace": str(workspace),
            "runs_of_one_event": runs, "retrain_automations": _retrain_automations(prefect_server)}


@contextlib.contextmanager
def _worker(server: PrefectServer, folder: Path) -> Iterator[None]:
    """A `prefect worker` of the invert-process pool, up until the block ends (its log: ``worker.log`` in ``folder``)."""
    log_path = folder / "worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([*PREFECT, "worker", "start", "--pool", "invert-process"], env=server.env(),
                                   cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + WAIT_S
            with SyncPrefectClient(server.api_url) as client:
                while not client.read_workers_for_work_pool("invert-process"):
                    assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                    time.sleep(1)
            yield
        finally:
            stop_process_group(process)


def _runs_of_one_retrain_event(server: PrefectServer, deployments: dict[str, Deployment], serve_log: Path) -> dict[str, int]:
    """Send one model.retrained event of the demo model (its checkpoint missing, so a run fails at once) and, once
    the served deployment's run of it has finished, the number of flow runs of each on-retrain deployment."""
    event = {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": MODEL_RETRAINED,
             "resource": {"prefect.resource.id": "invert.model.fashion-cnn"},
             "payload": {"checkpoint": "/no/such/fashion_cnn_v3.pt", "version": "v3"}}
    httpx.post(f"{server.api_url}/events", json=[event], timeout=10).raise_for_status()
    on_retrain = {name: str(deployments[name].id) for name in (SERVED[1], WORK_POOL[1])}
    wait_for_finished_run(server, on_retrain[SERVED[1]], serve_log, timeout_s=WAIT_S)
    with SyncPrefectClient(server.api_url) as client:
        return {name: len(client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[id_]))))
                for name, id_ in on_retrain.items()}


def _retrain_automations(server: PrefectServer) -> list[tuple[str, bool]]:
    """(name, enabled) of every automation that reacts to model.retrained of the demo model."""
    response = httpx.post(f"{server.api_url}/automations/filter", json={}, timeout=10)
    response.raise_for_status()
    return sorted((automation["name"], automation["enabled"]) for automation in response.json()
                  if MODEL_RETRAINED in automation["trigger"].get("expect", [])
                  and "fashion-cnn" in str(automation["trigger"].get("match")))


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
        assert all(_active(both[name]) for name in SERVED)
        assert not any(schedule.active for schedule in both[WORK_POOL[0]].schedules)  # shipped switched off
        assert {both[name].parameters["workspace"] for name in WORK_POOL} == {"invert-workspace"}
        assert {both[name].parameters["workspace"] for name in SERVED} == {both_paths["workspace"]}

    def test_one_retrain_event_starts_one_run(self, both_paths):
        """With `invert serve` and a work-pool worker both up, one model.retrained event starts one flow run: the
        served deployment owns the trigger, the work pool's ships switched off."""
        assert both_paths["runs_of_one_event"] == {SERVED[1]: 1, WORK_POOL[1]: 0}
        enabled = [name for name, is_enabled in both_paths["retrain_automations"] if is_enabled]
        assert len(enabled) == 1, both_paths["retrain_automations"]

    def test_stopping_serve_pauses_only_its_own(self, both_paths):
        """After `invert serve` stops, its deployments are paused and the work pool's still run."""
        after = both_paths["after_serve_stopped"]
        assert all(after[name].paused for name in SERVED)
        assert not any(after[name].paused for name in WORK_POOL)
