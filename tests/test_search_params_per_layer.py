"""SearchParams.per_layer: search options for some layers only (``--length logits=1``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from invert_pipeline.specs import SearchParams


def test_for_layer_applies_the_entries_that_match_in_order():
    """Names and globs match; a later entry wins over an earlier one; other layers keep the shared values."""
    params = SearchParams(length=3, per_layer={"conv*": {"length": 2, "beam": 4}, "conv2": {"length": 1}})
    assert (params.for_layer("conv1").length, params.for_layer("conv1").beam) == (2, 4)
    assert (params.for_layer("conv2").length, params.for_layer("conv2").beam) == (1, 4)
    assert params.for_layer("fc") == SearchParams(length=3)
    assert params.for_layer("conv2").per_layer == {}


def test_unmatched_layers_are_named():
    params = SearchParams(per_layer={"logit": {"length": 1}, "conv*": {"beam": 2}})
    assert params.unmatched_layers(["conv1", "logits"]) == ["logit"]


@pytest.mark.parametrize(
    ("per_layer", "match"),
    [
        ({"logits": {"length": 0}}, r"per_layer\['logits'\]: length: .*greater than or equal to 1 \(got 0\)"),
        ({"logits": {"lenght": 1}}, r"per_layer\['logits'\]: lenght: Extra inputs are not permitted"),
        ({"fc": {"min_fraction": 0.6}}, r"per_layer\['fc'\]: .*min_fraction \(0.6\) must not exceed max_fraction"),
        ({"fc": {"per_layer": {}}}, r"per_layer\['fc'\] cannot hold per_layer itself"),
    ],
)
def test_each_layer_entry_is_validated(per_layer, match):
    with pytest.raises(ValidationError, match=match):
        SearchParams(per_layer=per_layer)
