"""The formula adapter over invert_core's parser."""

from __future__ import annotations

import json

from invert_pipeline.warehouse.formulas import formula_json, formula_literals


def test_literals_are_distinct_in_order_with_negation():
    """Each literal once, in order of appearance; quoted names unquoted; ~ recorded as negated."""
    assert formula_literals("sneaker | (bag & ~watermark) | sneaker") == [
        ("sneaker", False),
        ("bag", False),
        ("watermark", True),
    ]
    assert formula_literals('"T-shirt/top" & ~"T-shirt/top"') == [
        ("T-shirt/top", False),
        ("T-shirt/top", True),
    ]


def test_json_form():
    """The JSON form is invert_core's tree of ops and literals."""
    assert json.loads(formula_json("bag | watermark")) == {
        "op": "or",
        "args": [{"concept": "bag", "negated": False}, {"concept": "watermark", "negated": False}],
    }
