"""Workspace writes: atomic, and with the permissions the user's umask gives; the Workspace layout."""

from __future__ import annotations

import errno
import os
import re
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invert_pipeline.workspace import (
    Workspace,
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


def test_workspace_knows_every_path_of_the_layout(tmp_path):
    """Workspace spells each path of docs/ARCHITECTURE.md's layout, under its root."""
    workspace = Workspace(tmp_path)
    expected = {
        workspace.dataset_dir("fp"): "datasets/fp",
        workspace.activations_dir("ak"): "activations/ak",
        workspace.layer_activations_dir("ak", "conv1"): "activations/ak/conv1",
        workspace.search_dir("sk"): "search/sk",
        workspace.explanations("sk", "conv1"): "search/sk/conv1.parquet",
        workspace.atomic_scores("sk", "conv1"): "search/sk/conv1.atomic.parquet",
        workspace.search_chunks_dir("sk", "conv1"): "search/sk/conv1.chunks",
        workspace.chunk_explanations("sk", "conv1", (4, 8)): "search/sk/conv1.chunks/000000004-000000008.parquet",
        workspace.chunk_atomic_scores("sk", "conv1", (4, 8)): "search/sk/conv1.chunks/000000004-000000008.atomic.parquet",
        workspace.run_dir("r-1"): "runs/r-1",
        workspace.manifest("r-1"): "runs/r-1/run.json",
        workspace.neuron_influence("r-1"): "runs/r-1/neuron_influence.parquet",
        workspace.report_index(["r-1", "r-2"]): "reports/r-1+r-2/index.html",
        workspace.warehouse: "warehouse.duckdb",
    }
    for path, relative in expected.items():
        assert workspace.relative(path) == relative
        assert workspace.path(relative) == path


def test_workspace_lists_the_runs_that_have_a_manifest(tmp_path):
    """run_ids: the runs/ folders holding a run.json, sorted; a folder without one is no run."""
    workspace = Workspace(tmp_path)
    for run_id in ("b-run", "a-run"):
        atomic_write_json({"run_id": run_id}, workspace.manifest(run_id))
    workspace.run_dir("unfinished").mkdir()
    assert workspace.run_ids() == ["a-run", "b-run"]


@pytest.mark.parametrize("raised", [OSError(errno.ENOSPC, "No space left on device"),
                                    OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")],
                         ids=["errno", "pyarrow text"])
def test_full_disk_names_the_file(tmp_path, monkeypatch, raised):
    """A write the disk has no room for (as the OS or pyarrow report it) fails naming the file; no temporary is left."""
    def full(*args, **kwargs):
        raise raised

    monkeypatch.setattr(pq, "write_table", full)
    path = tmp_path / "search" / "k" / "logits.parquet"
    with pytest.raises(OSError, match=rf"no space left on the device to write {re.escape(str(path))} \(.*\); free space") as error:
        atomic_write_parquet(pa.table({"x": [1]}), path)
    assert error.value.errno == errno.ENOSPC
    assert list(path.parent.iterdir()) == []


def test_other_write_errors_pass_unchanged(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(pq, "write_table", denied)
    with pytest.raises(PermissionError, match=r"^\[Errno 13\] Permission denied$"):
        atomic_write_parquet(pa.table({"x": [1]}), tmp_path / "x.parquet")
