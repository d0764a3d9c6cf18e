"""Starting and stopping processes for the orchestration tests: a Prefect server on a loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).parent
SERVER_START_TIMEOUT_S = 90
RUN_TIMEOUT_S = 240


@dataclass(frozen=True)
class PrefectServer:
    """A ``prefect server start`` process on a loopback port."""

    api_url: str
    pid: int
    home: Path

    @property
    def url(self) -> str:
        """The server's root, where the UI is served when it is enabled."""
        return self.api_url.removesuffix("/api")

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that talks to this server."""
        return {
            **os.environ,
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process_group(process: subprocess.Popen, timeout_s: float = 20) -> None:
    """SIGTERM the process group led by ``process`` (started with ``start_new_session``), then SIGKILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


def wait_for_health(api_url: str, process: subprocess.Popen, log_path: Path) -> None:
    """Wait until the server at ``api_url`` answers its health check; fail with its log if it does not."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"prefect server not healthy after {SERVER_START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


@contextlib.contextmanager
def running_prefect_server(home: Path, *, ui: bool, extra_env: dict[str, str] | None = None) -> Iterator[PrefectServer]:
    """Start ``prefect server start`` on a free loopback port with ``home`` as PREFECT_HOME; stop it by pid."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true" if ui else "false",
        **(extra_env or {}),
    }
    env.pop("PREFECT_API_URL", None)
    log_path = home / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        api_url = f"http://127.0.0.1:{port}/api"
        try:
            wait_for_health(api_url, process, log_path)
            yield PrefectServer(api_url=api_url, pid=process.pid, home=home)
        finally:
            stop_process_group(process)


def wait_for_finished_run(
    server: PrefectServer, deployment_id: str, log_path: Path, timeout_s: float = RUN_TIMEOUT_S,
    where: Callable[[dict], bool] = lambda parameters: True,
):
    """The first flow run of the deployment ``deployment_id`` whose parameters satisfy ``where`` to reach a final
    state (a ``FlowRun``); the serving process's log at ``log_path`` in the error when none does within
    ``timeout_s`` seconds."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout_s
    with SyncPrefectClient(server.api_url) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
            finished = [run for run in runs if run.state is not None and run.state.is_final() and where(run.parameters)]
            if finished:
                return finished[0]
            time.sleep(2)
    raise TimeoutError(f"no finished flow run of {deployment_id} in {timeout_s} s:\n{log_path.read_text()[-3000:]}")
