"""The diarize stage on real recordings with reference turns (AMI development excerpts, pyannote sample): speaker
turns through the standalone `screenalytics diarize` command (`diarize_track`) and `speaker_turns`, the turn tables,
the speaker embedders and the models' torch-free loading. The algorithm's pieces: test_diarize_local.py and
test_diarize_voices.py."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from screenalytics.bench.overlap import overlap_recovery
from screenalytics.cli import app
from screenalytics.tasks.audio_windows import detect_speech
from screenalytics.tasks.decoding import load_wav
from screenalytics.tasks.diarize import speaker_turns
from screenalytics.tasks.evaluate import der_table
from screenalytics.tasks.models.checkpoint import load_checkpoint
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.models.registry import MissingModelError, segmentation_path, voice_encoder_path
from screenalytics.tasks.rttm import read_rttm, read_uem
from tests.conftest import SHARED

AMI = SHARED / "ami_pyannote_debug"
SAMPLE = SHARED / "pyannote_sample_2spk"
FILES = {"dev00": AMI / "dev00.wav", "dev01": AMI / "dev01.wav", "sample": SAMPLE / "sample.wav"}
runner = CliRunner()


@pytest.fixture(scope="module")
def models(settings):
    return Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)


def speaker_embedder(settings, name: str):
    """The speaker embedder `name` (`models.speaker_embedder`), built by the loader as a run builds it."""
    return Models(settings.models.model_copy(update={"speaker_embedder": name}), settings.model_dir).get(
        "speaker_embedder")


@pytest.fixture(scope="module")
def reference():
    return pd.concat([read_rttm(AMI / "debug.development.rttm"), read_rttm(SAMPLE / "sample.rttm")])


@pytest.fixture(scope="module")
def hypothesis(tmp_path_factory):
    """`screenalytics diarize FILE --rttm OUT` on each file, read back."""
    out = tmp_path_factory.mktemp("rttm")
    tables = []
    for uri, path in FILES.items():
        result = runner.invoke(app, ["diarize", str(path), "--rttm", str(out / f"{uri}.rttm")])
        assert result.exit_code == 0, result.output
        tables.append(read_rttm(out / f"{uri}.rttm").assign(file=uri))
    return pd.concat(tables, ignore_index=True), out


def test_stage_gives_the_command_s_turns_on_the_container_timeline(hypothesis, models, settings, tmp_path,
                                                                   progress_log):
    """The diarize stage after audio and vad on the pyannote sample: the turns of `screenalytics diarize` (its RTTM
    has millisecond precision), one `Voices` row per voice with its seconds of turns, progress over every 5 s chunk
    of the segmentation diarizer, and a second run reuses the stage folder."""

    from screenalytics.flows.refs import prepare
    from screenalytics.tasks.audio import audio_task
    from screenalytics.tasks.diarize import diarize_task
    from screenalytics.tasks.diarize_local import chunk_starts
    from screenalytics.tasks.vad import vad_task

    hook, bars = progress_log, progress_log.log
    ctx = prepare.fn(str(FILES["sample"]), "sample", settings.model_copy(update={"root": str(tmp_path)}))
    audio = audio_task.fn(ctx, models, None, cfg=settings.audio)
    speech = vad_task.fn(ctx, models, None, audio=audio, cfg=settings.vad)
    inputs = {"audio": audio, "speech": speech, "cfg": settings.diarize, "diarizer": settings.models.diarizer}
    out = diarize_task.fn(ctx, models, hook, **inputs)
    turns = out.table("turns").sort_values("start_s", kind="stable").reset_index(drop=True)
    command = hypothesis[0][hypothesis[0]["file"] == "sample"].sort_values("start_s", kind="stable")
    assert settings.models.diarizer == "segmentation" and (turns["ep_id"] == "sample").all()
    assert turns["speaker"].tolist() == command["speaker"].tolist()
    assert np.allclose(turns[["start_s", "end_s"]], command[["start_s", "end_s"]], atol=0.0015)
    voices = out.table("voices")
    assert voices["speaker"].tolist() == sorted(turns["speaker"].unique())
    seconds = (turns["end_s"] - turns["start_s"]).groupby(turns["speaker"]).sum()
    assert np.allclose(voices.set_index("speaker")["speech_s"], seconds.loc[voices["speaker"]])
    assert np.allclose([np.linalg.norm(v) for v in voices["vector"]], 1, atol=1e-5)
    chunks = len(chunk_starts(audio.info["duration_s"], settings.diarize.step_s))
    assert ("diarization", chunks, chunks) in bars
    assert diarize_task.fn(ctx, models, hook, **inputs).cached


def test_turn_tables_clip_to_the_track_and_move_to_the_container_timeline():
    from screenalytics.tasks.diarize import turn_tables
    from screenalytics.tasks.schemas import SpeakerTurns, Voices

    turns = pd.DataFrame({"start_s": [-0.5, 1.0, 9.0, 12.0], "end_s": [0.5, 2.0, 10.5, 13.0], "speaker": [0, 1, 0, 1]})
    centroids = np.eye(3, dtype=np.float64)  # a third voice left with no turn inside the track
    table, voices = turn_tables(turns, centroids, ep_id="e", offset_s=100.0, duration_s=10.0)
    SpeakerTurns.validate(table)
    Voices.validate(voices)
    assert table["speaker"].tolist() == ["voice_0", "voice_1", "voice_0"]
    assert np.allclose(table[["start_s", "end_s"]], [[100.0, 100.5], [101.0, 102.0], [109.0, 110.0]])
    assert voices["speaker"].tolist() == ["voice_0", "voice_1", "voice_2"]
    assert np.allclose(voices["speech_s"], [1.5, 1.0, 0.0])
    assert all(v.dtype == np.float32 for v in voices["vector"]) and (voices["ep_id"] == "e").all()


def test_checkpoints_load_without_torch(settings):
    segmentation = load_checkpoint(segmentation_path(settings.model_dir))
    encoder = load_checkpoint(voice_encoder_path(settings.model_dir))
    assert segmentation["state_dict"]["classifier.weight"].shape == (3, 128)
    assert segmentation["hyper_parameters"]["lstm"]["num_layers"] == 4
    assert encoder["model_state"]["lstm.weight_ih_l0"].shape == (1024, 40)
    assert "torch" not in sys.modules


def test_der_on_ami_development_and_pyannote_sample(reference, hypothesis):
    """The issue's aims are DER <= 30% with overlap scored and <= 20% without (collar 0.25 s, the three files: 58 s of
    scored speech). Measured: 8.2% (FA 0.4, miss 5.9, confusion 2.0) and 6.3%, most of the miss being overlapped
    speech the segmentation model hears as one voice. Bars: 15% and 12%, the sample (2.2%) 10%."""
    hyp, out = hypothesis
    uem = read_uem(AMI / "debug.development.uem")
    scored = der_table(reference, hyp, uem=uem).set_index("file")
    assert scored.loc["TOTAL", "der"] <= 0.15
    assert der_table(reference, hyp, uem=uem, skip_overlap=True).set_index("file").loc["TOTAL", "der"] <= 0.12
    assert scored.loc["sample", "der"] <= 0.10
    (out / "ref.rttm").write_text((AMI / "debug.development.rttm").read_text() + (SAMPLE / "sample.rttm").read_text())
    (out / "hyp.rttm").write_text("".join((out / f"{uri}.rttm").read_text() for uri in FILES))
    shown = runner.invoke(app, ["eval", "der", "--ref", str(out / "ref.rttm"), "--hyp", str(out / "hyp.rttm"),
                                "--uem", str(AMI / "debug.development.uem")])
    assert shown.exit_code == 0 and f"{100 * scored.loc['TOTAL', 'der']:.2f}" in shown.output


def test_speaking_time_per_speaker(reference, hypothesis):
    """Per reference speaker with >= 5 s, the speaking time of the hypothesis speakers mapped to them (optimal
    mapping). Aim (issue): within 10%; measured: sample +1% / +5%, dev00 -18% / -3%, dev01 -21% / -8%: both
    MEE009s lose the seconds where the other voice talks over them (the segmentation model, 2.x and 3.0 alike, hears
    one voice there) and reference edges at the noise floor.
    Bar: within 25% per speaker, and each file's total speech within 15% (measured -9%, -9%, 0%)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    from screenalytics.tasks.rttm import annotation

    hyp, _ = hypothesis
    uem = read_uem(AMI / "debug.development.uem")
    mapper = DiarizationErrorRate()
    for uri in FILES:
        ref_ann, hyp_ann = annotation(reference, uri), annotation(hyp, uri)
        if uri in uem:
            ref_ann, hyp_ann = ref_ann.crop(uem[uri]), hyp_ann.crop(uem[uri])
        mapping = mapper.optimal_mapping(ref_ann, hyp_ann)
        ref_total, hyp_total = ref_ann.get_timeline().support().duration(), hyp_ann.get_timeline().support().duration()
        assert abs(hyp_total - ref_total) <= 0.15 * ref_total, (uri, hyp_total, ref_total)
        for speaker in ref_ann.labels():
            true = ref_ann.label_timeline(speaker).support().duration()
            if true >= 5:
                got = sum(hyp_ann.label_timeline(h).support().duration() for h, r in mapping.items() if r == speaker)
                assert abs(got - true) <= 0.25 * true, (uri, speaker, got, true)


def test_three_voices_of_a_held_out_recording(tmp_path):
    """Picovoice's Falcon clip (3 speakers, one after another; not used to choose any setting): 3 voices found, each
    reference speaker's time within the issue's 10% (measured -7.7%, -1.2%, -0.4%), DER <= 5% (measured 0.2%)."""
    import json

    folder = SHARED / "falcon_3spk"
    segments = json.loads((folder / "test_data.json").read_text())["tests"]["diarization_tests"][0]["segments"]
    reference = pd.DataFrame({"file": "test", "start_s": [x["start_sec"] for x in segments],
                              "end_s": [x["end_sec"] for x in segments],
                              "speaker": [f"spk{x['speaker_tag']}" for x in segments]})
    out = tmp_path / "test.rttm"
    result = runner.invoke(app, ["diarize", str(folder / "test.wav"), "--rttm", str(out)])
    assert result.exit_code == 0, result.output
    hyp = read_rttm(out)
    assert hyp["speaker"].nunique() == 3
    assert der_table(reference, hyp).set_index("file").loc["TOTAL", "der"] <= 0.05
    for row in reference.itertuples():
        heard = hyp[(hyp["end_s"] > row.start_s) & (hyp["start_s"] < row.end_s)]
        assert heard["speaker"].nunique() == 1, row
        assert abs((heard["end_s"] - heard["start_s"]).sum() - (row.end_s - row.start_s)) <= 0.1 * (
            row.end_s - row.start_s), row


def test_known_speaker_count(tmp_path):
    out = tmp_path / "dev00.rttm"
    result = runner.invoke(app, ["diarize", str(FILES["dev00"]), "--speakers", "2", "--rttm", str(out)])
    assert result.exit_code == 0, result.output
    assert read_rttm(out)["speaker"].nunique() == 2


def test_voice_encoder_tells_the_two_sample_speakers_apart(settings):
    """Reference turns of >= 1.5 s: d-vectors are unit length and each turn's nearest neighbour is its own speaker."""
    from screenalytics.tasks.decoding import load_wav
    from screenalytics.tasks.models.voice_encoder import VoiceEncoder

    wav, _ = load_wav(FILES["sample"], 16000)
    ref = read_rttm(SAMPLE / "sample.rttm")
    ref = ref[ref["end_s"] - ref["start_s"] >= 1.5]
    encoder = speaker_embedder(settings, "resemblyzer")
    assert isinstance(encoder, VoiceEncoder)
    vectors = encoder.embed(
        [wav[int(a * 16000):int(b * 16000)] for a, b in ref[["start_s", "end_s"]].to_numpy()])
    same = ref["speaker"].to_numpy()[:, None] == ref["speaker"].to_numpy()[None, :]
    sims = vectors @ vectors.T
    off_diagonal = ~np.eye(len(ref), dtype=bool)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    nearest = np.where(off_diagonal, sims, -np.inf).argmax(axis=1)
    assert same[np.arange(len(ref)), nearest].all(), "every turn's nearest other turn is the same speaker's"
    assert sims[same & off_diagonal].mean() > sims[~same].mean()  # measured 0.81 vs 0.76: a small gap


def test_silence_and_audio_only_files(tmp_path):
    import wave

    silent = tmp_path / "silence.wav"
    with wave.open(str(silent), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(16000 * 8, np.int16).tobytes())
    result = runner.invoke(app, ["diarize", str(silent), "--rttm", str(tmp_path / "s.rttm")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.rttm").read_text() == ""
    missing = runner.invoke(app, ["diarize", str(tmp_path / "nope.wav")])
    assert missing.exit_code == 2 and "nope.wav" in missing.output


def test_fast_backend_runs_without_the_segmentation_model(tmp_path):
    """low_power's `vad` backend: Silero speech cut into windows (no overlap). Only checked to produce speakers on
    speech; its DER is much worse (docs/benchmarks.md)."""
    out = tmp_path / "dev01.rttm"
    result = runner.invoke(app, ["diarize", str(FILES["dev01"]), "--profile", "low_power", "--rttm", str(out)])
    assert result.exit_code == 0, result.output
    turns = read_rttm(out)
    assert len(turns) and (turns["end_s"] - turns["start_s"]).sum() >= 5


def test_pyannote_backend_is_checked_before_loading(tmp_path, monkeypatch, settings):
    """The pipeline folder is checked before anything is imported or loaded; a run asks for the model's identity
    (its cache key) first, which checks the folder the same way."""
    from screenalytics.tasks.models.pyannote_pipeline import load_pipeline

    def loader(folder: str | None) -> Models:
        return Models(settings.models.model_copy(update={"diarizer": "pyannote", "pyannote_dir": folder}),
                      settings.model_dir)

    with pytest.raises(MissingModelError, match="pyannote_dir"):
        load_pipeline(None)
    with pytest.raises(MissingModelError, match="models.pyannote_dir"):
        loader(None).identity("pyannote")
    with pytest.raises(MissingModelError, match="no config.yaml"):
        load_pipeline(str(tmp_path / "absent"))
    with pytest.raises(MissingModelError, match="no config.yaml"):
        loader(str(tmp_path / "absent")).identity("pyannote")
    (tmp_path / "config.yaml").write_text("pipeline: {name: pyannote.audio.pipelines.SpeakerDiarization}\n")
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)  # as on a machine without the extra
    with pytest.raises(MissingModelError, match=r"screenalytics\[pyannote\]"):
        load_pipeline(str(tmp_path))
    with pytest.raises(MissingModelError, match=r"screenalytics\[pyannote\]"):
        loader(str(tmp_path)).get("pyannote")


def test_ecapa_embedder_separates_similar_voices_better(settings):
    """Ten GRID speakers, each clip's 0.6-2.6 s cut into two 1 s halves: how often a half's nearest other half is its
    own twin. Measured: ECAPA 0.80 (same 0.32 vs cross 0.05 mean cosine), Resemblyzer 0.50 (0.74 vs 0.61)."""
    from screenalytics.tasks.decoding import extract_audio
    from screenalytics.tasks.models.ecapa import EcapaEncoder
    from screenalytics.tasks.models.voice_encoder import VoiceEncoder
    from tests.conftest import GRID

    halves, owner = [], []
    for index, clip in enumerate(sorted(GRID.glob("*.mpg"))):
        wav = extract_audio(str(clip), sample_rate=16000).samples.astype(np.float32) / 32768
        halves += [wav[9600:25600], wav[25600:41600]]
        owner += [index, index]
    owner = np.array(owner)

    def nearest_is_twin(vectors: np.ndarray) -> float:
        sims = np.where(np.eye(len(vectors), dtype=bool), -np.inf, vectors @ vectors.T)
        return float((owner[sims.argmax(axis=1)] == owner).mean())

    ecapa_encoder, resemblyzer_encoder = (speaker_embedder(settings, name) for name in ("ecapa", "resemblyzer"))
    assert isinstance(ecapa_encoder, EcapaEncoder) and isinstance(resemblyzer_encoder, VoiceEncoder)
    ecapa, resemblyzer = ecapa_encoder.embed(halves), resemblyzer_encoder.embed(halves)
    assert ecapa.shape == (20, 192) and np.allclose(np.linalg.norm(ecapa, axis=1), 1, atol=1e-5)
    assert nearest_is_twin(ecapa) >= 0.75
    assert nearest_is_twin(ecapa) > nearest_is_twin(resemblyzer)


def test_voice_count_found_without_a_threshold(hypothesis):
    """The default count (`silhouette`: the best-separated cut of the clustering tree) finds the 2 voices of each
    file; no distance threshold is fixed in advance."""
    hyp, _ = hypothesis
    assert hyp.groupby("file")["speaker"].nunique().to_dict() == {"dev00": 2, "dev01": 2, "sample": 2}


def speech_spans(path, start_s: float, end_s: float, at_s: float) -> list[tuple[float, float]]:
    """`speech_truth` speech of a source between start_s and end_s, placed at at_s."""
    from screenalytics.composer.speech_truth import source_speech

    return [(max(a, start_s) - start_s + at_s, min(b, end_s) - start_s + at_s) for a, b in source_speech(path)
            if min(b, end_s) > max(a, start_s)]


def shared_s(one: list[tuple[float, float]], other: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(b1, b2) - max(a1, a2)) for a1, b1 in one for a2, b2 in other)


@pytest.mark.parametrize("together_at", [3.0, 4.0])
def test_two_voices_at_once_are_both_heard(settings, models, together_at):
    """Two people talking at once: JFK and a LibriSpeech reader (asr_clips, equal level) composed as A alone, B
    alone, both for 3 s from `together_at` in their recordings, then A and B alone again (0.5 s pauses). Two voices,
    each heard over >= 80% of the time both speak (truth: `speech_truth` on the sources). Measured 100% and 98-100%
    at both positions; before co-active local speakers were kept apart, 54% at 4 s. Where the segmentation model
    hears one voice (both from 5 s) the quieter voice is lost: docs/benchmarks.md."""
    from scipy.optimize import linear_sum_assignment

    from screenalytics.tasks.audio_windows import detect_speech
    from screenalytics.tasks.decoding import load_wav
    from screenalytics.tasks.diarize import speaker_turns

    sources = [SHARED / "asr_clips" / "jfk.flac", SHARED / "asr_clips" / "2412-153948-0000.flac"]
    waves = [load_wav(path, 16000)[0] for path in sources]
    waves = [0.05 * w / np.sqrt(np.mean(w**2)) for w in waves]
    plan = [((0,), 0.0, together_at), ((1,), 0.0, together_at), ((0, 1), together_at, together_at + 3),
            ((0,), together_at + 3, 11.0), ((1,), together_at + 3, 11.0)]
    parts, truth, at = [], [[], []], 0.0
    for who, start, end in plan:
        part = np.zeros(int((end - start) * 16000), np.float32)
        for i in who:
            part += waves[i][int(start * 16000) : int(end * 16000)]
            truth[i] += speech_spans(sources[i], start, end, at)
        parts += [part, np.zeros(8000, np.float32)]
        at += end - start + 0.5
    wav = np.concatenate(parts)
    speech = detect_speech(wav, settings.vad, models.get("vad"))
    turns, centroids = speaker_turns(wav, speech, settings.diarize, diarizer=settings.models.diarizer, models=models)
    assert len(centroids) == 2
    both = [(max(a1, a2), min(b1, b2)) for a1, b1 in truth[0] for a2, b2 in truth[1] if min(b1, b2) > max(a1, a2)]
    heard = [list(zip(mine["start_s"], mine["end_s"])) for _, mine in turns.groupby("speaker")]
    shared = np.array([[shared_s(mine, spans) for spans in truth] for mine in heard])
    for voice, _ in zip(*linear_sum_assignment(-shared)):
        assert shared_s(heard[voice], both) >= 0.8 * shared_s(both, both), (voice, shared_s(heard[voice], both))


def test_int8_speaker_embedder_on_cpu_stays_near_float32(settings):
    """On CPU, ECAPA's pointwise convolutions run in int8 (2.4x faster): on 1.5 s pieces of six AMI recordings its
    vectors stay within cosine 0.98 of the float32 graph's (measured min 0.985, mean 0.997), far closer than two
    people (~0.3). Where CUDA runs it, the graph is float32 (the int8 product is a CPU kernel)."""
    import onnx
    import onnxruntime as ort

    from screenalytics.tasks.models.ecapa import build_onnx, fbank
    from screenalytics.tasks.models.sessions import session_options

    encoder = speaker_embedder(settings, "ecapa")
    checkpoint = load_checkpoint(encoder.path)
    ops = {name: {n.op_type for n in onnx.load_from_string(graph).graph.node} for name, graph in
           (("cpu", encoder.graph(checkpoint)),
            ("cuda", type(encoder)(encoder.path, ["CUDAExecutionProvider", "CPUExecutionProvider"]).graph(checkpoint)))}
    assert "DynamicQuantizeMatMul" in ops["cpu"] and "DynamicQuantizeMatMul" not in ops["cuda"]
    exact = ort.InferenceSession(build_onnx(checkpoint), session_options(2), providers=["CPUExecutionProvider"])
    for name in ("dev00", "trn01", "trn03", "trn05", "trn07", "trn09"):
        wav, _ = load_wav(AMI / f"{name}.wav", 16000)
        feats = np.stack([fbank(wav[i:i + 24000]) for i in range(0, min(len(wav), 16000 * 30) - 24000, 24000)])
        fast, slow = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in
                      (encoder.features(feats), exact.run(None, {"feats": feats})[0]))
        assert (fast * slow).sum(axis=1).min() > 0.98, name


def test_speaker_clips_of_near_lengths_share_a_batch(settings):
    """Clips within 10% of each other's length are batched (cropped to the shortest); the shortest, not cropped,
    gets nearly the vector it gets alone (on CPU the int8 layers quantize a batch's activations with one scale:
    cosine measured 0.998), the cropped ones stay near theirs (0.93-0.95 for 3-9% cropped from 1.5 s clips; clips
    of two people are ~0.3 apart: test_ecapa_embedder_separates_similar_voices_better)."""
    from screenalytics.tasks.models.ecapa import length_batches

    assert length_batches([100, 95, 50, 91, 89, 48], 16, 0.1) == [[0, 1, 3], [4], [2, 5]]
    assert length_batches([10] * 5, 2, 0.1) == [[0, 1], [2, 3], [4]]
    from screenalytics.tasks.decoding import load_wav

    encoder = speaker_embedder(settings, "ecapa")
    wav, _ = load_wav(FILES["sample"], 16000)
    clips = [wav[16000 * k : 16000 * k + 24000 + 800 * k] for k in range(4)]  # 1.5 to 1.65 s
    together = encoder.embed(clips)
    alone = np.concatenate([encoder.embed([c]) for c in clips])
    assert float(together[0] @ alone[0]) > 0.995  # the shortest is not cropped
    assert (np.sum(together * alone, axis=1) > 0.9).all()


def test_the_second_voice_of_an_overlap_is_kept(settings, models):
    """AMI trn09 (13.2 s of its 30 s with two or more people at once): the model's second local speaker there is
    rarely heard alone, so it has no embedding of its own; `label_overlap_only` gives it the nearest voice not
    already heard. Measured: 51% of the reference overlap recovered (20% before) at 91% precision, DER with overlap
    scored 16.4% (23.5%). Bars: 40%, 80%, 20%."""
    reference = read_rttm(AMI / "debug.train.rttm")
    reference = reference[reference["file"] == "trn09"]
    region = read_uem(AMI / "debug.train.uem")["trn09"]
    wav, _ = load_wav(AMI / "trn09.wav", 16000)
    turns, _ = speaker_turns(wav, detect_speech(wav, settings.vad, models.get("vad")), settings.diarize,
                             diarizer="segmentation", models=models)
    hypothesis = turns.assign(file="trn09", speaker=turns["speaker"].astype(str))
    overlap_s, recovered, precision = overlap_recovery(reference, hypothesis, region, len(wav) / 16000)
    assert overlap_s > 10 and recovered >= 0.4 and precision >= 0.8
    der = der_table(reference, hypothesis, uem={"trn09": region}).set_index("file").loc["TOTAL", "der"]
    assert der <= 0.20
