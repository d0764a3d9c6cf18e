"""Query results as an aligned table, CSV, JSON or Parquet."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invert_pipeline.warehouse import WarehouseError
from invert_pipeline.warehouse.output import format_table, render, write_result

TABLE = pa.table(
    {
        "layer": ["conv1", "logits"],
        "neuron": pa.array([3, 12], pa.int32()),
        "auc": [0.912345678, math.nan],
        "concepts": [["bag", "watermark"], None],
    }
)


def test_format_table_aligns_columns():
    """Text left, numbers right, NULL for missing values, a row count at the end."""
    assert format_table(TABLE).splitlines() == [
        "layer   neuron       auc  concepts",
        "------  ------  --------  ----------------",
        "conv1        3  0.912346  [bag, watermark]",
        "logits      12       nan  NULL",
        "(2 rows)",
    ]


def test_csv_writes_lists_as_json():
    """CSV has a header line; list cells become JSON text."""
    lines = render(TABLE, "csv").splitlines()
    assert lines[0] == '"layer","neuron","auc","concepts"'
    assert lines[1] == '"conv1",3,0.912345678,"[""bag"", ""watermark""]"'


def test_json_is_a_list_of_records_without_nan():
    """JSON output is standard JSON: NaN becomes null."""
    records = json.loads(render(TABLE, "json"))
    assert records[1] == {"layer": "logits", "neuron": 12, "auc": None, "concepts": None}


def test_parquet_needs_a_file(tmp_path):
    """Parquet is written to a file only, and reads back equal."""
    with pytest.raises(WarehouseError, match="parquet format is binary: give a file with --output"):
        render(TABLE, "parquet")
    write_result(TABLE, "parquet", tmp_path / "result.parquet")
    read_back = pq.read_table(tmp_path / "result.parquet").to_pylist()
    assert read_back[0] == TABLE.to_pylist()[0] and read_back[1]["concepts"] is None


def test_unknown_format_is_refused():
    """A format outside the closed list is named in the error."""
    with pytest.raises(WarehouseError, match="`output_format` must be one of .*got 'xml'"):
        render(TABLE, "xml")
