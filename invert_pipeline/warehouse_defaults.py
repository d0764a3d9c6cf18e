"""The warehouse's defaults that the command line offers, in a module that imports nothing, so that building
the ``invert`` parser (and ``--help``) needs neither DuckDB nor pyarrow.

``invert_pipeline.warehouse`` uses these same values.
"""

from __future__ import annotations

from typing import Literal, get_args

OutputFormat = Literal["table", "csv", "json", "parquet"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
DEFAULT_WAIT_S = 30.0  # how long a writer waits for another connection to release the file, seconds
DEFAULT_TIME_LIMIT_S = 20.0  # how long a read query may run (below DEFAULT_WAIT_S: a waiting writer proceeds)
DEFAULT_MEMORY_LIMIT = "1GiB"  # DuckDB's memory_limit for a read query, and the cap on its result
