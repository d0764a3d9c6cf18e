"""What a run is asked to do: the dataset, the model and the search, as plain serialisable values.

These are the parameters of every flow (so every flow can be deployed) and of the ``invert``
command line. They validate themselves on construction; the code that consumes them trusts them.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, ValidationError, field_validator, model_validator

from invert_core.parameters import DEFAULT_MEMORY_BUDGET, MODES, PARAMETERS, SELECTIONS, SEMANTICS


class DatasetSpec(BaseModel):
    """A Hugging Face dataset and the concept annotations that go with it.

    ``path`` is a hub name (``"imagenet-1k"``), a local Parquet file or folder, an image folder,
    or a ``save_to_disk`` folder. ``hierarchy`` is ``"wordnet"`` (class names are WordNet ids or
    map to them), a path to a parent map (CSV or JSON, child -> parent), or ``None``. ``limit`` keeps
    a random subset of that size (seeded by ``seed``), ``first`` the first rows of the split; not both.
    ``class_names`` is the dataset's class list, by class index (the model's output order), when its
    label column is not a ``ClassLabel`` feature that carries one: the names themselves, or the path
    of a file of them (one per line, a JSON list, or a JSON object mapping class index to name).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    name: str | None = Field(default=None, description="dataset configuration name on the hub")
    split: str = "test"
    limit: int | None = Field(default=None, ge=1, description="keep at most this many samples, chosen with seed")
    first: int | None = Field(default=None, ge=1, description="keep the first this many samples (rows 0..first-1)")
    seed: int = 0
    image_column: str | None = None
    label_column: str | None = None
    hierarchy: str | None = None
    attribute_columns: tuple[str, ...] = ()
    annotations: tuple[str, ...] = Field(default=(), description="Parquet/CSV files of sample_id, concept")
    min_positives: int = Field(default=1, ge=1)
    class_names: tuple[str, ...] | None = Field(default=None, description="class names by class index, or a file of them")

    @field_validator("class_names", mode="before")
    @classmethod
    def _class_list(cls, value: Any) -> Any:
        if isinstance(value, str) or (isinstance(value, (list, tuple)) and len(value) == 1):
            path = Path(value if isinstance(value, str) else value[0]).expanduser()
            if path.is_file():
                value = _read_class_list(path)
        if value is not None and (len(value) == 0 or len(set(value)) != len(value)):
            raise ValueError(f"--class-names must list each class once, by class index; got {list(value)}")
        return value

    @model_validator(mode="after")
    def _one_subset(self) -> "DatasetSpec":
        if self.limit is not None and self.first is not None:
            raise ValueError(
                f"--limit {self.limit} and --first {self.first} exclude each other: keep a seeded random subset "
                "(--limit) or the first rows (--first)"
            )
        return self

    @property
    def short_name(self) -> str:
        """How run and task names call the dataset (its full path stays in the parameters and logs): a path given
        absolute or from the home or current folder by its last part, any other (a hub name) as given."""
        return Path(self.path).name if self.path.startswith(("/", "~", ".")) else self.path

    @property
    def label(self) -> str:
        """The dataset in run, task and progress names: its short name and split, ``fashion_mnist [test]``."""
        return f"{self.short_name} [{self.split}]"


def _read_class_list(path: Path) -> list[str]:
    """Class names by index from a file: one per line, a JSON list, or a JSON object index -> name."""
    text = path.read_text()
    if path.suffix.lower() != ".json":
        return [line.strip() for line in text.splitlines() if line.strip()]
    value = json.loads(text)
    if isinstance(value, dict):
        try:
            by_index = {int(index): str(name) for index, name in value.items()}
        except ValueError:
            raise ValueError(f"--class-names {str(path)!r}: a JSON object must map class indices to names") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise ValueError(f"--class-names {str(path)!r}: the indices must be 0..{len(by_index) - 1}, each once")
        return [by_index[index] for index in range(len(by_index))]
    if not isinstance(value, list):
        raise ValueError(f"--class-names {str(path)!r}: expected a JSON list of names or an object index -> name")
    return [str(name) for name in value]


class ModelSpec(BaseModel):
    """A torch model: a torchvision architecture, an import path ``pkg.module:factory``, or a file.

    ``weights`` is a checkpoint path (state dict) or a torchvision weights enum name
    (``"ResNet18_Weights.IMAGENET1K_V1"``) for architectures; ignored for TorchScript files.
    ``code_folder`` is the folder (absolute) the modules of the import paths (``source``, ``preprocess``) are
    imported from when their top-level module or package lies there, wherever the process that loads the
    model runs; elsewhere they are imported from ``sys.path``. ``invert explain`` sets it to the current folder
    when a module it names lies there, so that Dask workers started in another folder import the user's code.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    weights: str | None = None
    name: str | None = None
    version: str | None = None
    preprocess: str | None = Field(default=None, description="import path of a preprocessing factory")
    input_size: tuple[int, ...] | None = Field(default=None, description="C, H, W of one input")
    code_folder: str | None = Field(default=None, description="absolute folder the import paths' modules are "
                                                              "imported from when they lie there")

    @field_validator("code_folder")
    @classmethod
    def _absolute_folder(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_absolute():
            raise ValueError(f"code_folder must be an absolute path (it travels to other processes); got {value!r}")
        return value

    @property
    def label(self) -> str:
        """How run names and artifacts call the model: its name, else its source."""
        return self.name or self.source


class ExtractionParams(BaseModel):
    """How activations are taken from the model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reduce: Literal["mean", "max"] = "mean"
    tokens: Literal["cls", "mean"] = "cls"
    batch_size: int = Field(default=256, ge=1)
    device: str = "auto"
    autocast: Literal["bf16", "fp16"] | None = None
    num_workers: int = Field(default=0, ge=0)
    shard_size: int | None = Field(default=None, ge=1, description="samples per extraction shard")


def _search_field(name: str, **override: Any) -> Any:
    """A ``SearchParams`` field from invert_core's one definition of the search parameter ``name``
    (default, bounds, description); ``override`` changes the default for the pipeline."""
    parameter = PARAMETERS[name]
    bounds: dict[str, float] = {}
    if parameter.minimum is not None:
        bounds["ge"] = parameter.minimum
    if parameter.maximum is not None:
        bounds["lt" if parameter.maximum_open else "le"] = parameter.maximum
    return Field(default=override.get("default", parameter.default), description=parameter.help, **bounds)


class SearchParams(BaseModel):
    """Parameters of :func:`invert_core.explain` for every layer of a run; ``per_layer`` sets some for
    some layers only (``for_layer`` gives a layer's own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    length: int = _search_field("length")
    beam: int = _search_field("beam")
    min_fraction: float = _search_field("min_fraction")
    max_fraction: float = _search_field("max_fraction")
    mode: Literal[MODES] = _search_field("mode")
    limit_search: int | None = _search_field("limit_search")
    semantics: Literal[SEMANTICS] = _search_field("semantics")
    selection: Literal[SELECTIONS] | None = _search_field("selection")
    device: str = Field(default="auto", description="torch device of the search: auto (cuda where a GPU is present, "
                        "else cpu), cpu, cuda, cuda:N")
    min_gain: float | None = _search_field("min_gain")
    holdout: float = _search_field("holdout", default=0.2)
    seed: int = _search_field("seed")
    permutations: int = _search_field("permutations")
    bootstrap: int = _search_field("bootstrap")
    top_k: int = Field(default=10, ge=1, description="ranks kept per neuron")
    neuron_chunk: int | None = Field(default=None, ge=1, description="neurons per search task; None: whole layer")
    memory_budget: ByteSize = Field(
        default=ByteSize(DEFAULT_MEMORY_BUDGET), ge=1,
        description="bytes a search task's working arrays may use (invert_core's memory_budget; sizes such as "
        "'512MiB' accepted): fewer neurons are scored at once under a smaller budget, with the same result",
    )
    per_layer: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="layer name or glob -> the fields above that differ for the layers it matches, "
        "e.g. {'logits': {'length': 1}}; see for_layer",
    )

    @model_validator(mode="after")
    def _fractions_ordered(self) -> "SearchParams":
        if self.min_fraction > self.max_fraction:
            raise ValueError(
                f"min_fraction ({self.min_fraction}) must not exceed max_fraction ({self.max_fraction})"
            )
        return self

    @model_validator(mode="after")
    def _per_layer_valid(self) -> "SearchParams":
        for pattern, options in self.per_layer.items():
            if "per_layer" in options:
                raise ValueError(f"per_layer[{pattern!r}] cannot hold per_layer itself")
            try:
                self._updated(options)
            except ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(map(str, detail['loc'])) or 'value'}: {detail['msg']} (got {detail['input']!r})"
                    for detail in error.errors()
                )
                raise ValueError(f"per_layer[{pattern!r}]: {problems}") from None
        return self

    def for_layer(self, layer: str) -> "SearchParams":
        """The parameters of ``layer``: these, updated by every ``per_layer`` entry whose key (a layer
        name or glob, matched case-sensitively) matches ``layer``, in the order of ``per_layer``."""
        update: dict[str, Any] = {}
        for pattern, options in self.per_layer.items():
            if fnmatch.fnmatchcase(layer, pattern):
                update.update(options)
        return self._updated(update)

    def unmatched_layers(self, layers: Sequence[str]) -> list[str]:
        """The keys of ``per_layer`` that match none of ``layers`` (most likely misspelt)."""
        return [
            pattern for pattern in self.per_layer
            if not any(fnmatch.fnmatchcase(layer, pattern) for layer in layers)
        ]

    def check_layer_patterns(self, layers: Sequence[str]) -> None:
        """Raise naming the ``per_layer`` keys (``--length LAYER=VALUE``) that match none of ``layers``."""
        from invert_pipeline.suggestions import did_you_mean

        unmatched = self.unmatched_layers(layers)
        if unmatched:
            raise ValueError(
                f"search options were given for layer(s) {', '.join(map(repr, unmatched))} (LAYER=VALUE), which match "
                f"none of the explained layers: {', '.join(layers)}; {did_you_mean(unmatched[0], layers)}"
                "name one of them or a glob before '='"
            )

    def _updated(self, update: dict[str, Any]) -> "SearchParams":
        """These parameters with ``update`` applied and no ``per_layer``, validated."""
        return SearchParams(**{**self.model_dump(exclude={"per_layer"}), **update})


class ModelChanges(BaseModel):
    """Fields of a :class:`ModelSpec` that new weights change along with them, stated explicitly.

    Only the fields given are applied (``{"preprocess": None}`` removes the preprocessing); a
    retrain event that states none keeps the architecture, preprocessing and input size.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = None
    preprocess: str | None = None
    input_size: tuple[int, ...] | None = None


class RetrainedWeights(BaseModel):
    """What a ``model.retrained`` event brings: new weights for a model that is already described.

    ``checkpoint`` (a state-dict path) and ``version`` replace the model spec's ``weights`` and
    ``version``; its name, layers, preprocessing and input size stay unless ``changes`` states
    otherwise. ``follows`` is the run id of the explanation of the weights these replace (what the
    run's summary compares with; default: the latest earlier version in the warehouse).
    ``metadata`` (free JSON, for example the training job's id) is shown with the run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint: str
    version: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    changes: ModelChanges = ModelChanges()
    follows: str | None = None

    def apply_to(self, model: ModelSpec) -> ModelSpec:
        """``model`` with these weights, this version and the stated ``changes``."""
        stated = self.changes.model_dump(exclude_unset=True)
        return ModelSpec(**{**model.model_dump(), "weights": self.checkpoint, "version": self.version, **stated})

    def stated_changes(self, model: ModelSpec) -> dict[str, tuple[Any, Any]]:
        """The architecture or preprocessing fields ``changes`` alters in ``model``: field -> (before, after)."""
        after = self.apply_to(model)
        return {
            field: (getattr(model, field), getattr(after, field))
            for field in self.changes.model_fields_set
            if getattr(model, field) != getattr(after, field)
        }
