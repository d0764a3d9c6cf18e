"""Every concept name survives the text form: quoting (``to_text``) and tokenizing agree (issue 14)."""

import random
import sys
import unicodedata

import pytest

from invert_core import And, Literal, Or, parse_formula, to_text

# Names that broke the text form before: identifier-like to Python, not to the tokenizer.
AWKWARD = [
    "Cafe\u0301",  # combining acute accent (NFD)
    "Caf\u00e9",  # the same in NFC
    "a\u00b7b",  # MIDDLE DOT
    "x\u0300",
    "\u1885",  # MONGOLIAN LETTER ALI GALI BALUDA: an identifier start, but no word character
    "T-shirt/top",
    'say "hi"',
    "back\\slash",
    "trailing\\",
    '\\"',
    "",
    " ",
    "tab\there",
    "line\nbreak",
    "\r\n",
    "\u00a0nbsp",
    "(a | b)",
    "~a",
    "a & b",
    "0start",
    "\u00e9t\u00e9",
    "\ud800",  # a lone surrogate is still a Python str
    "\U0001f600",
    "\u200b",
    "\ufeffbom",
]

_ALPHABET = (
    "aZ_09 \t\n\"\\'()&|~-/.,;:!?\u00b7\u00e9\u0301\u0300\u0327\u00a0\u2028\u200d\u3000\u05d0\u0627\u4e2d"
    "\U0001f600\U0001d400"
)


def _embedded(name: str) -> list:
    """``name`` alone, negated, and inside compound formulas of both kinds."""
    here, negated = Literal(name), Literal(name, negated=True)
    return [
        here,
        negated,
        And((here, Literal("b"))),
        Or((Literal("a"), negated)),
        Or((And((negated, Literal("T-shirt/top"))), here)),
        And((Or((here, Literal("Caf\u00e9"))), negated)),
    ]


def _assert_round_trip(formula) -> None:
    text = to_text(formula)
    assert parse_formula(text) == formula, text
    assert to_text(parse_formula(text)) == text


@pytest.mark.parametrize("name", AWKWARD, ids=ascii)
def test_awkward_names_round_trip(name):
    """Each awkward name reads back exactly, alone, negated and inside compound formulas."""
    for formula in _embedded(name):
        _assert_round_trip(formula)


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_normal_forms_stay_distinct(form):
    """Names are never normalised: the NFC and NFD spellings of a name stay different concepts."""
    name = unicodedata.normalize(form, "Cafe\u0301 \u00c5ngstr\u00f6m \ufb01")
    _assert_round_trip(And((Literal(name), Literal(name + "x", negated=True))))
    assert parse_formula(to_text(Literal(name))).concept == name


def test_every_code_point_round_trips():
    """Every code point, alone and between letters, reads back (one long formula per block of 4,096)."""
    block = 4096
    for start in range(0, sys.maxunicode + 1, block):
        names = [chr(point) for point in range(start, min(start + block, sys.maxunicode + 1))]
        names += ["a" + name + "b" for name in names]
        formula = Or(tuple(Literal(name, negated=index % 2 == 1) for index, name in enumerate(names)))
        assert parse_formula(to_text(formula)) == formula, f"block starting at U+{start:04X}"


def test_random_strings_round_trip():
    """Random strings of quotes, backslashes, whitespace, punctuation and combining marks read back."""
    rng = random.Random(14)
    for _ in range(3000):
        name = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.3:
            name = unicodedata.normalize(rng.choice(["NFC", "NFD"]), name)
        for formula in _embedded(name):
            _assert_round_trip(formula)


def test_plain_names_stay_bare_and_others_are_quoted():
    """Plain ASCII identifiers are written bare; everything else in double quotes."""
    assert to_text(And((Literal("watermark"), Literal("_x9", negated=True)))) == "watermark & ~_x9"
    assert to_text(Literal("Cafe\u0301")) == '"Cafe\u0301"'
    assert to_text(Literal("a\u00b7b", negated=True)) == '~"a\u00b7b"'


def test_literal_needs_a_string():
    """A literal's concept is a str; anything else is refused when the literal is made."""
    with pytest.raises(TypeError, match="concept must be a str"):
        Literal(3)
