"""Voicebank: enrolment from recordings of known people and matching to diarized voices (its use in attribution:
tests/tasks/test_fusion.py)."""
from __future__ import annotations

import numpy as np
import pytest

from screenalytics.tasks.configs import FusionConfig
from screenalytics.tasks.decoding import Audio
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.rttm import read_rttm
from tests.conftest import SHARED

AMI = SHARED / "ami_pyannote_debug"


@pytest.fixture(scope="module")
def models(settings):
    return Models(settings.models.model_copy(update={"speaker_embedder": "ecapa"}), settings.model_dir)


@pytest.fixture(scope="module")
def ecapa(models):
    from screenalytics.tasks.models.ecapa import EcapaEncoder

    encoder = models.get("speaker_embedder")
    assert isinstance(encoder, EcapaEncoder)
    return encoder


def write_wav(path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Audio((samples * 32767).astype(np.int16), 16000, 0.0).to_wav())


def test_voices_of_one_meeting_are_named_from_another(tmp_path, settings, models, ecapa):
    """Enrol MEE009 and MEE012 from their reference turns in AMI dev00; diarize dev01 (another meeting of the same
    two people) and every voice with >= 2 s of speech sounds most like its true owner, above
    `min_voice_similarity`, and unlike the other (measured 0.80 / 0.74 own vs <= 0.25 other)."""
    from screenalytics.tasks.audio_windows import detect_speech
    from screenalytics.tasks.decoding import load_wav
    from screenalytics.tasks.diarize import speaker_turns, turn_tables
    from screenalytics.tasks.fusion import voice_similarity
    from screenalytics.tasks.voicebank import enrol, enrolment_files

    ref = read_rttm(AMI / "debug.development.rttm")
    wav, _ = load_wav(AMI / "dev00.wav", 16000)
    for speaker, turns in ref[ref["file"] == "dev00"].groupby("speaker"):
        for i, (a, b) in enumerate(turns[["start_s", "end_s"]].to_numpy()):
            write_wav(tmp_path / "bank" / speaker / f"dev00_{i}.wav", wav[int(a * 16000):int(b * 16000)])
    bank = enrol(enrolment_files(tmp_path / "bank"), ecapa.embed, models.get("vad"), settings.diarize.piece_s)
    assert sorted(bank["person_id"]) == ["MEE009", "MEE012"]
    assert np.allclose([np.linalg.norm(v) for v in bank["vector"]], 1, atol=1e-5)

    other, _ = load_wav(AMI / "dev01.wav", 16000)
    turns, centroids = speaker_turns(other, detect_speech(other, settings.vad, models.get("vad")), settings.diarize,
                                     diarizer=settings.models.diarizer, models=models)
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


def test_bad_voicebanks_get_clear_errors(tmp_path, models, ecapa):
    from screenalytics.tasks.voicebank import enrol, enrolment_files

    def run(folder):
        return enrol(enrolment_files(folder), ecapa.embed, models.get("vad"), 1.5)

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


def test_stage_enrols_the_folder_and_is_reused_until_it_changes(tmp_path, settings, models, ecapa, progress_log):
    """The voicebank stage on a folder of two GRID speakers: the table `enrol` gives, progress counted per file, the
    stage folder reused for the same files and not once a recording is added."""
    import shutil

    from screenalytics.flows.refs import folder_ref, prepare
    from screenalytics.tasks.voicebank import enrol, enrolment_files, voicebank_task
    from tests.conftest import GRID

    clips = sorted(GRID.glob("*.mpg"))[:3]
    for person, clip in (("first", clips[0]), ("second", clips[1])):
        (tmp_path / "bank" / person).mkdir(parents=True)
        shutil.copy(clip, tmp_path / "bank" / person / clip.name)
    hook, bars = progress_log, progress_log.log
    ctx = prepare.fn(str(clips[0]), "bank", settings.model_copy(update={"root": str(tmp_path / "root")}))
    out = voicebank_task.fn(ctx, models, hook, source=folder_ref(tmp_path / "bank"), piece_s=1.5)
    bank = out.table("voicebank")
    expected = enrol(enrolment_files(tmp_path / "bank"), ecapa.embed, models.get("vad"), 1.5)
    assert bank["person_id"].tolist() == expected["person_id"].tolist() == ["first", "second"]
    files = [[clips[0].name], [clips[1].name]]
    assert [list(f) for f in bank["files"]] == [list(f) for f in expected["files"]] == files
    assert np.allclose(bank["speech_s"], expected["speech_s"])
    assert np.allclose(np.stack(bank["vector"]), np.stack(expected["vector"]), atol=1e-6)
    assert bars == [("voicebank", 2, 2)] and out.info["people"] == ["first", "second"]
    assert voicebank_task.fn(ctx, models, hook, source=folder_ref(tmp_path / "bank"), piece_s=1.5).cached
    shutil.copy(clips[2], tmp_path / "bank" / "second" / clips[2].name)
    grown = voicebank_task.fn(ctx, models, hook, source=folder_ref(tmp_path / "bank"), piece_s=1.5)
    assert not grown.cached
    second = grown.table("voicebank").set_index("person_id").loc["second"]
    assert list(second["files"]) == [clips[1].name, clips[2].name]
