#!/usr/bin/env python3
"""Measure the import structure of the project's own modules (stdlib only).

Modules: pyproject's [tool.setuptools] packages, placed by package-dir, plus sub-folders with an __init__.py.
Every project import anywhere in a module (top level or in a function, absolute or relative) is an edge to the
module it names; `from pkg import x` is an edge to pkg.x when that is a module, else to pkg (its __init__).
Floor: 1 for a module importing no project module, else 1 + the highest floor it imports. Cycles are strongly
connected components; their members (marked *) share the component's floor, theirs alone being undefined.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBTREE = "screenalytics.tasks"
Graph = dict[str, set[str]]


def discover(root: Path) -> dict[str, Path]:
    """Module name -> source file."""

    def walk(name: str, folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            if path.suffix == ".py":
                modules[name if path.stem == "__init__" else f"{name}.{path.stem}"] = path
            elif (path / "__init__.py").is_file():
                walk(f"{name}.{path.name}", path)

    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs: dict[str, str] = setup.get("package-dir", {})
    modules: dict[str, Path] = {}
    for pkg in sorted(setup.get("packages", []), key=lambda p: p.count(".")):  # explicit deeper mappings win
        parts = pkg.split(".")
        cut = max((i for i in range(len(parts) + 1) if ".".join(parts[:i]) in dirs), default=0)
        walk(pkg, root.joinpath(dirs.get(".".join(parts[:cut]), ""), *parts[cut:]))
    return modules


def edges(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """The project modules a module imports, and the project module names it imports that do not exist."""
    found: set[str] = set()
    missing: set[str] = set()
    roots = {m.split(".")[0] for m in modules}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        pairs: list[tuple[str, str]] = []
        if isinstance(node, ast.Import):
            pairs = [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = [node.module] if node.module else []
            if node.level:
                pkg = name.split(".")[: None if path.name == "__init__.py" else -1]
                base = pkg[: max(0, len(pkg) - node.level + 1)] + base
            pairs = [(".".join(base), alias.name) for alias in node.names]
        for module, attr in pairs:
            if f"{module}.{attr}" in modules or module in modules:  # a submodule, else a module or a name in it
                found.add(f"{module}.{attr}" if f"{module}.{attr}" in modules else module)
            elif module.split(".")[0] in roots:
                missing.add(module)
    return found - {name}, missing


def measure(graph: Graph) -> tuple[dict[str, int], list[str], list[list[str]]]:
    """Floors, the longest chain (top -> leaf) and the cycles (strongly connected components) of a graph."""
    reached: dict[str, set[str]] = {}
    for start in graph:  # every module reachable through one import or more
        seen, todo = reached.setdefault(start, set()), list(graph[start])
        while todo:
            if (v := todo.pop()) not in seen:
                seen.add(v)
                todo.extend(graph[v])
    comp = {v: sorted({v} | {w for w in reached[v] if v in reached[w]}) for v in graph}
    floor: dict[str, int] = {}
    for v in sorted(graph, key=lambda v: len(reached[v] | {v})):  # what v imports outside its component reaches less
        floor[v] = 1 + max((floor[w] for u in comp[v] for w in graph[u] if w not in comp[v]), default=0)
    chain = [min(floor, key=lambda m: (-floor[m], m))] if floor else []
    while steps := sorted(
        (u != v, w, u) for v in chain[-1:] for u in comp[v] for w in graph[u] if floor[w] == floor[v] - 1
    ):
        chain += [steps[0][2], steps[0][1]] if steps[0][0] else [steps[0][1]]  # through a cycle when needed
    return floor, chain, sorted({tuple(c): c for c in comp.values() if len(c) > 1}.values())


def cycle_path(graph: Graph, comp: list[str]) -> list[str]:
    """One cycle inside a component (each member imports another member)."""
    path = [comp[0]]
    while path.count(path[-1]) < 2:
        path.append(min(graph[path[-1]] & set(comp)))
    return path[path.index(path[-1]) :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-floors", type=int, metavar="N", help=f"exit 1 when {SUBTREE} has more than N floors")
    parser.add_argument("--no-cycles", action="store_true", help="exit 1 on any import cycle")
    args = parser.parse_args()
    modules = discover(ROOT)
    found = {m: edges(m, p, modules) for m, p in sorted(modules.items())}
    graph = {m: imported for m, (imported, _) in found.items()}
    floor, chain, cycles = measure(graph)
    inside = {m for m in graph if m == SUBTREE or m.startswith(SUBTREE + ".")}
    sub_floor, sub_chain, _ = measure({m: graph[m] & inside for m in inside})
    cyclic = {m for c in cycles for m in c}
    top, sub_top = max(floor.values(), default=0), max(sub_floor.values(), default=0)
    for f in range(1, top + 1):
        print(f"floor {f:>2}: " + ", ".join(m + "*" * (m in cyclic) for m in sorted(floor) if floor[m] == f))
    print(f"longest chain: {' -> '.join(chain)}")
    print(f"longest chain in {SUBTREE}: {' -> '.join(sub_chain)}")
    print(f"floors: project {top}, {SUBTREE} {sub_top}")
    for cycle in cycles:
        print(f"error: import cycle: {' -> '.join(cycle_path(graph, cycle))} (members: {', '.join(cycle)})")
    print(f"cycles: {len(cycles)}")
    for m, (_, missing) in found.items():
        for gone in sorted(missing):
            print(f"warning: {m} imports {gone}, which is not a module of the project")
    failed = bool(cycles) and args.no_cycles
    if args.max_floors is not None and sub_top > args.max_floors:
        print(f"error: {SUBTREE} has {sub_top} floors, above --max-floors {args.max_floors}: {' -> '.join(sub_chain)}")
        failed = True
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
