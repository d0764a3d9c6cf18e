"""Tests of tasks.monitoring's terminal progress bar (the artifacts are checked end to end in test_explain)."""

from __future__ import annotations

import io
import sys

from tasks.monitoring import _terminal_progress


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
