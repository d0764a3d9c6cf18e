"""The workspace folder: where every stage of the pipeline keeps its files, and how they are written.

Layout (all paths relative to the workspace root; :class:`Workspace` knows every one of them)::

    datasets/<dataset_fingerprint>/        samples, concepts, concept_edges, labels (.parquet), dataset.json
    activations/<activation_key>/<layer>/  part-<start>-<stop>.parquet chunks of [sample_id, neuron columns]
    search/<search_key>/<layer>.parquet    explanations of one layer (invert_core.explain output + layer)
    search/<search_key>/<layer>.atomic.parquet  atomic AUC of every neuron x concept
    search/<search_key>/<layer>.chunks/    <start>-<stop>[.atomic].parquet of a layer searched in neuron chunks
    runs/<run_id>/run.json                 the run manifest the warehouse loads (see docs/ARCHITECTURE.md)
    warehouse.duckdb                       the DuckDB warehouse, rebuilt from the Parquet files on demand
    reports/<run_id>/index.html            static HTML reports

Every file is written to a temporary name in its final folder and renamed into place, so a reader
never sees a half-written file and an interrupted run leaves only complete files behind. Files and
folders get the permissions of the user's umask, as ``open`` and ``mkdir`` give them.

Every file is also *verified*: its size, sha256 and place (its path in the workspace, such as
``search/<search_key>/logits.parquet``, whose folder is the content key of what wrote it) are
recorded at write time in a hidden ``.<name>.sha256`` beside it, and readers (:func:`read_parquet`,
:func:`read_json`, :func:`is_intact`) check the bytes they read and the place they read them from
against it. A file that fails (truncated, flipped bytes, no record, a file and record copied from
another place) counts as missing: the task that writes it runs again, and says so in the log.
``invert verify`` checks a whole workspace.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from invert_pipeline.faults import fault_point
from invert_pipeline.temporaries import remove_orphaned, target_name, temporary_name

if TYPE_CHECKING:  # pyarrow is imported where Parquet is read or written: `invert --help` needs none of it
    import pyarrow as pa

logger = logging.getLogger(__name__)

DEFAULT_WORKSPACE = Path("invert-workspace")
RECORD_SUFFIX = ".sha256"
WAREHOUSE_FILE = "warehouse.duckdb"  # with its write-ahead log warehouse.duckdb.wal
MANIFEST_FILE = "run.json"
REPORT_INDEX = "index.html"
# The folders of a workspace's root that hold its files (docs/ARCHITECTURE.md).
TOP_FOLDERS = ("datasets", "activations", "search", "runs", "reports")


@dataclass(frozen=True)
class DatasetFolder:
    """The files of one prepared dataset folder, ``datasets/<fingerprint>/`` (``Workspace.dataset_dir``), as
    laid out in ``docs/ARCHITECTURE.md``; nothing else spells them."""

    path: Path

    def __init__(self, path: str | os.PathLike):
        object.__setattr__(self, "path", Path(path))

    @property
    def info(self) -> Path:
        """``dataset.json``: fingerprint, spec, sizes, class names; written last."""
        return self.path / "dataset.json"

    @property
    def samples(self) -> Path:
        return self.path / "samples.parquet"

    @property
    def concepts(self) -> Path:
        return self.path / "concepts.parquet"

    @property
    def concept_edges(self) -> Path:
        return self.path / "concept_edges.parquet"

    @property
    def labels(self) -> Path:
        return self.path / "labels.parquet"

    @property
    def excluded(self) -> Path:
        return self.path / "excluded.parquet"

    def tables(self) -> tuple[Path, ...]:
        """The five tables, written before ``dataset.json``: the folder is complete when all six are intact."""
        return (self.samples, self.concepts, self.concept_edges, self.labels, self.excluded)


@dataclass(frozen=True)
class Workspace:
    """The paths of a workspace folder, as laid out in ``docs/ARCHITECTURE.md``; nothing else spells them.

    ``Workspace(root)`` takes the folder as given (relative or absolute); every path is under it.
    """

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def warehouse(self) -> Path:
        """``warehouse.duckdb``: the DuckDB warehouse."""
        return self.root / WAREHOUSE_FILE

    def dataset_dir(self, dataset_fp: str) -> Path:
        """``datasets/<dataset_fp>``: a prepared dataset's tables and ``dataset.json``."""
        return self.root / "datasets" / dataset_fp

    def activations_dir(self, activation_key: str) -> Path:
        """``activations/<activation_key>``: one folder per extracted layer."""
        return self.root / "activations" / activation_key

    def layer_activations_dir(self, activation_key: str, layer: str) -> Path:
        """``activations/<activation_key>/<layer>``: one layer's Parquet chunks."""
        return self.activations_dir(activation_key) / layer

    def search_dir(self, search_key: str) -> Path:
        """``search/<search_key>``: the search outputs of every layer."""
        return self.root / "search" / search_key

    def explanations(self, search_key: str, layer: str) -> Path:
        """``search/<search_key>/<layer>.parquet``: one layer's explanations."""
        return self.search_dir(search_key) / f"{layer}.parquet"

    def atomic_scores(self, search_key: str, layer: str) -> Path:
        """``search/<search_key>/<layer>.atomic.parquet``: the AUC of every neuron and concept of a layer."""
        return self.search_dir(search_key) / f"{layer}.atomic.parquet"

    def search_chunks_dir(self, search_key: str, layer: str) -> Path:
        """``search/<search_key>/<layer>.chunks``: the outputs of a layer searched in neuron chunks, before the merge."""
        return self.search_dir(search_key) / f"{layer}.chunks"

    def chunk_explanations(self, search_key: str, layer: str, neurons: tuple[int, int]) -> Path:
        """``search/<search_key>/<layer>.chunks/<start>-<stop>.parquet``: the explanations of neurons ``[start, stop)``.

        ``start`` and ``stop`` are written with 9 digits, so the chunks sort in neuron order.
        """
        start, stop = neurons
        return self.search_chunks_dir(search_key, layer) / f"{start:09d}-{stop:09d}.parquet"

    def chunk_atomic_scores(self, search_key: str, layer: str, neurons: tuple[int, int]) -> Path:
        """``search/<search_key>/<layer>.chunks/<start>-<stop>.atomic.parquet``: the atomic AUC of neurons ``[start, stop)``."""
        start, stop = neurons
        return self.search_chunks_dir(search_key, layer) / f"{start:09d}-{stop:09d}.atomic.parquet"

    @property
    def runs_dir(self) -> Path:
        """``runs``: one folder per run."""
        return self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        """``runs/<run_id>``: a run's own files."""
        return self.runs_dir / run_id

    def manifest(self, run_id: str) -> Path:
        """``runs/<run_id>/run.json``: the run manifest the warehouse loads."""
        return self.run_dir(run_id) / MANIFEST_FILE

    def neuron_influence(self, run_id: str) -> Path:
        """``runs/<run_id>/neuron_influence.parquet``: the linear weights between a run's layers."""
        return self.run_dir(run_id) / "neuron_influence.parquet"

    def regressions_dir(self, run_id: str) -> Path:
        """``runs/<run_id>/regressions``: the regressions the gate found for a run, one file per earlier run."""
        return self.run_dir(run_id) / "regressions"

    def regression(self, run_id: str, against: str) -> Path:
        """``runs/<run_id>/regressions/<against>.json``: the regression of ``run_id`` against the run ``against``."""
        return self.regressions_dir(run_id) / f"{against}.json"

    def run_ids(self) -> list[str]:
        """The ids of the runs that have a manifest, sorted."""
        return sorted(path.parent.name for path in self.runs_dir.glob(f"*/{MANIFEST_FILE}"))

    @property
    def reports_dir(self) -> Path:
        """``reports``: the static HTML reports (served by ``invert report --serve``)."""
        return self.root / "reports"

    def report_dir(self, run_ids: Sequence[str]) -> Path:
        """``reports/<run ids joined by '+'>``: the report of one run, or of runs compared in order."""
        return self.reports_dir / "+".join(run_ids)

    def report_index(self, run_ids: Sequence[str]) -> Path:
        """``reports/<run ids joined by '+'>/index.html``."""
        return self.report_dir(run_ids) / REPORT_INDEX

    def path(self, relative: str) -> Path:
        """A path a manifest records (relative to the workspace) under this workspace's root."""
        return self.root / relative

    def relative(self, path: str | os.PathLike) -> str:
        """``path`` (under the root) as a manifest records it: relative to the workspace, with ``/``."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()


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


def source_version(module_names: Iterable[str], folder: str | os.PathLike | None = None) -> str:
    """A digest of the source files of the named modules (a package: every module in it): changes
    whenever their code changes. ``folder``: see :func:`find_module_spec`.

    Used as the "code version" part of cache keys, so that a change to the search code reruns the
    search but not the extraction. The files are found without importing the modules, so a cache
    key never loads torch or the other libraries a module needs only to compute.
    """
    digest = hashlib.sha256()
    for name in module_names:
        for file in module_source_files(name, folder):
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def module_source_files(name: str, folder: str | os.PathLike | None = None) -> list[Path]:
    """The ``.py`` files of module ``name`` (every one below a package's folder), found without importing it
    (``folder``: see :func:`find_module_spec`).

    Raises
    ------
    ModuleNotFoundError
        When there is no module of that name.
    """
    spec = find_module_spec(name, folder)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    if spec.submodule_search_locations:
        return sorted(file for location in spec.submodule_search_locations for file in Path(location).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


def find_module_spec(name: str, folder: str | os.PathLike | None = None) -> importlib.machinery.ModuleSpec | None:
    """Where module ``name`` (dotted) is, without importing it: in ``folder`` when its top-level module or
    package lies there (:func:`top_module_in`), else on ``sys.path``; ``None`` when nowhere.

    ``folder`` is the user's folder a run was started in (``ModelSpec.code_folder``), which a process
    elsewhere (a Dask worker) does not have on its ``sys.path``.
    """
    spec = None if folder is None else top_module_in(name, folder)
    if spec is None:
        return importlib.util.find_spec(name)
    for part in name.split(".")[1:]:
        if not spec.submodule_search_locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(f"{spec.name}.{part}", list(spec.submodule_search_locations))
        if spec is None:
            return None
    return spec


def top_module_in(name: str, folder: str | os.PathLike) -> importlib.machinery.ModuleSpec | None:
    """The spec of the top-level module or package of module ``name`` (dotted) when it lies in ``folder``
    (``folder/<top>.py`` or ``folder/<top>/__init__.py``; a folder without ``__init__.py`` is not one), found
    without importing it; else ``None``."""
    spec = importlib.machinery.PathFinder.find_spec(name.split(".", 1)[0], [str(folder)])
    return spec if spec is not None and spec.origin is not None else None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, record: bool = True, requires: Iterable[str] = ()) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block succeeds.

    With ``record`` (the default, for workspace files) the file's size and digest are recorded
    beside it (:func:`record_path`) before it is renamed into place, so a reader can tell that its
    bytes are the ones written; ``requires`` names sibling files that must be intact for this one
    to be (see :func:`check_file`). On an error the temporary file is removed, and ``path`` keeps
    whatever it held before; a kill leaves it hidden as ``.<name>.<host>.<pid>.<token>.tmp``, removed
    by the next writer of ``path`` once its owner is gone (:mod:`invert_pipeline.temporaries`). A full
    disk is an ``OSError`` (``ENOSPC``) that names ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned(path.parent, path.name)
    temporary = temporary_name(path)
    try:
        # Mode 0o666 less the umask, as open() gives (tempfile.mkstemp would make it 0o600 whatever the umask).
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield temporary
        if record:
            _write_record(path, temporary, tuple(requires))
        fault_point(f"rename:{path.name}")
        os.replace(temporary, path)
        fault_point(f"renamed:{path.name}")
    except OSError as error:
        if not _is_disk_full(error):
            raise
        raise OSError(
            errno.ENOSPC,
            f"no space left on the device to write {path} ({error}); free space there or give the workspace a "
            "larger disk (--workspace), then run again: what is complete is kept",
        ) from error
    finally:
        temporary.unlink(missing_ok=True)


def _is_disk_full(error: OSError) -> bool:
    """Whether ``error`` says the disk (or the user's quota) is full; pyarrow's errors carry no errno, only the text."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(error)


def temporary_dir(path: str | os.PathLike) -> Path:
    """A new empty folder beside ``path`` (``.<name>.<host>.<pid>.<token>.tmp``) to build ``path`` in.

    Its mode is 0o777 less the umask, as ``mkdir`` gives (``tempfile.mkdtemp`` would make it 0o700).
    The caller renames it onto ``path`` when complete, and removes it otherwise; leftovers of
    builders that are gone are removed here first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned(path.parent, path.name)
    folder = temporary_name(path)
    folder.mkdir()
    return folder


def atomic_write_parquet(
    table: pa.Table, path: str | os.PathLike, *, record: bool = True, **write_options: object
) -> Path:
    """Write ``table`` to ``path`` as Parquet, visible only once complete (write then rename).

    ``write_options`` go to :func:`pyarrow.parquet.write_table` (``compression``, ``row_group_size``...).
    """
    import pyarrow.parquet as pq

    with atomic_path(path, record=record) as temporary:
        pq.write_table(table, temporary, **write_options)
    return Path(path)


def atomic_write_text(text: str, path: str | os.PathLike, *, record: bool = True) -> Path:
    """Write ``text`` to ``path``, visible only once complete (write then rename)."""
    with atomic_path(path, record=record) as temporary:
        temporary.write_text(text)
    return Path(path)


def atomic_write_bytes(data: bytes, path: str | os.PathLike, *, record: bool = True) -> Path:
    """Write ``data`` to ``path``, visible only once complete (write then rename)."""
    with atomic_path(path, record=record) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def atomic_write_json(
    value: object, path: str | os.PathLike, *, record: bool = True, requires: Iterable[str] = ()
) -> Path:
    """Write ``value`` as indented JSON, visible only once complete; ``requires``: see :func:`atomic_path`."""
    text = json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"
    with atomic_path(path, record=record, requires=requires) as temporary:
        temporary.write_text(text)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Verified files: each workspace file's size and sha256, recorded at write time, checked on read.


class DamagedFileError(Exception):
    """A workspace file that is missing or truncated, differs from its digest record, or has none.

    The message names the file, what is wrong and the fix: run again (the file is recomputed) or
    list every damaged file with ``invert verify``.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"{self.path}: {problem}. Run the pipeline again to recompute it (a damaged file counts as missing), "
            "or list every damaged file of the workspace with `invert verify --workspace WORKSPACE`"
        )


def workspace_place(path: str | os.PathLike) -> str:
    """Where ``path`` lies in its workspace: its path from the nearest enclosing top folder (:data:`TOP_FOLDERS`),
    such as ``search/<search_key>/logits.parquet``; just its name when no top folder encloses it.

    A folder being built under a temporary name counts as the folder it becomes, so a file's place is
    the same when it is written in a dataset folder under construction and once the folder is in place.
    The place does not depend on where the workspace itself lies, so a moved workspace keeps its records.
    """
    parts = [target_name(part) for part in Path(path).parts]
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] in TOP_FOLDERS:
            return "/".join(parts[index:])
    return parts[-1]


def record_path(path: str | os.PathLike) -> Path:
    """Where the digest record of ``path`` lies: ``.<name>.sha256`` beside it."""
    path = Path(path)
    return path.parent / f".{path.name}{RECORD_SUFFIX}"


def check_file(path: str | os.PathLike) -> str | None:
    """What is wrong with the workspace file ``path`` (``None``: it is intact).

    Intact means: its digest record exists, the file has the recorded size and sha256, and every
    file the record ``requires`` is intact too. Reads the whole file.
    """
    try:
        _verified_bytes(Path(path))
    except DamagedFileError as error:
        return error.problem
    return None


def is_intact(path: str | os.PathLike) -> bool:
    """Whether ``path`` is intact (:func:`check_file`); a damaged file is logged as a warning.

    A missing file is simply not intact. A file that exists but fails is reported, since the
    caller will treat it as missing and compute it again.
    """
    problem = check_file(path)
    if problem is not None and Path(path).exists():
        logger.warning("%s is damaged (%s): treated as missing, it will be computed again", path, problem)
    return problem is None


def read_verified_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of ``path``, checked against its digest record (:class:`DamagedFileError` if they differ)."""
    return _verified_bytes(Path(path))


def read_parquet(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pa.Table:
    """A verified Parquet file of the workspace (``columns`` only, if given)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = read_verified_bytes(path)
    try:
        return pq.read_table(pa.BufferReader(data), columns=None if columns is None else list(columns))
    except (pa.ArrowInvalid, OSError) as error:  # written by another tool, or its schema lacks a column
        raise DamagedFileError(path, f"not a Parquet file this pipeline can read ({error})") from error


def read_json(path: str | os.PathLike) -> object:
    """A verified JSON file of the workspace."""
    return json.loads(read_verified_bytes(path))


def _write_record(path: Path, written: Path, requires: tuple[str, ...]) -> None:
    document = {"size": written.stat().st_size, "sha256": file_digest(written), "place": workspace_place(path)}
    if requires:
        document["requires"] = list(requires)
    atomic_write_text(json.dumps(document, sort_keys=True) + "\n", record_path(path), record=False)


def _verified_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DamagedFileError(path, "the file is missing") from None
    except IsADirectoryError:
        raise DamagedFileError(path, "a folder where a file should be") from None
    try:
        document = json.loads(record_path(path).read_text())
        size, digest, place = document["size"], document["sha256"], document["place"]
        requires = document.get("requires", [])
    except FileNotFoundError:
        raise DamagedFileError(path, "it has no digest record (written by hand or by an older version)") from None
    except KeyError as missing:
        raise DamagedFileError(path, f"its digest record {record_path(path).name} lacks {missing} (written by an older version)") from None
    except (ValueError, TypeError):
        raise DamagedFileError(path, f"its digest record {record_path(path).name} is damaged") from None
    if place != workspace_place(path):
        raise DamagedFileError(
            path, f"its digest record was written for {place}, not for {workspace_place(path)}: a file copied from elsewhere"
        )
    if len(data) != size:
        raise DamagedFileError(path, f"it holds {len(data)} bytes, not the {size} written (truncated or changed)")
    if hashlib.sha256(data).hexdigest() != digest:
        raise DamagedFileError(path, "its bytes differ from the digest recorded when it was written")
    for name in requires:
        problem = check_file(path.parent / name)
        if problem is not None:
            raise DamagedFileError(path, f"it goes with {name}, which is damaged ({problem})")
    return data


def damaged_files(workspace: str | os.PathLike) -> dict[Path, str]:
    """Every file of ``workspace`` that is not intact, with what is wrong (:func:`check_file`).

    Checks every visible file but the warehouse (a DuckDB file, rebuilt from the others by
    ``invert warehouse rebuild``); hidden files and folders (digest records, temporaries, Prefect's
    results) are not workspace files.
    """
    root = Path(workspace)
    damaged = {}
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or (path.parent == root and name.startswith(WAREHOUSE_FILE)):
                continue
            problem = check_file(path)
            if problem is not None:
                damaged[path] = problem
    return damaged
