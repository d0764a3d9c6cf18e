"""The regression gate after every retrain, against a real Prefect server with the shipped automation.

The demo's v1, then v2 (retrained with the watermark shortcut), then v1 again as a retrain with the
same weights, then v2 again (a cached rerun) are explained on 1,000 probe images
(``run_demo_versions.py``, about a minute). v2 is compared with v1 automatically and fires
``invert.model.regressed``; the automation of ``deployments/regression-automation.yaml`` turns it
into a notification, received here by a loopback webhook. The retrain with the same weights fires
nothing, and so do the cached rerun, every version explained again by another process (a second
executor) and a scheduled run of v2 (``serve_demo_v2.py``): the pair is recorded, alerted once.
``invert check`` gives CI the same verdict as an exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from flow_servers import PrefectServer, stop_process_group, wait_for_finished_run
from invert_pipeline.events import MODEL_REGRESSED
from invert_pipeline.regression_records import regression_event_id

HERE = Path(__file__).parent
REPOSITORY = HERE.parents[1]
RUN_TIMEOUT_S = 600
NOTIFY_TIMEOUT_S = 60
DEMO_MODEL = "invert.model.fashion-cnn"
SCHEDULED_NAME = "gate-v2"  # serve_demo_v2.py's deployment: gate-v2-scheduled-served


class _Webhook(BaseHTTPRequestHandler):
    """Records the body of every request it receives in ``server.received``."""

    def do_POST(self) -> None:
        self.server.received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[ThreadingHTTPServer]:
    """A webhook on a free loopback port; its ``received`` list holds the bodies posted to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def automation(prefect_server: PrefectServer, webhook) -> list[subprocess.CompletedProcess]:
    """The shipped automation created as the README says, through a webhook block, twice (the second replaces the
    first, so it notifies once); what the two `invert alert-on-regression` commands did."""
    make_block = (
        "from prefect.blocks.notifications import CustomWebhookNotificationBlock as Block\n"
        f"block = Block(name='invert', url='http://127.0.0.1:{webhook.server_address[1]}/', method='POST', allow_private_urls=True,"
        " json_data={'subject': '{{subject}}', 'body': '{{body}}'})\n"
        "block.save('invert-regressions', overwrite=True)\n"
    )
    made = subprocess.run([sys.executable, "-c", make_block], env=prefect_server.env(), capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr[-3000:]
    return [_invert(prefect_server, "alert-on-regression", "--block", "custom-webhook/invert-regressions")
            for _ in range(2)]


def _invert(server: PrefectServer, *arguments: str) -> subprocess.CompletedProcess:
    invert = str(Path(sys.executable).parent / "invert")
    return subprocess.run([invert, *arguments], env=server.env(), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def versions(prefect_server: PrefectServer, automation, tmp_path_factory) -> tuple[Path, dict]:
    """v1, v2 and v1 retrained with the same weights, explained against the server: the workspace and results."""
    workspace = tmp_path_factory.mktemp("gate-workspace")
    done = subprocess.run(
        [sys.executable, str(HERE / "run_demo_versions.py"), str(workspace), str(tmp_path_factory.mktemp("weights"))],
        env=prefect_server.env(), cwd=REPOSITORY, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return workspace, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reruns(prefect_server: PrefectServer, versions, tmp_path_factory) -> dict:
    """After ``versions``: every version explained again by another process (a second executor), then one
    scheduled run of v2 by a served deployment on the same workspace; that scheduled flow run's id."""
    workspace, _ = versions
    again = subprocess.run(
        [sys.executable, str(HERE / "run_demo_versions.py"), str(workspace), str(tmp_path_factory.mktemp("weights"))],
        env=prefect_server.env(), cwd=REPOSITORY, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    with log_path.open("w") as log:
        serving = subprocess.Popen([sys.executable, str(HERE / "serve_demo_v2.py"), str(workspace), SCHEDULED_NAME],
                                   env=prefect_server.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deployment = _deployment_id(prefect_server, f"explain-model/{SCHEDULED_NAME}-scheduled-served", serving, log_path)
            scheduled = wait_for_finished_run(prefect_server, deployment, log_path, timeout_s=RUN_TIMEOUT_S)
        finally:
            stop_process_group(serving)
    assert scheduled.state.is_completed(), f"{scheduled.state}:\n{log_path.read_text()[-3000:]}"
    return {"scheduled_run": str(scheduled.id)}


def _deployment_id(server: PrefectServer, name: str, serving: subprocess.Popen, log_path: Path) -> str:
    """The id of the deployment ``flow/deployment`` once the serving process has registered it."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        assert serving.poll() is None, f"serving exited:\n{log_path.read_text()[-3000:]}"
        response = httpx.get(f"{server.api_url}/deployments/name/{name}", timeout=10)
        if response.status_code == 200:
            return response.json()["id"]
        time.sleep(1)
    raise TimeoutError(f"{name} not registered in {RUN_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


def _summary_of(server: PrefectServer, flow_run_id: str) -> str:
    """The markdown of the run summary artifact of the flow run ``flow_run_id``."""
    body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "type": {"any_": ["markdown"]}}}
    response = httpx.post(f"{server.api_url}/artifacts/filter", json=body, timeout=10)
    response.raise_for_status()
    (summary,) = [artifact["data"] for artifact in response.json() if artifact["data"].startswith("# INVERT run")]
    return summary


def _regressed_events(server: PrefectServer) -> list[dict]:
    """The server's invert.model.regressed events of the demo's model (other tests share the server)."""
    body = {"filter": {"event": {"name": [MODEL_REGRESSED]}, "resource": {"id": [DEMO_MODEL]}}, "limit": 50}
    response = httpx.post(f"{server.api_url}/events/filter", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["events"]


def _about_the_demo(notifications: list[str]) -> list[str]:
    """The notifications about the demo's model (other tests share the server)."""
    return [notification for notification in notifications if "fashion-cnn regressed" in notification]


def _invert_check(workspace: Path, run: str, against: str) -> subprocess.CompletedProcess:
    invert = str(Path(sys.executable).parent / "invert")
    return subprocess.run([invert, "check", "--run", run, "--against", against, "--fail-on", "spurious",
                           "--workspace", str(workspace)], capture_output=True, text=True, timeout=120)


class TestRegressionGate:
    def test_v2_fires_on_the_watermark_and_the_same_weights_do_not(self, prefect_server, versions):
        """One invert.model.regressed event: v2 against v1, naming Bag following watermark; none for the retrain."""
        _, results = versions
        deadline = time.monotonic() + NOTIFY_TIMEOUT_S
        while not (events := _regressed_events(prefect_server)) and time.monotonic() < deadline:
            time.sleep(1)
        assert len(events) == 1, events
        payload = events[0]["payload"]
        assert (payload["run"], payload["against"]) == (results["v2"]["run_id"], results["v1"]["run_id"])
        assert events[0]["resource"]["prefect.resource.id"] == DEMO_MODEL
        bag = payload["new_spurious"][0]
        assert (bag["class_name"], bag["via"], bag["concepts"], bag["is_attribute"]) == ("Bag", "logit", ["watermark"], True)
        assert "spurious" in payload["failed"]

    def test_the_automation_is_created_from_the_operator_s_block(self, prefect_server, automation):
        """`invert alert-on-regression` creates one automation, replaced when run again; the shipped file names no
        block, so Prefect's own command refuses it rather than accept a placeholder that fails later."""
        first, second = automation
        assert first.returncode == 0 and first.stdout.startswith("created the automation invert-model-regressed"), first
        assert second.returncode == 0 and second.stdout.startswith("replaced the automation invert-model-regressed"), second
        prefect = str(Path(sys.executable).parent / "prefect")
        shipped = subprocess.run([prefect, "automation", "create", "--from-file",
                                  str(REPOSITORY / "deployments" / "regression-automation.yaml")],
                                 env=prefect_server.env(), capture_output=True, text=True, timeout=120)
        assert shipped.returncode != 0, shipped.stdout
        response = httpx.post(f"{prefect_server.api_url}/automations/filter", json={}, timeout=10)
        response.raise_for_status()
        assert [found["name"] for found in response.json()].count("invert-model-regressed") == 1

    def test_a_missing_block_is_refused(self, prefect_server, automation):
        """A block the server lacks: exit 2, one line naming --block and the blocks it has; no automation made."""
        refused = _invert(prefect_server, "alert-on-regression", "--block", "custom-webhook/invert-regresions")
        assert refused.returncode == 2, refused
        assert refused.stderr.startswith("invert alert-on-regression: error: --block: the Prefect server at ")
        assert "has no notification block 'custom-webhook/invert-regresions' (it has: custom-webhook/invert-regressions)" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1

    def test_shipped_automation_notifies(self, versions, webhook):
        """The automation from deployments/ sends one notification naming the model, the run and the watermark."""
        _, results = versions
        deadline = time.monotonic() + NOTIFY_TIMEOUT_S
        while not (notifications := _about_the_demo(webhook.received)) and time.monotonic() < deadline:
            time.sleep(1)
        assert len(notifications) == 1, webhook.received
        notification = notifications[0]
        assert "fashion-cnn regressed" in notification
        assert results["v2"]["run_id"] in notification and "watermark" in notification

    def test_reruns_send_no_second_alert(self, prefect_server, versions, reruns, webhook):
        """A cached rerun, a second executor and a scheduled run find v2's regression recorded: still one event, with
        the pair's id, and one notification; the scheduled run's summary says the regression was alerted before."""
        _, results = versions
        events = _regressed_events(prefect_server)
        assert len(events) == 1, events
        assert events[0]["id"] == str(regression_event_id(results["v2"]["run_id"], results["v1"]["run_id"]))
        assert results["v2-rerun"]["run_id"] == results["v2"]["run_id"]
        assert len(_about_the_demo(webhook.received)) == 1, webhook.received
        summary = _summary_of(prefect_server, reruns["scheduled_run"])
        gate = summary.split("## Regression gate")[1].split("##")[0].replace("\\", "")  # markdown escapes dropped
        assert f"regression against {results['v1']['run_id']} (spurious" in gate
        assert "already recorded, first seen at" in gate and "no new alert" in gate

    def test_invert_check_exit_codes(self, versions):
        """`invert check --fail-on spurious`: exit 1 for v2 against v1 (Bag follows watermark), 0 for the retrain."""
        workspace, results = versions
        v2 = _invert_check(workspace, "v2", "v1")
        assert v2.returncode == 1, v2.stderr
        assert "new spurious finding: class Bag: its logit is explained by `Bag | watermark`" in v2.stdout
        same = _invert_check(workspace, results["v1-retrained"]["run_id"], results["v1"]["run_id"])
        assert same.returncode == 0, same.stdout + same.stderr
        assert same.stdout.startswith("no regression")
