"""Tests of tasks.runs: run ids and the run manifest."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.runs import run_id_for, write_manifest_task


class TestRunId:
    def test_readable_and_content_keyed(self):
        """The id starts with the model's label as a slug and changes with the content keys only."""
        run_id = run_id_for("Fashion CNN v2", "data", "activations", "search")
        assert run_id.startswith("fashion-cnn-v2-") and len(run_id) == len("fashion-cnn-v2-") + 12
        assert run_id == run_id_for("Fashion CNN v2", "data", "activations", "search")
        assert run_id != run_id_for("Fashion CNN v2", "data", "activations", "other search")

    def test_label_without_letters(self):
        """A label with nothing usable still gives a valid folder name."""
        assert run_id_for("///", "x").startswith("model-")


class TestWriteManifest:
    def test_times_and_status_added(self, tmp_path):
        """The manifest is written under runs/<run_id>/ with its times and a completed status."""
        path = write_manifest_task.fn(str(tmp_path), {"run_id": "r-1", "layers": []}, "2024-01-01T00:00:00+00:00")
        manifest = json.loads(Path(path).read_text())
        assert Path(path) == tmp_path / "runs" / "r-1" / "run.json"
        assert manifest["status"] == "completed"
        assert manifest["started_at"] == "2024-01-01T00:00:00+00:00"
        assert manifest["finished_at"] >= manifest["started_at"]

    def test_place_in_history_is_kept_by_a_rewrite(self, tmp_path):
        """A rewritten manifest keeps its run's creation time and sequence; the next run gets the next sequence."""
        first = json.loads(Path(write_manifest_task.fn(str(tmp_path), {"run_id": "r-1", "layers": []}, "2024-01-01T00:00:00+00:00")).read_text())
        assert first["sequence"] == 1 and first["created_at"] == first["finished_at"]
        second = json.loads(Path(write_manifest_task.fn(str(tmp_path), {"run_id": "r-2", "layers": []}, "2024-01-01T00:00:00+00:00")).read_text())
        assert second["sequence"] == 2
        rewritten = json.loads(Path(write_manifest_task.fn(str(tmp_path), {"run_id": "r-1", "layers": []}, "2030-01-01T00:00:00+00:00")).read_text())
        assert (rewritten["created_at"], rewritten["sequence"]) == (first["created_at"], 1)
        assert rewritten["started_at"] == "2030-01-01T00:00:00+00:00"

    def test_damaged_manifest_gets_a_new_place_only_without_a_record(self, tmp_path):
        """A damaged manifest counts as no record: with no warehouse either, its rewrite is a new place."""
        path = Path(write_manifest_task.fn(str(tmp_path), {"run_id": "r-1", "layers": []}, "2024-01-01T00:00:00+00:00"))
        path.write_text(path.read_text().replace('"sequence": 1', '"sequence": 7'))  # no longer its recorded bytes
        rewritten = json.loads(Path(write_manifest_task.fn(str(tmp_path), {"run_id": "r-1", "layers": []}, "2024-01-01T00:00:00+00:00")).read_text())
        assert rewritten["sequence"] == 1  # the edited 7 is not trusted
