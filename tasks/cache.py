"""Content-addressed stage outputs: the cache key is (stage, its code, its config, its inputs' content hashes).

Each stage writes into `{episode}/stages/{stage}/{key[:16]}/` and writes `_done.json` last; a folder without it
is never trusted. Prefect's task cache uses the same key (see `prefect_cache_key`); when the folder is gone the
task is called with `refresh_cache=True`, so a deleted artifact is recomputed rather than returned from a stale
cache.
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from screenalytics import __version__
from screenalytics.tasks import storage


class Ref(BaseModel):
    """An artifact: its URL and the sha256 of its bytes."""

    url: str
    sha256: str


class StageOutput(BaseModel):
    stage: str
    key: str
    files: dict[str, Ref]
    seconds: float
    info: dict[str, Any] = {}

    def url(self, name: str) -> str:
        return self.files[name].url

    def table(self, name: str) -> pd.DataFrame:
        return storage.read_parquet(self.files[name].url)


class RunContext(BaseModel):
    """What every stage of one episode run shares."""

    ep_id: str
    episode_url: str
    video: Ref


def _source(module: str) -> Path:
    return Path(importlib.import_module(module).__file__ or "")


def _imports(module: str) -> set[str]:
    """Project modules that `module` imports (anywhere in its source)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(_source(module).read_text())):
        names = ([node.module] + [f"{node.module}.{a.name}" for a in node.names]
                 if isinstance(node, ast.ImportFrom) and node.module else
                 [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found |= {n for n in names if n.startswith("screenalytics.") and _is_module(n)}
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # `from package.module import function`: the function is not a module
        return False


def module_closure(modules: tuple[str, ...]) -> list[str]:
    """`modules` plus every project module they import, transitively."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += sorted(_imports(module) - seen)
    return sorted(seen)


def code_version(modules: tuple[str, ...], leaves: tuple[str, ...] = ()) -> str:
    """Package version + hash of the source of the stage's modules and everything they import: editing any code
    a stage runs invalidates its cache. `leaves` are hashed without following their imports."""
    digest = hashlib.sha256()
    for module in [*module_closure(modules), *leaves]:
        digest.update(module.encode() + _source(module).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def fingerprint(value: Any) -> Any:
    """JSON-able identity of a task argument. Artifacts contribute their content hash, never their URL alone."""
    if isinstance(value, StageOutput):
        return {"stage": value.stage, "files": {k: v.sha256 for k, v in sorted(value.files.items())}}
    if isinstance(value, RunContext):
        return {"ep_id": value.ep_id, "episode": value.episode_url, "video": value.video.sha256}
    if isinstance(value, Ref):
        return value.sha256
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [fingerprint(v) for v in value]
    return value


def stage_key(stage: str, modules: tuple[str, ...], args: dict[str, Any]) -> str:
    code = code_version(modules, leaves=("screenalytics.tasks.steps",))
    blob = json.dumps({"stage": stage, "code": code, "args": fingerprint(args)}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def stage_dir(ctx: RunContext, stage: str, key: str) -> str:
    return storage.join(ctx.episode_url, "stages", stage, key[:16])


def load_done(ctx: RunContext, stage: str, key: str) -> StageOutput | None:
    done = storage.join(stage_dir(ctx, stage, key), "_done.json")
    if not storage.exists(done):
        return None
    output = StageOutput.model_validate(storage.read_json(done))
    return output if all(storage.exists(ref.url) for ref in output.files.values()) else None


def run_cached(ctx: RunContext, stage: str, modules: tuple[str, ...], args: dict[str, Any],
               compute: Callable[[], tuple[dict[str, pd.DataFrame | bytes], dict[str, Any]]]) -> StageOutput:
    """Return the finished output for this key, or compute it, write every file atomically, then `_done.json`."""
    key = stage_key(stage, modules, args)
    found = load_done(ctx, stage, key)
    if found is not None:
        return found
    started = time.perf_counter()
    outputs, info = compute()
    folder = stage_dir(ctx, stage, key)
    files: dict[str, Ref] = {}
    for name, value in outputs.items():
        if isinstance(value, pd.DataFrame):
            url = storage.join(folder, f"{name}.parquet")
            files[name] = Ref(url=url, sha256=storage.write_parquet(value, url))
        else:
            url = storage.join(folder, name)
            storage.write_bytes(url, value)
            files[name] = Ref(url=url, sha256=hashlib.sha256(value).hexdigest())
    output = StageOutput(stage=stage, key=key, files=files, seconds=time.perf_counter() - started, info=info)
    storage.write_json(output.model_dump(mode="json"), storage.join(folder, "_done.json"))
    return output


def prefect_cache_key(stage: str, modules: tuple[str, ...]) -> Callable[[Any, dict[str, Any]], str]:
    """A Prefect `cache_key_fn` giving the same key as the stage's output folder (see `steps.call_stage`)."""

    def key_fn(_context: Any, parameters: dict[str, Any]) -> str:
        return f"{stage}-{stage_key(stage, modules, parameters)}"

    return key_fn
