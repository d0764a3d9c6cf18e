"""Hugging Face datasets in, prepared dataset folders (samples, concepts, labels as Parquet) out.

A :class:`~invert_pipeline.specs.DatasetSpec` names the data: ``path`` is one of

- a hub name (``"imagenet-1k"``), through ``datasets.load_dataset`` (offline: from the local cache);
- a local Parquet file: it *is* the split named by ``split``;
- a ``save_to_disk`` folder (``datasets.load_from_disk``): a saved ``DatasetDict`` is indexed by
  ``split``, a saved ``Dataset`` is the split;
- any other local folder (Parquet files, an image folder with class subfolders, ...), through
  ``datasets.load_dataset(folder)``, which infers the builder and the splits from the file names
  (an image folder has one split, ``train``). An image folder keeps its subfolders' classes as the
  ``label`` column when a ``metadata.csv`` adds attribute columns (the builder alone drops them).

The image and label columns are found from the features (the one ``Image`` feature, the one
``ClassLabel`` feature) unless ``image_column`` / ``label_column`` name them; a named image column
of paths or bytes is cast to ``Image``.

Class names come from the dataset's own class list, never from the values present in the split:
the ``ClassLabel`` feature's names, or ``class_names`` (``--class-names``), which also names the
classes of a label column of integers or strings. Without a list, integer labels name their class
by the integer (class ``k`` is label ``k``, whatever values the split holds), and string labels are
sorted: then the class order is not known to match the model's outputs, and logits stay unnamed
(``dataset.json`` says so with ``class_order_known: false``).

A sample's id is its row index in the source split (before any subsampling), so a sample keeps its
id whatever ``limit`` is. With ``limit``, the kept ids are the first ``limit`` of a permutation
seeded by ``seed``: a smaller limit keeps a subset of a larger one. With ``first``, they are the
first ``first`` rows.

Errors a user can cause name the ``invert explain`` flag that fixes them, with the value received.

The embedded default is Fashion-MNIST (``fashion_mnist_spec``), shipped as Parquet in
``data/fashion_mnist/`` with a WordNet-derived parent map, and read like any local Parquet file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import datasets
import numpy as np
import pyarrow as pa
from PIL import Image

from invert_pipeline.dataset_files import read_dataset_info
from invert_pipeline.concepts import (
    ConceptSet,
    annotation_concepts,
    attribute_concepts,
    class_concepts,
    merge_concepts,
)
from invert_pipeline.hierarchy import DATA_DIR, IMAGENET_HIERARCHY, load_hierarchy
from invert_pipeline.specs import DatasetSpec
from invert_pipeline.faults import fault_point
from invert_pipeline.image_folders import check_image_folder
from invert_pipeline.suggestions import close_names, did_you_mean
from invert_pipeline.workspace import (
    DatasetFolder,
    Workspace,
    atomic_write_json,
    atomic_write_parquet,
    file_digest,
    fingerprint,
    is_intact,
    read_json,
    source_version,
    temporary_dir,
)

logger = logging.getLogger(__name__)

FASHION_MNIST_DIR = DATA_DIR / "fashion_mnist"
FASHION_MNIST_HIERARCHY = FASHION_MNIST_DIR / "hierarchy.json"  # parent map, also for probe sets of its classes
FASHION_MNIST_SPLITS = ("train", "test")
SourceKind = Literal["hub", "parquet_file", "saved", "folder"]
# Where a dataset's class list comes from; all but "sorted label values" give the model's class order.
ClassNamesFrom = Literal["ClassLabel feature", "--class-names", "integer labels", "sorted label values"]
_CLASS_LIST_WARNINGS = {
    "integer labels": "label column %r holds integers and no class list: class k is named 'k'; pass --class-names "
    "to name the classes (and to count those the split lacks)",
    "sorted label values": "label column %r holds names and no class list: the classes are sorted by name, which "
    "need not be the model's output order, so logits will not be named; pass --class-names in the model's order",
}


def fashion_mnist_spec(
    split: Literal["train", "test"] = "test", *, limit: int | None = None, first: int | None = None, seed: int = 0
) -> DatasetSpec:
    """The embedded Fashion-MNIST split (60,000 train or 10,000 test images, 28x28 grayscale).

    Concepts: the 10 classes and their WordNet ancestors (``footwear``, ``garment``, ``clothing``...),
    from the shipped parent map ``data/fashion_mnist/hierarchy.json``.
    """
    if split not in FASHION_MNIST_SPLITS:
        raise ValueError(
            f"--split {split!r} is not a split of the shipped Fashion-MNIST: pass --split train or --split test"
        )
    return DatasetSpec(
        path=str(FASHION_MNIST_DIR / f"{split}.parquet"),
        split=split,
        limit=limit,
        first=first,
        seed=seed,
        hierarchy=str(FASHION_MNIST_HIERARCHY),
    )


def source_kind(path: str) -> SourceKind:
    """How ``DatasetSpec.path`` is loaded (see the module docstring)."""
    local = Path(path).expanduser()
    if local.is_file():
        if local.suffix.lower() != ".parquet":
            raise ValueError(
                f"--dataset {path!r} is a file but not Parquet (.parquet); pass a Parquet file, a folder "
                "(Parquet files, an image folder, a save_to_disk folder) or a hub name"
            )
        return "parquet_file"
    if local.is_dir():
        saved = (local / "dataset_dict.json").is_file() or (
            (local / "state.json").is_file() and (local / "dataset_info.json").is_file()
        )
        return "saved" if saved else "folder"
    siblings = _close_local_names(local)
    if path.startswith((".", "/", "~")) or local.suffix.lower() == ".parquet":
        raise FileNotFoundError(
            f"--dataset {path!r}: no such file or folder; {did_you_mean(local.name, siblings)}pass an existing path"
        )
    if siblings:  # a typo of a local name, not a hub name
        raise FileNotFoundError(
            f"--dataset {path!r}: no such file or folder in {local.absolute().parent}; "
            f"{did_you_mean(local.name, siblings)}pass an existing path (a name that is close to no local file "
            "or folder is read from the Hugging Face hub)"
        )
    return "hub"


def _close_local_names(local: Path) -> list[str]:
    """The names in the folder of ``local`` (a path that does not exist) that look like its name: a typo's fix."""
    folder = local.absolute().parent
    if not folder.is_dir():
        return []
    return close_names(local.name, [entry.name for entry in folder.iterdir() if not entry.name.startswith(".")])


def _resolved(spec: DatasetSpec) -> DatasetSpec:
    """``spec`` with local paths made absolute, so that the spec means the same from any folder."""
    def absolute(value: str) -> str:
        return str(Path(value).expanduser().resolve())

    for flag, path in [("--hierarchy", spec.hierarchy), *(("--annotations", path) for path in spec.annotations)]:
        if path is not None and path != "wordnet" and not Path(path).expanduser().is_file():
            raise FileNotFoundError(f"{flag} file {path!r} does not exist")
    update: dict[str, object] = {"annotations": tuple(absolute(path) for path in spec.annotations)}
    if source_kind(spec.path) != "hub":
        update["path"] = absolute(spec.path)
    if spec.hierarchy is not None and spec.hierarchy != "wordnet":
        update["hierarchy"] = absolute(spec.hierarchy)
    return spec.model_copy(update=update)


def _offline() -> bool:
    return datasets.config.HF_HUB_OFFLINE or os.environ.get("HF_DATASETS_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def _missing_split(spec: DatasetSpec, available: list[str], where: str) -> ValueError:
    """The error for a ``--split`` that ``where`` lacks: it names the split to pass when there is one."""
    fix = f"pass --split {available[0]}" if len(available) == 1 else "pass --split with one of them"
    return ValueError(
        f"--split {spec.split!r} does not exist in {where} {spec.path!r}; its splits: {available}; "
        f"{did_you_mean(spec.split, available)}{fix}"
    )


def _load_hub_or_folder(spec: DatasetSpec) -> datasets.Dataset:
    try:
        return datasets.load_dataset(spec.path, spec.name, split=spec.split)
    except ValueError as error:
        if "Unknown split" not in str(error):
            raise
        available = datasets.get_dataset_split_names(spec.path, spec.name)
        raise _missing_split(spec, available, "dataset") from error
    except (ConnectionError, datasets.exceptions.DatasetNotFoundError) as error:
        where = Path.cwd()
        if _offline():
            raise ConnectionError(
                f"--dataset {spec.path!r} is no file or folder (from {where}), and no dataset in the local Hugging "
                "Face cache while the hub is offline (HF_DATASETS_OFFLINE / HF_HUB_OFFLINE); pass a local path (a Parquet "
                "file or folder, an image folder, a save_to_disk folder) or download the dataset once online"
            ) from error
        raise ConnectionError(
            f"--dataset {spec.path!r} is no file or folder (from {where}), and the Hugging Face hub did not give it "
            f"({' '.join(str(error).split())}); pass a local path or a hub name"
        ) from error


def _load_saved(spec: DatasetSpec) -> datasets.Dataset:
    saved = datasets.load_from_disk(spec.path)
    if isinstance(saved, datasets.Dataset):
        return saved
    if spec.split not in saved:
        raise _missing_split(spec, sorted(saved), "the saved dataset")
    return saved[spec.split]


@contextlib.contextmanager
def _no_progress_bars(kind: SourceKind) -> Iterator[None]:
    """No "Downloading data" or "Generating split" bars while a local source loads (its files are not downloaded)."""
    if kind == "hub" or datasets.are_progress_bars_disabled():
        yield
        return
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.enable_progress_bars()


def _load_raw(spec: DatasetSpec) -> datasets.Dataset:
    kind = source_kind(spec.path)
    with _no_progress_bars(kind):
        return _load_kind(spec, kind)


def _load_kind(spec: DatasetSpec, kind: SourceKind) -> datasets.Dataset:
    if kind == "parquet_file":
        return datasets.load_dataset("parquet", data_files={spec.split: spec.path}, split=spec.split)
    elif kind == "saved":
        return _load_saved(spec)
    elif kind in ("hub", "folder"):
        if kind == "folder":
            check_image_folder(spec.path)
        return _load_hub_or_folder(spec)
    else:
        raise AssertionError(f"unhandled source kind {kind!r}")


def _with_folder_labels(split: datasets.Dataset, spec: DatasetSpec) -> datasets.Dataset:
    """An image folder's split with the class of each image's subfolder as ``label``, where the builder dropped it.

    Hugging Face's image folder builder labels images by their class subfolders (when they all lie
    one level down, in at least two subfolders), but drops those labels as soon as a ``metadata.csv``
    adds columns. This adds them back under the same rule, so that attribute columns from a metadata
    file come on top of the folder's classes. Unchanged: other sources, a dataset that has a class
    label column or a ``label`` column, or a ``--label-column`` given.
    """
    if source_kind(spec.path) != "folder" or spec.label_column is not None or "label" in split.column_names:
        return split
    if any(isinstance(feature, datasets.ClassLabel) for feature in split.features.values()):
        return split
    images = [name for name, feature in split.features.items() if isinstance(feature, datasets.Image)]
    if len(images) != 1:
        return split
    files = split.select_columns(images).cast_column(images[0], datasets.Image(decode=False))[images[0]]
    root = Path(spec.path).expanduser().resolve()
    folders = [_class_subfolder(value, root) for value in files]
    names = sorted(set(folders) - {None})
    if None in folders or len(names) < 2:
        return split
    index = {name: position for position, name in enumerate(names)}
    labels = [index[folder] for folder in folders]
    return split.add_column("label", labels).cast_column("label", datasets.ClassLabel(names=names))


def _class_subfolder(value: dict | None, root: Path) -> str | None:
    """The name of the subfolder of ``root`` an undecoded image file lies in, or ``None`` if it lies elsewhere."""
    if not value or not value.get("path"):
        return None
    folder = Path(value["path"]).resolve().parent
    return folder.name if folder.parent == root else None


def _column(split: datasets.Dataset, requested: str | None, feature_type: type, role: str) -> str | None:
    """The column playing ``role``: ``requested`` if given (checked), else the single column of ``feature_type``."""
    if requested is not None:
        if requested not in split.column_names:
            raise ValueError(
                f"--{role}-column {requested!r} is not a column of the dataset; "
                f"{did_you_mean(requested, split.column_names)}its columns: {split.column_names}"
            )
        return requested
    found = [name for name, feature in split.features.items() if isinstance(feature, feature_type)]
    if len(found) > 1:
        raise ValueError(f"the dataset has several {feature_type.__name__} columns {found}; choose one with --{role}-column")
    return found[0] if found else None


def split_columns(split: datasets.Dataset, spec: DatasetSpec) -> tuple[str, str | None]:
    """The image column and the label column (``None`` when the dataset has no class labels)."""
    image_column = _column(split, spec.image_column, datasets.Image, "image")
    if image_column is None:
        raise ValueError(
            f"the dataset has no Image feature column; available columns: {split.column_names}; name the column "
            "that holds the images with --image-column"
        )
    return image_column, _column(split, spec.label_column, datasets.ClassLabel, "label")


def load_split(spec: DatasetSpec) -> datasets.Dataset:
    """The whole source split of ``spec`` (row ``i`` is sample id ``i``; ``limit`` is not applied here).

    The image column is an ``Image`` feature and the label column (if any) a ``ClassLabel`` of the
    dataset's class list (:func:`encode_labels`).

    Raises
    ------
    ConnectionError
        For a hub dataset that is not in the local cache while the hub is offline.
    FileNotFoundError
        For a local path that does not exist.
    ValueError
        For a split that does not exist, or a missing image, label or attribute column.
    """
    return _load_labelled(spec)[0]


def check_dataset(spec: DatasetSpec) -> None:
    """Load what ``spec`` names as :func:`prepare_dataset` does, preparing nothing: the first mistake of its
    path, split, columns, class names, hierarchy or annotation files is raised (see :func:`load_split`)."""
    spec = _resolved(spec)
    split, _ = _load_labelled(spec)
    _check_hierarchy_has_labels(spec, split_columns(split, spec)[1])


def _check_hierarchy_has_labels(spec: DatasetSpec, label_column: str | None) -> None:
    if spec.hierarchy is not None and label_column is None:
        raise ValueError(
            f"--hierarchy {spec.hierarchy!r} needs class labels, but the dataset has no label column: name it with "
            "--label-column"
        )


def _load_labelled(spec: DatasetSpec) -> tuple[datasets.Dataset, ClassNamesFrom | None]:
    """:func:`load_split`, and where its class list came from (``None``: no label column)."""
    split = _with_folder_labels(_load_raw(spec), spec)
    missing = [column for column in spec.attribute_columns if column not in split.column_names]
    if missing:
        raise ValueError(
            f"--attribute-column {', '.join(map(repr, missing))}: not a column of the dataset; "
            f"{did_you_mean(missing[0], split.column_names)}its columns: {split.column_names}"
        )
    image_column, label_column = split_columns(split, spec)
    if not isinstance(split.features[image_column], datasets.Image):
        split = split.cast_column(image_column, datasets.Image())
    return (split, None) if label_column is None else encode_labels(split, label_column, spec.class_names)


def encode_labels(
    split: datasets.Dataset, label_column: str, class_names: Sequence[str] | None
) -> tuple[datasets.Dataset, ClassNamesFrom]:
    """``split`` with ``label_column`` a ``ClassLabel`` of the dataset's class list, and where the list came from.

    The list is ``class_names`` when given (it renames a ``ClassLabel``'s classes, index by index,
    and maps integer labels by index or string labels by name), else the ``ClassLabel``'s own
    names, else ``"0"``..``"<largest label>"`` for integer labels, else the sorted label strings.
    """
    feature = split.features[label_column]
    if class_names is not None:
        if isinstance(feature, datasets.ClassLabel) and feature.num_classes != len(class_names):
            raise ValueError(
                f"--class-names lists {len(class_names)} classes but the label column {label_column!r} has "
                f"{feature.num_classes} ({feature.names[:5]}...); list every class, by class index"
            )
        encoded = datasets.ClassLabel(names=list(class_names))
        try:
            return split.cast_column(label_column, encoded), "--class-names"
        except ValueError as error:
            raise ValueError(f"--class-names does not cover the labels of {label_column!r}: {error}") from error
    if isinstance(feature, datasets.ClassLabel):
        return split, "ClassLabel feature"
    if isinstance(feature, datasets.Value) and feature.dtype.startswith(("int", "uint")):
        labels = [label for label in split.unique(label_column) if label is not None]
        names = [str(index) for index in range(max(labels, default=-1) + 1)]
        return split.cast_column(label_column, datasets.ClassLabel(names=names)), "integer labels"
    return split.class_encode_column(label_column), "sorted label values"


def select_sample_ids(n_rows: int, limit: int | None, seed: int, *, first: int | None = None) -> np.ndarray:
    """Sorted int64 sample ids: all ``n_rows`` rows, the ``first`` rows, or ``limit`` rows chosen with ``seed``.

    The chosen ids are the first ``limit`` of one seeded permutation of all rows, so that the
    samples of a smaller limit are among those of a larger one.
    """
    if first is not None:
        return np.arange(min(first, n_rows), dtype=np.int64)
    if limit is None or limit >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).permutation(n_rows)[:limit]).astype(np.int64)


def find_undecodable(split: datasets.Dataset, image_column: str, sample_ids: np.ndarray, batch_size: int = 1000) -> dict[int, str]:
    """``{sample id: reason}`` for the images among ``sample_ids`` that Pillow cannot decode."""
    raw = split.select_columns([image_column]).cast_column(image_column, datasets.Image(decode=False))
    failures: dict[int, str] = {}
    for start in range(0, len(sample_ids), batch_size):
        batch = sample_ids[start:start + batch_size]
        for sample_id, value in zip(batch.tolist(), raw[batch.tolist()][image_column]):
            reason = _decode_failure(value)
            if reason is not None:
                failures[sample_id] = reason
    return failures


def _decode_failure(value: dict | None) -> str | None:
    """Why an undecoded ``Image`` value cannot be decoded, or ``None`` when it can."""
    if value is None or (value.get("bytes") is None and value.get("path") is None):
        return "no image (null value)"
    try:
        with Image.open(io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value["path"]) as image:
            image.load()
    except Exception as error:  # noqa: BLE001 - any decoder failure excludes the sample, with its reason
        return f"{type(error).__name__}: {error}"
    return None


def _source_digest(spec: DatasetSpec) -> object:
    """Content digests of local data files; the loaded split's fingerprint for hub datasets."""
    kind = source_kind(spec.path)
    if kind == "hub":
        return _load_raw(spec)._fingerprint
    path = Path(spec.path)
    if kind == "parquet_file":
        return file_digest(path)
    files = sorted(
        file for file in path.rglob("*")
        if file.is_file() and not any(part.startswith(".") for part in file.relative_to(path).parts)
    )
    return [(str(file.relative_to(path)), file_digest(file)) for file in files]


def dataset_fingerprint(spec: DatasetSpec) -> str:
    """A digest of the data, the concept spec and the code that prepares them: changes when one does.

    Local files enter by their content, never by where they are: a copy of the same data (or of the
    repository with its shipped data) in another folder has the same fingerprint. Hub datasets enter
    by their name and the fingerprint of their cached split.
    """
    spec = _resolved(spec)
    return fingerprint(_code_version(), _content_spec(spec), _source_digest(spec))


def _content_spec(spec: DatasetSpec) -> dict:
    """``spec`` as JSON with each local path replaced by what of it decides the prepared files.

    The data path by its kind (its content is :func:`_source_digest`); a parent map by its suffix,
    which picks its parser, and its content; an annotation file by its name, which is the
    ``source_id`` of its concepts, and its content.
    """
    content = spec.model_dump(mode="json")
    kind = source_kind(spec.path)
    if kind != "hub":
        content["path"] = kind
    if spec.hierarchy == "wordnet":
        content["hierarchy"] = ["wordnet", file_digest(IMAGENET_HIERARCHY)]
    elif spec.hierarchy is not None:
        content["hierarchy"] = [Path(spec.hierarchy).suffix.lower(), file_digest(spec.hierarchy)]
    content["annotations"] = [[Path(path).name, file_digest(path)] for path in spec.annotations]
    return content


def _code_version() -> str:
    return source_version([__name__, "invert_pipeline.concepts", "invert_pipeline.hierarchy", "invert_pipeline.image_folders"])


def _is_complete(folder: Path, dataset_fp: str) -> bool:
    """Whether ``folder`` holds the prepared dataset ``dataset_fp``, every file intact (a damaged one is logged)."""
    info = DatasetFolder(folder).info
    return is_intact(info) and read_json(info).get("fingerprint") == dataset_fp


def build_concepts(spec: DatasetSpec, split: datasets.Dataset, label_column: str | None, sample_ids: np.ndarray) -> ConceptSet:
    """Merge every concept source of ``spec`` for the kept ``sample_ids`` (see :mod:`invert_pipeline.concepts`)."""
    groups = []
    edges: list[tuple[str, str]] = []
    if label_column is not None:
        class_index = np.asarray(split.select_columns([label_column]).with_format("numpy")[sample_ids][label_column], np.int64)
        hierarchy = None if spec.hierarchy is None else load_hierarchy(spec.hierarchy)
        classes, edges = class_concepts(class_index, split.features[label_column].names, hierarchy, spec.hierarchy)
        groups.append((f"the classes of {label_column!r} and their hierarchy", classes))
    _check_hierarchy_has_labels(spec, label_column)
    if spec.attribute_columns:
        table = split.select_columns(list(spec.attribute_columns)).with_format("arrow")[sample_ids]
        for concept in attribute_concepts(table):
            groups.append((f"attribute column {concept.source_id!r}", [concept]))
    for path in spec.annotations:
        groups.append((f"annotation file {path!r}", annotation_concepts(path, sample_ids, len(split))))
    return merge_concepts(groups, edges, spec.min_positives, len(sample_ids))


def _samples_table(split: datasets.Dataset, label_column: str | None, sample_ids: np.ndarray) -> pa.Table:
    if label_column is None:
        labels = pa.nulls(len(sample_ids), pa.int64())
        names = pa.nulls(len(sample_ids), pa.string())
    else:
        index = np.asarray(split.select_columns([label_column]).with_format("numpy")[sample_ids][label_column], np.int64)
        class_names = np.asarray(split.features[label_column].names + [None], dtype=object)
        labels = pa.array(index, pa.int64(), mask=index < 0)
        names = pa.array(class_names[np.where(index < 0, -1, index)], pa.string())
    return pa.table({"sample_id": pa.array(sample_ids, pa.int64()), "label": labels, "class_name": names})


def prepare_dataset(spec: DatasetSpec, workspace: str | Path, *, dataset_fp: str | None = None) -> Path:
    """Write ``<workspace>/datasets/<fingerprint>/`` (see docs/ARCHITECTURE.md) and return it.

    The folder is built under a temporary name and renamed into place once complete, so it is
    either absent or whole. A complete folder with the same fingerprint is returned as it is (its
    ``dataset.json`` updated to name this spec's paths when it was prepared from a copy elsewhere).
    Undecodable images are logged, written to ``excluded.parquet`` with their reason, and left out
    of the samples and labels. ``dataset_fp`` is :func:`dataset_fingerprint` of ``spec`` when the
    caller has already computed it (it reads every local data file).
    """
    spec = _resolved(spec)
    dataset_fp = dataset_fingerprint(spec) if dataset_fp is None else dataset_fp
    folder = Workspace(workspace).dataset_dir(dataset_fp)
    if _is_complete(folder, dataset_fp):
        _record_location(folder, spec)
        return folder
    split, class_names_from = _load_labelled(spec)
    image_column, label_column = split_columns(split, spec)
    if class_names_from in _CLASS_LIST_WARNINGS:
        logger.warning(_CLASS_LIST_WARNINGS[class_names_from], label_column)
    selected = select_sample_ids(len(split), spec.limit, spec.seed, first=spec.first)
    excluded = find_undecodable(split, image_column, selected)
    if excluded:
        logger.warning(
            "dataset %s [%s]: %d images cannot be decoded and are excluded (sample ids %s%s); see excluded.parquet",
            spec.path, spec.split, len(excluded), sorted(excluded)[:10], " ..." if len(excluded) > 10 else "",
        )
    sample_ids = selected[~np.isin(selected, list(excluded))]
    if len(sample_ids) == 0:
        raise ValueError(
            f"--dataset {spec.path!r} [{spec.split}] has no samples to explain ({len(split)} rows, {len(selected)} "
            f"selected, {len(excluded)} undecodable): check --split, --limit and --first"
        )
    concepts = build_concepts(spec, split, label_column, sample_ids)
    if not concepts.concepts:
        raise ValueError(_no_concepts_message(spec, label_column, concepts))
    info = {
        "fingerprint": dataset_fp,
        "spec": spec.model_dump(mode="json"),
        "n_samples": len(sample_ids),
        "n_concepts": len(concepts.concepts),
        "dropped_concepts": concepts.dropped,
        "class_names": split.features[label_column].names if label_column else [],
        "class_order_known": class_names_from not in (None, "sorted label values"),
        "image_column": image_column,
        "label_column": label_column,
        "n_source_rows": len(split),
        "n_excluded": len(excluded),
    }
    building = temporary_dir(folder)
    files = DatasetFolder(building)
    try:
        atomic_write_parquet(_samples_table(split, label_column, sample_ids), files.samples)
        atomic_write_parquet(concepts.concepts_table(), files.concepts)
        atomic_write_parquet(concepts.edges_table(), files.concept_edges)
        atomic_write_parquet(concepts.labels_table(sample_ids), files.labels)
        atomic_write_parquet(
            pa.table({
                "sample_id": pa.array(sorted(excluded), pa.int64()),
                "reason": pa.array([excluded[i] for i in sorted(excluded)], pa.string()),
            }),
            files.excluded,
        )
        atomic_write_json(info, files.info, requires=[table.name for table in files.tables()])
        if folder.exists() and not _is_complete(folder, dataset_fp):
            shutil.rmtree(folder)  # an incomplete leftover from another tool; ours are never visible half-done
        fault_point("dataset:rename")
        try:
            os.rename(building, folder)
        except OSError:
            if not _is_complete(folder, dataset_fp):  # else another process finished the same folder first
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


def _no_concepts_message(spec: DatasetSpec, label_column: str | None, concepts: ConceptSet) -> str:
    """Why a dataset has no concept to explain neurons with, and which flags give it some."""
    fix = "add concepts with --label-column, --attribute-column or --annotations"
    if label_column is None and not spec.attribute_columns and not spec.annotations:
        return f"--dataset {spec.path!r} has no class labels and no concepts: nothing to explain neurons with; {fix}"
    dropped = ", ".join(f"{item['name']!r} ({item['n_pos']} positives)" for item in concepts.dropped[:5])
    present = [item for item in concepts.dropped if item["kind"] == "class" and item["n_pos"] > 0]
    single = " (the samples all belong to one class)" if len(present) == 1 else ""
    return (
        f"--dataset {spec.path!r} [{spec.split}] leaves no concept to explain neurons with{single}: every concept is "
        f"positive on all samples or rarer than --min-positives {spec.min_positives} ({dropped}); use more samples "
        f"or several classes, lower --min-positives, or {fix}"
    )


def _record_location(folder: Path, spec: DatasetSpec) -> None:
    """Make ``dataset.json`` name where ``spec`` finds the data, if the folder was prepared from a copy elsewhere.

    The fingerprint does not depend on where the data are, so the folder may have been prepared from
    a copy that has since moved; :func:`open_split` reads the images from the spec recorded here.
    """
    info = read_dataset_info(folder)
    spec_json = spec.model_dump(mode="json")
    if info["spec"] != spec_json:
        files = DatasetFolder(folder)
        atomic_write_json({**info, "spec": spec_json}, files.info, requires=[table.name for table in files.tables()])


def open_split(dataset_dir: str | Path) -> tuple[datasets.Dataset, str]:
    """The source split of a prepared dataset, where row ``i`` is sample id ``i``, and its image column."""
    info = read_dataset_info(dataset_dir)
    return load_split(DatasetSpec.model_validate(info["spec"])), info["image_column"]
