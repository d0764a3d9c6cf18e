"""Two writers of one activations folder at once: neither deletes the other's temporary files."""

from __future__ import annotations

import subprocess
import sys

from fault_runs import pipeline_env

from invert_pipeline.activation_files import read_activations
from invert_pipeline.workspace import damaged_files

EXTRACT = """
import sys
from invert_pipeline.datasets import fashion_mnist_spec, prepare_dataset
from invert_pipeline.demo.specs import model_spec
from invert_pipeline.extraction import extract_activations
from invert_pipeline.specs import ExtractionParams
folder = prepare_dataset(fashion_mnist_spec(limit=512), sys.argv[1])
extract_activations(model_spec("v1"), folder, ["conv1", "conv2", "logits"], sys.argv[2], ExtractionParams(batch_size=16),
                    chunk_size=64)
"""


def test_two_processes_extract_into_one_folder(tmp_path):
    """Both succeed (before: FileNotFoundError in 3 of 3 trials) and every chunk is intact."""
    out_dir = tmp_path / "activations"
    for _ in range(2):  # two rounds: the second also races on the prepared dataset
        writers = [
            subprocess.Popen([sys.executable, "-c", EXTRACT, str(tmp_path / "ws"), str(out_dir)], env=pipeline_env(),
                             stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        for writer in writers:
            _, errors = writer.communicate(timeout=300)
            assert writer.returncode == 0, errors[-3000:]
        assert damaged_files(out_dir) == {}
        assert read_activations(out_dir / "logits")[1].shape == (512, 10)
        for path in out_dir.rglob("part-*.parquet"):
            path.unlink()  # the next round writes every chunk again, both writers at once
