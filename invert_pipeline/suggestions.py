"""The "did you mean" of error messages: the known names closest to a mistyped one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(word: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` names of ``known`` that look like ``word``, closest first (difflib's ratio of at least 0.6)."""
    return difflib.get_close_matches(word, list(known), n=n, cutoff=0.6)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"did you mean 'a' or 'b'? "`` for the names of ``known`` close to ``word``; ``""`` when none is."""
    close = close_names(word, known)
    return f"did you mean {' or '.join(map(repr, close))}? " if close else ""
