"""Temporary files name their owner; only those of processes that are gone are removed (issue 14, item 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from invert_pipeline.temporaries import ABANDONED_AFTER_S, is_orphaned, remove_orphaned, temporary_name


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_orphans_are_removed(tmp_path):
    """A dead writer's file and folder go; this (live) process's stay; other names are never touched."""
    mine = temporary_name(tmp_path / "a.parquet")
    mine.write_text("being written")
    dead = tmp_path / mine.name.replace(f".{os.getpid()}.", f".{dead_pid()}.")
    dead.write_text("left by a kill")
    dead_folder = tmp_path / temporary_name(tmp_path / "datasets").name.replace(f".{os.getpid()}.", f".{dead_pid()}.")
    dead_folder.mkdir()
    foreign = tmp_path / ".a.parquet.something.tmp"
    foreign.write_text("not ours")
    assert sorted(remove_orphaned(tmp_path)) == sorted([dead, dead_folder])
    assert mine.exists() and foreign.exists()


def test_abandoned_file_is_orphaned_whoever_owns_it(tmp_path):
    """A temporary untouched for a day is removed even if its pid runs (reused, or another host's)."""
    mine = temporary_name(tmp_path / "a.parquet")
    mine.write_text("x")
    assert not is_orphaned(mine)
    assert is_orphaned(mine, now=time.time() + ABANDONED_AFTER_S + 60)


def test_remove_orphaned_of_one_name(tmp_path):
    """Given a name, only the temporaries of that target are considered."""
    other = tmp_path / temporary_name(tmp_path / "b.parquet").name.replace(f".{os.getpid()}.", f".{dead_pid()}.")
    other.write_text("x")
    assert remove_orphaned(tmp_path, "a.parquet") == [] and other.exists()
