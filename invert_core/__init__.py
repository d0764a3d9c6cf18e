"""invert_core: the INVERT algorithm (Inverse Recognition, NeurIPS 2023), exact and batched.

Label each neuron with the boolean formula over concepts whose truth best separates the samples where
it fires high from those where it fires low, scored by exact AUROC with a Mann–Whitney U test. No
Prefect, no file formats: numpy, scipy and torch in, a pyarrow table out.

>>> table = explain(activations, labels, concepts)         # doctest: +SKIP
>>> table.to_pandas().query("rank == 0")                    # doctest: +SKIP
"""

from invert_core.explain import (
    DEFAULT_MIN_FRACTION,
    DEFAULT_MIN_GAIN,
    DEFAULT_TOP_QUANTILE,
    EXPLANATION_SCHEMA,
    atomic_auc,
    explain,
)
from invert_core.formula import (
    And,
    Formula,
    Literal,
    Or,
    canonical,
    evaluate,
    from_json,
    literals,
    parse_formula,
    to_json,
    to_text,
)
from invert_core.holdout import split_samples
from invert_core.metrics import formula_metrics
from invert_core.significance import benjamini_hochberg, mann_whitney_p, q_values_by_rank

__all__ = [
    "DEFAULT_MIN_FRACTION",
    "DEFAULT_MIN_GAIN",
    "DEFAULT_TOP_QUANTILE",
    "EXPLANATION_SCHEMA",
    "And",
    "Formula",
    "Literal",
    "Or",
    "atomic_auc",
    "benjamini_hochberg",
    "canonical",
    "evaluate",
    "explain",
    "formula_metrics",
    "literals",
    "from_json",
    "mann_whitney_p",
    "parse_formula",
    "q_values_by_rank",
    "split_samples",
    "to_json",
    "to_text",
]
