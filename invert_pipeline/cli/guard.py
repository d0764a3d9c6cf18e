"""The processes a command starts die with it, even when it is killed with SIGKILL.

Prefect runs its temporary API server in a child process, which it stops at exit; a command
killed with SIGKILL never exits, so the server would run on, orphaned. :func:`guard_descendants`
tags the command's environment with an owner token, which every process it starts inherits, and
starts a watchdog in its own session. When the command is gone (``getppid`` changes), the
watchdog stops every process that carries the token: SIGTERM, then SIGKILL after
:data:`GRACE_S` seconds. Linux only (it reads ``/proc``); elsewhere it does nothing.

Run as ``python -m invert_pipeline.cli.guard OWNER PID``, it is the watchdog.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

OWNER_VARIABLE = "INVERT_OWNER"
GRACE_S = 5.0
_POLL_S = 0.2
_PROC = Path("/proc")


def guard_descendants() -> None:
    """Tag this process's future descendants and start the watchdog that stops them once it is gone."""
    if not _PROC.is_dir() or OWNER_VARIABLE in os.environ:  # no /proc, or already guarded by a parent command
        return
    owner = f"{os.getpid()}-{secrets.token_hex(8)}"
    os.environ[OWNER_VARIABLE] = owner
    subprocess.Popen(
        [sys.executable, "-m", "invert_pipeline.cli.guard", owner, str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal reaches the command, not its watchdog
    )


def owned_processes(owner: str) -> list[int]:
    """The ids of the processes (but this one) whose environment carries ``INVERT_OWNER=<owner>``."""
    tag = f"{OWNER_VARIABLE}={owner}".encode()
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if tag in environment.split(b"\0"):
            found.append(int(entry.name))
    return found


def watch(owner: str, parent: int) -> None:
    """Wait until ``parent`` is gone, then stop every process of ``owner``."""
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    survivors = owned_processes(owner)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in survivors:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACE_S
        while survivors and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            survivors = [pid for pid in owned_processes(owner) if pid in survivors]


if __name__ == "__main__":
    watch(sys.argv[1], int(sys.argv[2]))
