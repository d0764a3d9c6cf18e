"""Wall time of a fully cached ``invert run`` of the demo (a benchmark, not a test).

    python benchmarks/bench_cached_run.py [--runs 3] [--limit N] [--busy K]

Runs ``invert run`` once in a fresh workspace and Prefect home to fill the cache, then ``--runs``
more times with nothing changed (every task a cache hit), and prints the median wall time from
process start to exit: once with Prefect's temporary API (no ``PREFECT_API_URL``: each process
starts its own server) and once against a Prefect server started here on a free loopback port.
It also prints what importing the pipeline costs (``import flows.explain_model`` in a fresh interpreter).
``--busy K`` keeps K busy processes per core running the whole time, as a loaded machine.
Target: at most 10 s for the cached run against a running server on the 2-core CPU, also with one busy
process per core.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TARGET_S = 10.0
SERVER_START_TIMEOUT_S = 120


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``command`` to its exit; fails with its output when it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return elapsed


@contextmanager
def prefect_server(home: Path, env: dict[str, str]) -> Iterator[str]:
    """``prefect server start`` on a free loopback port; yields its API url; stopped by its pid."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server_env = {**env, "PREFECT_HOME": str(home), "PREFECT_SERVER_API_HOST": "127.0.0.1",
                  "PREFECT_SERVER_API_PORT": str(port), "PREFECT_UI_ENABLED": "false"}
    process = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start"], env=server_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{api_url}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the Prefect server did not start")
                time.sleep(0.5)
        yield api_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def busy_cores(per_core: int) -> Iterator[None]:
    """``per_core`` endless Python loops per core, each in its own process, for the duration."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(per_core * os.cpu_count())]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed cached runs per setting (default 3)")
    parser.add_argument("--limit", type=int, default=None, help="probe images (default: all 10,000)")
    parser.add_argument("--busy", type=int, default=0, help="busy processes per core while timing (default 0)")
    args = parser.parse_args()
    invert = str(Path(sys.executable).with_name("invert"))
    with tempfile.TemporaryDirectory(prefix="bench-cached-run-") as folder, busy_cores(args.busy):
        root = Path(folder)
        env = {**os.environ, "PREFECT_HOME": str(root / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
        env.pop("PREFECT_API_URL", None)
        command = [invert, "run", "--workspace", str(root / "workspace")]
        if args.limit is not None:
            command += ["--limit", str(args.limit)]
        imports = timed([sys.executable, "-c", "import flows.explain_model"], env)
        first = timed(command, env)
        ephemeral = [timed(command, env) for _ in range(args.runs)]
        with prefect_server(root / "server-home", env) as api_url:
            served = [timed(command, {**env, "PREFECT_API_URL": api_url}) for _ in range(args.runs + 1)][1:]
    print(f"{args.busy} busy process(es) per core, {os.cpu_count()} cores")
    print(f"import flows.explain_model: {imports:.1f} s")
    print(f"first invert run (computes everything): {first:.1f} s")
    print(f"cached invert run, Prefect's temporary API: median {statistics.median(ephemeral):.1f} s "
          f"(runs: {', '.join(f'{t:.1f}' for t in ephemeral)})")
    print(f"cached invert run, a running Prefect server: median {statistics.median(served):.1f} s "
          f"(runs: {', '.join(f'{t:.1f}' for t in served)}); target {TARGET_S:.0f} s")


if __name__ == "__main__":
    main()
