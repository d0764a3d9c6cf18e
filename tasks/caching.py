"""Content-keyed caching for the pipeline's tasks.

A task's cache key is built from its name, its inputs (the specs as JSON, fingerprints of the
dataset and of the model weights, paths that are themselves named by content keys) and the
source code of the modules it runs (:func:`invert_pipeline.workspace.source_version`). It is never
"the output file exists": a changed input or a changed line of code gives a new key.

Results are persisted in the workspace (``<workspace>/.prefect/results``, JSON), so the cache
lives and dies with the files it describes and survives across processes. One safeguard goes
the other way: if a task's expected output files have been deleted or damaged (they fail their
digest record, see :func:`invert_pipeline.workspace.is_intact`), :func:`in_workspace` asks Prefect
to run the task again (``refresh_cache``) instead of returning paths to files that are not there
or not the ones written; a damaged file is named in a warning. And a result is used only when it
names the very files the task writes (:func:`expect_outputs`): a cached result edited or copied in
the result store could otherwise point at another run's files, intact on their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prefect import Task
from prefect.cache_policies import CachePolicy
from pydantic import BaseModel

from invert_pipeline.workspace import fingerprint, is_intact, source_version

RESULTS_FOLDER = Path(".prefect") / "results"

TaskT = TypeVar("TaskT", bound=Task)


@dataclass
class ContentKey(CachePolicy):
    """Cache key: the task's name, its inputs and the source version of ``modules``.

    Parameters
    ----------
    modules : tuple of str
        Dotted names of the modules whose code decides the task's output (a package name covers
        every module in it).
    ignore : tuple of str
        Inputs left out of the key (such as a timestamp that describes, but does not change, the
        output).
    """

    modules: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str:
        kept = {name: _plain(value) for name, value in inputs.items() if name not in self.ignore}
        return fingerprint(task_ctx.task.name, kept, code_version(self.modules))


def code_version(modules: Iterable[str]) -> str:
    """The source version of the named modules (see :func:`invert_pipeline.workspace.source_version`)."""
    return source_version(modules)


def in_workspace(
    task: TaskT,
    workspace: str | os.PathLike,
    *,
    outputs: Iterable[str | os.PathLike] = (),
    outputs_complete: bool = True,
) -> TaskT:
    """``task`` with its results persisted in ``workspace``, recomputed if its outputs are gone or damaged.

    Parameters
    ----------
    task : prefect.Task
        A task whose cache policy is a :class:`ContentKey`.
    workspace : path
        The workspace folder; results go to ``<workspace>/.prefect/results``.
    outputs : iterable of paths
        Workspace files the task writes. When one is missing or fails its digest record, a cached
        result would point at nothing or at wrong data, so the task runs again and overwrites it.
    outputs_complete : bool
        The caller's own check of outputs that are not single paths (False: run again).
    """
    missing = not outputs_complete or not all([is_intact(path) for path in outputs])  # every damaged one logged
    return task.with_options(
        result_storage=Path(workspace).resolve() / RESULTS_FOLDER,
        refresh_cache=True if missing else None,
    )


class ForeignResultError(RuntimeError):
    """A task's result (perhaps one Prefect cached) names other files than those the task writes."""


ResultT = TypeVar("ResultT")


def expect_outputs(result: ResultT, expected: object, what: str, workspace: str | os.PathLike) -> ResultT:
    """``result`` when it names exactly the ``expected`` output paths (a path, or a list or mapping of them).

    The expected files were checked against their digest records before the task ran
    (:func:`in_workspace`), so a result equal to them points at intact files of this run. Any other
    result (one edited or copied in Prefect's result store) raises :class:`ForeignResultError`
    naming the task and the store.
    """
    if _plain(result) != _plain(expected):
        store = Path(workspace).resolve() / RESULTS_FOLDER
        raise ForeignResultError(
            f"{what}: the task's result names {_plain(result)!r}, not the files it writes, {_plain(expected)!r}: "
            f"a result in Prefect's result store {store} was edited or copied from another run. Delete that "
            "folder and run again (every task then runs again and rewrites its files)"
        )
    return result


def _plain(value: Any) -> Any:
    """JSON-serialisable form of a task input (pydantic specs as their JSON, paths as text)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
