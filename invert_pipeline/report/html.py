"""HTML of the report: small functions that turn report contents into escaped HTML fragments.

Every link and image source is a relative path, so the page opens from disk with no server.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

import pyarrow as pa

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #1a202c; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #cbd5e0; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; }
th, td { border: 1px solid #e2e8f0; padding: 2px 6px; text-align: left; vertical-align: middle; }
th { background: #edf2f7; } td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { background: #f7fafc; padding: 0 2px; } .note { color: #4a5568; font-size: 0.85em; }
img.figure { max-width: 100%; border: 1px solid #e2e8f0; } img.strip { display: block; }
tr.below td { border-top: none; padding-bottom: 6px; } .synonyms { max-width: 24em; }
nav a { margin-right: 1em; }
"""


def text(value: object) -> str:
    """A value as escaped text; null as an empty cell."""
    return "" if value is None else escape(str(value))


@dataclass(frozen=True)
class Column:
    """A table column: the source column name, its heading, how to format a value, and whether it is
    left out of a table where no row has a value (a statistic the run did not compute)."""

    name: str
    heading: str
    format: Callable[[object], str] = text
    number: bool = False
    optional: bool = False


def markup(value: object) -> str:
    """A value that is already HTML (built by the functions of this module), as it is."""
    return "" if value is None else str(value)


def formula(value: object) -> str:
    """A formula in a code span."""
    return "" if value is None else f"<code>{escape(str(value))}</code>"


def formula_with_synonyms(value: object, synonyms: Sequence[str] | None, shown: int = 3) -> str:
    """A formula in a code span and, under it, the first ``shown`` other formulas true on the same samples."""
    if not synonyms:
        return formula(value)
    listed = ", ".join(formula(synonym) for synonym in synonyms[:shown])
    more = f" and {len(synonyms) - shown} more" if len(synonyms) > shown else ""
    return f'{formula(value)}<div class="note synonyms">same samples as {listed}{more}</div>'


def decimal(value: object, digits: int = 3) -> str:
    """A float with ``digits`` decimals; null or NaN as an empty cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def probability(value: object) -> str:
    """A p- or q-value in short scientific notation."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return "< 1e-300" if value == 0 else f"{value:.2g}"  # 0: underflowed, far below any threshold


def p_value(value: object, log10_p: object) -> str:
    """A p-value; one that underflowed to 0 is shown from its log10 (``1e-400``)."""
    if value == 0 and log10_p is not None and math.isfinite(log10_p):
        return f"1e{math.floor(log10_p)}"
    return probability(value)


def table(
    rows: pa.Table | Sequence[dict], columns: Sequence[Column], *, limit: int | None = None, below: Column | None = None
) -> str:
    """An HTML table of ``rows`` with ``columns``; with ``limit``, the first rows and a note of how many more.

    Optional columns with no value in any row are left out. ``below`` is shown in a row of its own
    under each record, across the table (wide content such as a strip of images).
    """
    records = rows.to_pylist() if isinstance(rows, pa.Table) else list(rows)
    if not records:
        return '<p class="note">none</p>'
    shown = records if limit is None else records[:limit]
    columns = [
        column for column in columns
        if not column.optional or any(not _is_missing(record.get(column.name)) for record in shown)
    ]
    head = "".join(f"<th>{escape(column.heading)}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(
            f'<td{" class=number" if column.number else ""}>{column.format(record.get(column.name))}</td>'
            for column in columns
        ) + "</tr>"
        + ("" if below is None else
           f'<tr class="below"><td colspan="{len(columns)}">{below.format(record.get(below.name))}</td></tr>')
        for record in shown
    )
    more = "" if len(shown) == len(records) else f'<p class="note">and {len(records) - len(shown)} more rows</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def figure(source: str, alternative: str, *, css_class: str = "figure") -> str:
    """An image with a relative ``source`` path."""
    return f'<img class="{css_class}" src="{escape(source)}" alt="{escape(alternative)}">'


def page(title: str, navigation: Sequence[tuple[str, str]], sections: Sequence[str]) -> str:
    """The whole document: title, links to the sections (anchor, label), and the sections."""
    links = "".join(f'<a href="#{escape(anchor)}">{escape(label)}</a>' for anchor, label in navigation)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><nav>{links}</nav>" + "".join(sections) + "</body></html>\n"
    )
