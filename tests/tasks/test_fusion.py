"""Who speaks each turn, on generated active-speaker scores with known truth: reaction shots, a photo, two faces
and one voice, merged voices, a narrator over a talking face, an extra, and the screen-time table they make."""
import numpy as np
import pandas as pd
import pytest

from screenalytics.tasks.attribution import attribute_turns, scored_people, turn_evidence, voice_links, voice_owners
from screenalytics.tasks.configs import FusionConfig
from screenalytics.tasks.fusion import label_words, screen_time, speaking_intervals
from screenalytics.tasks.schemas import Intervals

RNG = np.random.default_rng(0)
CFG = FusionConfig()


def face(person: str, start: float, end: float, talking: bool) -> pd.DataFrame:
    """Scored frames of one visible face at 25 fps: a talking face scores ~+1.5, with a tenth of its frames
    negative; a still or silent one ~-3, with a twentieth of its frames positive (the model's false alarms)."""
    t = np.arange(start, end, 0.04)
    score = RNG.normal(1.5 if talking else -3.0, 0.3, len(t))
    flip = RNG.random(len(t)) < (0.1 if talking else 0.05)
    score[flip] = -score[flip]
    return pd.DataFrame({"t_s": t, "person_id": person, "score": score})


def people(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True).sort_values("t_s", ignore_index=True)


def turns(*spans: tuple[str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(spans, columns=["speaker", "start_s", "end_s"]).assign(ep_id="ep")


def visual(*spans: tuple[str, float, float]) -> pd.DataFrame:
    table = pd.DataFrame(spans, columns=["person_id", "start_s", "end_s"])
    return Intervals.validate(table.assign(ep_id="ep", kind="visual")[list(Intervals.to_schema().columns)])


def attribute(seen: pd.DataFrame, spoken: pd.DataFrame, similarity=None):
    evidence = turn_evidence(spoken, seen, CFG.talking_score)
    owners = voice_owners(spoken, evidence, CFG, similarity)
    return attribute_turns(spoken, evidence, owners, CFG, ep_id="ep"), voice_links(owners, ep_id="ep")


def credited(table: pd.DataFrame) -> list[str]:
    return table["person_id"].tolist()


def test_reaction_shots_go_to_the_voice_not_the_listener():
    """A talks 0-10 s: on screen 0-6, then a reaction shot of B (listening) 6-10; B talks 10-20: on screen 10-16,
    then a reaction shot of A 16-20. Each voice's off-screen stretch stays its owner's."""
    seen = people(face("A", 0, 6, True), face("B", 6, 10, False), face("B", 10, 16, True), face("A", 16, 20, False))
    spoken = turns(("voice_0", 0, 6), ("voice_0", 6, 10), ("voice_1", 10, 16), ("voice_1", 16, 20))
    table, links = attribute(seen, spoken)
    assert credited(table) == ["A", "A", "B", "B"]
    assert table["source"].tolist() == ["seen_talking", "voice", "seen_talking", "voice"]
    assert links.set_index("speaker")["person_id"].to_dict() == {"voice_0": "A", "voice_1": "B"}
    shown = visual(("A", 0, 6), ("B", 6, 16), ("A", 16, 20))
    heard = speaking_intervals(table, shown, ep_id="ep")
    result = screen_time(pd.concat([shown, heard]), pd.DataFrame({"person_id": ["A", "B"], "name": ["A", "B"]}),
                         ep_id="ep", duration_s=20, audio=True).set_index("person_id")
    assert result.loc["A", ["speaking_s", "overlap_s", "offscreen_speaking_s"]].tolist() == pytest.approx([10, 6, 4])
    assert result.loc["B", ["speaking_s", "overlap_s", "offscreen_speaking_s"]].tolist() == pytest.approx([10, 6, 4])


def test_a_photo_on_screen_never_takes_a_voice_over():
    """A voice-over (never seen talking) while a photo of P fills the screen stays `voice_0`, off screen."""
    table, links = attribute(people(face("P", 0, 8, False)), turns(("voice_0", 0, 8)))
    assert credited(table) == ["voice_0"] and table["source"].tolist() == ["none"]
    assert links["person_id"].tolist() == ["voice_0"] and links["confidence"].tolist() == [0.0]


def test_two_faces_side_by_side_each_get_their_own_voice():
    seen = people(face("A", 0, 8, True), face("B", 0, 8, False), face("A", 8, 16, False), face("B", 8, 16, True))
    table, links = attribute(seen, turns(("voice_0", 0, 8), ("voice_1", 8, 16)))
    assert credited(table) == ["A", "B"] and (links["confidence"] > 0.7).all()


def test_two_voices_merged_into_one_are_split_by_who_is_seen_talking():
    """Diarization merged A's and B's voices into voice_0; they alternate in a two-shot. Each turn goes to the
    face talking in it; B would get 0 s if the voice went whole to one face."""
    seen = people(*[face(p, a, a + 4, p == talker) for a, talker in zip(range(0, 16, 4), "ABAB") for p in "AB"])
    table, _ = attribute(seen, turns(*[("voice_0", a, a + 4) for a in range(0, 16, 4)]))
    assert credited(table) == ["A", "B", "A", "B"]


def test_a_narrator_over_talking_cast_members_is_not_them():
    """A and B talk with their own voices (0-6 s, 6-12 s); then a narrator (voice_2) is heard over A's and then
    B's talking lips (their sound replaced). Each owns their own voice, so the narration is nobody on screen."""
    seen = people(face("A", 0, 6, True), face("B", 6, 12, True), face("A", 12, 15, True), face("B", 15, 18, True))
    table, _ = attribute(seen, turns(("voice_0", 0, 6), ("voice_1", 6, 12), ("voice_2", 12, 15), ("voice_2", 15, 18)))
    assert credited(table) == ["A", "B", "voice_2", "voice_2"]


def test_an_extra_seen_talking_blocks_the_cast_but_gets_no_credit():
    """An unnamed face talks through voice_0 while cast member A listens: the turn is the voice's, not A's, and
    the extra is kept as the evidence."""
    seen = people(face("unknown_3", 0, 6, True), face("A", 0, 6, False))
    table, links = attribute(seen, turns(("voice_0", 0, 6)))
    assert credited(table) == ["voice_0"] and table["face_id"].tolist() == ["unknown_3"]
    assert links["person_id"].tolist() == ["voice_0"] and links["face_id"].tolist() == ["unknown_3"]


def test_two_people_talking_at_once_both_get_the_overlapped_time():
    seen = people(face("A", 0, 6, True), face("B", 3, 9, True))
    table, _ = attribute(seen, turns(("voice_0", 0, 6), ("voice_1", 3, 9)))
    heard = speaking_intervals(table, visual(("A", 0, 6), ("B", 3, 9)), ep_id="ep")
    speaking = heard[heard["kind"] == "speaking"].set_index("person_id")
    assert speaking.loc["A", ["start_s", "end_s"]].tolist() == [0, 6]
    assert speaking.loc["B", ["start_s", "end_s"]].tolist() == [3, 9]


def test_a_voice_nobody_is_seen_speaking_is_named_by_the_voicebank():
    """A on screen talking through voice_0; voice_1 a narrator never seen. Enrolled, the narrator is named with
    its similarity; a similarity under `min_voice_similarity` adds nothing; a voicebank never takes an owner's
    person."""
    seen = people(face("A", 0, 8, True), face("A", 10, 18, False))
    spoken = turns(("voice_0", 0, 8), ("voice_1", 10, 18))
    heard = pd.DataFrame({"speaker": ["voice_0", "voice_1", "voice_0", "voice_1"],
                          "person_id": ["narrator", "narrator", "A", "A"], "similarity": [0.1, 0.8, 0.9, 0.9]})
    table, links = attribute(seen, spoken, heard)
    links = links.set_index("speaker")
    assert links["person_id"].to_dict() == {"voice_0": "A", "voice_1": "narrator"}
    assert links.loc["voice_1", ["voice_similarity", "confidence"]].tolist() == pytest.approx([0.8, 0.8])
    assert links.loc["voice_0", "voice_similarity"] == pytest.approx(0.9)
    assert table["source"].tolist() == ["seen_talking", "voicebank"]
    weak = heard.assign(similarity=[0.1, CFG.min_voice_similarity - 0.01, 0.9, 0.9])
    assert attribute(seen, spoken, weak)[1]["person_id"].tolist() == ["A", "voice_1"]


def test_scores_take_the_person_of_their_tracks_segment():
    """Track 0 is split at 1.0 s (segment 0 is A, segment 1 is B); track 1 (segment 2) had no usable face
    (`unidentified`, never counted); two tracks of one person at one instant count once."""
    faces = pd.DataFrame({"ep_id": "ep", "det_id": [0, 1, 2, 3, 4, 5], "track_id": [0, 0, 0, 1, 2, 2],
                          "t_s": [0.0, 0.5, 1.5, 0.0, 0.0, 2.0], "segment_id": [0, 0, 1, 2, 3, 3]})
    identities = pd.DataFrame({"segment_id": [0, 1, 2, 3], "person_id": ["A", "B", "unidentified", "A"]})
    scores = pd.DataFrame({"track_id": [0, 0, 1, 2], "frame_idx": [0, 40, 0, 0], "t_s": [0.0, 1.6, 0.0, 0.0],
                           "score": [1.0, -2.0, 3.0, 2.0]})
    got = scored_people(scores, faces, identities)
    assert got.values.tolist() == [[0.0, "A", 2.0], [1.6, "B", -2.0]]


def test_each_word_takes_the_person_credited_with_its_turn():
    table, _ = attribute(people(face("A", 0, 4, True)), turns(("voice_0", 0, 4), ("voice_1", 4, 8)))
    words = pd.DataFrame({"ep_id": "ep", "start_s": [1.0, 3.9, 5.0, 9.0], "end_s": [1.5, 4.5, 5.5, 9.5],
                          "word": ["a", "b", "c", "d"], "probability": 0.9, "segment": 0, "speaker": None})
    labelled = label_words(words, table)["speaker"]
    assert labelled[:3].tolist() == ["A", "voice_1", "voice_1"] and pd.isna(labelled[3])


def test_an_off_screen_owner_keeps_the_voice_over_an_extra_but_not_over_a_named_talker():
    """voice_0 is A's (seen talking 0-6 s). Later, A off screen: over a talking extra it stays A's; over B talking
    (B owns no voice: diarization merged B into voice_0) it is B's."""
    seen = people(face("A", 0, 6, True), face("unknown_1", 6, 10, True), face("B", 10, 14, True))
    table, _ = attribute(seen, turns(("voice_0", 0, 6), ("voice_0", 6, 10), ("voice_0", 10, 14)))
    assert credited(table) == ["A", "A", "B"] and table["source"].tolist() == ["seen_talking", "voice", "seen_talking"]


def test_warnings_name_what_to_check():
    """A seen talking but given none of the speech; a voice never seen; low-confidence turns; a poor transcript."""
    from screenalytics.tasks.attribution import attribution_warnings

    seen = people(face("A", 0, 6, True))
    table = pd.DataFrame({"ep_id": "ep", "start_s": [0.0, 6.0], "end_s": [6.0, 12.0], "speaker": ["voice_0", "voice_1"],
                          "person_id": ["voice_0", "voice_1"], "face_id": [None, None], "source": ["voice", "none"],
                          "talking_s": 0.0, "seen_s": 0.0, "confidence": [0.2, 0.0]})
    words = pd.DataFrame({"probability": [0.1, 0.3]})
    got = attribution_warnings(table, seen, pd.Series({"A": 0.0}), pd.Series({"A": "Ann"}), CFG, words)
    assert len(got) == 4
    assert got[0].startswith("Ann was seen talking for 5.") and "credited with no speech" in got[0]  # 90% of 6 s
    assert got[1].startswith("voice_1 (6.0 s of speech) was never seen talking")
    assert got[2].startswith("1 turns (6.0 s of speech) were attributed with confidence below 0.5")
    assert "mean word confidence is 0.20" in got[3]
    table, _ = attribute(seen, turns(("voice_0", 0, 6)))
    assert attribution_warnings(table, seen, pd.Series({"A": 6.0}), pd.Series({"A": "Ann"}), CFG) == []
