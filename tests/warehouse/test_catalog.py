"""The SQL files: every named query has its header, and declares exactly the parameters it binds."""

from __future__ import annotations

import re

import pytest

from invert_pipeline.warehouse import WarehouseError, list_queries
from invert_pipeline.warehouse.catalog import get_query, read_query

REQUIRED_QUERIES = {
    "hierarchy_depth_by_layer",
    "class_feeding_neurons",
    "unexplained_concepts",
    "spurious_class_features",
    "spurious_logit_explanations",
    "neurons_explained_by_concept",
    "run_diff_explanations",
    "run_diff_auc",
    "run_diff_concepts",
}


def test_the_issue_queries_exist_with_headers():
    """Each analysis the issue asks for is a named query with an answer, a grain and parameters."""
    queries = {query.name: query for query in list_queries()}
    assert REQUIRED_QUERIES <= set(queries)
    for query in queries.values():
        assert query.answers and query.grain.lower().startswith("one row per"), query.name


@pytest.mark.parametrize("query", list_queries(), ids=lambda query: query.name)
def test_declared_parameters_match_the_bound_ones(query):
    """The $names in the SQL body are exactly the declared parameters."""
    body = "\n".join(line for line in query.sql.splitlines() if not line.lstrip().startswith("--"))
    assert set(re.findall(r"\$([a-z_][a-z0-9_]*)", body)) == {
        parameter.name for parameter in query.parameters
    }


def test_parameter_declarations_are_read():
    """Types, defaults (null included) and wrapped descriptions come out of the header."""
    parameters = {parameter.name: parameter for parameter in get_query("spurious_class_features").parameters}
    assert parameters["run"].required and parameters["run"].type == "run"
    assert (parameters["top_k"].type, parameters["top_k"].default, parameters["top_k"].required) == (
        "integer",
        5,
        False,
    )
    assert parameters["class_name"].default is None and not parameters["class_name"].required
    assert parameters["max_q_value"].description.endswith("says nothing about what the class relies on.")


def test_a_malformed_header_is_refused(tmp_path):
    """A query file without a grain, or with an unreadable parameter line, is reported by path."""
    no_grain = tmp_path / "no_grain.sql"
    no_grain.write_text("-- Answers: something.\n-- Parameters:\n--   None.\nselect 1\n")
    with pytest.raises(WarehouseError, match=r"no_grain.sql lacks the header section\(s\) \['Grain'\]"):
        read_query(no_grain)
    bad_type = tmp_path / "bad_type.sql"
    bad_type.write_text(
        "-- Answers: a.\n-- Grain: one row.\n-- Parameters:\n--   x (float): a number.\nselect $x\n"
    )
    with pytest.raises(WarehouseError, match="cannot read the parameter line 'x \\(float\\): a number.'"):
        read_query(bad_type)
