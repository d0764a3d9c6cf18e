"""Each kind of workspace file damaged after a clean run: named by `invert verify`, recomputed by a rerun."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_runs import run_pipeline, warehouse_hashes

from invert_pipeline.cli import main
from invert_pipeline.warehouse import rebuild
from invert_pipeline.workspace import damaged_files

# (glob under the workspace, damage): extend with any file of the workspace.
FILES = [
    ("datasets/*/dataset.json", "truncate"),
    ("datasets/*/labels.parquet", "flip"),
    ("activations/*/conv1/part-*.parquet", "truncate"),
    ("activations/*/logits/part-*.parquet", "flip"),
    ("search/*/logits.parquet", "flip"),
    ("search/*/conv1.atomic.parquet", "truncate"),
    ("runs/*/run.json", "flip"),
]


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:  # 40 bytes flipped in the middle: same size, other content
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 40]) + data[middle + 40:])


@pytest.mark.parametrize(("pattern", "how"), FILES, ids=[f"{how}-{pattern.split('/')[-1]}" for pattern, how in FILES])
def test_damaged_file_is_named_and_recomputed(copy_of_clean, clean_hashes, capsys, pattern, how):
    (path,) = copy_of_clean.glob(pattern)
    damage(path, how)
    assert main(["verify", "--workspace", str(copy_of_clean)]) == 1
    assert f"damaged: {path}:" in capsys.readouterr().out
    rerun = run_pipeline(copy_of_clean)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "is damaged" in rerun.stderr and path.name in rerun.stderr  # the run says so, naming the file
    assert damaged_files(copy_of_clean) == {}
    assert warehouse_hashes(copy_of_clean / "warehouse.duckdb") == clean_hashes


def test_rebuild_skips_a_run_with_damaged_files(copy_of_clean):
    """`invert warehouse rebuild` names the damaged run and its file instead of aborting."""
    (path,) = copy_of_clean.glob("search/*/logits.parquet")
    damage(path, "flip")
    result = rebuild(copy_of_clean / "warehouse.duckdb", copy_of_clean)
    assert result.loaded == ()
    ((run_id, reason),) = result.skipped.items()
    assert run_id.startswith("fault-suite-") and "logits.parquet: its bytes differ from the digest" in reason
