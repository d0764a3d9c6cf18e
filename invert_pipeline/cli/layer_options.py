"""Search options for some layers only: ``--length 3 --length logits=1``.

Every search option of ``invert explain`` (and ``invert serve``) takes ``VALUE`` for every layer or
``LAYER=VALUE`` for the layers that ``LAYER`` (a layer name or a glob such as ``'conv*'``) matches,
and may be repeated. The values for some layers become ``SearchParams.per_layer``, which the search
applies to each layer (:meth:`invert_pipeline.specs.SearchParams.for_layer`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

DESCRIPTION = (
    "Each search option takes VALUE for every layer or LAYER=VALUE for the layers LAYER (a name or a glob such "
    "as 'conv*') matches, and may be repeated: --length 3 --length logits=1 searches the logits at length 1 and "
    "the other layers at 3. Later values win."
)


class LayerValue:
    """argparse ``type`` of a search option: ``"VALUE"`` -> ``(None, value)``, ``"LAYER=VALUE"`` -> ``(LAYER, value)``.

    ``convert`` turns the text of the value into the option's type; ``choices``, when given, are
    the values it accepts.
    """

    def __init__(self, convert: Callable[[str], Any], choices: Sequence[str] | None = None):
        self.convert = convert
        self.choices = choices
        self.__name__ = getattr(convert, "__name__", "value")  # what argparse calls the type in its messages

    def __call__(self, text: str) -> tuple[str | None, Any]:
        layer, separator, raw = text.rpartition("=")
        if separator and not layer:
            raise argparse.ArgumentTypeError(f"{text!r}: LAYER=VALUE needs a layer name or glob before '='")
        try:
            value = self.convert(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {raw!r} is not {'an' if self.__name__ == 'int' else 'a'} {self.__name__}"
            ) from None
        if self.choices is not None and value not in self.choices:
            raise argparse.ArgumentTypeError(f"{text!r}: {raw!r} is not one of {', '.join(self.choices)}")
        return (layer if separator else None), value


def per_layer_argument(flag: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The argparse options of a search option ``flag`` (given as ``kwargs``) that also takes ``LAYER=VALUE``."""
    choices = kwargs.get("choices")
    value_name = "|".join(choices) if choices else flag.lstrip("-").replace("-", "_").upper()
    options = {key: value for key, value in kwargs.items() if key not in ("type", "choices")}
    return {
        **options,
        "action": "append",
        "type": LayerValue(kwargs.get("type", str), choices),
        "metavar": f"[LAYER=]{value_name}",
    }


def split_layer_values(given: dict[str, list[tuple[str | None, Any]]]) -> dict[str, Any]:
    """Parsed search options (field -> [(layer or None, value), ...]) as ``SearchParams`` fields:
    the values for every layer, and ``per_layer`` (layer -> field -> value) when some are for some layers."""
    fields: dict[str, Any] = {}
    per_layer: dict[str, dict[str, Any]] = {}
    for field, values in given.items():
        for layer, value in values:
            if layer is None:
                fields[field] = value
            else:
                per_layer.setdefault(layer, {})[field] = value
    return {**fields, "per_layer": per_layer} if per_layer else fields
