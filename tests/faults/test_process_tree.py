"""A SIGKILLed `invert explain` leaves no process behind: its Prefect server is stopped by the watchdog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from fault_runs import ROOT, pipeline_env


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_killed_run_leaves_no_prefect_server(tmp_path):
    env = pipeline_env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    command = [
        str(Path(sys.executable).parent / "invert"), "explain", "--model", "invert_pipeline.demo.model:fashion_cnn",
        "--weights", str(ROOT / "invert_pipeline/demo/checkpoints/fashion_cnn_v1.pt"), "--layers", "logits",
        "--limit", "64", "--workspace", str(tmp_path / "ws"),
    ]
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    server = []
    while not server and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        server = [p for p in psutil.Process(run.pid).children(recursive=True) if "uvicorn" in " ".join(p.cmdline())]
    assert server, "the run never started its Prefect server"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 30
    while any(alive(process) for process in server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(process) for process in server), "the Prefect server outlived the killed run"
