"""The import rules of docs/ARCHITECTURE.md hold: read from its table, checked on every module's imports (ast).

Every ``import`` and ``from ... import`` counts, at module level or inside a function, so a lazy import
is a dependency too. No exceptions are granted here: the table's third column is the only place.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("invert_core", "invert_pipeline", "tasks", "flows", "deployments")
RULES_START, RULES_END = "<!-- import-rules:start -->", "<!-- import-rules:end -->"


@dataclass(frozen=True)
class Rule:
    """Modules of ``rooms`` may not import ``forbidden``, unless they lie in ``exempt``."""

    rooms: tuple[str, ...]
    forbidden: tuple[str, ...]
    exempt: tuple[str, ...]

    def __str__(self) -> str:
        return f"{', '.join(self.rooms)} may not import {', '.join(self.forbidden)}"


def covers(prefix: str, module: str) -> bool:
    """Whether the dotted name ``prefix`` is ``module`` or one of its packages."""
    return module == prefix or module.startswith(f"{prefix}.")


def read_rules(text: str) -> list[Rule]:
    """The rules of the table between the import-rules markers of ARCHITECTURE.md."""
    table = text.split(RULES_START, 1)[1].split(RULES_END, 1)[0]
    rows = [line for line in table.strip().splitlines()[2:] if line.startswith("|")]
    rules = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        rooms, forbidden, exempt = (tuple(re.findall(r"`([^`]+)`", cell)) for cell in cells)
        rules.append(Rule(rooms, forbidden, exempt))
    return rules


def module_name(path: Path, root: Path = ROOT) -> str:
    """The dotted name of the module in ``path`` (under ``root``)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` (under ``root``) imports, anywhere in the file, relative imports resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


MODULES = {
    module_name(path): imported_modules(path)
    for package in PACKAGES
    for path in sorted((ROOT / package).rglob("*.py"))
}
RULES = read_rules((ROOT / "docs" / "ARCHITECTURE.md").read_text())


def test_the_rules_table_is_read_and_names_real_rooms():
    """The table parses into rules, and every room, forbidden name and exemption inside the house exists."""
    assert len(RULES) >= 8
    for rule in RULES:
        assert rule.rooms and rule.forbidden, rule
        for name in (*rule.rooms, *rule.exempt, *(n for n in rule.forbidden if n.split(".")[0] in PACKAGES)):
            assert any(covers(name, module) for module in MODULES), f"{name} (in the rule '{rule}') is no module"


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_import_rule(rule):
    """No module of the rule's rooms imports a forbidden module, outside its exemptions."""
    violations = [
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if any(covers(room, module) for room in rule.rooms) and not any(covers(room, module) for room in rule.exempt)
        for name in sorted(names)
        if any(covers(forbidden, name) for forbidden in rule.forbidden)
    ]
    assert not violations, f"{rule}: " + "; ".join(violations)


def test_imported_modules_sees_lazy_and_relative_imports(tmp_path):
    """Imports inside functions count, and ``from . import x`` resolves against the package."""
    package = tmp_path / "pkg" / "sub"
    package.mkdir(parents=True)
    source = package / "mod.py"
    source.write_text("import os\n\ndef f():\n    from prefect import flow\n    from . import sibling\n")
    assert imported_modules(source, tmp_path) >= {"os", "prefect", "prefect.flow", "pkg.sub", "pkg.sub.sibling"}


def read_floors(text: str) -> dict[str, int]:
    """Module name -> floor, from the rooms table of ARCHITECTURE.md (``| floor | rooms | owns |``).

    A room cell names paths in backticks; a bare name after a path lies in that path's folder.
    """
    floors = {}
    for line in text.splitlines():
        match = re.match(r"^\| (\d+) \| ([^|]+) \|", line)
        if not match:
            continue
        folder = ""
        for path in re.findall(r"`([^`]+)`", match[2]):
            inner = path.rstrip("/")
            if "/" in inner:
                full, folder = inner, inner.rsplit("/", 1)[0]
            else:
                full = f"{folder}/{inner}" if folder else inner
            name = full.removesuffix(".py").replace("/", ".")
            floors[name] = int(match[1])
    return floors


FLOORS = read_floors((ROOT / "docs" / "ARCHITECTURE.md").read_text())


def floor_of(module: str) -> int | None:
    """The floor of the room that holds ``module`` (the longest room name covering it); None outside every room."""
    rooms = [room for room in FLOORS if covers(room, module)]
    return FLOORS[max(rooms, key=len)] if rooms else None


def test_every_module_has_a_room():
    """The rooms table places every module of the house (package roots aside)."""
    homeless = [module for module in MODULES if module not in PACKAGES and floor_of(module) is None]
    assert not homeless, f"modules in no room of ARCHITECTURE.md: {homeless}"


def test_no_module_imports_upward():
    """A module imports only modules of its own floor or below."""
    upward = []
    for module, names in MODULES.items():
        own = floor_of(module)
        for name in names:
            target = max((other for other in MODULES if covers(other, name)), key=len, default=None)
            if own is None or target is None or floor_of(target) is None:
                continue
            if floor_of(target) > own:
                upward.append(f"{module} (floor {own}) imports {target} (floor {floor_of(target)})")
    assert not upward, "; ".join(sorted(set(upward)))


def test_read_floors_places_bare_file_names_in_the_first_folder():
    table = "| 2 | `pkg/a.py`, `b.py` and `data/` | x |\n| 3 | `pkg/sub/` | y |\n"
    assert read_floors(table) == {"pkg.a": 2, "pkg.b": 2, "pkg.data": 2, "pkg.sub": 3}


def test_no_import_cycle():
    """No two modules import each other, directly or through others (a package and its own modules aside)."""
    graph = {
        module: {
            target
            for name in names
            if (target := max((other for other in MODULES if covers(other, name)), key=len, default=None))
            and not covers(target, module) and not covers(module, target)
        }
        for module, names in MODULES.items()
    }
    cycles = []
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module == start:
                cycles.append(start)
                break
            if module not in seen:
                seen.add(module)
                todo += graph[module]
    assert not cycles, f"modules on an import cycle: {sorted(cycles)}"
