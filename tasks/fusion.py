"""Speaker-to-face fusion: which on-screen person each voice belongs to, and speaking / overlap time.

Evidence per (voice, person), from the sampled faces:
- co-occurrence: of the sampled frames with a counted face while the voice speaks, the share showing the person,
  each face weighted by its height relative to the largest face in its frame (a wide shot's small faces count less);
- mouth lift: the person's mouth activity while the voice speaks relative to their activity otherwise (a reaction
  shot's listener does not move their lips with the voice; with no baseline the lift is unknown and neutral).
score = min(1, co-occurrence × 2·sigmoid(lift / 0.25)): a lift of 0 (mouth no more or less active) leaves the
co-occurrence as it is, a talking mouth raises it up to twice, a still one takes it towards 0. Voices and people are
matched one-to-one by score (Hungarian); a voice left over joins a person only if its own mouth lift there reaches
`min_mouth_lift`; below `min_confidence` a voice stays `voice_N` (heard, never seen). With a voicebank, a voice's
cosine similarity to an enrolled person, where it reaches `min_voice_similarity`, is evidence too (the larger of the
two scores counts), so an enrolled voice is named even when its owner is never on screen.

speaking_s: seconds of speech of the person's voices, on or off screen; overlap_s: of those, seconds the person is
also on screen; offscreen_speaking_s = speaking_s − overlap_s.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandera.typing import DataFrame
from scipy.optimize import linear_sum_assignment

from screenalytics.tasks.configs import FusionConfig
from screenalytics.tasks.intervals import inside, intersect, merge_intervals
from screenalytics.tasks.naming import NOT_COUNTED
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import (
    Detections,
    EpisodeInfo,
    Identities,
    Intervals,
    MouthActivity,
    ScreenTime,
    SpeakerTurns,
    TrackSegments,
    VoicebankEntries,
    VoiceLinks,
    Voices,
    Words,
)
from screenalytics.tasks.timeline import timeline_png

MOUTH_SCALE = 0.25


def evidence(samples: pd.DataFrame, turns: pd.DataFrame) -> pd.DataFrame:
    """Per (speaker, person_id): co-occurrence, mouth lift and score. `samples`: one row per counted face sample
    with t_s, person_id, face_h_px, activity."""
    rows = []
    weight = samples["face_h_px"] / samples.groupby("t_s")["face_h_px"].transform("max")
    for speaker, spans in turns.groupby("speaker"):
        during = inside(samples["t_s"].to_numpy(), spans)
        n_frames = samples.loc[during, "t_s"].nunique()
        if n_frames == 0:
            continue
        for person, mine in samples.groupby("person_id"):
            mine_during = during[mine.index]
            cooc = float(weight[mine.index][mine_during].sum() / n_frames)
            if cooc <= 0:
                continue
            act_in = mine.loc[mine_during, "activity"].dropna()
            act_out = mine.loc[~mine_during, "activity"].dropna()
            lift = (float((act_in.mean() - act_out.mean()) / max(act_out.mean(), 1e-6))
                    if len(act_in) and len(act_out) else np.nan)
            mouth = 1.0 if np.isnan(lift) else 2 / (1 + np.exp(-lift / MOUTH_SCALE))
            rows.append((speaker, person, cooc, lift, min(1.0, cooc * mouth)))
    return pd.DataFrame(rows, columns=["speaker", "person_id", "cooccurrence", "mouth_lift", "score"])


def link_voices(samples: pd.DataFrame, turns: DataFrame[SpeakerTurns], cfg: FusionConfig, *, ep_id: str,
                similarity: pd.DataFrame | None = None) -> DataFrame[VoiceLinks]:
    """`VoiceLinks`: every voice with the person it belongs to (or itself, `voice_N`) and the evidence.
    `similarity` (speaker, person_id, similarity: the voicebank's) adds, where it reaches `min_voice_similarity`,
    the similarity as evidence for that person, who need not be on screen."""
    voices = sorted(turns["speaker"].unique())
    table = evidence(samples, turns)
    table = table[table["cooccurrence"] >= cfg.min_cooccurrence]
    heard = similarity if similarity is not None else no_similarity()
    heard = heard[heard["speaker"].isin(voices)].rename(columns={"similarity": "voice_similarity"})
    table = table.merge(heard, on=["speaker", "person_id"], how="outer")
    table[["score", "voice_similarity"]] = table[["score", "voice_similarity"]].astype(float)
    sounds_like = table["voice_similarity"].where(table["voice_similarity"] >= cfg.min_voice_similarity, 0.0)
    table["score"] = np.maximum(table["score"].fillna(0.0), sounds_like.fillna(0.0))
    table = table[table["score"] > 0]
    links = {v: (v, np.nan, np.nan, np.nan, 0.0) for v in voices}
    if not table.empty:
        grid = table.pivot(index="speaker", columns="person_id", values="score").fillna(0.0)
        for r, c in zip(*linear_sum_assignment(-grid.to_numpy()), strict=True):
            links[grid.index[r]] = _link(table, grid.index[r], grid.columns[c], cfg)
        taken = {link[0] for link in links.values()}
        for voice in voices:  # a second voice of one person (diarization split them) needs its own strong case
            if links[voice][0] == voice and voice in grid.index:
                best = grid.loc[voice].idxmax()
                link = _link(table, voice, best, cfg)
                strong = link[2] >= cfg.min_mouth_lift or link[3] >= cfg.min_voice_similarity
                if best in taken and link[0] != voice and strong:
                    links[voice] = link
    rows = [(ep_id, v, *links[v]) for v in voices]
    return VoiceLinks.validate(pd.DataFrame(rows, columns=["ep_id", "speaker", "person_id", "cooccurrence",
                                                           "mouth_lift", "voice_similarity", "confidence"]))


def _link(table: pd.DataFrame, voice: str, person: str, cfg: FusionConfig) -> tuple:
    row = table[(table["speaker"] == voice) & (table["person_id"] == person)]
    if row.empty or row["score"].iloc[0] < cfg.min_confidence:
        return (voice, np.nan, np.nan, np.nan, 0.0)
    r = row.iloc[0]
    return (person, r["cooccurrence"], r["mouth_lift"], r["voice_similarity"], float(r["score"]))


def speaking_intervals(turns: DataFrame[SpeakerTurns], links: DataFrame[VoiceLinks], visual: DataFrame[Intervals],
                       *, ep_id: str) -> DataFrame[Intervals]:
    """`Intervals` of kind `speaking` (the person's voices, merged) and `overlap` (speaking while on screen)."""
    owner = links.set_index("speaker")["person_id"]
    person = turns["speaker"].map(owner).to_numpy()
    merged = merge_intervals(turns["start_s"].to_numpy(), turns["end_s"].to_numpy(), person, 0.0)
    speaking = pd.DataFrame({"ep_id": ep_id, "person_id": merged["group"], "kind": "speaking",
                             "start_s": merged["start_s"], "end_s": merged["end_s"]})
    parts = [speaking]
    for pid, spans in speaking.groupby("person_id"):
        both = intersect(spans, visual[visual["person_id"] == pid])
        parts.append(both.assign(ep_id=ep_id, person_id=pid, kind="overlap"))
    table = pd.concat(parts, ignore_index=True)[["ep_id", "person_id", "kind", "start_s", "end_s"]]
    return Intervals.validate(table.sort_values(["person_id", "kind", "start_s"], ignore_index=True))


def face_samples(faces: DataFrame[TrackSegments], detections: DataFrame[Detections],
                 mouth: DataFrame[MouthActivity], identities: DataFrame[Identities]) -> pd.DataFrame:
    """One row per tracked face sample of a counted person: t_s, person_id, face_h_px, mouth activity."""
    samples = faces[["det_id", "track_id", "t_s", "segment_id"]].merge(detections[["det_id", "face_h_px"]],
                                                                       on="det_id")
    samples = samples.merge(mouth[["det_id", "activity"]], on="det_id", how="left")
    samples = samples.merge(identities[["segment_id", "person_id"]], on="segment_id")
    return samples[~samples["person_id"].isin(NOT_COUNTED)].reset_index(drop=True)


def label_words(words: DataFrame[Words], turns: DataFrame[SpeakerTurns], links: DataFrame[VoiceLinks]
                ) -> DataFrame[Words]:
    """The transcript with each word's speaker: the person whose voice covers most of the word (null if none)."""
    owner = links.set_index("speaker")["person_id"]
    speaker = pd.Series(pd.NA, index=words.index, dtype=object)
    best = np.zeros(len(words))
    for voice, spans in turns.groupby("speaker"):
        cover = np.zeros(len(words))
        for start, end in spans[["start_s", "end_s"]].to_numpy():
            cover += np.clip(np.minimum(words["end_s"], end) - np.maximum(words["start_s"], start), 0, None)
        better = cover > best
        speaker[better] = owner[voice]
        best = np.maximum(best, cover)
    return Words.validate(words.assign(speaker=speaker))


def no_similarity() -> pd.DataFrame:
    """The similarity table without rows (no voicebank, or no voices)."""
    return pd.DataFrame({"speaker": pd.Series(dtype=object), "person_id": pd.Series(dtype=object),
                         "similarity": pd.Series(dtype=float)})


def voice_similarity(voices: DataFrame[Voices], bank: DataFrame[VoicebankEntries]) -> pd.DataFrame:
    """Cosine similarity of every (voice, enrolled person): speaker, person_id, similarity."""
    if voices.empty or bank.empty:
        return no_similarity()
    sims = np.stack(voices["vector"].to_numpy()) @ np.stack(bank["vector"].to_numpy()).T
    return pd.DataFrame({"speaker": np.repeat(voices["speaker"].to_numpy(), len(bank)),
                         "person_id": np.tile(bank["person_id"].to_numpy(), len(voices)),
                         "similarity": sims.reshape(-1).astype(float)})


def screen_time(intervals: DataFrame[Intervals], identities: DataFrame[Identities], *, ep_id: str, duration_s: float,
                audio: bool = False) -> DataFrame[ScreenTime]:
    """The output contract table: one row per person_id seen or heard. Without `audio` the speaking columns stay
    null (unknown); with it, people never heard speak 0 s, and voices with no face (`voice_N`) get rows too."""
    span = intervals.assign(d=intervals["end_s"] - intervals["start_s"])
    visual = span[span["kind"] == "visual"]
    agg = visual.groupby("person_id").agg(visual_s=("d", "sum"), appearances=("d", "size"),
                                          first_seen_s=("start_s", "min"), last_seen_s=("end_s", "max"))
    heard = span[span["kind"] == "speaking"]["person_id"].unique() if audio else []
    agg = agg.reindex(agg.index.union(pd.Index(heard, dtype=str))).rename_axis("person_id")
    agg = agg.fillna({"visual_s": 0.0, "appearances": 0}).astype({"appearances": int})
    names = identities.drop_duplicates("person_id").set_index("person_id")["name"]
    table = agg.reset_index().assign(ep_id=ep_id, share_of_episode=lambda t: np.clip(t["visual_s"] / duration_s, 0, 1))
    table["name"] = table["person_id"].map(names).fillna(table["person_id"])
    for kind in ("speaking", "overlap"):
        totals = span[span["kind"] == kind].groupby("person_id")["d"].sum()
        table[f"{kind}_s"] = table["person_id"].map(totals).fillna(0.0) if audio else np.nan
    table["offscreen_speaking_s"] = table["speaking_s"] - table["overlap_s"]
    table = table.sort_values(["visual_s", "speaking_s"], ascending=False, ignore_index=True)
    return ScreenTime.validate(table[list(ScreenTime.to_schema().columns)])


@stage_task("fusion", tables={"screentime": ScreenTime, "intervals": Intervals, "voice_links": VoiceLinks,
                              "transcript": Words})
def fusion_task(run: StageRun, screentime: StageOutput, match: StageOutput, embed: StageOutput, detect: StageOutput,
                mouth: StageOutput, speakers: StageOutput | None, transcript: StageOutput | None,
                voicebank: StageOutput | None, info: EpisodeInfo, cfg: FusionConfig) -> Produced:
    ep_id = run.ctx.ep_id
    visual, identities = screentime.table("intervals"), match.table("identities")
    outputs: dict[str, object] = {}
    intervals = visual
    if speakers is not None:
        turns = speakers.table("turns")
        samples = face_samples(embed.table("track_segments"), detect.table("detections"), mouth.table("mouth"),
                               identities)
        heard = (voice_similarity(speakers.table("voices"), voicebank.table("voicebank"))
                 if voicebank is not None else None)
        links = link_voices(samples, turns, cfg, ep_id=ep_id, similarity=heard)
        intervals = pd.concat([visual, speaking_intervals(turns, links, visual, ep_id=ep_id)], ignore_index=True)
        outputs["voice_links"] = links
        if transcript is not None:
            outputs["transcript"] = label_words(transcript.table("words"), turns, links)
    table = screen_time(intervals, identities, ep_id=ep_id, duration_s=info.duration_s, audio=speakers is not None)
    outputs.update(screentime=table, intervals=intervals, **{"timeline.png": timeline_png(
        intervals, table, duration_s=info.video_start_s + info.duration_s,
        title=f"{ep_id}: who is on screen and who speaks")})
    links_info = outputs["voice_links"].set_index("speaker")["person_id"].to_dict() if speakers is not None else {}
    return outputs, {"voice_links": links_info}
