"""Tests of invert_pipeline.datasets: sources, sample ids, fingerprints, prepared folders, errors."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from pathlib import Path

import data_samples  # tests/data is on sys.path, see conftest.py
import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invert_pipeline.datasets import (
    dataset_fingerprint,
    fashion_mnist_spec,
    load_split,
    open_split,
    prepare_dataset,
    select_sample_ids,
)
from invert_pipeline.dataset_files import read_labels
from invert_pipeline.specs import DatasetSpec

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def read(folder: Path, name: str) -> pa.Table:
    return pq.read_table(folder / name)


def files_under(folder: Path) -> list[Path]:
    """Every file and folder below ``folder`` (none if it does not exist), hidden ones included."""
    return sorted(folder.rglob("*"))


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Modification time and bytes of every file in a folder."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


class TestSources:
    def test_local_parquet_file(self, parquet_file: Path, tmp_path: Path) -> None:
        """A local Parquet file is the named split; columns are found from the features."""
        spec = DatasetSpec(path=str(parquet_file), split="validation")
        split = load_split(spec)
        assert len(split) == 30 and isinstance(split.features["image"], datasets.Image)
        folder = prepare_dataset(spec, tmp_path / "ws")
        samples = read(folder, "samples.parquet")
        assert samples.column("sample_id").to_pylist() == list(range(30))
        assert samples.column("class_name").to_pylist()[:4] == ["cat", "dog", "fish", "cat"]
        info = json.loads((folder / "dataset.json").read_text())
        assert (info["image_column"], info["label_column"], info["class_names"]) == ("image", "label", data_samples.CLASS_NAMES)

    def test_parquet_folder_with_splits(self, tmp_path: Path, rng: np.random.Generator) -> None:
        """A folder of Parquet files named by split loads the chosen split through load_dataset."""
        folder = tmp_path / "pq"
        folder.mkdir()
        data_samples.tiny_dataset(rng, 12).to_parquet(str(folder / "train.parquet"))
        data_samples.tiny_dataset(rng, 6).to_parquet(str(folder / "test.parquet"))
        assert len(load_split(DatasetSpec(path=str(folder), split="test"))) == 6
        assert len(load_split(DatasetSpec(path=str(folder), split="train"))) == 12
        with pytest.raises(ValueError, match=r"--split 'validation' does not exist in dataset .*(\['test', 'train'\]|\['train', 'test'\]).*pass --split"):
            load_split(DatasetSpec(path=str(folder), split="validation"))

    def test_image_folder(self, image_folder: Path, tmp_path: Path) -> None:
        """An image folder's class subfolders become the classes, through the imagefolder builder."""
        folder = prepare_dataset(DatasetSpec(path=str(image_folder), split="train"), tmp_path / "ws")
        sample_ids, labels, names = read_labels(folder)
        assert names == ["cat", "dog"]
        assert len(sample_ids) == 8 and labels.sum(axis=0).tolist() == [4, 4]

    def test_image_folder_with_metadata_keeps_its_classes(self, image_folder: Path, tmp_path: Path) -> None:
        """A metadata.csv adds attribute columns to an image folder; the subfolders stay its classes."""
        rows = [f"{name}/{index}.png,{'true' if index % 2 else 'false'}" for name in ("cat", "dog") for index in range(4)]
        (image_folder / "metadata.csv").write_text("file_name,striped\n" + "\n".join(rows) + "\n")
        spec = DatasetSpec(path=str(image_folder), split="train", attribute_columns=("striped",))
        split = load_split(spec)
        assert split.features["label"].names == ["cat", "dog"]
        assert split["label"] == [0, 0, 0, 0, 1, 1, 1, 1] and split["striped"] == [False, True] * 4
        sample_ids, labels, names = read_labels(prepare_dataset(spec, tmp_path / "ws"))
        assert names == ["cat", "dog", "striped"]
        assert labels.sum(axis=0).tolist() == [4, 4, 4]

    def test_saved_dataset_dict_and_dataset(self, tmp_path: Path, rng: np.random.Generator) -> None:
        """A save_to_disk DatasetDict is indexed by split; a saved Dataset is the split itself."""
        tiny = data_samples.tiny_dataset(rng, 10)
        datasets.DatasetDict({"test": tiny, "train": tiny.select(range(4))}).save_to_disk(str(tmp_path / "dict"))
        tiny.select(range(7)).save_to_disk(str(tmp_path / "one"))
        assert len(load_split(DatasetSpec(path=str(tmp_path / "dict"), split="train"))) == 4
        assert len(load_split(DatasetSpec(path=str(tmp_path / "one"), split="anything"))) == 7
        with pytest.raises(ValueError, match=r"--split 'val' does not exist in the saved dataset .*\['test', 'train'\]; pass --split"):
            load_split(DatasetSpec(path=str(tmp_path / "dict"), split="val"))
        folder = prepare_dataset(DatasetSpec(path=str(tmp_path / "dict"), split="test"), tmp_path / "ws")
        assert json.loads((folder / "dataset.json").read_text())["n_samples"] == 10

    def test_column_overrides(self, tmp_path: Path, rng: np.random.Generator) -> None:
        """Named image and label columns of bytes and strings are cast to Image and ClassLabel."""
        path = tmp_path / "plain.parquet"
        pq.write_table(pa.table({
            "picture": [data_samples.png(rng) for _ in range(6)],
            "kind": ["b", "a", "b", "c", "a", "b"],
        }), path)
        spec = DatasetSpec(path=str(path), image_column="picture", label_column="kind")
        split = load_split(spec)
        assert isinstance(split.features["picture"], datasets.Image)
        assert split.features["kind"].names == ["a", "b", "c"]
        folder = prepare_dataset(spec, tmp_path / "ws")
        assert read(folder, "samples.parquet").column("class_name").to_pylist() == ["b", "a", "b", "c", "a", "b"]

    def test_dataset_without_labels(self, tmp_path: Path, rng: np.random.Generator) -> None:
        """Without a ClassLabel column, samples have null labels and only attribute concepts."""
        path = tmp_path / "unlabelled.parquet"
        tiny = data_samples.tiny_dataset(rng, 8).remove_columns(["label"])
        tiny.to_parquet(str(path))
        folder = prepare_dataset(DatasetSpec(path=str(path), attribute_columns=("striped",)), tmp_path / "ws")
        samples = read(folder, "samples.parquet")
        assert samples.column("label").null_count == 8
        _, labels, names = read_labels(folder)
        assert names == ["striped"] and labels[:, 0].nonzero()[0].tolist() == [0, 5]


class TestFashionMnist:
    def test_shipped_splits_have_the_hub_schema(self) -> None:
        """The shipped Parquet has 60,000 + 10,000 rows with Image and ClassLabel features."""
        test = load_split(fashion_mnist_spec("test"))
        assert len(test) == 10_000
        assert test.features["label"].names == FASHION_MNIST_CLASSES
        image = test[0]["image"]
        assert (image.mode, image.size, test[0]["label"]) == ("L", (28, 28), 9)  # the first test image is an ankle boot
        train_rows = pq.ParquetFile(fashion_mnist_spec("train").path).metadata.num_rows
        assert train_rows == 60_000
        total = sum(p.stat().st_size for p in Path(fashion_mnist_spec().path).parent.iterdir())
        assert total <= 30 * 2**20

    def test_prepared_with_wordnet_hierarchy(self, tmp_path: Path) -> None:
        """The embedded default gets its classes and WordNet ancestors such as footwear and garment."""
        folder = prepare_dataset(fashion_mnist_spec(limit=2000), tmp_path / "ws")
        _, labels, names = read_labels(folder)
        samples = read(folder, "samples.parquet").column("class_name").to_numpy(zero_copy_only=False)
        column = {name: labels[:, index].toarray().ravel() for index, name in enumerate(names)}
        assert np.array_equal(column["footwear"], np.isin(samples, ["Sandal", "Sneaker", "Ankle boot"]))
        garments = ["T-shirt/top", "Trouser", "Pullover", "Coat", "Shirt"]
        assert np.array_equal(column["garment"], np.isin(samples, garments))
        assert np.array_equal(column["clothing"], np.isin(samples, [*garments, "Dress"]))  # a dress: woman's clothing
        assert "artifact" not in column  # the root is true on every sample: dropped and reported
        info = json.loads((folder / "dataset.json").read_text())
        assert {"name": "artifact", "kind": "ancestor", "n_pos": 2000} in info["dropped_concepts"]
        concepts = read(folder, "concepts.parquet").to_pandas().set_index("name")
        assert concepts.loc["Sneaker", "source_id"] == "n03472535"
        assert concepts.loc["footwear", "depth"] >= 1 and concepts.loc["footwear", "kind"] == "ancestor"
        edges = read(folder, "concept_edges.parquet").to_pylist()
        assert {"child": names.index("Shirt"), "parent": names.index("garment")} in edges

    def test_train_split_and_bad_split(self) -> None:
        """Only the train and test splits are shipped."""
        assert fashion_mnist_spec("train").path.endswith("train.parquet")
        with pytest.raises(ValueError, match="--split 'val' is not a split of the shipped Fashion-MNIST"):
            fashion_mnist_spec("val")  # type: ignore[arg-type]


class TestSampleIds:
    def test_limits_nest(self) -> None:
        """Seeded subsampling: a smaller limit keeps a subset of a larger one; ids are sorted row indices."""
        small, large = select_sample_ids(1000, 50, seed=3), select_sample_ids(1000, 200, seed=3)
        assert np.isin(small, large).all() and np.all(np.diff(large) > 0)
        assert not np.array_equal(small, select_sample_ids(1000, 50, seed=4))
        assert np.array_equal(select_sample_ids(10, 50, seed=0), np.arange(10))

    def test_first_rows(self, parquet_file: Path, tmp_path: Path) -> None:
        """first keeps rows 0..first-1, whatever the seed (not a random subset); more than the rows keeps all."""
        assert np.array_equal(select_sample_ids(1000, None, seed=3, first=5), np.arange(5))
        assert np.array_equal(select_sample_ids(10, None, seed=3, first=50), np.arange(10))
        folder = prepare_dataset(DatasetSpec(path=str(parquet_file), first=7, seed=4), tmp_path / "ws")
        assert read(folder, "samples.parquet").column("sample_id").to_pylist() == list(range(7))

    def test_limit_and_first_exclude_each_other(self) -> None:
        """A spec with both a random and a first-rows subset is refused, naming both flags and values."""
        with pytest.raises(ValueError, match="--limit 5 and --first 7 exclude each other"):
            DatasetSpec(path="data.parquet", limit=5, first=7)

    def test_same_sample_same_id_whatever_the_limit(self, parquet_file: Path, tmp_path: Path) -> None:
        """A sample keeps its id (and class) across limits."""
        full = read(prepare_dataset(DatasetSpec(path=str(parquet_file)), tmp_path / "ws"), "samples.parquet")
        part = read(prepare_dataset(DatasetSpec(path=str(parquet_file), limit=10, seed=1), tmp_path / "ws"), "samples.parquet")
        assert part.num_rows == 10
        by_id = dict(zip(full.column("sample_id").to_pylist(), full.column("class_name").to_pylist()))
        assert all(by_id[i] == name for i, name in zip(part.column("sample_id").to_pylist(), part.column("class_name").to_pylist()))

    def test_open_split_rows_are_sample_ids(self, parquet_file: Path, tmp_path: Path) -> None:
        """Row i of open_split is sample id i, also for a subsampled dataset."""
        folder = prepare_dataset(DatasetSpec(path=str(parquet_file), limit=7, seed=2), tmp_path / "ws")
        split, image_column = open_split(folder)
        samples = read(folder, "samples.parquet")
        source = pq.read_table(parquet_file)
        assert image_column == "image" and len(split) == 30
        for sample_id, label in zip(samples.column("sample_id").to_pylist(), samples.column("label").to_pylist()):
            assert split[sample_id]["label"] == label
            assert np.array_equal(np.asarray(split[sample_id]["image"]),
                                  np.asarray(datasets.Image().decode_example(source.column("image")[sample_id].as_py())))


class TestConcepts:
    def test_attribute_and_annotation_sources(self, tmp_path: Path, rng: np.random.Generator) -> None:
        """Boolean and list attribute columns and annotation tables become concepts with their positives."""
        path = tmp_path / "probe.parquet"
        data_samples.tiny_dataset(rng, 12, watermark=True).to_parquet(str(path))
        (tmp_path / "notes.csv").write_text("sample_id,concept\n1,shadow\n4,shadow\n11,blur\n")
        spec = DatasetSpec(path=str(path), attribute_columns=("watermark", "tags"), annotations=(str(tmp_path / "notes.csv"),))
        sample_ids, labels, names = read_labels(prepare_dataset(spec, tmp_path / "ws"))
        positive = {name: sample_ids[labels[:, i].nonzero()[0]].tolist() for i, name in enumerate(names)}
        assert names == ["cat", "dog", "fish", "watermark", "round", "blur", "shadow"]  # "red" is on every sample
        assert positive["watermark"] == [0, 4, 8]
        assert positive["round"] == [0, 2, 4, 6, 8, 10]
        assert positive["shadow"] == [1, 4] and positive["blur"] == [11]

    def test_min_positives_reported(self, parquet_file: Path, tmp_path: Path) -> None:
        """Concepts rarer than min_positives are dropped and listed in dataset.json."""
        spec = DatasetSpec(path=str(parquet_file), attribute_columns=("striped",), min_positives=7)
        folder = prepare_dataset(spec, tmp_path / "ws")
        info = json.loads((folder / "dataset.json").read_text())
        assert info["dropped_concepts"] == [{"name": "striped", "kind": "attribute", "n_pos": 6}]
        assert read_labels(folder)[2] == ["cat", "dog", "fish"]

    def test_parent_map_csv(self, parquet_file: Path, tmp_path: Path) -> None:
        """A CSV parent map adds ancestors; the concept table carries kind and depth."""
        (tmp_path / "map.csv").write_text("child,parent\ncat,pet\ndog,pet\npet,animal\nfish,animal\n")
        folder = prepare_dataset(DatasetSpec(path=str(parquet_file), hierarchy=str(tmp_path / "map.csv")), tmp_path / "ws")
        concepts = read(folder, "concepts.parquet").to_pylist()
        assert [(c["name"], c["kind"], c["n_pos"], c["depth"]) for c in concepts] == [
            ("cat", "class", 10, 2), ("dog", "class", 10, 2), ("fish", "class", 10, 1), ("pet", "ancestor", 20, 1),
        ]  # "animal" is the root, on all 30 samples: dropped
        info = json.loads((folder / "dataset.json").read_text())
        assert info["dropped_concepts"] == [{"name": "animal", "kind": "ancestor", "n_pos": 30}]

    def test_wordnet_hierarchy_for_wnid_folders(self, tmp_path: Path, rng: np.random.Generator) -> None:
        """An image folder named by wnids gets WordNet concepts with hierarchy='wordnet'."""
        root = tmp_path / "imagenet"
        for wnid in ("n01440764", "n01443537", "n01484850"):  # tench, goldfish, great white shark
            (root / wnid).mkdir(parents=True)
            for index in range(2):
                (root / wnid / f"{index}.png").write_bytes(data_samples.png(rng))
        folder = prepare_dataset(DatasetSpec(path=str(root), split="train", hierarchy="wordnet"), tmp_path / "ws")
        _, labels, names = read_labels(folder)
        assert names[:3] == ["tench", "goldfish", "great_white_shark"]
        assert labels[:, names.index("cyprinid")].sum() == 4 and labels[:, names.index("tench")].sum() == 2
        assert "fish" not in names  # an ancestor of every sample separates nothing


class TestFingerprint:
    def test_stable_and_path_independent(self, parquet_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The same data and spec give the same fingerprint, even by a relative path or after a touch."""
        first = dataset_fingerprint(DatasetSpec(path=str(parquet_file)))
        monkeypatch.chdir(parquet_file.parent)
        assert dataset_fingerprint(DatasetSpec(path="./" + parquet_file.name)) == first
        os.utime(parquet_file, (1, 1))
        assert dataset_fingerprint(DatasetSpec(path=str(parquet_file))) == first

    def test_changes_with_data(self, parquet_file: Path, rng: np.random.Generator) -> None:
        """Other data in the same file give another fingerprint."""
        first = dataset_fingerprint(DatasetSpec(path=str(parquet_file)))
        data_samples.tiny_dataset(rng).to_parquet(str(parquet_file))
        assert dataset_fingerprint(DatasetSpec(path=str(parquet_file))) != first

    def test_changes_with_concept_spec_and_files(self, parquet_file: Path, tmp_path: Path) -> None:
        """Spec fields and the content of parent-map and annotation files enter the fingerprint."""
        (tmp_path / "map.csv").write_text("child,parent\ncat,pet\n")
        (tmp_path / "notes.csv").write_text("sample_id,concept\n1,shadow\n")
        base = DatasetSpec(path=str(parquet_file), hierarchy=str(tmp_path / "map.csv"), annotations=(str(tmp_path / "notes.csv"),))
        prints = {dataset_fingerprint(base)}
        for change in ({"min_positives": 2}, {"attribute_columns": ("striped",)}, {"limit": 5}, {"seed": 1}):
            prints.add(dataset_fingerprint(base.model_copy(update=change)))
        (tmp_path / "map.csv").write_text("child,parent\ncat,animal\n")
        prints.add(dataset_fingerprint(base))
        (tmp_path / "notes.csv").write_text("sample_id,concept\n2,shadow\n")
        prints.add(dataset_fingerprint(base))
        assert len(prints) == 7


    def test_a_copy_elsewhere_has_the_same_fingerprint(self, image_folder: Path, tmp_path: Path) -> None:
        """The same files in another folder (say a clone of the repository) give the same fingerprint."""
        original = tmp_path / "original"
        shutil.copytree(image_folder, original / "images")
        (original / "map.csv").write_text("child,parent\ncat,pet\ndog,pet\n")
        (original / "notes.csv").write_text("sample_id,concept\n1,shadow\n")
        shutil.copytree(original, tmp_path / "clone")

        def spec(root: Path) -> DatasetSpec:
            return DatasetSpec(path=str(root / "images"), split="train", hierarchy=str(root / "map.csv"),
                               annotations=(str(root / "notes.csv"),))

        assert dataset_fingerprint(spec(tmp_path / "clone")) == dataset_fingerprint(spec(original))
        (tmp_path / "clone" / "notes.csv").write_text("sample_id,concept\n2,shadow\n")
        assert dataset_fingerprint(spec(tmp_path / "clone")) != dataset_fingerprint(spec(original))


class TestPrepare:
    def test_writes_the_contract_files(self, parquet_file: Path, tmp_path: Path) -> None:
        """The prepared folder holds the five Parquet files and dataset.json with the documented schemas."""
        spec = DatasetSpec(path=str(parquet_file), attribute_columns=("striped",))
        folder = prepare_dataset(spec, tmp_path / "ws")
        assert folder == tmp_path / "ws" / "datasets" / dataset_fingerprint(spec)
        assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
            "concept_edges.parquet", "concepts.parquet", "dataset.json", "excluded.parquet", "labels.parquet", "samples.parquet",
        ]
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == [  # their digest records
            ".concept_edges.parquet.sha256", ".concepts.parquet.sha256", ".dataset.json.sha256",
            ".excluded.parquet.sha256", ".labels.parquet.sha256", ".samples.parquet.sha256",
        ]
        assert read(folder, "samples.parquet").schema == pa.schema([("sample_id", pa.int64()), ("label", pa.int64()), ("class_name", pa.string())])
        assert read(folder, "labels.parquet").schema == pa.schema([("sample_id", pa.int64()), ("concept_id", pa.int32())])
        assert read(folder, "concept_edges.parquet").schema == pa.schema([("child", pa.int32()), ("parent", pa.int32())])
        assert read(folder, "excluded.parquet").schema == pa.schema([("sample_id", pa.int64()), ("reason", pa.string())])
        info = json.loads((folder / "dataset.json").read_text())
        assert (info["fingerprint"], info["n_samples"], info["n_concepts"]) == (folder.name, 30, 4)
        assert DatasetSpec.model_validate(info["spec"]).path == str(parquet_file)
        _, labels, _ = read_labels(folder)
        assert labels.dtype == bool and labels.shape == (30, 4) and labels.sum() == 36

    def test_rerun_is_a_no_op(self, parquet_file: Path, tmp_path: Path) -> None:
        """Preparing the same spec again returns the folder without rewriting any file."""
        spec = DatasetSpec(path=str(parquet_file))
        folder = prepare_dataset(spec, tmp_path / "ws")
        before = snapshot(folder)
        assert prepare_dataset(spec, tmp_path / "ws") == folder
        assert snapshot(folder) == before
        assert os.listdir(folder.parent) == [folder.name]

    def test_prepared_folder_follows_the_copy_in_use(self, parquet_file: Path, tmp_path: Path) -> None:
        """A copy of prepared data reuses its folder, which then reads the images from the copy."""
        copy = tmp_path / "elsewhere" / parquet_file.name
        copy.parent.mkdir()
        shutil.copy(parquet_file, copy)
        folder = prepare_dataset(DatasetSpec(path=str(parquet_file)), tmp_path / "ws")
        parquet_file.unlink()
        assert prepare_dataset(DatasetSpec(path=str(copy)), tmp_path / "ws") == folder
        assert json.loads((folder / "dataset.json").read_text())["spec"]["path"] == str(copy)
        assert len(open_split(folder)[0]) == 30

    def test_files_and_folder_follow_the_umask(self, parquet_file: Path, tmp_path: Path) -> None:
        """The prepared folder and its files get the umask's permissions (not 0700 and 0600)."""
        previous = os.umask(0o022)
        try:
            folder = prepare_dataset(DatasetSpec(path=str(parquet_file)), tmp_path / "ws")
        finally:
            os.umask(previous)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
        assert {stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()} == {0o644}

    def test_undecodable_image_is_reported_and_excluded(
        self, image_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An image that cannot be decoded is logged, listed with its reason and left out of samples and labels."""
        (image_folder / "dog" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        spec = DatasetSpec(path=str(image_folder), split="train")
        split = load_split(spec)
        broken = next(i for i, path in enumerate(split.cast_column("image", datasets.Image(decode=False))["image"])
                      if path["path"].endswith("9.png"))
        with caplog.at_level(logging.WARNING, logger="invert_pipeline.datasets"):
            folder = prepare_dataset(spec, tmp_path / "ws")
        excluded = read(folder, "excluded.parquet").to_pylist()
        assert [row["sample_id"] for row in excluded] == [broken] and "UnidentifiedImageError" in excluded[0]["reason"]
        assert broken not in read(folder, "samples.parquet").column("sample_id").to_pylist()
        assert broken not in read(folder, "labels.parquet").column("sample_id").to_pylist()
        assert f"sample ids [{broken}]" in caplog.text
        assert json.loads((folder / "dataset.json").read_text())["n_samples"] == 8

    def test_failure_leaves_no_files(self, parquet_file: Path, tmp_path: Path) -> None:
        """A failure while building the concepts leaves nothing in the workspace."""
        (tmp_path / "notes.csv").write_text("sample_id,concept\n99,shadow\n")
        spec = DatasetSpec(path=str(parquet_file), annotations=(str(tmp_path / "notes.csv"),))
        with pytest.raises(ValueError, match="outside the split's rows"):
            prepare_dataset(spec, tmp_path / "ws")
        assert files_under(tmp_path / "ws") == []

    def test_failure_while_writing_leaves_no_files(
        self, parquet_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A failure after some files are written removes the half-built folder."""
        import invert_pipeline.datasets as module

        def disk_full(value: object, path: Path, **options: object) -> None:
            raise OSError(f"disk full writing {path}")

        monkeypatch.setattr(module, "atomic_write_json", disk_full)
        with pytest.raises(OSError, match="disk full writing .*dataset.json"):
            prepare_dataset(DatasetSpec(path=str(parquet_file)), tmp_path / "ws")
        assert files_under(tmp_path / "ws") == [tmp_path / "ws" / "datasets"]

    def test_incomplete_folder_is_rebuilt(self, parquet_file: Path, tmp_path: Path) -> None:
        """A folder under the fingerprint without dataset.json (left by some other tool) is rebuilt."""
        spec = DatasetSpec(path=str(parquet_file))
        stale = tmp_path / "ws" / "datasets" / dataset_fingerprint(spec)
        stale.mkdir(parents=True)
        (stale / "samples.parquet").write_text("garbage")
        folder = prepare_dataset(spec, tmp_path / "ws")
        assert read(folder, "samples.parquet").num_rows == 30

    def test_read_labels_and_open_split_need_a_prepared_folder(self, tmp_path: Path) -> None:
        """Reading a folder that was never prepared says so."""
        with pytest.raises(FileNotFoundError, match="run prepare_dataset first"):
            read_labels(tmp_path)
        with pytest.raises(FileNotFoundError, match="run prepare_dataset first"):
            open_split(tmp_path)


class TestErrors:
    def test_hub_dataset_offline(self) -> None:
        """A hub name that is not cached while offline says so and suggests a local path."""
        with pytest.raises(ConnectionError, match="--dataset 'no-such-org/no-such-dataset' is no file or folder .*no dataset in the local Hugging Face cache while the hub is offline.*pass a local path"):
            load_split(DatasetSpec(path="no-such-org/no-such-dataset"))

    def test_image_folder_has_no_test_split(self, image_folder: Path) -> None:
        """An image folder's one split is train: the default split is refused naming the flag to pass."""
        with pytest.raises(ValueError, match=r"--split 'test' does not exist in dataset .*; its splits: \['train'\]; "
                           r"pass --split train$"):
            load_split(DatasetSpec(path=str(image_folder)))

    def test_local_image_folder_prints_no_download_bars(self, image_folder: Path, capfd) -> None:
        """Nothing is downloaded from a local folder, and no "Downloading data" or "Generating" bar says otherwise."""
        load_split(DatasetSpec(path=str(image_folder), split="train"))
        printed = capfd.readouterr()
        assert "Downloading data" not in printed.err + printed.out
        assert "Generating train split" not in printed.err + printed.out

    def test_missing_columns(self, parquet_file: Path) -> None:
        """Missing image, label and attribute columns are named with the available columns."""
        available = r"its columns: \['image', 'label', 'tags', 'striped'\]"
        with pytest.raises(ValueError, match=f"--image-column 'img' is not a column of the dataset; did you mean 'image'\\? {available}"):
            load_split(DatasetSpec(path=str(parquet_file), image_column="img"))
        with pytest.raises(ValueError, match=f"--label-column 'class' is not a column of the dataset; {available}"):
            load_split(DatasetSpec(path=str(parquet_file), label_column="class"))
        with pytest.raises(ValueError, match=rf"--attribute-column 'watermark': not a column of the dataset; {available}"):
            load_split(DatasetSpec(path=str(parquet_file), attribute_columns=("watermark",)))

    def test_no_image_column(self, tmp_path: Path) -> None:
        """A dataset without an Image feature asks for image_column."""
        path = tmp_path / "numbers.parquet"
        pq.write_table(pa.table({"x": [1, 2]}), path)
        with pytest.raises(ValueError, match=r"no Image feature column; available columns: \['x'\]; name the column .* with --image-column"):
            load_split(DatasetSpec(path=str(path)))

    def test_bad_paths(self, tmp_path: Path) -> None:
        """Missing local paths, non-Parquet files and missing concept files are named."""
        with pytest.raises(FileNotFoundError, match="--dataset '/no/such/folder': no such file or folder; pass an existing path"):
            load_split(DatasetSpec(path="/no/such/folder"))
        (tmp_path / "data.csv").write_text("a\n1\n")
        with pytest.raises(ValueError, match=r"is a file but not Parquet \(\.parquet\)"):
            load_split(DatasetSpec(path=str(tmp_path / "data.csv")))
        with pytest.raises(FileNotFoundError, match="--annotations file 'absent.csv' does not exist"):
            dataset_fingerprint(DatasetSpec(path=str(tmp_path / "data.csv"), annotations=("absent.csv",)))

    def test_bad_attribute_column_type(self, parquet_file: Path, tmp_path: Path) -> None:
        """An attribute column of another type is rejected with its type, leaving no files."""
        with pytest.raises(ValueError, match="attribute column 'label' has type int64"):
            prepare_dataset(DatasetSpec(path=str(parquet_file), attribute_columns=("label",)), tmp_path / "ws")
        assert files_under(tmp_path / "ws") == []

    def test_attribute_named_like_a_class(self, tmp_path: Path, rng: np.random.Generator) -> None:
        """An attribute concept named like a class is an error naming both sources."""
        path = tmp_path / "clash.parquet"
        data_samples.tiny_dataset(rng, 6).rename_column("striped", "cat").to_parquet(str(path))
        with pytest.raises(ValueError, match="concept name 'cat' comes from both the classes of 'label'.* and attribute column 'cat'"):
            prepare_dataset(DatasetSpec(path=str(path), attribute_columns=("cat",)), tmp_path / "ws")
