"""The SQL files of the repository: the schema and the named queries with their headers.

``sql/schema.sql`` creates the warehouse. Each ``sql/queries/<name>.sql`` is one named query; its
leading comment states what it answers, its grain and its parameters::

    -- Answers: which neurons ... (continuation lines are indented)
    -- Grain: one row per ...
    -- Parameters:
    --   run (run): the run, by run id or model version.
    --   top_k (integer, default 5): how many ...

A parameter ``name`` is bound as ``$name`` in the query. Its type is one of :data:`PARAMETER_TYPES`;
``run``, ``concept`` and ``class`` are text values checked against the warehouse before the query
runs (a ``run`` is given by run id or model version and bound as the run id).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from invert_pipeline.suggestions import did_you_mean
from invert_pipeline.warehouse.errors import WarehouseError

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

ParameterType = Literal["run", "concept", "class", "text", "integer", "double", "boolean"]
PARAMETER_TYPES: tuple[str, ...] = get_args(ParameterType)

_PARAMETER_LINE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*) \((?P<type>[a-z]+)(?:, default (?P<default>[^)]*))?\): (?P<text>.+)$"
)
_SECTION_LINE = re.compile(r"^(?P<key>Answers|Grain|Parameters):\s*(?P<text>.*)$")


@dataclass(frozen=True)
class QueryParameter:
    """One declared parameter of a named query; ``default`` is ``None`` for a null default."""

    name: str
    type: ParameterType
    description: str
    required: bool
    default: object = None

    def convert(self, text: str) -> object:
        """The Python value of ``text`` given on the command line for this parameter."""
        return _convert(self.type, text, f"parameter {self.name!r}")


@dataclass(frozen=True)
class NamedQuery:
    """A query file of ``sql/queries``: its name (the file stem), header and SQL text."""

    name: str
    answers: str
    grain: str
    parameters: tuple[QueryParameter, ...]
    sql: str
    path: Path


def schema_sql() -> str:
    """The text of ``sql/schema.sql``."""
    return _read(SQL_DIR / "schema.sql")


def schema_digest() -> str:
    """A digest of the schema text, stored in the warehouse to recognise files of another schema."""
    return hashlib.sha256(schema_sql().encode()).hexdigest()[:16]


def list_queries() -> list[NamedQuery]:
    """Every named query of ``sql/queries``, sorted by name."""
    folder = SQL_DIR / "queries"
    if not folder.is_dir():
        raise WarehouseError(f"the named queries folder {folder} is missing: reinstall invert-pipeline")
    return [read_query(path) for path in sorted(folder.glob("*.sql"))]


def get_query(name: str) -> NamedQuery:
    """The named query ``name``; the error lists the known names."""
    queries = {query.name: query for query in list_queries()}
    if name not in queries:
        raise WarehouseError(
            f"no named query {name!r}; {did_you_mean(name, queries)}known queries: {', '.join(queries)} (see `invert query --list`)"
        )
    return queries[name]


def _read(path: Path) -> str:
    if not path.is_file():
        raise WarehouseError(f"SQL file {path} is missing: reinstall invert-pipeline")
    return path.read_text()


def read_query(path: Path) -> NamedQuery:
    """The named query in the file at ``path``: its header parsed, its SQL text kept."""
    text = path.read_text()
    header: list[str] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line[2:])
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in header:
        stripped = line.strip()
        section = _SECTION_LINE.match(stripped)
        if section and not line.startswith("   "):
            current = sections.setdefault(section.group("key"), [])
            if section.group("text"):
                current.append(section.group("text"))
        elif current is not None and stripped:
            current.append(line.rstrip())
    missing = [key for key in ("Answers", "Grain", "Parameters") if key not in sections]
    if missing:
        raise WarehouseError(f"named query {path} lacks the header section(s) {missing}: see {__name__}")
    return NamedQuery(
        name=path.stem,
        answers=" ".join(part.strip() for part in sections["Answers"]),
        grain=" ".join(part.strip() for part in sections["Grain"]),
        parameters=_parse_parameters(sections["Parameters"], path),
        sql=text,
        path=path,
    )


def _parse_parameters(lines: list[str], path: Path) -> tuple[QueryParameter, ...]:
    """Parameter lines start two spaces after ``--``; their continuation lines further in."""
    entries: list[str] = []
    for line in lines:
        if line.startswith("    ") and entries:
            entries[-1] += " " + line.strip()
        elif line.strip().lower() != "none.":
            entries.append(line.strip())
    parameters = []
    for entry in entries:
        match = _PARAMETER_LINE.match(entry)
        if match is None or match.group("type") not in PARAMETER_TYPES:
            raise WarehouseError(
                f"named query {path}: cannot read the parameter line {entry!r}; write "
                f"'name (type[, default value]): description' with type one of {PARAMETER_TYPES}"
            )
        kind = match.group("type")
        default_text = match.group("default")
        parameters.append(
            QueryParameter(
                name=match.group("name"),
                type=kind,
                description=match.group("text"),
                required=default_text is None,
                default=None if default_text in (None, "null") else _convert(kind, default_text, entry),
            )
        )
    return tuple(parameters)


def _convert(kind: str, text: str, what: str) -> object:
    if kind in ("run", "concept", "class", "text"):
        return text
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise WarehouseError(f"{what} must be an integer, got {text!r}") from None
    if kind == "double":
        try:
            return float(text)
        except ValueError:
            raise WarehouseError(f"{what} must be a number, got {text!r}") from None
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise WarehouseError(f"{what} must be true or false, got {text!r}")
    raise WarehouseError(f"{what}: unknown parameter type {kind!r}; allowed: {PARAMETER_TYPES}")
