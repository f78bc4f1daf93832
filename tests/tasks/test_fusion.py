"""Speaker-to-face fusion on generated face samples and speaker turns with known truth."""
import numpy as np
import pandas as pd
import pytest

from screenalytics.tasks.configs import FusionConfig
from screenalytics.tasks.fusion import face_samples, link_voices, screen_time, speaking_intervals
from screenalytics.tasks.schemas import Intervals

FPS = 3.0
RNG = np.random.default_rng(0)


def faces(person: str, start: float, end: float, talking: bool, height: float = 120.0) -> pd.DataFrame:
    """Samples of one visible face; a talking mouth changes a lot between samples, a listening one little."""
    t = np.arange(start, end, 1 / FPS)
    activity = RNG.normal(1.0 if talking else 0.2, 0.05, len(t)).clip(0)
    return pd.DataFrame({"t_s": t, "person_id": person, "face_h_px": height, "activity": activity})


def turns(*spans: tuple[str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(spans, columns=["speaker", "start_s", "end_s"]).assign(ep_id="ep")


def visual(*spans: tuple[str, float, float]) -> pd.DataFrame:
    table = pd.DataFrame(spans, columns=["person_id", "start_s", "end_s"])
    return Intervals.validate(table.assign(ep_id="ep", kind="visual")[list(Intervals.to_schema().columns)])


def samples(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def owners(links: pd.DataFrame) -> dict[str, str]:
    return links.set_index("speaker")["person_id"].to_dict()


def test_reaction_shots_do_not_give_the_listener_speaking_time():
    # A talks 0-10 s: on screen 0-6, then a reaction shot of B (listening) 6-10; B talks 10-20: on screen
    # 10-16, then a reaction shot of A 16-20.
    s = samples(faces("A", 0, 6, True), faces("B", 6, 10, False), faces("B", 10, 16, True), faces("A", 16, 20, False))
    spoken = turns(("voice_0", 0, 10), ("voice_1", 10, 20))
    links = link_voices(s, spoken, FusionConfig(), ep_id="ep")
    assert owners(links) == {"voice_0": "A", "voice_1": "B"}
    seen = visual(("A", 0, 6), ("B", 6, 16), ("A", 16, 20))
    heard = speaking_intervals(spoken, links, seen, ep_id="ep")
    table = screen_time(pd.concat([seen, heard]), pd.DataFrame({"person_id": ["A", "B"], "name": ["A", "B"]}),
                        ep_id="ep", duration_s=20, audio=True).set_index("person_id")
    assert table.loc["A", "speaking_s"] == pytest.approx(10) and table.loc["A", "overlap_s"] == pytest.approx(6)
    assert table.loc["B", "speaking_s"] == pytest.approx(10) and table.loc["B", "overlap_s"] == pytest.approx(6)
    assert table.loc["A", "offscreen_speaking_s"] == pytest.approx(4)


def test_two_faces_one_voice_goes_to_the_moving_mouth():
    # A and B side by side the whole time; A talks 0-8 s, B 8-16 s; mouths move only for the talker.
    s = samples(faces("A", 0, 8, True), faces("B", 0, 8, False), faces("A", 8, 16, False), faces("B", 8, 16, True))
    links = link_voices(s, turns(("voice_0", 0, 8), ("voice_1", 8, 16)), FusionConfig(), ep_id="ep")
    assert owners(links) == {"voice_0": "A", "voice_1": "B"}
    assert (links["mouth_lift"] > 1).all() and (links["confidence"] > 0.5).all()


def test_a_voice_never_seen_stays_a_voice():
    s = samples(faces("A", 0, 6, True))
    spoken = turns(("voice_0", 0, 6), ("voice_1", 10, 14))  # voice_1 over a faceless shot
    links = link_voices(s, spoken, FusionConfig(), ep_id="ep")
    assert owners(links) == {"voice_0": "A", "voice_1": "voice_1"}
    assert links.set_index("speaker").loc["voice_1", "confidence"] == 0
    seen = visual(("A", 0, 6))
    table = screen_time(pd.concat([seen, speaking_intervals(spoken, links, seen, ep_id="ep")]),
                        pd.DataFrame({"person_id": ["A"], "name": ["Ann"]}), ep_id="ep", duration_s=14,
                        audio=True).set_index("person_id")
    assert table.loc["voice_1", ["visual_s", "speaking_s", "overlap_s"]].tolist() == pytest.approx([0, 4, 0])
    assert table.loc["voice_1", "name"] == "voice_1" and table.loc["A", "name"] == "Ann"


def test_a_small_background_face_loses_to_the_large_one():
    # Without mouth evidence (unreadable), co-occurrence weighted by face size decides.
    big, small = faces("A", 0, 10, True, 200.0), faces("B", 0, 10, True, 30.0)
    big["activity"] = small["activity"] = np.nan
    links = link_voices(samples(big, small), turns(("voice_0", 0, 10)), FusionConfig(), ep_id="ep")
    assert owners(links) == {"voice_0": "A"}



def test_face_samples_take_the_person_of_each_faces_segment():
    """Track 0 is split at 1.0 s (segment 0 is A, segment 1 is B); track 1 (segment 2) had no usable face
    (`unidentified`, never counted). Mouth activity joins by detection (missing: unknown)."""
    tracked = pd.DataFrame({"ep_id": "ep", "det_id": [0, 1, 2, 3, 4], "track_id": [0, 0, 0, 1, 1],
                            "t_s": [0.0, 0.5, 1.5, 0.0, 0.5], "segment_id": [0, 0, 1, 2, 2]})
    detections = pd.DataFrame({"det_id": [0, 1, 2, 3, 4], "face_h_px": [100.0, 110.0, 90.0, 40.0, 40.0]})
    mouth = pd.DataFrame({"det_id": [0, 1, 3], "activity": [np.nan, 0.8, 0.1]})
    identities = pd.DataFrame({"segment_id": [0, 1, 2], "person_id": ["A", "B", "unidentified"]})
    got = face_samples(tracked, detections, mouth, identities)
    assert got["det_id"].tolist() == [0, 1, 2] and got["person_id"].tolist() == ["A", "A", "B"]
    assert got["face_h_px"].tolist() == [100.0, 110.0, 90.0] and got["t_s"].tolist() == [0.0, 0.5, 1.5]
    np.testing.assert_array_equal(got["activity"].to_numpy(), [np.nan, 0.8, np.nan])
