"""Tests of invert_pipeline.extraction: values, chunk files, shards, resuming after a kill, errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import image_datasets  # tests/models is on sys.path, see conftest.py
import model_factories
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from invert_pipeline.datasets import open_split
from invert_pipeline.activation_files import chunk_ranges, completed_chunks, pending_chunks, plan_shards, read_activations
from invert_pipeline.extraction import extract_activations, resolve_device
from invert_pipeline.models import load_model
from invert_pipeline.specs import ExtractionParams, ModelSpec
from invert_pipeline.workspace import DamagedFileError, atomic_write_parquet

TINY = ModelSpec(source="model_factories:tiny_cnn")
SLOW_TINY = ModelSpec(source="model_factories:slow_tiny_cnn")  # same weights, sleeps per forward when asked
LAYERS = ["conv2", "pool", "logits"]
PARAMS = ExtractionParams(batch_size=4)
CHUNK = 8  # 37 samples: chunks [0, 8) ... [32, 37)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared dataset of 37 random 12x12 grayscale images (of 40 rows: a seeded 38, one undecodable)."""
    return image_datasets.make_prepared_dataset(tmp_path_factory.mktemp("dataset"))


@pytest.fixture(scope="module")
def whole_run(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted extraction of LAYERS, chunks of 8."""
    out_dir = tmp_path_factory.mktemp("whole")
    extract_activations(TINY, dataset_dir, LAYERS, out_dir, PARAMS, chunk_size=CHUNK)
    return out_dir


def _files(out_dir: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out_dir)): path.read_bytes() for path in sorted(out_dir.rglob("*")) if path.is_file()}


def _direct_forward(dataset_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sample ids (sorted) and raw outputs of conv2 and the model, from one plain forward pass."""
    split, column = open_split(dataset_dir)
    ids = np.sort(pq.read_table(dataset_dir / "samples.parquet").column("sample_id").to_numpy())
    loaded = load_model(TINY)
    batch = torch.stack([loaded.preprocess(split[int(i)][column]) for i in ids])
    outputs = {}
    handle = loaded.module.conv2.register_forward_hook(lambda _m, _i, out: outputs.update(conv2=out.numpy()))
    with torch.no_grad():
        outputs["logits"] = loaded.module(batch).numpy()
    handle.remove()
    return ids, outputs


class TestValues:
    def test_equal_to_direct_forward(self, dataset_dir, whole_run):
        """Channel means of conv2, the pooled ReLU and the logits equal a plain forward pass, by sample id."""
        ids, outputs = _direct_forward(dataset_dir)
        conv_means = outputs["conv2"].mean(axis=(2, 3))
        pooled = np.maximum(outputs["conv2"], 0).mean(axis=(2, 3))
        for layer, expected in [("conv2", conv_means), ("pool", pooled), ("logits", outputs["logits"])]:
            sample_ids, values = read_activations(whole_run / layer)
            np.testing.assert_array_equal(sample_ids, ids)
            assert values.dtype == np.float32 and values.shape == expected.shape
            np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)

    def test_max_reduction(self, dataset_dir, tmp_path):
        """reduce='max' stores the channel maxima."""
        ids, outputs = _direct_forward(dataset_dir)
        extract_activations(TINY, dataset_dir, ["conv2"], tmp_path, ExtractionParams(reduce="max", batch_size=16))
        sample_ids, values = read_activations(tmp_path / "conv2")
        np.testing.assert_array_equal(sample_ids, ids)
        np.testing.assert_allclose(values, outputs["conv2"].max(axis=(2, 3)), rtol=1e-5, atol=1e-6)

    def test_file_layout(self, whole_run, dataset_dir):
        """Chunks on the grid, named by position, sample_id then float32 neuron columns, in samples order."""
        assert completed_chunks(whole_run / "conv2") == [(0, 8), (8, 16), (16, 24), (24, 32), (32, 37)]
        table = pq.read_table(whole_run / "conv2" / "part-000000008-000000016.parquet")
        assert table.column_names == ["sample_id", "0", "1", "2", "3", "4", "5"]
        assert str(table.schema.field("0").type) == "float"
        order = pq.read_table(dataset_dir / "samples.parquet").column("sample_id").to_pylist()
        assert table.column("sample_id").to_pylist() == order[8:16]

    def test_workers_and_autocast(self, dataset_dir, whole_run, tmp_path):
        """A DataLoader worker gives the same files; bfloat16 autocast stays float32 on disk and close."""
        extract_activations(TINY, dataset_dir, LAYERS, tmp_path / "w", ExtractionParams(batch_size=4, num_workers=1), chunk_size=CHUNK)
        assert _files(tmp_path / "w") == _files(whole_run)
        extract_activations(TINY, dataset_dir, ["logits"], tmp_path / "a", ExtractionParams(autocast="bf16"), chunk_size=CHUNK)
        _, reduced = read_activations(tmp_path / "a" / "logits")
        _, exact = read_activations(whole_run / "logits")
        assert reduced.dtype == np.float32 and not np.array_equal(reduced, exact)
        np.testing.assert_allclose(reduced, exact, atol=0.05)


class TestChunks:
    def test_shards_equal_whole_run(self, dataset_dir, whole_run, tmp_path):
        """Shards extracted separately write byte-identical files to one whole run."""
        shards = plan_shards(37, 10, chunk_size=CHUNK)
        assert shards == [(0, 16), (16, 32), (32, 37)]
        for shard in reversed(shards):
            extract_activations(TINY, dataset_dir, LAYERS, tmp_path, PARAMS, shard=shard, chunk_size=CHUNK)
        assert _files(tmp_path) == _files(whole_run)

    def test_rerun_changes_nothing_and_fills_gaps(self, dataset_dir, whole_run, tmp_path):
        """A rerun rewrites no complete file and writes only the chunk a layer lacks."""
        out_dir = tmp_path / "out"
        shutil.copytree(whole_run, out_dir)
        (out_dir / "pool" / "part-000000016-000000024.parquet").unlink()
        assert pending_chunks(out_dir, LAYERS, 37, chunk_size=CHUNK) == [(16, 24)]
        assert pending_chunks(out_dir, LAYERS, 37, (0, 16), chunk_size=CHUNK) == []
        before = {path: path.stat().st_mtime_ns for path in out_dir.rglob("*.parquet")}
        extract_activations(TINY, dataset_dir, LAYERS, out_dir, PARAMS, chunk_size=CHUNK)
        assert {path: path.stat().st_mtime_ns for path in before} == before
        assert _files(out_dir) == _files(whole_run)

    def test_kill_and_resume(self, dataset_dir, whole_run, tmp_path):
        """A run killed after its first chunk leaves only complete files; the rerun matches an uninterrupted run."""
        out_dir = tmp_path / "killed"
        script = textwrap.dedent(
            f"""
            from invert_pipeline.extraction import extract_activations
            from invert_pipeline.specs import ExtractionParams, ModelSpec
            extract_activations(ModelSpec(source={SLOW_TINY.source!r}), {str(dataset_dir)!r}, {LAYERS!r},
                                {str(out_dir)!r}, ExtractionParams(batch_size=4), chunk_size={CHUNK})
            """
        )
        env = {**os.environ, "PYTHONPATH": str(Path(model_factories.__file__).parent), model_factories.SLEEP_ENV: "0.4"}
        child = subprocess.Popen([sys.executable, "-c", script], env=env)
        try:
            deadline = time.monotonic() + 120
            while not completed_chunks(out_dir / "logits") and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL, "the extraction ended before it could be killed"
        written = {layer: completed_chunks(out_dir / layer) for layer in LAYERS}
        assert written["logits"] and len(written["logits"]) < 5
        for layer, chunks in written.items():  # every visible file is complete
            for start, stop in chunks:
                assert pq.read_table(out_dir / layer / f"part-{start:09d}-{stop:09d}.parquet").num_rows == stop - start
        with pytest.raises(ValueError, match=r"incomplete: positions \[\d+, .* of 37 are missing"):
            read_activations(out_dir / "logits")
        extract_activations(SLOW_TINY, dataset_dir, LAYERS, out_dir, PARAMS, chunk_size=CHUNK)
        assert _files(out_dir) == _files(whole_run)  # also: no temporary file is left
        assert [path for path in out_dir.rglob(".*") if not path.name.endswith(".sha256")] == []  # digest records only


class TestReadActivations:
    def test_neuron_slice_reads_only_those_columns(self, whole_run):
        """A slice of neurons gives exactly those columns of the whole layer, and a bad slice is refused."""
        sample_ids, everything = read_activations(whole_run / "conv2")
        ids, part = read_activations(whole_run / "conv2", slice(1, 3))
        np.testing.assert_array_equal(ids, sample_ids)
        np.testing.assert_array_equal(part, everything[:, 1:3])
        with pytest.raises(ValueError, match=f"within the {everything.shape[1]} neurons"):
            read_activations(whole_run / "conv2", slice(0, 4, 2))

    def test_missing_ranges_named(self, whole_run, tmp_path):
        """Missing chunks are reported as position ranges, including at the end."""
        layer_dir = tmp_path / "pool"
        shutil.copytree(whole_run / "pool", layer_dir)
        (layer_dir / "part-000000008-000000016.parquet").unlink()
        (layer_dir / "part-000000032-000000037.parquet").unlink()
        with pytest.raises(ValueError, match=r"positions \[8, 16\), \[32, 37\) of 37 are missing"):
            read_activations(layer_dir)

    def test_overlap(self, whole_run, tmp_path):
        """Overlapping chunks (from different chunk sizes) are refused."""
        layer_dir = tmp_path / "pool"
        shutil.copytree(whole_run / "pool", layer_dir)
        shutil.copy(layer_dir / "part-000000000-000000008.parquet", layer_dir / "part-000000004-000000012.parquet")
        with pytest.raises(ValueError, match="chunks overlap"):
            read_activations(layer_dir)

    def test_foreign_file(self, tmp_path):
        """A chunk-named file without the extraction's metadata is refused, and one without a digest record too."""
        table = pa.table({"sample_id": np.arange(4), "0": np.zeros(4, dtype=np.float32)})
        atomic_write_parquet(table, tmp_path / "part-000000000-000000004.parquet")
        with pytest.raises(ValueError, match="was not written by extract_activations"):
            read_activations(tmp_path)
        pq.write_table(table.slice(0, 3), tmp_path / "part-000000000-000000004.parquet")  # by hand: not recorded
        with pytest.raises(DamagedFileError, match="part-000000000-000000004.parquet: it holds"):
            read_activations(tmp_path)

    def test_empty_folder(self, tmp_path):
        """A folder without chunks says to run the extraction."""
        with pytest.raises(FileNotFoundError, match="no activation chunks"):
            read_activations(tmp_path)


class TestInvalidInput:
    @pytest.mark.parametrize(
        ("shard", "match"),
        [((4, 16), "not on the chunk grid"), ((8, 20), "not on the chunk grid"), ((0, 40), "0 <= start < stop <= 37"),
         ((16, 16), "0 <= start < stop")],
    )
    def test_bad_shard(self, shard, match):
        """A shard off the grid or out of range is refused before any work."""
        with pytest.raises(ValueError, match=match):
            chunk_ranges(37, shard, chunk_size=CHUNK)

    def test_missing_samples(self, tmp_path):
        """A folder that is not a prepared dataset is refused."""
        with pytest.raises(FileNotFoundError, match="has no samples.parquet"):
            extract_activations(TINY, tmp_path, LAYERS, tmp_path / "out", PARAMS)

    def test_layer_without_output(self, dataset_dir, tmp_path):
        """A module the forward pass never calls gives a clear error and no file."""
        spec = ModelSpec(source="model_factories:two_layer_head")
        with pytest.raises(ValueError, match=r"layers \['spare'\] gave no tensor output"):
            extract_activations(spec, dataset_dir, ["fc1", "spare"], tmp_path, PARAMS)
        assert not list(tmp_path.rglob("*.parquet"))

    def test_nan_activations_name_the_layer(self, dataset_dir, tmp_path):
        """A NaN weight in conv2's channel 2 makes conv2 NaN there: refused naming the layer, sample and neuron; no file."""
        spec = ModelSpec(source="model_factories:nan_conv2_cnn")
        with pytest.raises(ValueError, match=r"layer 'conv2' gives \d+ NaN or infinite activation\(s\) on samples 0-8, "
                                             r"the first on sample id \d+, neuron 2: "):
            extract_activations(spec, dataset_dir, ["conv1", "conv2"], tmp_path, PARAMS, chunk_size=CHUNK)
        assert not list(tmp_path.rglob("*.parquet"))

    @pytest.mark.parametrize(("device", "match"), [("banana", "not a torch device"), ("cuda:7", "not available on this machine")])
    def test_bad_device(self, device, match):
        """Unknown or absent devices are named."""
        if device.startswith("cuda") and torch.cuda.device_count() > 7:
            pytest.skip("this machine has a cuda:7")
        with pytest.raises(ValueError, match=match):
            resolve_device(device)
