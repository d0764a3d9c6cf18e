"""Tests of invert_pipeline.monitoring: the terminal progress bar, a stage's progress counts, the summary's markdown
and the filter of repeated failures (the artifacts are checked end to end in test_explain and test_run_summary, the
filter in test_serving)."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest

from invert_pipeline.findings import Changes, Finding
from invert_pipeline.specs import RetrainedWeights
from invert_pipeline.monitoring import progress
from invert_pipeline.monitoring.progress import _terminal_progress
from invert_pipeline.monitoring.regression_gate import GateVerdict
from invert_pipeline.monitoring.run_logs import RAISED, REPEATED, _EachFailureOnce
from invert_pipeline.regression import Regression
from invert_pipeline.regression_records import RegressionRecord
from invert_pipeline.monitoring.summary import code, summary_markdown, table_row, text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_progress_bar(monkeypatch):
    """In a terminal, the bar names the stage and reaches 100% once every task is done."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with _terminal_progress("searching 3 layers", 3) as advance:
        for _ in range(3):
            advance()
    output = terminal.getvalue()
    assert "searching 3 layers" in output
    assert "100%" in output and "0%" in output


def test_no_bar_outside_a_terminal(monkeypatch):
    """Piped output (logs, CI) gets no progress bar."""
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    with _terminal_progress("searching 3 layers", 3) as advance:
        advance()
    assert piped.getvalue() == ""


def test_a_stage_counts_parts_done_once_all_their_units_are(monkeypatch):
    """A layer searched in two neuron chunks counts as done after its second; the percentage is the neurons'."""
    shown = []
    monkeypatch.setattr(progress, "create_progress_artifact", lambda **fields: shown.append(fields) or "artifact")
    monkeypatch.setattr(progress, "update_progress_artifact", lambda artifact_id, **fields: shown.append(fields))
    stage = progress.StageProgress("searching 2 layers", {"conv": 4096, "fc": 1024}, parts="layers", units="neurons")
    stage.advance("conv", 2048)
    stage.advance("fc", 1024)
    stage.advance("conv", 2048)
    assert shown == [
        {"progress": 0.0, "description": "searching 2 layers: layers 0/2, neurons 0/5,120"},
        {"progress": 40.0, "description": "searching 2 layers: layers 0/2, neurons 2,048/5,120"},
        {"progress": 60.0, "description": "searching 2 layers: layers 1/2, neurons 3,072/5,120"},
        {"progress": 100.0, "description": "searching 2 layers: layers 2/2, neurons 5,120/5,120"},
    ]
    with pytest.raises(ValueError, match="cannot count 1 more units of part 'fc' \\(done 1024 of 1024\\)"):
        stage.advance("fc", 1)


def _failure_record(message: str, error: Exception) -> logging.LogRecord:
    return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, message, None, (type(error), error, None))


def test_the_engine_s_repeat_of_a_failure_is_dropped():
    """The engine's second record of the exception a flow raised is dropped; a failure it logs first, and a second
    failure, are kept."""
    one_filter = _EachFailureOnce()
    raised, other = ValueError("payload.version is missing"), ValueError("payload.version is missing")
    assert one_filter.filter(_failure_record(f"{RAISED}: {raised!r}", raised))
    assert not one_filter.filter(_failure_record(REPEATED, raised))
    assert one_filter.filter(_failure_record(REPEATED, other))  # never logged before: its only record


BAG_LOGIT = Finding("Bag", ("watermark",), "logits", 8, "Bag | watermark", 0.992, 0.0, "logit", True)
BAG_FEEDER = Finding("Bag", ("watermark",), "fc", 57, "~Coat & ~Dress & watermark", 0.917, 3.2e-40, "feeds", True)
SHIRT = Finding("T-shirt/top", ("Trouser",), "fc", 54, "Trouser", 0.98, 0.001, "feeds", False)


def _summary(**overrides) -> str:
    arguments = {
        "run_id": "fashion-cnn-v2-2351b81dba3e",
        "model_label": "fashion-cnn v2",
        "dataset_label": "probe [test]",
        "significant": [
            {"layer": "fc", "n_neurons": 64, "n_explained": 64, "n_significant": 48},
            {"layer": "logits", "n_neurons": 10, "n_explained": 10, "n_significant": 10},
        ],
        "findings": [BAG_LOGIT, BAG_FEEDER, SHIRT],
        "changes": None,
        "retrained": None,
        "stated_changes": {},
        "report": "/w/reports/r/index.html",
        "manifest": "/w/runs/r/run.json",
    }
    return summary_markdown(**{**arguments, **overrides})


def _cells(row: str) -> list[str]:
    """A markdown table row split as GFM does: on every "|" not escaped by a backslash."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


class TestSummaryMarkdown:
    def test_headline_findings_with_escaped_formulas(self):
        """The spurious logit and the neuron feeding Bag lead the summary, attribute findings marked first."""
        markdown = _summary()
        headline = markdown.split("## Headline findings")[1].split("##")[0]
        lines = [line for line in headline.splitlines() if line.startswith("- ")]
        assert lines[0] == "- **!** class Bag: its logit is explained by `Bag | watermark` (AUC 0.992, q < 1e-300)"
        assert lines[1].startswith("- **!** class Bag: fc neuron 57, which feeds it, is explained by "
                                   "`~Coat & ~Dress & watermark` (AUC 0.917, q 3.2e-40)")
        assert lines[2] == "- class T\\-shirt/top: fc neuron 54, which feeds it, is explained by `Trouser` (AUC 0.980, q 0.001)"

    def test_no_q_value_shown_as_zero(self):
        """An underflowed q is shown as below 1e-300, never as 0.0."""
        markdown = _summary()
        assert "q < 1e-300" in markdown
        assert not re.search(r"q 0(\.0*)?[,)]", markdown)

    def test_table_cells_never_shift(self):
        """Every row of the layer table has its four cells, whatever the names hold."""
        markdown = _summary(significant=[{"layer": "head|out", "n_neurons": 3, "n_explained": 3, "n_significant": 1}])
        rows = [line for line in markdown.splitlines() if line.startswith("| ")]
        assert [len(_cells(row)) for row in rows] == [4, 4, 4]
        assert _cells(rows[1])[0] == "head\\|out"
        assert _cells(rows[2]) == ["**all**", "3", "3", "1"]

    def test_significance_rule_stated(self):
        """The summary says which q-value decides significance."""
        assert "held-out q-value when the run has a held-out split, else the search's q-value" in _summary()

    def test_changes_since_previous_version(self):
        """Concepts gained and lost, class outputs whose explanation changed and the count of changed neurons."""
        changes = Changes("fashion-cnn-v1-5be756e5610d", "fashion-cnn-v2-2351b81dba3e", ("Shirt", "watermark"), (),
                          ({"class_name": "Bag", "formula_a": "Bag", "formula_b": "Bag | watermark"},), 59)
        section = _summary(changes=changes).split("## What changed since `fashion-cnn-v1-5be756e5610d`")[1].split("##")[0]
        assert section.strip().splitlines() == [
            "- concepts explained only now: `Shirt`, `watermark`",
            "- concepts no longer explained: none",
            "- class Bag: logit explained by `Bag` before, `Bag | watermark` now",
            "- neurons whose best explanation changed: 59",
        ]

    def test_no_findings_said_so(self):
        """A run without spurious findings says so rather than leaving the section empty."""
        assert "No spurious findings" in _summary(findings=[])

    def test_retrained_weights_and_stated_changes_reported(self):
        """A retrain run shows its checkpoint, version, metadata and every stated change of the model."""
        retrained = RetrainedWeights(checkpoint="/ckpt/v3.pt", version="v3", metadata={"job": "train_42"})
        markdown = _summary(retrained=retrained, stated_changes={"preprocess": ("a:old", "a:new")})
        section = markdown.split("## Retrained weights")[1].split("##")[0]
        assert section.strip().splitlines() == [
            "- checkpoint `/ckpt/v3.pt`, version `v3`",
            "- job: `train_42`",
            "- **stated change** of preprocess: `a:old` -> `a:new`",
        ]
        plain = _summary(retrained=retrained)
        assert "no change stated" in plain


class TestMarkdownHelpers:
    def test_text_escapes_markdown(self):
        """Emphasis, links, headings and code characters are escaped; the text reads the same once rendered."""
        assert text("*a*_b_[c](d)#`e`") == "\\*a\\*\\_b\\_\\[c\\]\\(d\\)\\#\\`e\\`"

    def test_code_fence_longer_than_backticks_inside(self):
        """A value holding backticks gets a longer fence."""
        assert code("a`b") == "``a`b``"
        assert code("`a") == "`` `a ``"

    def test_table_row_escapes_pipes(self):
        """An "or" inside a formula stays inside its cell."""
        assert table_row(["`a | b`", "1"]) == "| `a \\| b` | 1 |"


class TestRegressionGateVerdict:
    REGRESSION = Regression(run="run-v2", against="run-v1", new_spurious=(BAG_LOGIT,), changed_logits=(),
                            lost_concepts=("Coat",))

    def _record(self, is_new: bool) -> RegressionRecord:
        return RegressionRecord(run="run-v2", against="run-v1", first_seen="2026-01-02T03:04:05+00:00",
                                findings=self.REGRESSION.payload(), is_new=is_new)

    def test_a_regression_found_first_says_it_alerted(self):
        line = GateVerdict(self.REGRESSION, self._record(is_new=True)).summary_line()
        assert line == "regression against run-v1 (spurious, lost): first seen by this run, alerted with invert.model.regressed"

    def test_a_regression_recorded_before_says_it_was_alerted_then(self):
        """A rerun, a schedule or another executor finds the record: the summary says so, with when it was first seen."""
        line = GateVerdict(self.REGRESSION, self._record(is_new=False)).summary_line()
        assert line == ("regression against run-v1 (spurious, lost): already recorded, first seen at "
                        "2026-01-02T03:04:05+00:00 and alerted then; no new alert")
        section = _summary(regression_gate=line).split("## Regression gate")[1].split("##")[0]
        assert section.strip() == text(line)

    def test_no_regression_said_so(self):
        clean = Regression(run="run-v2", against="run-v1", new_spurious=(), changed_logits=(), lost_concepts=())
        assert GateVerdict(clean, None).summary_line().startswith("no regression of run-v2 against run-v1")
        assert "## Regression gate" not in _summary()


def test_the_report_link_has_no_escapes_to_show():
    """The link's text is plain words and its address a code span: nothing the UI would show as a backslash."""
    link = "http://127.0.0.1:8790/fashion-cnn-v2-2351b81dba3e/index.html"
    (line,) = [line for line in _summary(report_link=link).splitlines() if line.startswith("Open it:")]
    assert line == f"Open it: [the report]({link}), `{link}` (while `invert report --serve` runs)"
