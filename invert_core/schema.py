"""The columns of :func:`invert_core.explain`'s table (pyarrow only, so readers need no torch).

Base columns describe a formula on the search samples; metric columns compare its truth with the
neuron's activations; trust columns are null unless ``explain`` was asked for them.
``significance_basis`` says which q-value decides significance: ``"held-out"`` (``heldout_q_value``),
``"search"`` (``q_value``; nothing was held out) or ``"no held-out test"`` (samples were held out but
the formula is true on none or all of them: not significant). A dead neuron (the same activation on
every sample) has one row: ``dead`` true, every column but ``neuron`` and ``rank`` null.
"""

from __future__ import annotations

import pyarrow as pa

BASE_FIELDS = [
    pa.field("neuron", pa.int64()),
    pa.field("rank", pa.int32()),
    pa.field("dead", pa.bool_()),
    pa.field("formula", pa.string()),
    pa.field("length", pa.int32()),
    pa.field("auc", pa.float64()),
    pa.field("p_value", pa.float64()),
    pa.field("log10_p", pa.float64()),
    pa.field("q_value", pa.float64()),
    pa.field("fraction", pa.float64()),
    pa.field("n_pos", pa.int64()),
    pa.field("selection_score", pa.float64()),
    pa.field("synonyms", pa.list_(pa.string())),
]
METRIC_FIELDS = [
    pa.field(name, pa.float64()) for name in ("average_precision", "f1", "iou", "mean_difference")
]
TRUST_FIELDS = [
    pa.field(name, pa.float64())
    for name in ("heldout_auc", "heldout_p_value", "heldout_q_value", "empirical_p_value", "stability")
]
# Which q-value says whether an explanation is significant, and why.
HELD_OUT, NO_HELD_OUT_TEST, SEARCH = "held-out", "no held-out test", "search"
BASIS_FIELDS = [pa.field("significance_basis", pa.string())]
EXPLANATION_SCHEMA = pa.schema(BASE_FIELDS + METRIC_FIELDS + TRUST_FIELDS + BASIS_FIELDS)
