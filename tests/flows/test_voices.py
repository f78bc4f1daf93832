"""Speaking and overlap time end to end on the composed voices episode: own-voice shots, reaction shots (one face,
another person's voice), two faces with one voice, and a voice over a faceless shot.
Truth: screenalytics.composer.speech_truth.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screenalytics.composer import EpisodeTruth
from screenalytics.flows.episode import episode
from screenalytics.tasks.intervals import intersect
from tests.conftest import GRID


@pytest.fixture(scope="module")
def voices_run(prefect_harness, tmp_path_factory):
    from screenalytics.composer import build_sample

    paths = build_sample(tmp_path_factory.mktemp("voices"), kind="voices", clips_dir=GRID)
    root = tmp_path_factory.mktemp("root")
    episode(str(paths["episode"]), ep_id="voices", facebank=str(paths["facebank"]), root=str(root))
    folder = root / "episodes" / "voices"
    inputs = {"video": str(paths["episode"]), "facebank": str(paths["facebank"]), "root": str(root)}
    return folder, EpisodeTruth.from_json(paths["truth"]), inputs


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
    """One voice per person, each linked to that person: the voice's speech is mostly (>= 80%) the person's own."""
    folder, truth, _ = voices_run
    links = pd.read_parquet(folder / "voice_links.parquet")
    turns = pd.read_parquet(folder / "speaker_turns.parquet")
    assert sorted(links["person_id"]) == sorted(truth.speaking["person"].unique())
    for link in links.itertuples(index=False):
        mine = turns[turns["speaker"] == link.speaker]
        share = {p: seconds(intersect(mine, spans_of(truth.speaking, p))) for p in truth.speaking["person"].unique()}
        assert share[link.person_id] >= 0.8 * sum(share.values()), (link, share)


def test_reaction_shot_listeners_get_no_overlap_time(voices_run):
    folder, truth, _ = voices_run
    intervals = pd.read_parquet(folder / "intervals.parquet")
    reactions = placements(truth, "reaction")
    assert reactions, "the plan has reaction shots"
    for _, span, shown in reactions:
        for listener in shown:
            credited = seconds(intersect(span, spans_of(intervals, listener, "overlap")))
            assert credited <= 0.25, (listener, credited)


def test_voice_over_a_faceless_shot_is_offscreen_speech(voices_run):
    folder, truth, _ = voices_run
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


def test_speaking_and_overlap_time_per_person(voices_run):
    """The issue's bars: per person `speaking_s` and `overlap_s` within 0.5 s of the clean-source truth. Measured
    (docs/benchmarks.md): speaking errors +0.26, +0.34, +0.10, +0.41 s (the last: a 0.4 s pause between two of
    one person's placements is bridged)."""
    folder, truth, _ = voices_run
    table = pd.read_parquet(folder / "screentime.parquet").set_index("person_id")
    for person in truth.speaking["person"].unique():
        speaking = spans_of(truth.speaking, person)
        true_overlap = seconds(intersect(speaking, spans_of(truth.visual, person)))
        assert abs(table.loc[person, "speaking_s"] - seconds(speaking)) <= 0.5, (person, table.loc[person])
        assert abs(table.loc[person, "overlap_s"] - true_overlap) <= 0.5, (person, table.loc[person])


def test_a_voicebank_reruns_only_enrolment_and_fusion_and_confirms_the_links(voices_run, tmp_path):
    """The same episode with a voicebank of the four people (enrolled from their GRID source clips, so the
    similarity is high by construction; the held-out check of enrolment is tests/tasks/test_voicebank.py): only
    the voicebank and fusion stages run, the links stay, and each carries its voice similarity."""
    import shutil

    from screenalytics.tasks.configs import FusionConfig

    folder, truth, inputs = voices_run
    before = pd.read_parquet(folder / "voice_links.parquet").set_index("speaker")["person_id"]
    for person in truth.speaking["person"].unique():
        (tmp_path / "bank" / person).mkdir(parents=True)
        shutil.copy(GRID / f"{person}.mpg", tmp_path / "bank" / person / f"{person}.mpg")
    manifest = episode(**inputs, ep_id="voices", voicebank=str(tmp_path / "bank"))
    ran = {name for name, stage in manifest["stages"].items() if stage["state"] == "Completed"}
    assert ran == {"voicebank", "fusion"}
    links = pd.read_parquet(folder / "voice_links.parquet").set_index("speaker")
    assert links["person_id"].to_dict() == before.to_dict()
    assert (links["voice_similarity"] >= FusionConfig().min_voice_similarity).all(), links


def music_bed(seconds_long: float, rate: int = 16000) -> np.ndarray:
    """A generated music bed: a repeating four-chord progression (decaying harmonic tones, half a beat each) with a
    kick drum on the beat and a noise hi-hat off it, unit RMS."""
    t = np.arange(int(0.5 * rate)) / rate
    decay = np.exp(-3 * t)
    chords = [[261.6, 329.6, 392.0], [220.0, 261.6, 329.6], [174.6, 220.0, 261.6], [196.0, 246.9, 293.7]]
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.02)
    hat = np.random.default_rng(0).standard_normal(len(t)) * np.exp(-np.abs(t - 0.25) / 0.01) * (t >= 0.25)
    beats = [decay * sum(np.sin(2 * np.pi * f * h * t) / h for f in chord for h in range(1, 5)) + kick + 0.3 * hat
             for chord in chords for _ in range(4)]
    bar = np.concatenate(beats)
    out = np.tile(bar, int(np.ceil(seconds_long * rate / len(bar))))[: int(seconds_long * rate)]
    return (out / np.sqrt(np.mean(out**2))).astype(np.float32)


@pytest.mark.parametrize("music_db", [-15, -10, -5])
def test_music_under_speech_leaves_the_voices_and_their_time(voices_run, settings, music_db):
    """The voices episode's soundtrack with a music bed `music_db` under the speech (RMS): still one voice per person,
    each mostly (>= 80%) that person's speech. At -15 dB (beds under dialogue are mixed well below it) each person's
    speaking time is within the issue's 0.5 s; louder beds lengthen turn ends (measured in docs/benchmarks.md)."""
    from scipy.optimize import linear_sum_assignment

    from screenalytics.tasks.audio_windows import detect_speech
    from screenalytics.tasks.decoding import load_wav
    from screenalytics.tasks.diarize import speaker_turns
    from screenalytics.tasks.models.loader import Models

    _, truth, inputs = voices_run
    models = Models(settings.models, settings.model_dir)
    wav, start_s = load_wav(inputs["video"], 16000)
    speech_rms = np.sqrt(np.mean(wav[np.abs(wav) > 0.01] ** 2))
    mixed = wav + music_bed(len(wav) / 16000) * speech_rms * 10 ** (music_db / 20)
    speech = detect_speech(mixed, settings.vad, models.get("vad"))
    turns, voices = speaker_turns(mixed, speech, settings.diarize, diarizer=settings.models.diarizer, models=models)
    turns = turns.assign(start_s=turns["start_s"] + start_s, end_s=turns["end_s"] + start_s)
    people = sorted(truth.speaking["person"].unique())
    assert len(voices) == len(people)
    shared = np.array([[seconds(intersect(turns[turns["speaker"] == v], spans_of(truth.speaking, p)))
                        for p in people] for v in range(len(voices))])
    for v, p in zip(*linear_sum_assignment(-shared)):
        got, true = seconds(turns[turns["speaker"] == v]), seconds(spans_of(truth.speaking, people[p]))
        print(f"music {music_db} dB: {people[p]} speaking {got:.2f} s (truth {true:.2f} s)")
        assert shared[v, p] >= 0.8 * shared[v].sum()
        assert music_db > -15 or abs(got - true) <= 0.5, (people[p], got, true)


def test_narration_over_the_cast_is_nobody_s_speech(prefect_harness, tmp_path):
    """Voice-over narration: a fifth voice, never on screen, heard over three cast faces (their own sound replaced)
    and a faceless shot. It stays an unnamed `voice_N` heard off screen, and the cast shown under it get none of
    its time: every cast member's speaking and overlap within 0.5 s of their own speech."""
    from screenalytics.composer import build_sample

    paths = build_sample(tmp_path / "narrator", kind="narrator", clips_dir=GRID)
    truth = EpisodeTruth.from_json(paths["truth"])
    episode(str(paths["episode"]), ep_id="narrator", facebank=str(paths["facebank"]), root=str(tmp_path / "root"))
    folder = tmp_path / "root" / "episodes" / "narrator"
    table = pd.read_parquet(folder / "screentime.parquet").set_index("person_id")
    narrator = truth.voice["person"].value_counts().index[0]  # the one voice placed most often
    cast = sorted(set(truth.visual["person"]))
    assert narrator not in cast and narrator not in table.index
    for person in cast:
        spoken = seconds(spans_of(truth.speaking, person))
        print(f"narrator episode: {person} speaking {table.loc[person, 'speaking_s']:.2f} s, overlap "
              f"{table.loc[person, 'overlap_s']:.2f} s (truth {spoken:.2f} s)")
        assert abs(table.loc[person, "speaking_s"] - spoken) <= 0.5, (person, table.loc[person, "speaking_s"], spoken)
        assert abs(table.loc[person, "overlap_s"] - spoken) <= 0.5, (person, table.loc[person, "overlap_s"], spoken)
    unnamed = table[table.index.str.startswith("voice_")]
    narration = seconds(spans_of(truth.speaking, narrator))
    print(f"narrator episode: {unnamed.index[0]} off screen {unnamed['offscreen_speaking_s'].iloc[0]:.2f} s "
          f"(narration {narration:.2f} s)")
    assert len(unnamed) == 1 and unnamed["offscreen_speaking_s"].iloc[0] >= 0.8 * narration


def test_preview_shows_who_is_seen_talking_with_the_audio(voices_run, tmp_path):
    """`screenalytics preview` over a range: only that range is rendered, with its audio; a box is green where
    its face is scored talking and red where scored quiet (a reaction shot's listener)."""
    import av
    from typer.testing import CliRunner

    from screenalytics.cli import app
    from screenalytics.preview import QUIET, TALKING, faces_at, load_tables

    folder, truth, inputs = voices_run
    tables = load_tables(inputs["root"], "voices")
    start, end = 2.0, 8.0
    out = tmp_path / "preview.mp4"
    result = CliRunner().invoke(app, ["preview", "voices", "--out", str(out), "--start", str(start), "--end",
                                      str(end), "--root", inputs["root"]])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    with av.open(str(out)) as container:
        audio_s = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    assert len(frames) == round((end - start) * 25) and abs(audio_s - (end - start)) <= 0.1
    checked = set()
    for state, colour in (("talking", TALKING), ("quiet", QUIET)):
        scored = tables.scores[(tables.scores["t_s"] >= start) & (tables.scores["t_s"] < end - 0.1)]
        scored = scored[scored["score"] > 1.0] if state == "talking" else scored[scored["score"] < -1.0]
        if scored.empty:
            continue
        row = scored.iloc[len(scored) // 2]
        box = next(b for track, b, _ in faces_at(tables.track_boxes, row.t_s) if track == row.track_id)
        image = frames[int(round((row.t_s - start) * 25))]
        edge = image[int(round(box[1])), int(box[0] + box[2]) // 2].astype(int)
        assert np.abs(edge - np.array(colour)).max() <= 60, (state, edge, colour)
        checked.add(state)
    assert checked == {"talking", "quiet"}
