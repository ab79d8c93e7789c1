"""The sandbox is a part of its own: no import circles, no imports of the connector, and the
HTTP transport knows only the request/response types it carries."""

from __future__ import annotations

import ast
from pathlib import Path

import hubspot_courses_destination.sandbox as sandbox_pkg

SANDBOX_DIR = Path(sandbox_pkg.__file__).parent


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(sibling modules imported relatively, absolute or parent-relative imports of the package)."""
    siblings: set[str] = set()
    outside: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                siblings.add(node.module.split(".")[0])
            elif node.level > 1 or (node.module or "").startswith("hubspot_courses_destination"):
                outside.append(f"{'.' * node.level}{node.module or ''}")
        elif isinstance(node, ast.Import):
            outside += [a.name for a in node.names if a.name.startswith("hubspot_courses_destination")]
    return siblings, outside


def _graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p)[0] for p in SANDBOX_DIR.glob("*.py")}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph.get(m, ())
    return seen


def test_no_module_imports_the_connector() -> None:
    assert {p.name: _imports(p)[1] for p in SANDBOX_DIR.glob("*.py") if _imports(p)[1]} == {}


def test_no_import_circles() -> None:
    graph = _graph()
    assert [m for m in graph if m in _reachable(graph, m)] == []


def test_transport_and_api_meet_only_in_exchange() -> None:
    graph = _graph()
    assert graph["server"] == {"exchange"}
    assert "server" not in _reachable(graph, "api") and "app" not in _reachable(graph, "api")
