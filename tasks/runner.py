"""How a stage runs: one cache of content-addressed stage folders, and the thin Prefect task around each stage.

A stage call's key is computed once, from the stage's own code (its module and the leaf helpers it imports, not
this module, settings, storage or the models package: `code_identity`), its inputs (configs by value, artifacts by
content hash, never by URL or path spelling), the identities of the models it reads, and the schema version. Its
files go to `{episode}/stages/{stage}/{key[:16]}/`, `_done.json` last; a folder without it is never trusted. That
folder is the only cache: Prefect's task cache is off, Prefect adds retries, logging and the run graph.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from screenalytics.tasks import code_identity, schemas, storage
from screenalytics.tasks.decoding import Audio
from screenalytics.tasks.episode_lock import stage_running
from screenalytics.tasks.errors import InputError, MissingModelError
from screenalytics.tasks.progress import ProgressHook, log_progress, run_logger

_NO_RETRY = (InputError, MissingModelError, ValueError)


class Ref(BaseModel):
    """An artifact: its URL and the sha256 of its bytes."""

    url: str
    sha256: str


class StageOutput(BaseModel):
    """A finished stage: its files (tables checked against their schema on read), timing and small typed facts."""

    stage: str
    key: str
    files: dict[str, Ref]
    seconds: float
    info: dict[str, Any] = {}
    schemas: dict[str, str] = {}
    cached: bool = False

    def url(self, name: str) -> str:
        return self.files[name].url

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A stored table (only `columns` when given), checked against its schema."""
        frame = storage.read_parquet(self.files[name].url, columns)
        schema = self.schemas.get(name)
        if not schema:
            return frame
        contract = getattr(schemas, schema).to_schema()
        return (contract if columns is None else contract.select_columns(columns)).validate(frame)


class RunContext(BaseModel):
    """What every stage of one episode run shares."""

    ep_id: str
    episode_url: str
    video: Ref


class ModelSource(Protocol):
    """Where a stage gets its models (`models.loader.Models`): `get(role)` builds once, `identity(role)` names it."""

    def get(self, role: str) -> Any: ...

    def identity(self, role: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StageRun:
    """Handed to a stage's task body: the run, the models to ask for (`models.get(role)`) and the progress hook."""

    ctx: RunContext
    models: ModelSource
    progress: ProgressHook


Produced = tuple[dict[str, pd.DataFrame | bytes | storage.Placed], dict[str, Any]]


def fingerprint(value: Any) -> Any:
    """JSON-able identity of a task input. Artifacts contribute their content hash, never their URL."""
    if isinstance(value, StageOutput):
        return {"stage": value.stage, "files": {k: v.sha256 for k, v in sorted(value.files.items())}}
    if isinstance(value, RunContext):
        return {"ep_id": value.ep_id, "video": value.video.sha256}
    if isinstance(value, Ref):
        return value.sha256
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [fingerprint(v) for v in value]
    return value


def key_parts(stage: str, module: str, inputs: dict[str, Any], models: dict[str, Any]) -> dict[str, Any]:
    """Everything a stage key is made of (tests read this)."""
    return {"stage": stage, "schema_version": schemas.SCHEMA_VERSION,
            "code": code_identity.code_digest((module,)), "inputs": fingerprint(inputs),
            "models": models}


def stage_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def stage_dir(ctx: RunContext, stage: str, key: str) -> str:
    return storage.join(ctx.episode_url, "stages", stage, key[:16])


def intact(ref: Ref) -> bool:
    """The file behind a stage output's reference still has the bytes its checksum was recorded from."""
    return storage.exists(ref.url) and storage.sha256_url(ref.url) == ref.sha256


def load_done(ctx: RunContext, stage: str, key: str) -> StageOutput | None:
    """A finished stage folder for the key, trusted only when every file it lists is there with its recorded
    checksum (a file deleted, truncated or altered on disk makes the stage run again, never read)."""
    done = storage.join(stage_dir(ctx, stage, key), "_done.json")
    if not storage.exists(done):
        return None
    try:
        output = StageOutput.model_validate(storage.read_json(done))
    except (ValueError, TypeError):  # a damaged _done.json is no proof of a finished stage
        return None
    if all(intact(ref) for ref in output.files.values()):
        return output
    run_logger().warning("%s: a stored output of this stage was missing or damaged; recomputing it", stage)
    return None


def write_stage(ctx: RunContext, stage: str, key: str, produced: Produced, tables: dict[str, type],
                seconds: float) -> StageOutput:
    """Validate each table against its schema, write every file atomically, then `_done.json`."""
    outputs, info = produced
    folder = stage_dir(ctx, stage, key)
    files: dict[str, Ref] = {}
    for name, value in outputs.items():
        if isinstance(value, storage.Placed):  # written in place by the stage (a `storage.ParquetSink`)
            files[name] = Ref(url=value.url, sha256=value.sha256)
        elif isinstance(value, pd.DataFrame):
            if name in tables:
                value = tables[name].validate(value)
            url = storage.join(folder, f"{name}.parquet")
            files[name] = Ref(url=url, sha256=storage.write_parquet(value, url))
        else:
            url = storage.join(folder, name)
            storage.write_bytes(url, value)
            files[name] = Ref(url=url, sha256=hashlib.sha256(value).hexdigest())
    output = StageOutput(stage=stage, key=key, files=files, seconds=seconds, info=info,
                         schemas={n: tables[n].__name__ for n in outputs if n in tables})
    storage.write_json(output.model_dump(mode="json"), storage.join(folder, "_done.json"))
    stage_running(stage, False)
    return output


def _retry_transient(_task: Any, _run: Any, state: Any) -> bool:
    return not isinstance(state.result(raise_on_failure=False), _NO_RETRY)


TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False, "retries": 1,
                                 "retry_delay_seconds": 2, "retry_condition_fn": _retry_transient}


def find_stage(stage: str, module: str, ctx: RunContext, models: ModelSource | None, roles: tuple[str, ...],
               inputs: dict[str, Any], progress: ProgressHook) -> tuple[str, StageOutput | None]:
    """A stage call's key, and its finished output when a run already made it (shown as `<stage> (reused)`)."""
    key = stage_key(key_parts(stage, module, {"ctx": ctx, **inputs}, {r: models.identity(r) for r in roles}))
    found = load_done(ctx, stage, key)
    if found is None:
        stage_running(stage, True)
        return key, None
    with progress(f"{stage} (reused)", 0):
        pass
    return key, found.model_copy(update={"cached": True})


def stage_task(stage: str, *, tables: dict[str, type] | None = None,
               models: tuple[str, ...] | Callable[..., tuple[str, ...]] = ()) -> Callable:
    """Wrap a task body `fn(run: StageRun, **inputs) -> (outputs, info)` into a retried Prefect task
    `task(ctx, models=None, progress=None, **inputs) -> StageOutput` that reuses a finished folder for its key.
    `tables` names the schema of each output table; `models` the model roles it reads (or a function of the
    `Models` and the inputs that returns them)."""
    tables = tables or {}

    def wrap(fn: Callable[..., Produced]) -> Any:
        module = fn.__module__

        def run(ctx: RunContext, models: ModelSource | None = None, progress: ProgressHook | None = None,
                **inputs: Any) -> StageOutput:
            hook = progress or log_progress
            key, found = find_stage(stage, module, ctx, models, models_read(run_task, models, inputs), inputs, hook)
            if found is not None:
                return found
            started = time.perf_counter()
            produced = fn(StageRun(ctx, models, hook), **inputs)
            return write_stage(ctx, stage, key, produced, tables, time.perf_counter() - started)

        run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        run.__module__ = module
        run_task = task(name=stage, **TASK_OPTIONS)(run)
        run_task.stage, run_task.stage_module, run_task.model_roles = stage, module, models
        return run_task

    return wrap


def models_read(stage_task: Any, models: ModelSource | None, inputs: dict[str, Any]) -> tuple[str, ...]:
    """The model roles a stage call reads."""
    roles = stage_task.model_roles
    return tuple(roles(models, **inputs)) if callable(roles) else tuple(roles)


def local_input(url: str) -> str:
    """Decoders need a local file: `file://` URLs map to their path (remote inputs are staged by the flow)."""
    path = storage.local_path(url)
    if path is None:
        raise InputError(f"{url}: remote inputs must be staged locally first")
    return path


def read_audio(audio: StageOutput) -> tuple[Audio, schemas.AudioInfo]:
    """The audio stage's track and its typed facts."""
    info = schemas.AudioInfo.model_validate(audio.info)
    return Audio.from_wav(storage.read_bytes(audio.url("audio.wav")), start_s=info.start_s), info
