"""The README stays true: its quick start's printed output is what a real ``invert run`` prints, and the commands it
shows (the run's "Next" list, the SQL section, the regression gate in CI) run on that run's workspace.

The output block may leave lines out (``...``) and writes what differs from run to run as placeholders in angle
brackets (``<v1 run>``, ``<seconds>``); every other character must be printed, line by line, in the same order.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from invert_pipeline.cli import main
from invert_pipeline.warehouse import list_queries

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")  # <v1 run>, <seconds>; not the `<` of a comparison such as `q < 0.05`


def section(start: str, end: str) -> str:
    return README[README.index(start):README.index(end)]


def fenced_blocks(text: str, language: str) -> list[str]:
    """The code of each fenced block of ``text`` in ``language`` ("" for blocks without one)."""
    return [code for lang, code in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S) if lang == language]


QUICK_START = section("## Quick start", "## What it does")
OUTPUT = fenced_blocks(QUICK_START, "")[0]


def line_pattern(line: str) -> re.Pattern:
    """A README output line as a pattern: itself, each placeholder standing for any non-empty text."""
    parts = PLACEHOLDER.split(line)
    return re.compile(".+?".join(map(re.escape, parts)))


def placeholder_values(printed: str) -> dict[str, str]:
    """What the placeholders of the output block stand for in ``printed``, read where each first occurs."""
    values: dict[str, str] = {}
    lines = iter(printed.splitlines())
    for line in OUTPUT.splitlines():
        names = PLACEHOLDER.findall(line)
        if not names or line.strip() == "...":
            continue
        parts = PLACEHOLDER.split(line)
        pattern = re.compile("(.+?)".join(map(re.escape, parts)) + "$")
        match = next(found for found in map(pattern.fullmatch, lines) if found)
        values.update(zip(names, match.groups(), strict=True))
    return values


def readme_commands(text: str) -> list[str]:
    """The ``invert`` commands of ``text``'s lines (continuations joined, comments and notes in parentheses cut)."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("invert "):
            commands.append(re.sub(r"\s{2,}(#.*|\(.*\))$", "", line))
    return commands


def run_command(command: str, folder: Path) -> tuple[int, str]:
    """``command`` (an ``invert`` command line) run by ``main`` in ``folder``: its exit status and output."""
    printed = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(printed):
        code = main(shlex.split(command)[1:])
    return code, printed.getvalue()


def test_the_output_block_is_what_invert_run_prints(demo_run):
    """Every line of the README's output block, but `...`, is printed, in the order shown."""
    printed = demo_run.printed.splitlines()
    position = 0
    for line in OUTPUT.rstrip("\n").splitlines():
        if line.strip() == "...":
            continue
        pattern = line_pattern(line.rstrip())
        found = next((index for index in range(position, len(printed)) if pattern.fullmatch(printed[index].rstrip())),
                     None)
        assert found is not None, f"README line not printed (after line {position} of the output):\n{line}"
        position = found + 1


def test_the_placeholders_are_the_run_ids_and_the_time(demo_run):
    """`<v1 run>` and `<v2 run>` are the runs' ids, `<seconds>` a whole number of seconds."""
    values = placeholder_values(demo_run.printed)
    runs = {path.name for path in (demo_run.workspace / "runs").iterdir() if path.is_dir()}
    assert {values["<v1 run>"], values["<v2 run>"]} == runs
    assert values["<seconds>"].isdigit()


@pytest.mark.parametrize("command", readme_commands(OUTPUT.split("\nNext\n", 1)[1]))
def test_the_next_commands_run(command, demo_run):
    """Each command the run suggests next, as the README shows it, runs on the run's workspace."""
    values = placeholder_values(demo_run.printed)
    code, printed = run_command(PLACEHOLDER.sub(lambda found: values[found.group()], command), demo_run.workspace.parent)
    assert code == 0 and printed


SQL_SECTION = section("### Asking questions in SQL", "## Benchmarks")


@pytest.mark.parametrize("command", readme_commands("\n".join(fenced_blocks(SQL_SECTION, "bash"))))
def test_the_sql_section_commands_run(command, demo_run):
    """The SQL section's commands run on the quick start's workspace (my_labels.csv is the reader's own file)."""
    (demo_run.workspace.parent / "my_labels.csv").write_text("sample_id,concept\n0,striped\n")
    code, printed = run_command(command, demo_run.workspace.parent)
    assert code == 0 and printed


def test_the_ci_gate_command_fails_on_the_planted_shortcut(demo_run):
    """`invert check --run v2 --against v1 --fail-on spurious` exits 1, as the README says (v2 learned the watermark)."""
    command = next(line for line in readme_commands(README) if line.startswith("invert check "))
    code, printed = run_command(command, demo_run.workspace.parent)
    assert code == 1 and "new spurious finding: class Bag" in printed


def test_the_named_query_list_names_every_query():
    """The README's list of named queries names each query of sql/queries."""
    listing = section("Named queries:", "Every command has `--help`")
    missing = [query.name for query in list_queries() if f"`{query.name}`" not in listing]
    assert missing == []
