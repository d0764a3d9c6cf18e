"""The workspace folder: where every stage of the pipeline keeps its files, and how they are written.

Layout (all paths relative to the workspace root)::

    datasets/<dataset_fingerprint>/        samples, concepts, concept_edges, labels (.parquet), dataset.json
    activations/<activation_key>/<layer>/  part-<start>-<stop>.parquet chunks of [sample_id, neuron columns]
    search/<search_key>/<layer>.parquet    explanations of one layer (invert_core.explain output + layer)
    search/<search_key>/<layer>.atomic.parquet  atomic AUC of every neuron x concept
    runs/<run_id>/run.json                 the run manifest the warehouse loads (see docs/ARCHITECTURE.md)
    warehouse.duckdb                       the DuckDB warehouse, rebuilt from the Parquet files on demand
    reports/<run_id>/index.html            static HTML reports

Every file is written to a temporary name in its final folder and renamed into place, so a reader
never sees a half-written file and an interrupted run leaves only complete files behind. Files and
folders get the permissions of the user's umask, as ``open`` and ``mkdir`` give them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_WORKSPACE = Path("invert-workspace")


def fingerprint(*parts: object) -> str:
    """A stable hex digest (sha256, 32 hex characters) of JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def file_digest(path: str | os.PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def source_version(modules: Iterable[object]) -> str:
    """A digest of the source files of the given modules: changes whenever their code changes.

    Used as the "code version" part of cache keys, so that a change to the search code reruns the
    search but not the extraction.
    """
    digest = hashlib.sha256()
    for module in modules:
        path = Path(module.__file__)  # type: ignore[attr-defined]
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for file in files:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block succeeds.

    On an error (or a kill) the temporary file is removed (or left hidden as ``.<name>.*.tmp``), and
    ``path`` keeps whatever it held before.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(path)
    # Mode 0o666 less the umask, as open() gives (tempfile.mkstemp would make it 0o600 whatever the umask).
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def temporary_dir(path: str | os.PathLike) -> Path:
    """A new empty folder beside ``path`` (``.<name>.<random>.tmp``) to build ``path`` in, then rename.

    Its mode is 0o777 less the umask, as ``mkdir`` gives (``tempfile.mkdtemp`` would make it 0o700).
    The caller renames it onto ``path`` when complete, and removes it otherwise.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = _temporary_name(path)
    folder.mkdir()
    return folder


def _temporary_name(path: Path) -> Path:
    """A fresh hidden name beside ``path``: ``.<name>.<random>.tmp``."""
    return path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"


def atomic_write_parquet(table: pa.Table, path: str | os.PathLike, **write_options: object) -> Path:
    """Write ``table`` to ``path`` as Parquet, visible only once complete (write then rename).

    ``write_options`` go to :func:`pyarrow.parquet.write_table` (``compression``, ``row_group_size``...).
    """
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, **write_options)
    return Path(path)


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path``, visible only once complete (write then rename)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path``, visible only once complete (write then rename)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def atomic_write_json(value: object, path: str | os.PathLike) -> Path:
    """Write ``value`` as indented JSON, visible only once complete."""
    return atomic_write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", path)
