"""The package shows the data path: imports flow one way and the model knows nothing of I/O.

Every ``sewstream.*`` import (module level or inside functions) is collected per unit (a
subpackage, or a top-level module); the unit graph must have no cycle, and the low layers
may only use what lies below them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sewstream"

# what each low layer may import (besides itself)
ALLOWED = {
    "model": set(),
    "text": {"audio"},
    "audio": set(),
    "progress": set(),  # a leaf utility (progress bars) any long job may use
    "stream": {"audio", "model", "text"},
    "train": {"model", "text", "audio", "progress"},
}


def unit_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else module


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        unit = rel.parts[1] if len(rel.parts) > 1 else "__init__"
        unit = unit if not unit.endswith("__init__") else "__init__"
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the same unit unless it climbs out of it
                    if node.level > len(rel.parts) - 2 and node.module:
                        names = [f"sewstream.{node.module}"]
                elif node.module:
                    names = [node.module]
            for name in names:
                if name.startswith("sewstream.") and unit_of(name) != unit:
                    edges.setdefault(unit, set()).add(unit_of(name))
    return edges


def test_low_layers_import_only_what_lies_below():
    edges = graph()
    for unit, allowed in ALLOWED.items():
        assert edges.get(unit, set()) <= allowed, (unit, edges.get(unit, set()) - allowed)


def test_no_import_cycles_between_units():
    edges = graph()

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(unit for unit in edges if unit in reach(unit))
    assert not cycles, {u: sorted(edges[u]) for u in cycles}
