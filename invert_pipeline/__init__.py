"""invert-pipeline: the I/O, models, warehouse and CLI around :mod:`invert_core`.

``invert_core`` holds the algorithm (no files, no Prefect). This package turns datasets and
models into Parquet files, loads results into DuckDB and serves the ``invert`` command.
The Prefect tasks and flows that wire it together live in the top-level ``tasks`` and ``flows``
packages.
"""

__version__ = "0.1.0"
