"""Temporary files and folders that name their owner, and the removal of those nobody owns any more.

A writer builds ``<folder>/<name>`` under the hidden name ``.<name>.<host>.<pid>.<token>.tmp`` and
renames it into place when complete. The host and process id in the name say who owns it, so
a leftover is removed only when its owner is gone (a process of this host that no longer runs) or
when it has not been touched for :data:`ABANDONED_AFTER_S` (an owner on another host, or a process
id reused since): concurrent writers of one folder never delete each other's temporary files.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

ABANDONED_AFTER_S = 24 * 3600.0
_OWNED = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{16}\.tmp$")


def _host() -> str:
    """This machine's name as one dot-free token (it is a field of the temporary name)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def temporary_name(path: str | os.PathLike) -> Path:
    """A fresh hidden name beside ``path`` owned by this process: ``.<name>.<host>.<pid>.<token>.tmp``."""
    path = Path(path)
    return path.parent / f".{path.name}.{_host()}.{os.getpid()}.{secrets.token_hex(8)}.tmp"


def target_name(name: str) -> str:
    """The name a temporary name of :func:`temporary_name` becomes once renamed into place; any other name as it is."""
    match = _OWNED.match(name)
    return name if match is None else match["name"]


def is_orphaned(path: str | os.PathLike, *, now: float | None = None) -> bool:
    """Whether ``path``, a temporary name of :func:`temporary_name`, belongs to nobody any more.

    True when its owner is a process of this host that no longer runs, or when it has not been
    modified for :data:`ABANDONED_AFTER_S` seconds. A name of another form is never orphaned.
    """
    path = Path(path)
    match = _OWNED.match(path.name)
    if match is None:
        return False
    try:
        modified = path.lstat().st_mtime
    except FileNotFoundError:
        return False
    if (time.time() if now is None else now) - modified > ABANDONED_AFTER_S:
        return True
    return match["host"] == _host() and not _is_running(int(match["pid"]))


def remove_orphaned(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove the orphaned temporary files and folders in ``folder`` (of target ``name`` only, if given).

    Returns what was removed. Temporaries of live writers, this process's included, are kept.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        match = _OWNED.match(entry.name)
        if match is None or (name is not None and match["name"] != name) or not is_orphaned(entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _is_running(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this host (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
