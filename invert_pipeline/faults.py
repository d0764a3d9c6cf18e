"""Named fault points: where the fault-injection tests (``tests/faults/``) kill the process.

Code calls :func:`fault_point` with a name at the moments a crash matters (just before and after a
file is renamed into place, inside a warehouse transaction...). When the environment variable
``INVERT_KILL_AT`` equals that name, the process kills itself with SIGKILL there: no clean-up
handler, ``finally`` block or ``atexit`` hook runs, as after a power cut or the OOM killer.
Unset (always, outside tests), a fault point costs one dictionary lookup.

Names in use: ``rename:<file name>`` and ``renamed:<file name>`` around every atomic write of the
workspace (``rename:dataset.json``, ``renamed:part-000000000-000000256.parquet``,
``rename:conv1.parquet``, ``rename:index.html``...), ``dataset:rename`` before a prepared dataset
folder is renamed into place, and ``warehouse:commit`` before a run's load commits.
"""

from __future__ import annotations

import os
import signal

KILL_AT = "INVERT_KILL_AT"


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``INVERT_KILL_AT`` is ``name``."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
