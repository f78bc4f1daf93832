"""Voicebank: enrolment from recordings of known people, matching to diarized voices, and its evidence in fusion."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screenalytics.tasks.audio import Audio
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.fusion import link_voices
from screenalytics.tasks.rttm import read_rttm
from screenalytics.tasks.settings import FusionConfig
from tests.conftest import SHARED

AMI = SHARED / "ami_pyannote_debug"


@pytest.fixture(scope="module")
def ecapa(settings):
    from screenalytics.tasks.models.registry import providers
    from screenalytics.tasks.speakers import EMBEDDERS, embedder_path

    return EMBEDDERS["ecapa"][1](embedder_path("ecapa", settings.model_dir), providers())


def write_wav(path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Audio((samples * 32767).astype(np.int16), 16000, 0.0).to_wav())


def test_voices_of_one_meeting_are_named_from_another(tmp_path, settings, ecapa):
    """Enrol MEE009 and MEE012 from their reference turns in AMI dev00; diarize dev01 (another meeting of the same
    two people) and every voice with >= 2 s of speech sounds most like its true owner, above
    `min_voice_similarity`, and unlike the other (measured 0.80 / 0.74 own vs <= 0.25 other)."""
    from screenalytics.tasks.models.registry import silero_path
    from screenalytics.tasks.speakers import load_wav_path, speaker_turns, turn_tables
    from screenalytics.tasks.vad import detect_speech
    from screenalytics.tasks.voicebank import enrol, enrolment_files, voice_similarity

    ref = read_rttm(AMI / "debug.development.rttm")
    wav, _ = load_wav_path(AMI / "dev00.wav")
    for speaker, turns in ref[ref["file"] == "dev00"].groupby("speaker"):
        for i, (a, b) in enumerate(turns[["start_s", "end_s"]].to_numpy()):
            write_wav(tmp_path / "bank" / speaker / f"dev00_{i}.wav", wav[int(a * 16000):int(b * 16000)])
    bank = enrol(enrolment_files(tmp_path / "bank"), ecapa.embed, silero_path(settings.model_dir),
                 settings.diarize.piece_s)
    assert sorted(bank["person_id"]) == ["MEE009", "MEE012"]
    assert np.allclose([np.linalg.norm(v) for v in bank["vector"]], 1, atol=1e-5)

    other, _ = load_wav_path(AMI / "dev01.wav")
    turns, centroids = speaker_turns(other, detect_speech(other, settings.vad, silero_path(settings.model_dir)),
                                     settings.diarize, model_dir=settings.model_dir)
    turns, voices = turn_tables(turns, centroids, ep_id="dev01", offset_s=0.0, duration_s=30.0)
    sims = voice_similarity(voices, bank).pivot(index="speaker", columns="person_id", values="similarity")
    truth = ref[ref["file"] == "dev01"]
    minimum = FusionConfig().min_voice_similarity
    for voice in voices.loc[voices["speech_s"] >= 2, "speaker"]:
        mine = turns[turns["speaker"] == voice]
        share = {p: sum(max(0.0, min(b, d) - max(a, c)) for a, b in mine[["start_s", "end_s"]].to_numpy()
                        for c, d in truth.loc[truth["speaker"] == p, ["start_s", "end_s"]].to_numpy())
                 for p in ("MEE009", "MEE012")}
        owner = max(share, key=share.get)
        assert sims.loc[voice].idxmax() == owner, (voice, sims.loc[voice], share)
        assert sims.loc[voice, owner] >= minimum > sims.loc[voice].drop(owner).max(), sims.loc[voice]


def faces(person: str, times: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"t_s": times, "person_id": person, "face_h_px": 100.0, "activity": np.nan})


def test_a_narrator_heard_over_someone_elses_shots_is_named_by_the_voicebank():
    """A on screen throughout; voice_0 is A's, voice_1 a narrator never seen. Without a voicebank the narrator stays
    `voice_1` (A is taken and no mouth evidence says otherwise); enrolled, it is named, with its similarity; a
    similarity under `min_voice_similarity` adds nothing."""
    cfg = FusionConfig()
    samples = faces("A", np.arange(0, 20, 0.5))
    turns = pd.DataFrame({"start_s": [0.0, 10.0], "end_s": [8.0, 18.0], "speaker": ["voice_0", "voice_1"]})
    plain = link_voices(samples, turns, cfg, ep_id="e").set_index("speaker")
    assert plain["person_id"].to_dict() == {"voice_0": "A", "voice_1": "voice_1"}
    heard = pd.DataFrame({"speaker": ["voice_0", "voice_1", "voice_0", "voice_1"],
                          "person_id": ["narrator", "narrator", "A", "A"], "similarity": [0.1, 0.8, 0.2, 0.1]})
    named = link_voices(samples, turns, cfg, ep_id="e", similarity=heard).set_index("speaker")
    assert named["person_id"].to_dict() == {"voice_0": "A", "voice_1": "narrator"}
    assert named.loc["voice_1", "voice_similarity"] == pytest.approx(0.8)
    assert named.loc["voice_1", "confidence"] == pytest.approx(0.8)
    assert np.isnan(named.loc["voice_1", "cooccurrence"])
    weak = heard.assign(similarity=[0.1, cfg.min_voice_similarity - 0.01, 0.2, 0.1])
    assert link_voices(samples, turns, cfg, ep_id="e", similarity=weak).set_index("speaker").loc[
        "voice_1", "person_id"] == "voice_1"


def test_bad_voicebanks_get_clear_errors(tmp_path, settings, ecapa):
    from screenalytics.tasks.models.registry import silero_path
    from screenalytics.tasks.voicebank import enrol, enrolment_files

    def run(folder):
        return enrol(enrolment_files(folder), ecapa.embed, silero_path(settings.model_dir), 1.5)

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no person folders"):
        run(tmp_path / "empty")
    (tmp_path / "nobody" / "alice").mkdir(parents=True)
    with pytest.raises(InputError, match="alice: no recordings"):
        run(tmp_path / "nobody")
    write_wav(tmp_path / "quiet" / "bob" / "room_tone.wav", np.zeros(3 * 16000))
    with pytest.raises(InputError, match="bob: 0.0 s of speech heard"):
        run(tmp_path / "quiet")
    (tmp_path / "broken" / "carol").mkdir(parents=True)
    (tmp_path / "broken" / "carol" / "take1.wav").write_bytes(b"not audio at all")
    with pytest.raises(InputError, match="take1.wav"):
        run(tmp_path / "broken")
