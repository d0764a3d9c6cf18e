"""The process-wide state a command may change, put back when it returns.

A command sets environment variables (Prefect's defaults, the watchdog's owner token) and may
reformat the root logger's handlers (``invert explain`` shows task errors without their
tracebacks). :func:`restored_process_state` wraps a command in the entry function
(:func:`invert_pipeline.cli.main`), so that calling ``main`` from Python leaves the caller's
environment and logging as they were.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator


@contextlib.contextmanager
def restored_process_state() -> Iterator[None]:
    """On exit, restore ``os.environ`` and the root logger's handlers, their formatters and filters as on entry."""
    environment = dict(os.environ)
    root = logging.getLogger()
    handlers = list(root.handlers)
    formatters = [handler.formatter for handler in handlers]
    filters = [list(handler.filters) for handler in handlers]
    try:
        yield
    finally:
        for key in set(os.environ) - set(environment):
            del os.environ[key]
        for key, value in environment.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        root.handlers[:] = handlers
        for handler, formatter, kept in zip(handlers, formatters, filters, strict=True):
            handler.setFormatter(formatter)
            handler.filters[:] = kept
