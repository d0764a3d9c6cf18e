"""What the warehouse needs from a formula's text: its literals and its JSON form.

The one place that talks to the formula parser of :mod:`invert_core`.
"""

from __future__ import annotations

from invert_core import parse_formula, to_json
from invert_core import literals


def formula_literals(text: str) -> list[tuple[str, bool]]:
    """The distinct literals of a formula as ``(concept, negated)`` pairs, in order of appearance.

    ``'sneaker | (bag & ~watermark)'`` gives ``[("sneaker", False), ("bag", False), ("watermark", True)]``.
    """
    pairs = ((literal.concept, literal.negated) for literal in literals(parse_formula(text)))
    return list(dict.fromkeys(pairs))


def formula_json(text: str) -> str:
    """The formula's JSON form (``invert_core``'s), as a compact string."""
    return to_json(parse_formula(text))
