"""The house rules of the code's shape (DESIGN.md §2, docs/architecture.md), read from the source.

- `mailinglist` imports nothing from `newsletters` (content or delivery); the infrastructure
  (`operations`) and the audit trail (`audit`) import neither app.
- No product module imports `config.*`: apps read settings through `django.conf` and Celery
  through its current app.
- No import loop among product modules, except through a Celery task imported inside a function
  right where it is enqueued.
- No product module is over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("mailinglist", "newsletters", "operations", "audit", "outbox", "demo")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _target(name: str) -> str | None:
    """The product module an imported name lives in (longest known prefix), if any."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, imported inside a function) for each import in `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, *, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append((base, nested))
                # `from package import module` imports the module itself.
                found.extend((f"{base}.{alias.name}", nested) for alias in child.names)
            visit(child, nested=inner)

    visit(tree, nested=False)
    return found


def _graph() -> dict[str, set[str]]:
    """Module → the product modules it imports, leaving out tasks imported lazily to enqueue."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module in MODULES:
        for name, nested in _imports(module):
            target = _target(name)
            if target is None or target == module:
                continue
            if nested and target.endswith(".tasks"):
                continue  # a task enqueued lazily: the one loop the rules allow
            graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_the_graph_sees_the_imports_it_judges() -> None:
    # A parser that found nothing would pass every rule below.
    graph = _graph()
    assert "newsletters.delivery.ledger" in graph["newsletters.delivery.batch"]
    assert "mailinglist.models" in graph["newsletters.models"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_mailinglist_imports_nothing_from_newsletters() -> None:
    offenders = [
        f"{module} imports {name}"
        for module in MODULES
        if module.startswith("mailinglist")
        for name, _ in _imports(module)
        if name == "newsletters" or name.startswith("newsletters.")
    ]
    assert offenders == []


def test_infrastructure_and_audit_import_neither_app() -> None:
    offenders = [
        f"{module} imports {name}"
        for module in MODULES
        if module.startswith(("operations", "audit"))
        for name, _ in _imports(module)
        if name.split(".")[0] in {"mailinglist", "newsletters"}
    ]
    assert offenders == []


def test_no_product_module_imports_config() -> None:
    offenders = [
        f"{module} imports {name}"
        for module in MODULES
        for name, _ in _imports(module)
        if name == "config" or name.startswith("config.")
    ]
    assert offenders == []


def test_no_import_loop_other_than_a_task_enqueued_lazily() -> None:
    assert _cycles(_graph()) == []


def test_no_product_module_is_over_400_lines() -> None:
    long = {
        module: length
        for module, path in MODULES.items()
        if (length := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
