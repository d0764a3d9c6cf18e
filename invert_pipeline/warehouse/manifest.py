"""Run manifests (``runs/<run_id>/run.json``): read, checked and resolved to absolute paths.

The manifest format is fixed in ``docs/ARCHITECTURE.md``; paths in it are relative to the workspace.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from invert_pipeline.warehouse.errors import WarehouseError
from invert_pipeline.workspace import Workspace, read_json


@dataclass(frozen=True)
class LayerFiles:
    """One explained layer of a run and where its search results are."""

    name: str
    n_neurons: int
    explanations: Path
    atomic_scores: Path


@dataclass(frozen=True)
class RunManifest:
    """What the warehouse loads for one run (every path absolute)."""

    run_id: str
    created_at: str | None  # the run's place in history (invert_pipeline.warehouse.history)
    sequence: int | None
    started_at: str | None
    finished_at: str | None
    status: str
    model_name: str | None
    model_version: str | None
    model_fingerprint: str | None
    dataset_name: str | None
    dataset_fingerprint: str
    dataset_dir: Path
    parameters: dict
    code_version: str | None
    report_path: str | None
    layers: tuple[LayerFiles, ...]
    neuron_influence: Path | None
    path: Path


def find_run_ids(workspace: str | os.PathLike) -> list[str]:
    """The ids of every run of ``workspace`` that has a manifest, sorted."""
    root = Workspace(workspace)
    if not root.root.is_dir():
        raise WarehouseError(f"workspace {root.root} does not exist: pass the folder `invert run` wrote to")
    return root.run_ids()


def read_manifest(workspace: str | os.PathLike, run_id: str) -> RunManifest:
    """Read and check the manifest of ``run_id``; errors name the file and the missing key."""
    if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id in (".", ".."):
        raise WarehouseError(f"`run_id` must be a run folder name under runs/, got {run_id!r}")
    root = Workspace(workspace)
    path = root.manifest(run_id)
    if not path.is_file():
        known = find_run_ids(workspace)
        raise WarehouseError(f"no run manifest {path}; runs in this workspace: {', '.join(known) or 'none'}")
    try:
        raw = read_json(path)
    except json.JSONDecodeError as error:
        raise WarehouseError(f"run manifest {path} is not valid JSON: {error}") from error
    where = f"run manifest {path}"
    if _required(raw, "run_id", str, where) != run_id:
        raise WarehouseError(f"{where} says run_id {raw['run_id']!r} but lives in the folder of {run_id!r}")
    model = _required(raw, "model", dict, where)
    dataset = _required(raw, "dataset", dict, where)
    layers = _required(raw, "layers", list, where)
    if not layers:
        raise WarehouseError(f"{where} lists no layers: a run explains at least one layer")
    names = [entry.get("name") if isinstance(entry, dict) else None for entry in layers]
    duplicated = sorted({name for name in names if name is not None and names.count(name) > 1})
    if duplicated:
        raise WarehouseError(f"{where} lists the layer(s) {duplicated} more than once")
    influence = raw.get("neuron_influence")
    return RunManifest(
        run_id=run_id,
        # Manifests written before runs had a place in history: their start stands for their creation.
        created_at=raw.get("created_at") or raw.get("started_at"),
        sequence=_optional(raw, "sequence", int, where),
        started_at=raw.get("started_at"),
        finished_at=raw.get("finished_at"),
        status=_required(raw, "status", str, where),
        model_name=model.get("name"),
        model_version=model.get("version"),
        model_fingerprint=model.get("fingerprint"),
        dataset_name=dataset.get("name"),
        dataset_fingerprint=_required(dataset, "fingerprint", str, f"{where} (dataset)"),
        dataset_dir=root.path(_required(dataset, "dir", str, f"{where} (dataset)")),
        parameters=raw.get("parameters") or {},
        code_version=raw.get("code_version"),
        report_path=raw.get("report"),
        layers=tuple(_layer(root, entry, f"{where} (layers[{index}])") for index, entry in enumerate(layers)),
        neuron_influence=root.path(influence) if influence else None,
        path=path,
    )


def _layer(root: Workspace, entry: object, where: str) -> LayerFiles:
    if not isinstance(entry, dict):
        raise WarehouseError(f"{where} must be an object, got {entry!r}")
    n_neurons = _required(entry, "n_neurons", int, where)
    if n_neurons < 1:
        raise WarehouseError(f"{where}: n_neurons must be at least 1, got {n_neurons}")
    return LayerFiles(
        name=_required(entry, "name", str, where),
        n_neurons=n_neurons,
        explanations=root.path(_required(entry, "explanations", str, where)),
        atomic_scores=root.path(_required(entry, "atomic_scores", str, where)),
    )


def _required(mapping: dict, key: str, kind: type, where: str):
    if key not in mapping or mapping[key] is None:
        raise WarehouseError(f"{where} lacks {key!r}: see the run manifest format in docs/ARCHITECTURE.md")
    return _optional(mapping, key, kind, where)


def _optional(mapping: dict, key: str, kind: type, where: str):
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WarehouseError(f"{where}: {key!r} must be a {kind.__name__}, got {value!r}")
    return value
