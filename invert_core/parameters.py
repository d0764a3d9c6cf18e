"""Defaults of :func:`invert_core.explain` (no torch import, so specs and the CLI can read them)."""

DEFAULT_MIN_FRACTION = 0.002
# What a longer formula must gain per added literal, in the units of each selection criterion.
DEFAULT_MIN_GAIN = {"significance": 0.5, "auc": 0.005}
DEFAULT_TOP_QUANTILE = 0.005
DEFAULT_MEMORY_BUDGET = 1 << 30
