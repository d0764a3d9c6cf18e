"""HTML fragments: escaping, number formats, and the row limit of tables."""

from __future__ import annotations

from invert_pipeline.report.html import (
    Column,
    decimal,
    figure,
    formula,
    formula_with_synonyms,
    p_value,
    page,
    probability,
    table,
)


def test_formulas_and_text_are_escaped():
    """Formula text with <, & and quotes cannot break out of its cell."""
    assert formula('a & "<b>"') == "<code>a &amp; &quot;&lt;b&gt;&quot;</code>"
    html = table([{"name": "<script>"}], [Column("name", "name")])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_number_formats():
    """AUC to 3 decimals, p-values short, an underflowed p-value from its log10, nulls empty."""
    assert decimal(0.98765) == "0.988"
    assert probability(0.000123) == "0.00012"
    assert p_value(0.0, -923.4) == "1e-924"
    assert p_value(0.02, -1.7) == "0.02"
    assert decimal(None) == "" and probability(float("nan")) == ""


def test_table_limit_notes_the_rows_left_out():
    """A limited table shows the first rows and says how many more there are."""
    rows = [{"n": index} for index in range(5)]
    html = table(rows, [Column("n", "n", number=True)], limit=2)
    assert html.count("<tr>") == 3  # heading + 2 rows
    assert "and 3 more rows" in html
    assert table([], [Column("n", "n")]) == '<p class="note">none</p>'


def test_page_links_sections_and_uses_relative_images():
    """The page has a navigation link per section and images keep their relative path."""
    document = page("T", [("a", "Section A")], ["<h2 id='a'>A</h2>", figure("figures/x.png", "x")])
    assert '<a href="#a">Section A</a>' in document
    assert 'src="figures/x.png"' in document
    assert document.startswith("<!DOCTYPE html>")


def test_optional_columns_without_values_are_left_out():
    """A statistic the run did not compute (all null or NaN) gets no column; one with a value keeps it."""
    columns = [Column("auc", "AUC"), Column("stability", "stability", optional=True)]
    assert "stability" not in table([{"auc": 0.9, "stability": None}, {"auc": 0.8, "stability": float("nan")}], columns)
    assert "<th>stability</th>" in table([{"auc": 0.9, "stability": None}, {"auc": 0.8, "stability": 0.7}], columns)


def test_below_column_gets_a_row_across_the_table():
    html = table([{"a": 1, "b": 2, "wide": "<img>"}], [Column("a", "a"), Column("b", "b")],
                 below=Column("wide", "wide", lambda value: str(value)))
    assert html.endswith('<tr class="below"><td colspan="2"><img></td></tr></tbody></table>')


def test_synonyms_follow_the_formula_escaped_and_capped():
    assert formula_with_synonyms("a", None) == "<code>a</code>"
    cell = formula_with_synonyms("a", ["b & c", "d", "e", "f"])
    assert cell.startswith("<code>a</code>") and "<code>b &amp; c</code>, <code>d</code>, <code>e</code> and 1 more" in cell
