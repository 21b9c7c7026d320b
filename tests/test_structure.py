"""The package's shape: one subpackage per stage, each importing only `core` and earlier stages.

An AST walk over every import (function-level ones included), so a cycle or an upward
import cannot hide inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipelines"
ORDER = ["core", "ingest", "clean", "validate", "metrics", "report", "site", "run", "cli"]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.startswith("pipelines.")}


def test_every_stage_imports_only_core_and_earlier_stages():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if stage == "__init__":
            continue
        assert stage in ORDER, f"{path}: {stage!r} is not a known stage (add it to ORDER in data order)"
        for name in _imports(path):
            target = name.split(".")[1]
            if target in ORDER and ORDER.index(target) > ORDER.index(stage):
                problems.append(f"{path.relative_to(PACKAGE)} imports {name} (a later stage)")
    assert problems == []


def test_no_module_is_longer_than_500_lines_and_the_top_level_stays_small():
    long = [f"{p.relative_to(PACKAGE)}: {n}" for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500]
    assert long == []
    top = [p.name for p in PACKAGE.iterdir() if p.name not in ("__init__.py", "__pycache__")
           and (p.is_dir() or p.suffix == ".py")]
    assert len(top) <= 12, top


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_imports(path: Path, modules: set[str]) -> set[str]:
    """The modules `path` imports: `from pkg import sub` is an import of pkg.sub, not of pkg's
    __init__ (unless a name is not a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names}
            found |= (subs & modules) | ({node.module} if subs - modules else set())
    return found & modules


def test_no_module_imports_itself_through_others():
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: _module_imports(p, set(paths)) - {m} for m, p in paths.items()}
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        for name in sorted(graph[module]):
            visit(name, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []
