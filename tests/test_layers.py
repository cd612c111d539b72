"""The layers, read from the source: imports flow api -> search -> index and never back, and the modules of
index/ (and of search/) import each other without cycles. Every import counts, inside functions too: a cycle
hidden behind a lazy import is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("api", "search", "index")  # each may import only the ones after it


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for layer in LAYERS for path in sorted((ROOT / layer).rglob("*.py"))}


def _package(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _ours(name: str) -> str | None:
    """The module of ours that an imported name is, or lives in (the longest known prefix); None for others'."""
    name = name.removeprefix("askdocs.")  # the installed import name, once the packages move under askdocs
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str) -> list[tuple[str, int]]:
    """(imported module of ours, line) for every import statement in ``module``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text(), str(MODULES[module]))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module).split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            # `from pkg import name` imports the submodule pkg.name when there is one, else a name of pkg.
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in MODULES else stem for alias in node.names]
        else:
            continue
        for target in targets:
            ours = _ours(target)
            if ours is not None and ours != module:
                found.append((ours, node.lineno))
    return found


GRAPH = {module: imports(module) for module in MODULES}


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{line}"


def test_the_graph_sees_imports_inside_functions():
    # embedder imports runtime_onnx only inside a function; a graph without it would pass everything below.
    assert "index.runtime_onnx" in {target for target, _ in GRAPH["index.embedder"]}
    assert all(layer in {m.split(".")[0] for m in MODULES} for layer in LAYERS)


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_imports_never_run_back_up_the_layers(layer):
    above = LAYERS[: LAYERS.index(layer)]
    wrong = [f"{_where(module, line)}: {module} imports {target}"
             for module, edges in GRAPH.items() if module.split(".")[0] == layer
             for target, line in edges if target.split(".")[0] in above]
    assert not wrong, f"{layer}/ may not import {' or '.join(above)}:\n  " + "\n  ".join(wrong)


def cycles(package: str, graph=GRAPH) -> list[list[tuple[str, int]]]:
    """Cycles among ``package``'s modules as (module, line of its import of the next one): a shortest one
    from each module on a cycle not already listed, so removing these can bring others to light."""
    inside = {m: [(t, line) for t, line in graph[m] if t.split(".")[0] == package]
              for m in graph if m.split(".")[0] == package}
    found, done = [], set()
    for start in sorted(inside):
        if start in done:
            continue
        # Breadth first from start: the first way back to start is a shortest cycle through it.
        previous: dict[str, tuple[str, int]] = {}
        queue, seen, cycle = [start], {start}, None
        while queue and cycle is None:
            module = queue.pop(0)
            for target, line in inside[module]:
                if target == start:
                    cycle = [(module, line)]
                    while module != start:
                        module, line = previous[module]
                        cycle.append((module, line))
                    cycle.reverse()
                    break
                if target not in seen:
                    seen.add(target)
                    previous[target] = (module, line)
                    queue.append(target)
        if cycle:
            found.append(cycle)
            done |= {module for module, _ in cycle}
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_cycles_inside(package):
    found = cycles(package)
    described = [" -> ".join(f"{module} ({_where(module, line)})" for module, line in cycle) + f" -> {cycle[0][0]}"
                 for cycle in found]
    assert not found, f"import cycles inside {package}/:\n  " + "\n  ".join(described)


def test_a_cycle_is_found_and_named():
    # The finder on made-up graphs, so an empty answer above means no cycle rather than a blind finder.
    graph = {"index.a": [("index.b", 3)], "index.b": [("index.c", 5), ("search.x", 6)], "index.c": [("index.a", 7)],
             "index.d": [("index.a", 9)], "search.x": []}
    assert cycles("index", graph) == [[("index.a", 3), ("index.b", 5), ("index.c", 7)]]
    assert cycles("index", {**graph, "index.c": []}) == []


def test_every_folder_of_code_installs_under_the_askdocs_name():
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {str(init.parent.relative_to(ROOT)).replace("/", ".") for layer in LAYERS
               for init in (ROOT / layer).rglob("__init__.py")}
    assert set(setuptools["packages"]) == {f"askdocs.{folder}" for folder in folders}
    assert setuptools["package-dir"] == {f"askdocs.{layer}": layer for layer in LAYERS}


def test_code_imports_its_own_packages_by_the_installed_name():
    # The tests and benchmarks too: pytest puts the checkout on sys.path, where a bare `import index` would load
    # a second copy of the module beside askdocs.index (two classes of every error, two caches).
    files = {str(path.relative_to(ROOT)): path for path in [*MODULES.values(), *sorted((ROOT / "tests").rglob("*.py")),
                                                            *sorted((ROOT / "bench").rglob("*.py"))]}
    bare = [f"{name}:{node.lineno}" for name, path in files.items()
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and not node.level and node.module
            and node.module.split(".")[0] in LAYERS
            or isinstance(node, ast.Import) and any(a.name.split(".")[0] in LAYERS for a in node.names)]
    assert not bare, f"import askdocs.index/search/api, not the bare folder name: {bare}"
