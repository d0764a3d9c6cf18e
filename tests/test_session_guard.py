"""A process a test starts (a Prefect server, say) stops when the test run is killed with SIGKILL (tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from invert_pipeline.cli.guard import GRACE_S, OWNER_VARIABLE

HERE = Path(__file__).parent


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie waits only for its reaping


def _wait_for(condition, what: str, limit_s: float = 120) -> None:
    """Poll ``condition`` until it holds (a bound against hanging, not a timed assertion)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def test_this_run_is_guarded():
    assert os.environ.get(OWNER_VARIABLE)


def test_killed_run_leaves_no_server(tmp_path):
    pid_file = tmp_path / "server.pid"
    env = {key: value for key, value in os.environ.items() if key != OWNER_VARIABLE}  # a test run of its own
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "guard_probe.py")],
        cwd=HERE.parent, env={**env, "GUARD_PROBE_PID_FILE": str(pid_file)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: pid_file.is_file() and pid_file.read_text(), "the probe's server")
        server = int(pid_file.read_text())
        assert _running(server)
        run.send_signal(signal.SIGKILL)
        run.wait()
        _wait_for(lambda: not _running(server), "the watchdog to stop the server", limit_s=30 + 2 * GRACE_S)
    finally:
        run.kill()
