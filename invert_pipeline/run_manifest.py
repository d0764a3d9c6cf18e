"""The run manifest (``runs/<run_id>/run.json``, docs/ARCHITECTURE.md) as a document, built from what
the stages returned. ``tasks.runs.write_manifest_task`` adds the times and status and writes it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from invert_pipeline.specs import ExtractionParams, SearchParams
from invert_pipeline.workspace import Workspace


def build_run_manifest(
    root: Workspace,
    *,
    run_id: str,
    model: Mapping[str, object],
    dataset_name: str,
    dataset_fingerprint: str,
    dataset_dir: str | os.PathLike,
    search: SearchParams,
    extraction: ExtractionParams,
    code_version: str,
    layer_widths: Mapping[str, int],
    activation_dirs: Mapping[str, str | os.PathLike],
    search_outputs: Mapping[str, Mapping[str, str | os.PathLike]],
    influence_path: str | os.PathLike,
) -> dict:
    """The manifest of ``run_id`` without its times and status; every path relative to ``root``.

    ``layer_widths``, ``activation_dirs`` and ``search_outputs`` (``{"explanations", "atomic_scores"}``
    paths) are keyed by layer name, in the run's layer order.
    """
    return {
        "run_id": run_id,
        "model": dict(model),
        "dataset": {"name": dataset_name, "fingerprint": dataset_fingerprint, "dir": root.relative(dataset_dir)},
        "parameters": {"search": search.model_dump(mode="json"), "extraction": extraction.model_dump(mode="json")},
        "code_version": code_version,
        "layers": [
            {
                "name": layer,
                "n_neurons": int(width),
                "activations": root.relative(activation_dirs[layer]),
                "explanations": root.relative(search_outputs[layer]["explanations"]),
                "atomic_scores": root.relative(search_outputs[layer]["atomic_scores"]),
            }
            for layer, width in layer_widths.items()
        ],
        "neuron_influence": root.relative(influence_path),
        "report": root.relative(root.report_index([run_id])),
    }
