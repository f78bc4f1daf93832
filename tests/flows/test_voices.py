"""Speaking and overlap time end to end on the composed voices episode: own-voice shots, reaction shots (one face,
another person's voice), two faces with one voice, and a voice over a faceless shot. Truth: screenalytics.speech_truth.
"""
from __future__ import annotations

import pandas as pd
import pytest

from screenalytics.compose import EpisodeTruth
from screenalytics.flows.episode import episode
from screenalytics.tasks.fusion import intersect
from tests.conftest import GRID


@pytest.fixture(scope="module")
def voices_run(prefect_harness, tmp_path_factory):
    from screenalytics.compose import build_sample

    paths = build_sample(tmp_path_factory.mktemp("voices"), kind="voices", clips_dir=GRID)
    root = tmp_path_factory.mktemp("root")
    episode(str(paths["episode"]), ep_id="voices", facebank=str(paths["facebank"]), root=str(root))
    folder = root / "episodes" / "voices"
    return folder, EpisodeTruth.from_json(paths["truth"])


def seconds(spans: pd.DataFrame) -> float:
    return float((spans["end_s"] - spans["start_s"]).sum())


def spans_of(table: pd.DataFrame, person: str, kind: str | None = None) -> pd.DataFrame:
    rows = table[table["person_id" if "person_id" in table else "person"] == person]
    return rows[rows["kind"] == kind] if kind else rows


def placements(truth: EpisodeTruth, kind: str) -> list[tuple[str, pd.DataFrame, list[str]]]:
    """Voice placements of one kind: `reaction` (the voice's owner off screen, others on), `faceless` (nobody on
    screen). Returns (voice owner, its span, people on screen)."""
    out = []
    for row in truth.voice.itertuples(index=False):
        span = pd.DataFrame({"start_s": [row.start_s], "end_s": [row.end_s]})
        shown = [p for p in truth.visual["person"].unique() if seconds(intersect(span, spans_of(truth.visual, p)))]
        if (kind == "reaction" and shown and row.person not in shown) or (kind == "faceless" and not shown):
            out.append((row.person, span, shown))
    return out


def test_each_voice_is_linked_to_the_face_of_its_speaker(voices_run):
    """A linked voice goes to someone who really speaks a good part of it (a third or more: diarization may merge
    two voices), never to a listener seen while it plays."""
    folder, truth = voices_run
    links = pd.read_parquet(folder / "voice_links.parquet")
    turns = pd.read_parquet(folder / "speaker_turns.parquet")
    assert links["person_id"].isin(truth.visual["person"]).any()
    for link in links.itertuples(index=False):
        mine = turns[turns["speaker"] == link.speaker]
        share = {p: seconds(intersect(mine, spans_of(truth.speaking, p))) for p in truth.speaking["person"].unique()}
        if not link.person_id.startswith("voice_"):
            assert share[link.person_id] >= sum(share.values()) / 3, (link, share)
    assert links["person_id"].is_unique


def test_reaction_shot_listeners_get_no_overlap_time(voices_run):
    folder, truth = voices_run
    intervals = pd.read_parquet(folder / "intervals.parquet")
    reactions = placements(truth, "reaction")
    assert reactions, "the plan has reaction shots"
    for _, span, shown in reactions:
        for listener in shown:
            credited = seconds(intersect(span, spans_of(intervals, listener, "overlap")))
            assert credited <= 0.25, (listener, credited)


def test_voice_over_a_faceless_shot_is_offscreen_speech(voices_run):
    folder, truth = voices_run
    intervals = pd.read_parquet(folder / "intervals.parquet")
    table = pd.read_parquet(folder / "screentime.parquet").set_index("person_id")
    faceless = placements(truth, "faceless")
    assert faceless, "the plan has a faceless shot"
    for _, span, _ in faceless:
        assert seconds(intersect(span, intervals[intervals["kind"] == "overlap"])) == 0
        assert seconds(intersect(span, intervals[intervals["kind"] == "speaking"])) >= 0.8 * seconds(
            intersect(span, truth.speaking))
    assert (table["offscreen_speaking_s"] >= -1e-9).all()
    assert table["offscreen_speaking_s"].sum() > 0


def test_speaking_time_against_truth(voices_run):
    """Measured (docs/benchmarks.md): total speaking time +13% (boundaries ~0.25 s wider than the clean-source
    truth per turn); per person the errors reach ~4 s because diarization merges two of the four GRID voices
    (Resemblyzer d-vectors of these speakers are 0.64 alike): the issue's 0.5 s per person is not met yet."""
    folder, truth = voices_run
    table = pd.read_parquet(folder / "screentime.parquet")
    heard = float(table["speaking_s"].sum())
    assert abs(heard - seconds(truth.speaking)) <= 0.2 * seconds(truth.speaking), heard
    overlap = float(table["overlap_s"].sum())
    true_overlap = sum(seconds(intersect(spans_of(truth.speaking, p), spans_of(truth.visual, p)))
                       for p in truth.speaking["person"].unique())
    assert abs(overlap - true_overlap) <= 0.25 * true_overlap, (overlap, true_overlap)
