"""A finished run read back from its published folder: where it is, its manifest (written last, so its presence
means the run finished), and its stage outputs, found by the keys the manifest records."""
from __future__ import annotations

from typing import Any

import pandas as pd

from screenalytics.tasks import storage
from screenalytics.tasks.decoding import Audio
from screenalytics.tasks.errors import InputError


def episode_folder(root: str, ep_id: str) -> str:
    """The published folder of an episode under a root."""
    return storage.join(storage.normalize_root(root), "episodes", storage.validate_ep_id(ep_id))


def read_manifest(folder: str) -> dict[str, Any]:
    """The manifest of the run published in `folder`, or a clear error when no run finished there."""
    url = storage.join(folder, "manifest.json")
    if not storage.exists(url):
        raise InputError(f"{folder}: no finished run here; run the episode first (`screenalytics run VIDEO "
                         "--ep-id ID`), or check the episode id and --root")
    return storage.read_json(url)


def finished_run(root: str, ep_id: str) -> tuple[str, dict[str, Any]]:
    """The folder and manifest of episode `ep_id`'s finished run under `root`."""
    folder = episode_folder(root, ep_id)
    return folder, read_manifest(folder)


def stage_table(folder: str, manifest: dict[str, Any], stage: str, name: str,
                filters: list[tuple] | None = None) -> pd.DataFrame | None:
    """A stage's stored table of this run (by the key in the manifest; only the rows passing `filters`, as
    `storage.read_parquet` takes them), or None when the stage did not run."""
    entry = manifest["stages"].get(stage)
    if entry is None:
        return None
    url = storage.join(folder, "stages", stage, entry["key"][:16], f"{name}.parquet")
    return storage.read_parquet(url, filters=filters) if storage.exists(url) else None


def stored_audio(folder: str, manifest: dict[str, Any]) -> Audio | None:
    """The run's audio track (16 kHz int16 on the container clock), or None when the video had none."""
    url = storage.join(folder, "audio.wav")
    if not storage.exists(url):
        return None
    return Audio.from_wav(storage.read_bytes(url), start_s=manifest["stages"]["audio"]["info"]["start_s"])


def run_label(manifest: dict[str, Any]) -> str:
    """`show S05 E03` from a manifest's catalog fields (empty when none is known)."""
    return " ".join(str(manifest[k]) for k in ("show", "season", "episode") if manifest.get(k))
