"""What a run is given, as content-addressed references: the video (validated and hashed, with the episode id),
the facebank and the voicebank. A reference's identity is its bytes, never how its path is spelled."""
from __future__ import annotations

from pathlib import Path

from prefect import task

from screenalytics.tasks import storage
from screenalytics.tasks.catalog import EpisodeLabels, default_ep_id
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.models.loader import folder_sha256
from screenalytics.tasks.probe import check_file
from screenalytics.tasks.runner import Ref, RunContext
from screenalytics.tasks.settings import Settings


@task(name="prepare")
def prepare(video: str, ep_id: str | None, settings: Settings, labels: EpisodeLabels | None = None) -> RunContext:
    """Validate the inputs and hash the video's bytes (the cache key of everything downstream). Without an
    `ep_id`, the episode is named after its labels or its file (`catalog.default_ep_id`)."""
    path = Path(video).expanduser()
    check_file(str(path))
    ep = storage.validate_ep_id(ep_id or default_ep_id(str(path), labels or EpisodeLabels()))
    url = path.resolve().as_uri()
    episode_url = storage.join(storage.normalize_root(settings.root), "episodes", ep)
    video = Ref(url=url, sha256=storage.sha256_url(url))
    refuse_another_video(episode_url, ep, video)
    return RunContext(ep_id=ep, episode_url=episode_url, video=video)


def refuse_another_video(episode_url: str, ep_id: str, video: Ref) -> None:
    """Two different videos must not share an episode id (a second file with the same stem would silently replace
    the first one's outputs)."""
    published = storage.join(episode_url, "episode.parquet")
    if not storage.exists(published):
        return
    before = storage.read_parquet(published).iloc[0]
    if before["content_sha256"] != video.sha256:
        raise InputError(f"episode id {ep_id!r} already holds the outputs of another video ({before['source_url']}); "
                         f"give {video.url} its own id with --ep-id, or delete {episode_url} to replace them")


def folder_ref(folder: Path) -> Ref:
    """A folder's identity: its file names and contents."""
    return Ref(url=folder.resolve().as_uri(), sha256=folder_sha256(folder))


def facebank_ref(facebank: str | None) -> Ref | None:
    """A facebank folder (one sub-folder per person) or a facebank `.parquet`, local or remote."""
    if not facebank:
        return None
    if "://" in facebank and not facebank.startswith("file://"):
        return Ref(url=facebank, sha256=storage.sha256_url(facebank))
    path = Path(storage.local_path(facebank) or facebank).expanduser()
    if path.is_dir():
        return folder_ref(path)
    if path.is_file():
        url = path.resolve().as_uri()
        return Ref(url=url, sha256=storage.sha256_url(url))
    raise InputError(f"{facebank}: facebank not found (give a folder with one sub-folder per person, "
                     "or a facebank .parquet built with `screenalytics facebank import`).")


def voicebank_ref(voicebank: str | None) -> Ref | None:
    """A voicebank folder's identity (names and file hashes), or a clear error when it is not a folder."""
    if not voicebank:
        return None
    path = Path(storage.local_path(voicebank) or voicebank).expanduser()
    if not path.is_dir():
        raise InputError(f"{voicebank}: voicebank folder not found (give a folder with one sub-folder per person "
                         "holding recordings of them talking).")
    return folder_ref(path)
