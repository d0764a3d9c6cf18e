"""Workspace writes: atomic, and with the permissions the user's umask gives."""

from __future__ import annotations

import os
import stat

import pyarrow as pa
import pytest

from invert_pipeline.workspace import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    temporary_dir,
)


@pytest.fixture(params=[0o022, 0o002, 0o077], ids=["umask-022", "umask-002", "umask-077"])
def umask(request) -> int:
    """Run the test under this umask, then restore the previous one."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_follow_the_umask(umask, tmp_path):
    """Every atomic writer gives mode 0o666 less the umask, as open() does (not mkstemp's 0o600)."""
    written = [
        atomic_write_text("text", tmp_path / "a.txt"),
        atomic_write_bytes(b"bytes", tmp_path / "b.bin"),
        atomic_write_json({"key": 1}, tmp_path / "c.json"),
        atomic_write_parquet(pa.table({"x": [1]}), tmp_path / "d.parquet"),
    ]
    assert {path.name: mode(path) for path in written} == {path.name: 0o666 & ~umask for path in written}


def test_temporary_dir_follows_the_umask(umask, tmp_path):
    """A folder built under a temporary name gets 0o777 less the umask (not mkdtemp's 0o700)."""
    folder = temporary_dir(tmp_path / "datasets" / "abc")
    assert folder.parent == tmp_path / "datasets"
    assert folder.name.startswith(".abc.") and folder.name.endswith(".tmp")
    assert mode(folder) == 0o777 & ~umask


def test_temporary_dir_is_new_each_time(tmp_path):
    """Two builders of the same folder never share a temporary folder."""
    assert temporary_dir(tmp_path / "abc") != temporary_dir(tmp_path / "abc")
