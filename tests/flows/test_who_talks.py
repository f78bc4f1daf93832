"""Who is talking, end to end, on the composed who_talks episode (screenalytics.composer.plans.who_talks_plan): a
cast voice over crowd B-roll and then over a ~45 px picture-in-picture of its speaker, a voice-over over the photo
of a stranger, a cast member's voice over their own freeze-frame, a reaction shot of a still listener, two people
in turn in a two-shot (the listener a still). Truth: the composer's, speaking from the clean source audio."""
from __future__ import annotations

import pandas as pd
import pytest

from screenalytics.composer import EpisodeTruth
from screenalytics.flows.episode import episode
from screenalytics.tasks.intervals import intersect
from tests.conftest import CROWD, GRID


@pytest.fixture(scope="module")
def who_talks(prefect_harness, tmp_path_factory):
    from screenalytics.composer import build_sample

    paths = build_sample(tmp_path_factory.mktemp("who_talks"), kind="who_talks", clips_dir=GRID, crowd=CROWD)
    root = tmp_path_factory.mktemp("root")
    episode(str(paths["episode"]), ep_id="who", facebank=str(paths["facebank"]), root=str(root))
    folder = root / "episodes" / "who"
    truth = EpisodeTruth.from_json(paths["truth"])
    return (pd.read_parquet(folder / "screentime.parquet").set_index("person_id"),
            pd.read_parquet(folder / "intervals.parquet"), truth)


def seconds(spans: pd.DataFrame) -> float:
    return float((spans["end_s"] - spans["start_s"]).sum())


def test_each_stretch_of_speech_is_credited_to_its_speaker(who_talks):
    """Every placed stretch of speech (over B-roll, a PIP, a photo, a freeze-frame, a reaction shot, a two-shot)
    is at least 80% credited to its speaker and at most 20% to anyone else (stretches of 0.5 s or more: a GRID
    clip's 0.1 s tail is under voice activity's shortest speech)."""
    _, intervals, truth = who_talks
    speaking = intervals[intervals["kind"] == "speaking"]
    stretches = truth.speaking[truth.speaking["end_s"] - truth.speaking["start_s"] >= 0.5]
    assert len(stretches) >= 10
    for row in stretches.itertuples(index=False):
        span = pd.DataFrame({"start_s": [row.start_s], "end_s": [row.end_s]})
        own = seconds(intersect(span, speaking[speaking["person_id"] == row.person]))
        other = max((seconds(intersect(span, spans)) for person, spans in speaking.groupby("person_id")
                     if person != row.person), default=0.0)
        assert own >= 0.8 * seconds(span) and other <= 0.2 * seconds(span), (row, own, other)


def test_photos_stills_and_extras_are_never_credited_with_speech(who_talks):
    """The stranger's photo and the crowd's extras are unnamed and speak 0 s; a still listener is not
    overlapping while someone else's voice plays over it."""
    table, intervals, truth = who_talks
    named = set(truth.speaking["person"])
    assert set(table.index[~table.index.str.startswith(("unknown_", "voice_"))]) == named
    assert (table.loc[table.index.str.startswith("unknown_"), "speaking_s"] == 0).all()
    assert not table.index.str.startswith("voice_").any(), "every voice is a cast member's"
    overlap = intervals[intervals["kind"] == "overlap"]
    for row in truth.voice.itertuples(index=False):
        span = pd.DataFrame({"start_s": [row.start_s], "end_s": [row.end_s]})
        for person in named - {row.person}:
            assert seconds(intersect(span, overlap[overlap["person_id"] == person])) <= 0.25, (row, person)


def test_nobody_heard_is_left_at_zero_and_the_picture_in_picture_speaker_gets_their_voice(who_talks):
    """Everyone heard for 1 s or more gets speaking time; A, only ever seen as a ~45 px picture-in-picture among a
    crowd, gets their voice within max(0.5 s, 10%), on screen and off (the co-occurrence fusion gave it to an
    extra). The other people's `speaking_s` and `overlap_s` against the bar: docs/active_speaker.md."""
    table, _, truth = who_talks
    for person, spans in truth.speaking.groupby("person"):
        assert seconds(spans) < 1 or table.loc[person, "speaking_s"] > 0, person
    pip = truth.voice.sort_values("start_s")["person"].iloc[3]  # the voice over the crowd: A's
    spoken = truth.speaking[truth.speaking["person"] == pip]
    true_overlap = seconds(intersect(spoken, truth.visual[truth.visual["person"] == pip]))
    assert abs(table.loc[pip, "speaking_s"] - seconds(spoken)) <= max(0.5, 0.1 * seconds(spoken))
    assert abs(table.loc[pip, "overlap_s"] - true_overlap) <= max(0.5, 0.1 * true_overlap)
