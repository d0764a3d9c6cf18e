"""Progress of a stage's tasks: a progress artifact on the flow run, and a progress bar in a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed
from rich.console import Console
from rich.progress import Progress


def results_with_progress(futures: Iterable[PrefectFuture], description: str) -> list:
    """Wait for ``futures``, updating a progress artifact (and, in a terminal, a progress bar) as each
    finishes; results in input order.

    Raises the first failure, after the progress artifact shows how far the stage got.
    """
    futures = list(futures)
    artifact_id = create_progress_artifact(progress=0.0, description=description)
    with _terminal_progress(description, len(futures)) as advance:
        for done, _ in enumerate(as_completed(futures), start=1):
            update_progress_artifact(artifact_id, progress=100.0 * done / len(futures))
            advance()
    return [future.result() for future in futures]


@contextlib.contextmanager
def _terminal_progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar on standard error when it is a terminal; yields the function that advances it."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    with Progress(*Progress.get_default_columns(), console=Console(stderr=True)) as progress:
        task_id = progress.add_task(description, total=total)
        yield lambda: progress.advance(task_id)
