"""The search parameters of :func:`invert_core.explain`, defined once (no torch import).

Each :class:`Parameter` holds a name, type, default, allowed values and help text. ``explain`` checks
its arguments against them, the pipeline's ``SearchParams`` takes its defaults, bounds and descriptions
from them, and the ``invert`` command line its flags and help.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("positive", "negative")
SEMANTICS = ("exact", "reference")
SELECTIONS = ("lower_bound", "auc")

DEFAULT_MIN_FRACTION = 0.002
# What a longer formula must gain per added literal, in the units of each selection criterion.
DEFAULT_MIN_GAIN = {"lower_bound": 0.0, "auc": 0.005}
DEFAULT_TOP_QUANTILE = 0.005
DEFAULT_MEMORY_BUDGET = 1 << 30


@dataclass(frozen=True)
class Parameter:
    """One search parameter: ``kind`` is int, float or str; ``default`` None means "decided by other
    parameters" when ``optional``; bounds are inclusive unless ``*_open``."""

    name: str
    kind: type
    default: object
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    maximum_open: bool = False
    optional: bool = False


SEARCH_PARAMETERS = (
    Parameter("length", int, 3, "maximum literals per formula", minimum=1),
    Parameter("beam", int, 10, "formulas kept per neuron after each step, and ranks returned", minimum=1),
    Parameter("min_fraction", float, DEFAULT_MIN_FRACTION,
              "smallest fraction of samples a formula is true on", minimum=0.0, maximum=1.0),
    Parameter("max_fraction", float, 0.5, "largest fraction of samples a formula is true on",
              minimum=0.0, maximum=1.0),
    Parameter("mode", str, "positive", "'positive': what makes the neuron fire; 'negative': what silences it",
              choices=MODES),
    Parameter("limit_search", int, None, "atoms combined with the beam at each step (default: all)",
              minimum=1, optional=True),
    Parameter("semantics", str, "exact", "'exact': one formula per support, the selection rule below; "
              "'reference': the authors' search step for step", choices=SEMANTICS),
    Parameter("selection", str, None, "criterion the beams are ranked by (default lower_bound: the AUC's "
              "lower confidence bound; auc: the authors' maximum AUC, the only one of reference)", choices=SELECTIONS, optional=True),
    Parameter("min_gain", float, None, "what a longer formula must gain per added literal, in units of the "
              f"criterion, AUC (default {DEFAULT_MIN_GAIN['lower_bound']} for lower_bound, "
              f"{DEFAULT_MIN_GAIN['auc']} for auc)", minimum=0.0, maximum=1.0, maximum_open=True, optional=True),
    Parameter("holdout", float, 0.0, "fraction of samples held out of the search for held-out AUC/p/q",
              minimum=0.0, maximum=1.0, maximum_open=True),
    Parameter("seed", int, 0, "seed of the held-out split, permutations and bootstrap"),
    Parameter("permutations", int, 0, "permuted searches per tie structure for empirical p-values", minimum=0),
    Parameter("bootstrap", int, 0, "bootstrap resamples for stability", minimum=0),
)
PARAMETERS = {parameter.name: parameter for parameter in SEARCH_PARAMETERS}
