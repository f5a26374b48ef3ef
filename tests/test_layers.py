"""The layout shows the flow: which package may import which, and no import circles.

Read from the source with `ast` (every import, also those inside functions): the kernel
(`intake`, without its entry points in `intake.cli`) imports no stage; the store imports
only the kernel; `normalize` and `routing` are pure and import only the kernel (and, for
routing, normalize's text folding); the outbound stage never reaches back into ingest;
handling (the lifecycle after intake) sits between the outbound stage and ingest; the
operators' console and the reports read every stage and are read by none (but the entry
points).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "intake",
    "ingest",
    "normalize",
    "outbound",
    "routing",
    "store",
    "handling",
    "console",
    "reports",
)

# layer → the layers it may import (besides itself and third-party libraries)
ALLOWED = {
    "kernel": set(),
    "store": {"kernel"},
    "normalize": {"kernel"},
    "routing": {"kernel", "normalize"},
    "outbound": {"kernel", "store", "normalize"},
    "handling": {"kernel", "store", "normalize", "routing", "outbound"},
    "ingest": {"kernel", "store", "normalize", "routing", "outbound", "handling"},
    "console": {"kernel", "store", "normalize", "routing", "outbound", "handling", "ingest"},
    # The reports read every stage, as the console does; only the entry points read them.
    "reports": {"kernel", "store", "normalize", "routing", "outbound", "handling", "ingest"},
    "entry": {
        "kernel",
        "store",
        "normalize",
        "routing",
        "outbound",
        "ingest",
        "handling",
        "console",
        "reports",
    },
}


def layer_of(module: str) -> str:
    top = module.split(".")[0]
    if module == "workers" or module.startswith("intake.cli"):
        return "entry"
    return {"intake": "kernel"}.get(top, top)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {"workers": ROOT / "workers.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


MODULES = project_modules()


def imports_of(module: str) -> set[str]:
    """The project modules `module` imports, resolved to the longest known module name."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {resolve(name) for name in names if resolve(name) and resolve(name) != module}


def resolve(name: str) -> str:
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return ""


GRAPH = {module: imports_of(module) for module in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_the_layers_below_it(module):
    layer = layer_of(module)
    wrong = sorted(
        other
        for other in GRAPH[module]
        if layer_of(other) != layer and layer_of(other) not in ALLOWED[layer]
    )
    assert not wrong, f"{module} ({layer}) imports {wrong}"


def test_there_is_no_import_circle():
    circles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for other in sorted(GRAPH[module]):
            if other not in state:
                visit(other)
            elif state[other] == 1:
                circles.append(path[path.index(other) :] + [other])
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    # A package's __init__ importing its own submodules is how packages are built, not a circle.
    real = [c for c in circles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert not real, "\n".join(" → ".join(c) for c in real)
