"""The command's error line says "out of memory" whichever library ran out, and leaves other errors as they are."""

from __future__ import annotations

import errno

import pytest

from invert_pipeline.cli import main
from invert_pipeline.cli.failures import out_of_memory_advice


class OutOfMemoryError(RuntimeError):
    """Named as torch's (torch.OutOfMemoryError) is."""


@pytest.mark.parametrize("error", [
    MemoryError(),
    OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ImportError("libtorch_cpu.so: failed to map segment from shared object"),
    RuntimeError("can't start new thread"),
    OSError(errno.ENOMEM, "Cannot allocate memory"),
], ids=["MemoryError", "torch", "loader", "thread", "ENOMEM"])
def test_out_of_memory_is_named(error):
    advice = out_of_memory_advice(error)
    assert advice.startswith(f"out of memory ({type(error).__name__}: ") and "--batch-size" in advice


@pytest.mark.parametrize("error", [ValueError("--beam must be >= 1"), FileNotFoundError("no such file"), RuntimeError("boom")])
def test_other_errors_are_not(error):
    assert out_of_memory_advice(error) is None


def test_the_command_line_says_out_of_memory(tmp_path, monkeypatch, capsys):
    def exhausted(workspace):
        raise MemoryError()

    monkeypatch.setattr("invert_pipeline.cli.verify.damaged_files", exhausted)
    assert main(["verify", "--workspace", str(tmp_path)]) == 2
    assert "invert verify: error: out of memory (MemoryError: no details)." in capsys.readouterr().err
