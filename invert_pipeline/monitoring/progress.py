"""Progress of a stage's tasks: a progress artifact on the flow run whose description counts what is done
(``searching 5 layers: layers 3/5, neurons 1,024/4,096``), and a progress bar in a terminal.

A stage's work is a plan of *parts* (the layers of the search, the sample shards of the extraction, the one
dataset, run or report of the other stages) each of some *units* (neurons, samples; one for a part that is
not counted finer). Its tasks finish pieces of the parts (a layer's neuron chunks, a whole shard), in any order:
the artifact's percentage is the share of the units done, and a part counts as done once all its units are.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed
from rich.console import Console
from rich.progress import Progress


class StageProgress:
    """The progress artifact of one stage, created at 0% on the calling flow run (or task run).

    Parameters
    ----------
    title : what the stage does, e.g. ``"searching 3 layers"``.
    plan : part name -> its number of units (layer -> neurons); at least one part, each of at least one unit.
    parts, units : the plural nouns the description counts them by (``"layers"``, ``"neurons"``); ``units=None``
        counts parts only (a part of one unit).
    """

    def __init__(self, title: str, plan: Mapping[str, int], parts: str, units: str | None = None):
        if not plan or min(plan.values()) < 1:
            raise ValueError(f"a stage's plan needs at least one part, each of at least one unit; got {dict(plan)}")
        if units is None and max(plan.values()) != 1:
            raise ValueError(f"parts of more than one unit need the units' name; got {dict(plan)}")
        self.title, self.parts, self.units = title, parts, units
        self._plan = dict(plan)
        self._done = dict.fromkeys(plan, 0)
        self._details: str | None = None
        self.artifact_id = create_progress_artifact(progress=0.0, description=self.description())

    def description(self) -> str:
        """``"<title>: <parts> done/total[, <units> done/total][; <details>]"``, with thousands separators."""
        finished = sum(self._done[part] == total for part, total in self._plan.items())
        counts = f"{self.parts} {finished:,}/{len(self._plan):,}"
        if self.units is not None:
            counts += f", {self.units} {sum(self._done.values()):,}/{sum(self._plan.values()):,}"
        return f"{self.title}: {counts}" + ("" if self._details is None else f"; {self._details}")

    def advance(self, part: str, units: int | None = None, *, details: str | None = None) -> None:
        """Count ``units`` more of ``part`` done (``None``: all of its units) and update the artifact; ``details``
        (what the work found, such as ``"36 samples, 5 concepts"``) follow the counts from then on."""
        units = self._plan.get(part, 0) - self._done.get(part, 0) if units is None else units
        if part not in self._plan or units < 1 or self._done[part] + units > self._plan[part]:
            raise ValueError(
                f"cannot count {units} more units of part {part!r} (done {self._done.get(part)} of "
                f"{self._plan.get(part)}); parts: {', '.join(self._plan)}"
            )
        self._done[part] += units
        if details is not None:
            self._details = details
        progress = 100.0 * sum(self._done.values()) / sum(self._plan.values())
        update_progress_artifact(self.artifact_id, progress=progress, description=self.description())

    def finish(self) -> None:
        """Count every part done at once (a stage whose one task does all of them) and update the artifact once."""
        self._done = dict(self._plan)
        update_progress_artifact(self.artifact_id, progress=100.0, description=self.description())


def results_with_progress(
    futures: Iterable[PrefectFuture], progress: StageProgress, shares: Sequence[tuple[str, int]]
) -> list:
    """Wait for ``futures``, counting ``shares[i] = (part, units)`` done on ``progress`` (and, in a terminal,
    advancing a progress bar) as future ``i`` finishes; results in input order.

    Raises the first failure, after the progress artifact shows how far the stage got.
    """
    futures = list(futures)
    if len(shares) != len(futures):
        raise ValueError(f"one share per future: {len(futures)} futures, {len(shares)} shares")
    share_of = {id(future): share for future, share in zip(futures, shares)}  # lengths checked above
    with _terminal_progress(progress.title, len(futures)) as advance:
        for future in as_completed(futures):
            future.wait()  # done: takes its final state, which .state would otherwise read from the API
            if future.state.is_completed():  # a failed task's share stays to do
                progress.advance(*share_of[id(future)])
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
