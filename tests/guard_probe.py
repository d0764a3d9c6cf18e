"""Run by ``tests/test_session_guard.py`` as a test session of its own (the name keeps it out of the suite):
starts a long-lived process, as a Prefect server fixture does, writes its pid to ``$GUARD_PROBE_PID_FILE``
and waits to be killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def test_start_a_server_and_wait():
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    Path(os.environ["GUARD_PROBE_PID_FILE"]).write_text(str(server.pid))
    time.sleep(600)
