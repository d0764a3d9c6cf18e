"""Fixtures of the browser tests: headless Chromium, a Prefect server with its UI, one demo flow run on it, and
``invert report --serve`` serving its workspace's reports where the run's report links point.

Chromium and its driver come from the system (Debian ``chromium``, ``chromium-driver``); nothing is
downloaded. Where they are missing, the tests skip and say why. Screenshots go to
``test-output/browser/`` at the repository root (ignored by git).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent / "flows"))  # the orchestration tests' server helpers

from flow_servers import PrefectServer, free_port, running_prefect_server, stop_process_group  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
)
FLOW_TIMEOUT_S = 300


def chromium_paths() -> tuple[str, str] | str:
    """(chromium, chromedriver) when both are installed, else the reason the browser tests cannot run."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if path is None]
        return f"{' and '.join(missing)} not installed (Debian: apt-get install chromium chromium-driver)"
    return chromium, driver


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """A headless Chromium driven by selenium through the system chromedriver; skips where it is missing."""
    paths = chromium_paths()
    if isinstance(paths, str):
        print(f"browser tests skipped: {paths}")
        pytest.skip(paths)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """``test-output/browser/`` at the repository root, where the tests keep their screenshots."""
    folder = REPO / "test-output" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"browser screenshots: {folder}")
    return folder


@pytest.fixture(scope="session")
def prefect_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A Prefect server with its UI on a free loopback port, its own PREFECT_HOME; stopped by its pid."""
    with running_prefect_server(tmp_path_factory.mktemp("prefect-ui-home"), ui=True) as server:
        yield server


@dataclass(frozen=True)
class DemoFlowRun:
    """One explain_model run of the demo's v2 on 300 probe images, made against the test server."""

    flow_run_id: str
    flow_run_name: str
    run_id: str
    report: Path
    workspace: Path


@pytest.fixture(scope="session")
def reports_url() -> str:
    """Where ``invert report --serve`` serves the demo run's reports: a free loopback port."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def demo_flow_run(prefect_ui: PrefectServer, reports_url: str, tmp_path_factory: pytest.TempPathFactory) -> DemoFlowRun:
    """Run the flow in a subprocess whose PREFECT_API_URL is the test server; return what it made."""
    workspace = tmp_path_factory.mktemp("browser-workspace")
    env = {**os.environ, "PREFECT_API_URL": prefect_ui.api_url, "PREFECT_HOME": str(prefect_ui.home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "INVERT_REPORTS_URL": reports_url}
    done = subprocess.run(
        [sys.executable, str(HERE / "run_demo_flow.py"), str(workspace)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=FLOW_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    flow_run = httpx.get(f"{prefect_ui.api_url}/flow_runs/{result['flow_run_id']}", timeout=10).json()
    return DemoFlowRun(result["flow_run_id"], flow_run["name"], result["run_id"], Path(result["report"]), workspace)


@pytest.fixture(scope="session")
def served_reports(demo_flow_run: DemoFlowRun, reports_url: str) -> Iterator[str]:
    """``invert report --serve`` on the demo run's workspace at ``reports_url``; stopped by its pid."""
    port = reports_url.rsplit(":", 1)[1]
    command = [str(Path(sys.executable).parent / "invert"), "report", "--serve", "--port", port,
               "--workspace", str(demo_flow_run.workspace)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        assert process.stdout.readline().startswith("serving "), "invert report --serve did not start"
        yield reports_url
    finally:
        stop_process_group(process)
