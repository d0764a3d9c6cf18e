"""A failed flow run's error in its logs once.

Prefect's engine logs the exception a flow raises where it happens ("Encountered exception during execution",
with its traceback), and, where a runner or worker runs the flow in a process of its own (``invert serve``, a
work pool), again as the exception leaves the engine ("Engine execution exited with unexpected exception", the
same exception with the same traceback). :func:`log_each_failure_once` drops that repeat from the run's logs, in
the serving process's output and in the API alike; a failure logged nowhere before keeps its record.
"""

from __future__ import annotations

import collections
import logging

# The flow run logger's records of one failure: where it is raised, and where it leaves the engine.
RAISED = "Encountered exception during execution"
REPEATED = "Engine execution exited with unexpected exception"
FLOW_RUN_LOGGER = "prefect.flow_runs"


class _EachFailureOnce(logging.Filter):
    """Refuses a :data:`REPEATED` record of an exception a :data:`RAISED` record has carried.

    Exceptions are known by identity and text (``id``, ``repr``) of the last few raised, so that no exception,
    with its traceback and the frames it holds, is kept alive by the filter.
    """

    def __init__(self) -> None:
        super().__init__()
        self._raised: collections.deque[tuple[int, str]] = collections.deque(maxlen=8)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        error = record.exc_info[1]
        message = record.getMessage()
        if message.startswith(RAISED):
            self._raised.append((id(error), repr(error)))
            return True
        return not (message.startswith(REPEATED) and (id(error), repr(error)) in self._raised)


def log_each_failure_once() -> None:
    """Drop the engine's repeat of a flow run's failure from the flow run logger, in this process (once per
    process: a second call changes nothing). Called by a flow as it starts, which is in the process that runs it."""
    logger = logging.getLogger(FLOW_RUN_LOGGER)
    if not any(isinstance(existing, _EachFailureOnce) for existing in logger.filters):
        logger.addFilter(_EachFailureOnce())
