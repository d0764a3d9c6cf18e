"""Boolean formulas over concepts: an immutable AST, its text and JSON forms, canonical form, evaluation.

A formula is a :class:`Literal` (a concept, possibly negated) or an :class:`And` / :class:`Or` of two or
more formulas. Negation applies to literals only, as in INVERT.

Text form: ``&`` (and), ``|`` (or), ``~`` (not), parentheses around every compound operand, so the text
states the tree exactly: ``(a & b) | c`` is ``Or(And(a, b), c)`` and ``a & b & c`` is one ``And`` of three.
Concept names other than plain ASCII identifiers (``[A-Za-z_][A-Za-z0-9_]*``) are written in double
quotes (``"T-shirt/top"``, ``"Café"``), with ``\\"`` and ``\\\\`` escaping a quote and a backslash, so
that every Unicode string (combining marks, NFC or NFD, whitespace, any code point) reads back exactly.
The parser also accepts unquoted Unicode word names (``été``). When parsing, ``&`` binds tighter than
``|``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Union

import numpy as np
import scipy.sparse

Formula = Union["Literal", "And", "Or"]


@dataclass(frozen=True, order=True)
class Literal:
    """A concept, or its negation when ``negated`` is true."""

    concept: str
    negated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.concept, str):
            kind = type(self.concept).__name__
            raise TypeError(f"a literal's concept must be a str, got {kind} {self.concept!r}")

    def __len__(self) -> int:
        return 1

    def concepts(self) -> tuple[str, ...]:
        return (self.concept,)

    def negate(self) -> Literal:
        return Literal(self.concept, not self.negated)

    def __str__(self) -> str:
        return to_text(self)


@dataclass(frozen=True)
class _Compound:
    """Two or more formulas joined by one operator (the subclass says which)."""

    args: tuple[Formula, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.args, tuple) or len(self.args) < 2:
            raise ValueError(f"{type(self).__name__} needs a tuple of at least two formulas, got {self.args!r}")

    def __len__(self) -> int:
        return sum(len(arg) for arg in self.args)

    def concepts(self) -> tuple[str, ...]:
        """Distinct concept names in order of first appearance."""
        return tuple(dict.fromkeys(literal.concept for literal in literals(self)))

    def __str__(self) -> str:
        return to_text(self)


@dataclass(frozen=True)
class And(_Compound):
    """The conjunction of two or more formulas."""


@dataclass(frozen=True)
class Or(_Compound):
    """The disjunction of two or more formulas."""


def literals(formula: Formula) -> list[Literal]:
    """Every literal of ``formula``, left to right (duplicates included)."""
    if isinstance(formula, Literal):
        return [formula]
    return [literal for arg in formula.args for literal in literals(arg)]


# ----------------------------------------------------------------------------------------------
# Text form
# ----------------------------------------------------------------------------------------------


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _quote(name: str) -> str:
    """``name`` as the tokenizer reads it back: bare when a plain ASCII identifier, else quoted."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_text(formula: Formula) -> str:
    """The text form, e.g. ``sneaker | (bag & ~watermark)``."""
    if isinstance(formula, Literal):
        return ("~" if formula.negated else "") + _quote(formula.concept)
    operator = " & " if isinstance(formula, And) else " | "
    return operator.join(
        to_text(arg) if isinstance(arg, Literal) else f"({to_text(arg)})" for arg in formula.args
    )


_TOKEN = re.compile(r'\s*(?:(?P<op>[&|~()])|(?P<name>[^\W\d]\w*)|"(?P<quoted>(?:[^"\\]|\\.)*)")', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(
                f"cannot parse formula {text!r} at position {position} ({text[position:position + 10]!r}): "
                "expected a concept name, a double-quoted name, '~', '&', '|' or a parenthesis"
            )
        if match.group("op"):
            tokens.append(("op", match.group("op")))
        elif match.group("name") is not None:
            tokens.append(("name", match.group("name")))
        else:
            tokens.append(("name", _ESCAPE.sub(r"\1", match.group("quoted"))))
        position = match.end()
    return tokens


def parse_formula(text: str) -> Formula:
    """Parse the text form back into a formula; ``parse_formula(to_text(f)) == f`` for every formula."""
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str, got {type(text).__name__}")
    tokens = _tokenize(text)
    if not tokens:
        raise ValueError("cannot parse an empty formula: give at least one concept name")
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take(expected: str | None = None) -> tuple[str, str]:
        nonlocal position
        token = peek()
        if token is None:
            raise ValueError(f"formula {text!r} ends too early: expected {expected or 'more'}")
        if expected is not None and token != ("op", expected):
            raise ValueError(f"formula {text!r}: expected {expected!r} but found {token[1]!r}")
        position += 1
        return token

    def operand() -> Formula:
        kind, value = take()
        if kind == "name":
            return Literal(value)
        if value == "~":
            inner = take()
            if inner[0] != "name":
                raise ValueError(f"formula {text!r}: '~' applies to a concept name only, found {inner[1]!r}")
            return Literal(inner[1], negated=True)
        if value == "(":
            inner = disjunction()
            take(")")
            return inner
        raise ValueError(f"formula {text!r}: unexpected {value!r}")

    def chain(node_type: type, operator: str, parse_operand) -> Formula:
        args = [parse_operand()]
        while peek() == ("op", operator):
            take(operator)
            args.append(parse_operand())
        return args[0] if len(args) == 1 else node_type(tuple(args))

    def conjunction() -> Formula:
        return chain(And, "&", operand)

    def disjunction() -> Formula:
        return chain(Or, "|", conjunction)

    formula = disjunction()
    if position != len(tokens):
        raise ValueError(f"formula {text!r}: unexpected {tokens[position][1]!r} after a complete formula")
    return formula


# ----------------------------------------------------------------------------------------------
# JSON form
# ----------------------------------------------------------------------------------------------


def to_dict(formula: Formula) -> dict:
    """``{"concept": name, "negated": bool}`` or ``{"op": "and" | "or", "args": [...]}``."""
    if isinstance(formula, Literal):
        return {"concept": formula.concept, "negated": formula.negated}
    return {"op": "and" if isinstance(formula, And) else "or", "args": [to_dict(arg) for arg in formula.args]}


def from_dict(value: dict) -> Formula:
    """Inverse of :func:`to_dict`."""
    if "concept" in value:
        return Literal(str(value["concept"]), bool(value.get("negated", False)))
    operator = value.get("op")
    if operator == "and":
        node_type = And
    elif operator == "or":
        node_type = Or
    else:
        raise ValueError(f"formula JSON: 'op' must be 'and' or 'or', got {operator!r}")
    return node_type(tuple(from_dict(arg) for arg in value["args"]))


def to_json(formula: Formula) -> str:
    """The JSON form as a compact string."""
    return json.dumps(to_dict(formula), separators=(",", ":"))


def from_json(text: str) -> Formula:
    """Inverse of :func:`to_json`."""
    return from_dict(json.loads(text))


# ----------------------------------------------------------------------------------------------
# Canonical form
# ----------------------------------------------------------------------------------------------


class _Constant:
    """Marker for a formula that is always true or always false."""

    def __init__(self, value: bool) -> None:
        self.value = value


def _sort_key(formula: Formula) -> tuple:
    if isinstance(formula, Literal):
        return (0, formula.concept, formula.negated)
    return (1 if isinstance(formula, And) else 2, len(formula), tuple(_sort_key(arg) for arg in formula.args))


def canonical(formula: Formula) -> Formula | None:
    """The canonical form: nested nodes of one kind flattened, operands sorted, duplicates removed.

    Simplifications that make a formula shorter are applied: ``a & a`` is ``a``; a literal beside a
    compound operand absorbs or prunes it (``(a | b) & a`` is ``a``, ``(a | b) & ~a`` is ``b & ~a``).
    Returns ``None`` for a contradiction or tautology (``a & ~a``, ``a | ~a``), which is true on no
    sample or on all of them and so is never a valid explanation.
    """
    result = _canonical(formula)
    return None if isinstance(result, _Constant) else result


def _canonical(formula: Formula) -> Formula | _Constant:
    if isinstance(formula, Literal):
        return formula
    node_type = type(formula)
    absorbing = node_type is Or  # a true operand makes an Or true; a false one makes an And false
    args: list[Formula] = []
    for arg in formula.args:
        arg = _canonical(arg)
        if isinstance(arg, _Constant):
            if arg.value == absorbing:
                return arg
            continue
        args.extend(arg.args if isinstance(arg, node_type) else (arg,))
    units = {arg for arg in args if isinstance(arg, Literal)}
    if any(unit.negate() in units for unit in units):
        return _Constant(absorbing)
    # Inside an And, each literal operand is true, so it absorbs compound operands that contain it and
    # removes its negation from them (dually inside an Or). Repeat until nothing changes.
    changed = True
    while changed:
        changed = False
        simplified: list[Formula] = []
        for arg in args:
            if isinstance(arg, Literal):
                simplified.append(arg)
                continue
            inner = list(arg.args)
            if any(unit in inner for unit in units):
                changed = True
                continue  # absorbed
            pruned = [sub for sub in inner if not (isinstance(sub, Literal) and sub.negate() in units)]
            if len(pruned) != len(inner):
                changed = True
                replacement = _canonical(pruned[0] if len(pruned) == 1 else type(arg)(tuple(pruned)))
                if isinstance(replacement, _Constant):
                    if replacement.value == absorbing:
                        return replacement
                    continue
                if isinstance(replacement, Literal):
                    if replacement.negate() in units:
                        return _Constant(absorbing)
                    units.add(replacement)
                if isinstance(replacement, node_type):
                    simplified.extend(replacement.args)
                    units.update(a for a in replacement.args if isinstance(a, Literal))
                else:
                    simplified.append(replacement)
                continue
            simplified.append(arg)
        args = simplified
    unique = sorted(set(args), key=_sort_key)
    if len(unique) == 1:
        return unique[0]
    return node_type(tuple(unique))


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def evaluate(formula: Formula, labels, concepts) -> np.ndarray:
    """Truth of ``formula`` on every sample.

    Parameters
    ----------
    formula : Formula
    labels : array-like of shape (n_samples, n_concepts), bool (numpy, scipy.sparse or torch)
    concepts : sequence of str of length n_concepts, the column names of ``labels``

    Returns
    -------
    ndarray of shape (n_samples,), bool
    """
    index = {name: position for position, name in enumerate(concepts)}
    missing = [name for name in formula.concepts() if name not in index]
    if missing:
        raise KeyError(f"formula {to_text(formula)!r} uses concepts not in `concepts`: {missing}")
    if scipy.sparse.issparse(labels):
        matrix = labels.tocsc()

        def column(position: int) -> np.ndarray:
            return matrix[:, [position]].toarray().ravel().astype(bool)

    else:
        dense = labels.numpy() if hasattr(labels, "numpy") else np.asarray(labels)

        def column(position: int) -> np.ndarray:
            return np.asarray(dense[:, position], dtype=bool)

    def truth(node: Formula) -> np.ndarray:
        if isinstance(node, Literal):
            value = column(index[node.concept])
            return ~value if node.negated else value
        values = [truth(arg) for arg in node.args]
        combine = np.logical_and if isinstance(node, And) else np.logical_or
        return combine.reduce(values)

    return truth(formula)
