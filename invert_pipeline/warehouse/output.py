"""Query results as text: an aligned table, CSV or JSON, or a Parquet file."""

from __future__ import annotations

import io
import json
import math
import os
from datetime import date, datetime
import pyarrow as pa
import pyarrow.csv as pacsv

from invert_pipeline.warehouse.errors import WarehouseError
from invert_pipeline.warehouse_defaults import OUTPUT_FORMATS, OutputFormat
from invert_pipeline.workspace import atomic_write_parquet, atomic_write_text



def render(table: pa.Table, output_format: OutputFormat) -> str:
    """``table`` as text in ``output_format`` (every format but parquet)."""
    if output_format == "table":
        return format_table(table)
    if output_format == "csv":
        return _csv(table)
    if output_format == "json":
        rows = [{key: _finite(value) for key, value in row.items()} for row in table.to_pylist()]
        return json.dumps(rows, indent=2, default=_json_value, allow_nan=False) + "\n"
    if output_format == "parquet":
        raise WarehouseError("the parquet format is binary: give a file with --output FILE")
    raise WarehouseError(f"`output_format` must be one of {OUTPUT_FORMATS}, got {output_format!r}")


def write_result(table: pa.Table, output_format: OutputFormat, path: str | os.PathLike) -> None:
    """Write ``table`` to ``path`` in ``output_format``, visible only once complete."""
    if output_format == "parquet":
        atomic_write_parquet(table, path, record=False)  # the user's file, not the workspace's
    else:
        atomic_write_text(render(table, output_format), path, record=False)


def format_table(table: pa.Table) -> str:
    """An aligned text table: numbers right-aligned, text left-aligned, NULL for missing values."""
    names = table.column_names
    columns = [[_cell(value) for value in table.column(name).to_pylist()] for name in names]
    right = [pa.types.is_integer(field.type) or pa.types.is_floating(field.type) for field in table.schema]
    widths = [max([len(name), *map(len, cells)]) for name, cells in zip(names, columns, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if is_right else cell.ljust(width)
            for cell, width, is_right in zip(cells, widths, right, strict=True)
        ).rstrip()

    rows = [line(names), line(["-" * width for width in widths])]
    rows += [line([column[index] for column in columns]) for index in range(table.num_rows)]
    rows.append(f"({table.num_rows} row{'' if table.num_rows == 1 else 's'})")
    return "\n".join(rows) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return format(value, ".6g")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(item) for item in value) + "]"
    return str(value)


def _csv(table: pa.Table) -> str:
    nested = [field.name for field in table.schema if pa.types.is_nested(field.type)]
    for name in nested:  # CSV has no lists: write them as JSON text
        position = table.column_names.index(name)
        text = pa.array([json.dumps(value, default=_json_value) for value in table.column(name).to_pylist()])
        table = table.set_column(position, name, text)
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    return buffer.getvalue().decode()


def _finite(value: object) -> object:
    """JSON has no NaN or infinity: they become null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _json_value(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)
