"""Errors that say what happened: running out of memory, however the library it happened in words it.

Under a memory limit, Python, torch, DuckDB and the dynamic loader each fail in words of their own
(``MemoryError``, ``CUDA out of memory``, ``failed to map segment from shared object``, ``can't
start new thread``); the command's one line of error says "out of memory" for all of them.
"""

from __future__ import annotations

import errno

# What the libraries say when an allocation, a thread or a shared library's mapping fails for lack of memory.
_OUT_OF_MEMORY_WORDS = (
    "out of memory",
    "cannot allocate memory",
    "failed to map segment",
    "can't start new thread",
    "could not allocate",
    "failed to allocate",
)


def out_of_memory_advice(error: BaseException) -> str | None:
    """The error line for ``error`` when it is running out of memory (``None`` otherwise), with what to lower."""
    text = str(error)
    if not (
        isinstance(error, MemoryError)
        or getattr(error, "errno", None) == errno.ENOMEM
        or type(error).__name__ in ("OutOfMemoryError", "OutOfMemoryException")
        or any(words in text.lower() for words in _OUT_OF_MEMORY_WORDS)
    ):
        return None
    return (
        f"out of memory ({type(error).__name__}: {text.splitlines()[0] if text else 'no details'}). Give the process "
        "more memory, or ask for less: a smaller --batch-size, --num-workers or --memory-budget for a run, "
        "--memory-limit for a query"
    )
