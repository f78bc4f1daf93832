"""What identifies code in a cache key: the source of the modules a stage (or a model) runs, read once per process.

A module's digest is taken over its syntax tree with docstrings removed, so editing a comment or a docstring never
invalidates a cache; any change to what the code does does. `closure` follows project imports (top level and lazy)
but stops at the modules named in `outside` (the task layer, settings, storage: how a stage is run, not what it
computes) and at the models package (a model is identified by its own weights and code, see `models.loader`), whose
`specs` constants are the one exception.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util

PROJECT = "screenalytics."
MODELS = "screenalytics.tasks.models."
FRAMEWORK = frozenset(f"screenalytics.tasks.{m}" for m in (  # how code runs, not what it computes
    "runner", "settings", "configs", "storage", "errors", "progress", "schemas", "code_identity"))
SHARED_CONSTANTS = "screenalytics.tasks.models.specs"  # plain constants stage code uses: followed like a leaf


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # `from package.module import function`: the function is not a module
        return False


@functools.cache
def _tree(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    with open(spec.origin, encoding="utf-8") as handle:
        return ast.parse(handle.read())


@functools.cache
def imports(module: str) -> frozenset[str]:
    """Project modules that `module` imports anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith(PROJECT) and _is_module(n)}
    return frozenset(found)


@functools.cache
def digest(module: str) -> str:
    """sha256 of the module's syntax tree without docstrings."""
    tree = _tree(module)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def closure(modules: tuple[str, ...], outside: frozenset[str] = FRAMEWORK, *, follow_models: bool = False
            ) -> list[str]:
    """`modules` and the project modules they import, transitively, without `outside` (and without the models
    package unless `follow_models`)."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen or module in outside:
            continue
        seen.add(module)
        todo += [m for m in imports(module)
                 if follow_models or not m.startswith(MODELS) or m == SHARED_CONSTANTS or module.startswith(MODELS)]
    return sorted(seen)


def code_digest(modules: tuple[str, ...], outside: frozenset[str] = FRAMEWORK, *, follow_models: bool = False
                ) -> dict[str, str]:
    """Module name -> digest for the closure: what a cache key records of the code."""
    return {m: digest(m)[:16] for m in closure(modules, outside, follow_models=follow_models)}
