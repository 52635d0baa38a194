"""The package's house plan, read from its source: imports flow one way (no cycle between
modules), no module or test imports another module's private names, and modules stay short."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "deepgisas"
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]
             ) -> tuple[set[str], list[tuple[str, str]]]:
    """The package modules ``name`` imports (anywhere in the file, lazy imports too) and the
    private names it takes from other modules, as (module, name)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps: set[str] = set()
    private: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.partition(".")[0] != "deepgisas":
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in modules:
                    deps.add(full)
                    continue
                deps.add(source)
                if (alias.name.startswith("_") and not alias.name.startswith("__")
                        and source != name):
                    private.append((source, alias.name))
    return deps & set(modules), private


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules)[0] - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between modules, or None. A package's ``__init__`` only re-exports
    its modules, so edges into a package (``from deepgisas.fit import x``) are followed to
    the package's own imports like any other."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a module of a package imports its parent package's __init__ only through
            # Python's own import of the parent: not an edge of the plan
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _cycle({"p": {"p.m"}, "p.m": {"p"}}) is None  # a module and its package


def test_no_module_imports_form_a_cycle() -> None:
    assert _cycle(_graph()) is None


def test_the_fit_modules_import_one_way() -> None:
    """fit.image dispatches to fit.gradient and fit.orientation; both build on fit.problem,
    and none of the three imports the module that dispatches to it."""
    graph = _graph()
    for name in ("gradient", "orientation", "problem"):
        assert "deepgisas.fit.image" not in graph[f"deepgisas.fit.{name}"], name
    assert "deepgisas.fit.problem" in graph["deepgisas.fit.gradient"]
    assert "deepgisas.fit.problem" in graph["deepgisas.fit.orientation"]
    assert "deepgisas.fit.orientation" not in graph["deepgisas.fit.gradient"]


def test_no_private_name_is_imported_from_another_module() -> None:
    modules = _modules()
    found = [(name, *p) for name, path in modules.items()
             for p in _imports(name, path, modules)[1]]
    for f in sorted((ROOT / "tests").rglob("*.py")):
        found += [(str(f.relative_to(ROOT)), *p) for p in _imports("tests", f, modules)[1]]
    assert found == []


# the layers (STYLE.md rule 9): a subpackage imports none of the ones listed against it
ABOVE = {"physics": {"data", "models", "training", "fit", "analysis", "stream", "live", "cli"},
         "data": {"training", "fit", "analysis", "stream", "live", "cli"},
         "models": {"training", "fit", "analysis", "stream", "live", "cli"},
         "training": {"fit", "analysis", "stream", "live", "cli"},
         "fit": {"training", "analysis", "stream", "live", "cli"},
         "io": {"models", "training", "fit", "analysis", "stream", "live", "cli"},
         "stream": {"live", "cli"},
         "live": {"cli"}}


def test_the_layers_import_downwards() -> None:
    def layer(module: str) -> str:
        return module.split(".")[1] if module.count(".") >= 1 else ""

    upward = sorted((m, d) for m, deps in _graph().items() for d in deps
                    if layer(d) in ABOVE.get(layer(m), ()))
    assert upward == []


def test_only_the_edges_import_the_public_api() -> None:
    """``deepgisas.api`` re-exports the public functions for users and the CLI; the package's
    own modules import them from where they are defined."""
    users = {name for name, deps in _graph().items() if "deepgisas.api" in deps}
    assert {u for u in users if u != "deepgisas" and not u.startswith("deepgisas.cli")} == set()
    assert "deepgisas" in users  # the check sees the package's own re-export


def test_modules_stay_short() -> None:
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"over {MAX_LINES} lines (split them): {long}"
