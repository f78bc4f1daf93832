"""Where an episode sits: its show, season and episode, from the run's parameters or the video's path, and the
episode id a run gets when none is given."""
from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

import pandas as pd
from pandera.typing import DataFrame
from pydantic import BaseModel, ConfigDict

from screenalytics.tasks.errors import InputError
from screenalytics.tasks.schemas import Catalog

# raw/videos/{show}/s{season}/e{episode}/episode.mp4 (any file name in the episode folder)
LAYOUT = re.compile(r"(?:^|/)(?P<show>[^/]+)/s(?:eason)?[ _-]?(?P<season>\d{1,3})/e(?:pisode)?[ _-]?"
                    r"(?P<episode>\d{1,4})/[^/]+$", re.IGNORECASE)
# Show.Name.S05E03.mp4, show_s5e3.mkv
FILE_NAME = re.compile(r"^(?P<show>.+?)[ ._-]+s(?P<season>\d{1,3})[ ._-]?e(?P<episode>\d{1,4})(?!\d)", re.IGNORECASE)
CODE = re.compile(r"^\s*(?:(?P<word>season|episode|s|e)[ _-]?)?(?P<number>\d{1,4})\s*$", re.IGNORECASE)
GENERIC_STEMS = {"episode", "video", "main", "master", "source"}  # names that say nothing: the folder names it


class EpisodeLabels(BaseModel):
    """Show, season (`S05`) and episode (`E03`) of a run; any may be unknown."""

    model_config = ConfigDict(frozen=True)
    show: str | None = None
    season: str | None = None
    episode: str | None = None


def _code(value: str | int | None, letter: str, option: str) -> str | None:
    """`5`, `S5`, `s05`, `season 5` -> `S05` (letter `S`); None stays None."""
    if value is None or str(value).strip() == "":
        return None
    match = CODE.match(str(value))
    word = (match.group("word") or letter).lower() if match else ""
    if not match or word[0] != letter.lower():
        raise InputError(f"{option} {value!r}: give a number such as 5 or {letter}05")
    return f"{letter}{int(match.group('number')):02d}"


def season_code(value: str | int | None) -> str | None:
    return _code(value, "S", "--season")


def episode_code(value: str | int | None) -> str | None:
    return _code(value, "E", "--episode")


def _show_name(text: str) -> str:
    return re.sub(r"[._]+", " ", text).strip() or text


def labels_for(video: str, show: str | None = None, season: str | int | None = None,
               episode: str | int | None = None) -> EpisodeLabels:
    """The run's labels: each given one wins; the others come from the path's layout
    (`{show}/s{NN}/e{NN}/file`) or a file name such as `Show.Name.S05E03.mp4`."""
    path = PurePosixPath(str(video).replace("\\", "/"))
    found = LAYOUT.search(str(path)) or FILE_NAME.match(path.stem)
    parsed = ({"show": _show_name(found.group("show")), "season": found.group("season"),
               "episode": found.group("episode")} if found else {})
    return EpisodeLabels(show=(show.strip() or None) if show else parsed.get("show"),
                         season=season_code(season if season is not None else parsed.get("season")),
                         episode=episode_code(episode if episode is not None else parsed.get("episode")))


def safe_id(text: str) -> str:
    """An episode id made from free text: ASCII letters, digits, '.', '_' and '-' (accents dropped, other runs of
    characters become '-')."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text).strip("-.") or "episode"


def default_ep_id(video: str, labels: EpisodeLabels) -> str:
    """`{show}-s05e03` when all three labels are known; else the file's stem, or its folder's name when the stem
    is generic (`episode.mp4`, as in the storage layout and the composer's samples)."""
    if labels.show and labels.season and labels.episode:
        return safe_id(f"{labels.show}-{labels.season}{labels.episode}".lower())
    path = PurePosixPath(str(video).replace("\\", "/"))
    name = path.parent.name if path.stem.lower() in GENERIC_STEMS and path.parent.name else path.stem
    return safe_id(name)


def catalog_row(ep_id: str, labels: EpisodeLabels) -> DataFrame[Catalog]:
    """The episode's row of the catalog (`catalog.parquet` in its folder)."""
    return Catalog.validate(pd.DataFrame({"ep_id": [ep_id], "show_name": [labels.show], "season": [labels.season],
                                          "episode": [labels.episode]}))
