"""invert_core: the INVERT algorithm (Inverse Recognition, NeurIPS 2023), exact and batched.

Label each neuron with the boolean formula over concepts whose truth best separates the samples where
it fires high from those where it fires low, scored by exact AUROC with a Mann–Whitney U test. No
Prefect, no file formats: numpy, scipy and torch in, a pyarrow table out.

>>> table = explain(activations, labels, concepts)         # doctest: +SKIP
>>> table.to_pandas().query("rank == 0")                    # doctest: +SKIP

Names are imported on first use, so ``from invert_core import parse_formula`` or the table schema
costs no torch import (the CLI's warehouse commands start in well under a second).
"""

import importlib

_HOME = {
    "explain": "invert_core.explanation",
    "atomic_auc": "invert_core.atomic",
    "EXPLANATION_SCHEMA": "invert_core.schema",
    "DEFAULT_MIN_FRACTION": "invert_core.parameters",
    "DEFAULT_MIN_GAIN": "invert_core.parameters",
    "DEFAULT_TOP_QUANTILE": "invert_core.parameters",
    "And": "invert_core.formula",
    "Formula": "invert_core.formula",
    "Literal": "invert_core.formula",
    "Or": "invert_core.formula",
    "canonical": "invert_core.formula",
    "evaluate": "invert_core.formula",
    "from_json": "invert_core.formula",
    "literals": "invert_core.formula",
    "parse_formula": "invert_core.formula",
    "to_json": "invert_core.formula",
    "to_text": "invert_core.formula",
    "split_samples": "invert_core.holdout",
    "formula_metrics": "invert_core.metrics",
    "benjamini_hochberg": "invert_core.significance",
    "mann_whitney_p": "invert_core.significance",
    "q_values_by_rank": "invert_core.significance",
    "validate_device": "invert_core._validation",
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'invert_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME))
