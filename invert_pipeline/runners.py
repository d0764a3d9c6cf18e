"""Where the pipeline's parallel tasks run: threads on this machine, or a Dask cluster.

``runner="local"`` runs tasks in a thread pool with one thread per core. The heavy work of a task
(torch forward passes, the matrix products and sorts of the INVERT search in numpy/torch) runs
in native code that releases the GIL, so threads keep every core busy without copying
activations between processes. ``runner="dask"`` runs them through ``prefect_dask.DaskTaskRunner``
on the scheduler at ``dask_address``, or on a local cluster started for the run.

:func:`run_slot` makes the runs of one model into one workspace take turns, whatever executor starts
them (``invert serve``, a work-pool worker, ``invert explain``): a Prefect global concurrency limit of 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # Prefect is imported by the runners that use it: `invert --help` lists RUNNER_NAMES
    from prefect.task_runners import TaskRunner

RunnerName = Literal["local", "dask"]
RUNNER_NAMES: tuple[RunnerName, ...] = ("local", "dask")


def make_task_runner(runner: RunnerName, *, dask_address: str | None = None) -> TaskRunner:
    """A fresh (not yet started) Prefect task runner.

    Parameters
    ----------
    runner : {"local", "dask"}
        ``"local"``: a thread pool with one thread per core. ``"dask"``: a Dask cluster.
    dask_address : str, optional
        Scheduler address (``"tcp://host:8786"``) of an existing Dask cluster; with ``runner="dask"``
        and no address, a local cluster with one single-threaded worker process per core is
        started and closed with the runner.
    """
    if runner == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        if dask_address is not None:
            raise ValueError(
                f"dask_address ({dask_address!r}) only applies with runner='dask'; pass runner='dask' or drop it"
            )
        return ThreadPoolTaskRunner(max_workers=os.cpu_count() or 1)
    elif runner == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address is not None:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs=_local_cluster_settings(),
        )
    else:
        raise ValueError(f"runner must be one of {RUNNER_NAMES}, got {runner!r}")


@contextmanager
def shared_dask_cluster(runner: RunnerName, dask_address: str | None) -> Iterator[str | None]:
    """The Dask scheduler address that every stage of one run should use.

    With ``runner="dask"`` and no address, starts one local cluster for the whole run (instead of
    one per stage) and yields its address; otherwise yields ``dask_address`` unchanged.
    """
    if runner not in RUNNER_NAMES:
        raise ValueError(f"runner must be one of {RUNNER_NAMES}, got {runner!r}")
    if runner != "dask" or dask_address is not None:
        yield dask_address
        return
    from distributed import LocalCluster

    with LocalCluster(**_local_cluster_settings()) as cluster:
        yield cluster.scheduler_address


def _local_cluster_settings() -> dict:
    """A local Dask cluster: one single-threaded worker process per core (torch and numpy use the rest), its
    dashboard on a free loopback port (never the fixed 8787, which another cluster or program may hold)."""
    return {"n_workers": os.cpu_count() or 1, "threads_per_worker": 1, "dashboard_address": "127.0.0.1:0"}


def run_slot_name(model_name: str, workspace: str) -> str:
    """The name of the Prefect global concurrency limit that serializes the runs of the model ``model_name`` into the
    workspace folder ``workspace`` (an absolute path): ``invert-run-<digest of the two>``."""
    import hashlib

    for field, value in (("model_name", model_name), ("workspace", workspace)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"`{field}` must be a non-empty string, got {value!r}")
    return "invert-run-" + hashlib.sha256(f"{model_name}\n{workspace}".encode()).hexdigest()[:16]


@contextmanager
def run_slot(model_name: str, workspace: str) -> Iterator[str]:
    """Hold the one slot of the global concurrency limit :func:`run_slot_name` (created with a limit of 1 when
    missing) for the block: a second run of the model into the workspace, from any executor, waits for it.

    Yields the limit's name. The slot is leased and renewed by Prefect while the block runs, so a run that
    dies frees it once its lease expires (Prefect's default, 300 s).
    """
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists

    name = run_slot_name(model_name, workspace)
    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, limit=1)
        except ObjectAlreadyExists:  # another run created it between our read and our create
            pass
    with concurrency(name, occupy=1, strict=True):
        yield name
