"""Tests of invert_core.formula: text, JSON and canonical forms, evaluation."""

import numpy as np
import pytest
import scipy.sparse
import torch

from invert_core import And, Literal, Or, canonical, evaluate, from_json, parse_formula, to_json, to_text

a, b, c = Literal("a"), Literal("b"), Literal("c")
not_a, not_b = a.negate(), b.negate()

FORMULAS = [
    a,
    not_a,
    And((a, not_b)),
    Or((And((a, b)), c)),
    And((Or((a, b)), not_a)),
    And((And((a, b)), c)),
    And((a, a)),
    Or((Literal("T-shirt/top"), Literal('say "hi"'), Literal("back\\slash"))),
    And((Literal("ankle boot", negated=True), Or((Literal("0start"), Literal("été"))))),
]


@pytest.mark.parametrize("formula", FORMULAS, ids=str)
def test_text_round_trip(formula):
    """parse_formula(to_text(f)) gives f back, and the text is stable."""
    text = to_text(formula)
    assert parse_formula(text) == formula
    assert to_text(parse_formula(text)) == text


@pytest.mark.parametrize("formula", FORMULAS, ids=str)
def test_json_round_trip(formula):
    """from_json(to_json(f)) gives f back."""
    assert from_json(to_json(formula)) == formula


def test_text_form_examples():
    """The text form uses &, |, ~, parentheses around compound operands and quotes odd names."""
    assert to_text(Or((And((a, b)), c))) == "(a & b) | c"
    assert to_text(And((a, b, c))) == "a & b & c"
    assert to_text(And((Literal("T-shirt/top", negated=True), b))) == '~"T-shirt/top" & b'


def test_parse_precedence_and_whitespace():
    """& binds tighter than |, and whitespace is free."""
    assert parse_formula("a|b &c") == Or((a, And((b, c))))
    assert parse_formula("  ~a&( b|c ) ") == And((not_a, Or((b, c))))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty formula"),
        ("a &", "ends too early"),
        ("a b", "unexpected 'b'"),
        ("~(a | b)", "applies to a concept name only"),
        ("(a | b", "ends too early"),
        ("a $ b", "cannot parse formula"),
    ],
)
def test_parse_errors(text, message):
    """Malformed text gets an error saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        parse_formula(text)


def test_node_needs_two_operands():
    """And and Or reject fewer than two operands."""
    with pytest.raises(ValueError, match="at least two"):
        And((a,))


@pytest.mark.parametrize(
    "formula, expected",
    [
        (And((b, a)), And((a, b))),
        (And((And((c, b)), a)), And((a, b, c))),
        (And((a, a)), a),
        (Or((a, a)), a),
        (And((Or((a, b)), a)), a),
        (Or((And((a, b)), a)), a),
        (And((Or((a, b)), not_a)), And((a.negate(), b))),
        (Or((And((a, b)), not_a)), Or((not_a, b))),
        (And((a, not_a)), None),
        (Or((a, not_a)), None),
        (Or((And((a, b)), c)), Or((c, And((a, b))))),
    ],
    ids=str,
)
def test_canonical(formula, expected):
    """Canonical form flattens, sorts, dedupes and simplifies to the shorter formula."""
    assert canonical(formula) == expected


def test_canonical_is_idempotent_and_equivalent(rng):
    """canonical() keeps the truth table and canonical(canonical(f)) == canonical(f)."""
    labels = rng.random((64, 3)) < 0.5
    names = ["a", "b", "c"]
    atoms = [a, b, c, not_a, not_b, c.negate()]
    for first in atoms:
        for second in atoms:
            for third in atoms:
                for outer in (And, Or):
                    for inner in (And, Or):
                        formula = outer((inner((first, second)), third))
                        result = canonical(formula)
                        truth = evaluate(formula, labels, names)
                        if result is None:
                            assert truth.all() or not truth.any()
                            continue
                        assert canonical(result) == result
                        np.testing.assert_array_equal(evaluate(result, labels, names), truth)


def test_evaluate_dense_sparse_torch(rng):
    """evaluate() gives the same truth on numpy, scipy.sparse and torch labels."""
    labels = rng.random((50, 3)) < 0.4
    formula = parse_formula("(a & ~b) | c")
    expected = (labels[:, 0] & ~labels[:, 1]) | labels[:, 2]
    for matrix in (labels, scipy.sparse.csr_array(labels), torch.from_numpy(labels)):
        np.testing.assert_array_equal(evaluate(formula, matrix, ["a", "b", "c"]), expected)


def test_evaluate_unknown_concept():
    """A formula naming a concept that is not a column is an error naming it."""
    with pytest.raises(KeyError, match="zebra"):
        evaluate(parse_formula("a & zebra"), np.ones((2, 1), dtype=bool), ["a"])


def test_length_and_concepts():
    """len() counts literals; concepts() lists distinct names in order."""
    formula = parse_formula("(a & ~b) | a")
    assert len(formula) == 3
    assert formula.concepts() == ("a", "b")
