"""Regressions recorded once: the first gate to find a (run, against) pair makes the record, every later one reads
it; the warehouse's ``regressions`` table holds the records and a rebuild restores them."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import pytest

from invert_pipeline.regression_records import record_regression, regression_event_id, regression_records
from invert_pipeline.warehouse import rebuild
from invert_pipeline.warehouse.regressions import store_regression

FINDINGS = {"run": "run-v2", "against": "run-v1", "failed": ["spurious", "lost"], "lost_concepts": ["Bag"]}
FIRST, LATER = "2026-01-02T03:04:05+00:00", "2026-02-03T04:05:06+00:00"


def _regression_rows(db_path: Path) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(
            "select run_id, against_run_id, strftime(first_seen at time zone 'UTC', '%Y-%m-%dT%H:%M:%S'), failed, "
            "findings->>'$.lost_concepts[0]' from regressions order by all"
        ).fetchall()


def test_the_first_gate_records_the_pair_and_later_ones_read_it(tmp_path):
    """A second finding of the same pair is not new and keeps the first one's time and findings."""
    first = record_regression(tmp_path, FINDINGS, FIRST)
    again = record_regression(tmp_path, {**FINDINGS, "lost_concepts": ["Coat"]}, LATER)
    assert (first.is_new, again.is_new) == (True, False)
    assert (again.first_seen, again.findings["lost_concepts"]) == (FIRST, ["Bag"])
    assert (tmp_path / "runs" / "run-v2" / "regressions" / "run-v1.json").is_file()
    other = record_regression(tmp_path, {**FINDINGS, "against": "run-v0"}, LATER)
    assert other.is_new and other.first_seen == LATER


def _record_in_another_process(workspace: str) -> bool:
    return record_regression(workspace, FINDINGS, LATER).is_new


def test_of_gates_finding_a_pair_at_once_exactly_one_records_it(tmp_path):
    """Six processes record the same pair together: one makes the record (and alerts), five read it."""
    with ProcessPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(_record_in_another_process, [str(tmp_path)] * 6))
    assert sorted(made) == [False] * 5 + [True]


def test_the_event_id_is_the_pairs_in_every_process():
    """Another interpreter derives the same id for the pair; another pair, or the pair turned round, has another."""
    here = regression_event_id("run-v2", "run-v1")
    code = "from invert_pipeline.regression_records import regression_event_id; print(regression_event_id('run-v2', 'run-v1'))"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert uuid.UUID(there) == here
    assert regression_event_id("run-v1", "run-v2") != here != regression_event_id("run-v3", "run-v1")
    with pytest.raises(ValueError, match="`against` must be a run id"):
        regression_event_id("run-v2", "")


def test_a_damaged_record_counts_as_missing(tmp_path):
    """A record whose bytes changed is made again (new), as any damaged workspace file is computed again."""
    record_regression(tmp_path, FINDINGS, FIRST)
    path = tmp_path / "runs" / "run-v2" / "regressions" / "run-v1.json"
    path.write_text(path.read_text().replace("Bag", "Bog"))
    remade = record_regression(tmp_path, FINDINGS, LATER)
    assert remade.is_new and remade.first_seen == LATER
    assert [record.first_seen for record in regression_records(tmp_path)] == [LATER]


def test_the_warehouse_keeps_the_first_row_and_a_rebuild_restores_it(loaded):
    """store_regression of a known pair changes nothing; a rebuild loads the records of the runs it loads."""
    first = record_regression(loaded.root, FINDINGS, FIRST)
    store_regression(loaded.db_path, first)
    store_regression(loaded.db_path, record_regression(loaded.root, {**FINDINGS, "lost_concepts": ["Coat"]}, LATER))
    expected = [("run-v2", "run-v1", "2026-01-02T03:04:05", ["spurious", "lost"], "Bag")]
    assert _regression_rows(loaded.db_path) == expected
    record_regression(loaded.root, {**FINDINGS, "run": "run-gone"}, LATER)  # a run the workspace has no manifest of
    loaded.db_path.unlink()
    rebuild(loaded.db_path, loaded.root)
    assert _regression_rows(loaded.db_path) == expected
