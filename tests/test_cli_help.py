"""The help text of every `invert` command reads as written: no escaping shows through."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from invert_pipeline.cli import build_parser


def all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every parser of its subcommands, at any depth."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from all_parsers(subparser)


def test_no_help_text_shows_a_doubled_percent_sign():
    """`invert run --help` says '15% of them watermarked', not '15%%' (descriptions are not %-formatted)."""
    helps = {parser.prog: parser.format_help() for parser in all_parsers(build_parser())}
    assert "15% of them watermarked" in " ".join(helps["invert run"].split())
    assert [prog for prog, text in helps.items() if "%%" in text] == []
