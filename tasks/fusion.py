"""Fusion: who is on screen, who speaks each turn (`attribution`, from the active-speaker scores; turns are cut to
voice activity's speech and at shot cuts first, so each piece is speech judged on what its shot shows), and the
screen time table.

speaking_s: seconds of the turns credited to the person, on or off screen; overlap_s: of those, seconds the person
is also on screen; offscreen_speaking_s = speaking_s − overlap_s.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks.attribution import (
    attribute_turns,
    attribution_warnings,
    scored_people,
    turn_evidence,
    voice_links,
    voice_owners,
)
from screenalytics.tasks.configs import FusionConfig
from screenalytics.tasks.intervals import clip_to, intersect, merge_intervals, split_at
from screenalytics.tasks.runner import Produced, StageOutput, StageRun, stage_task
from screenalytics.tasks.schemas import (
    EpisodeInfo,
    Identities,
    Intervals,
    ScreenTime,
    SpeakingScores,
    TurnSpeakers,
    VoicebankEntries,
    VoiceLinks,
    Voices,
    Words,
)
from screenalytics.tasks.timeline import timeline_png


def speaking_intervals(attributed: DataFrame[TurnSpeakers], visual: DataFrame[Intervals], *, ep_id: str
                       ) -> DataFrame[Intervals]:
    """`Intervals` of kind `speaking` (the turns credited to each person, merged) and `overlap` (speaking while on
    screen)."""
    merged = merge_intervals(attributed["start_s"].to_numpy(), attributed["end_s"].to_numpy(),
                             attributed["person_id"].to_numpy(), 0.0)
    speaking = pd.DataFrame({"ep_id": ep_id, "person_id": merged["group"], "kind": "speaking",
                             "start_s": merged["start_s"], "end_s": merged["end_s"]})
    parts = [speaking]
    for pid, spans in speaking.groupby("person_id"):
        both = intersect(spans, visual[visual["person_id"] == pid])
        parts.append(both.assign(ep_id=ep_id, person_id=pid, kind="overlap"))
    table = pd.concat(parts, ignore_index=True)[["ep_id", "person_id", "kind", "start_s", "end_s"]]
    return Intervals.validate(table.sort_values(["person_id", "kind", "start_s"], ignore_index=True))


def label_words(words: DataFrame[Words], attributed: DataFrame[TurnSpeakers]) -> DataFrame[Words]:
    """The transcript with each word's speaker: the person credited with the turn that covers most of the word
    (null if none)."""
    speaker = pd.Series(pd.NA, index=words.index, dtype=object)
    best = np.zeros(len(words))
    for turn in attributed.itertuples(index=False):
        cover = np.clip(np.minimum(words["end_s"], turn.end_s) - np.maximum(words["start_s"], turn.start_s), 0, None)
        better = cover.to_numpy() > best
        speaker[better] = turn.person_id
        best = np.maximum(best, cover.to_numpy())
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
                              "turn_speakers": TurnSpeakers, "transcript": Words})
def fusion_task(run: StageRun, screentime: StageOutput, match: StageOutput, embed: StageOutput, shots: StageOutput,
                asd: StageOutput | None, speakers: StageOutput | None, speech: StageOutput | None,
                transcript: StageOutput | None,
                voicebank: StageOutput | None, info: EpisodeInfo, cfg: FusionConfig) -> Produced:
    ep_id = run.ctx.ep_id
    visual, identities = screentime.table("intervals"), match.table("identities")
    outputs: dict[str, object] = {}
    intervals = visual
    if speakers is not None:
        # speech only (a turn may bridge a pause that voice activity heard as silence), and judged shot by shot
        # (a reaction shot is a cut away from the talker)
        turns = speakers.table("turns")
        if speech is not None:
            turns = clip_to(turns, speech.table("speech"))
        turns = split_at(turns, shots.table("shots")["start_s"].to_numpy()[1:])
        scores = asd.table("scores") if asd is not None else SpeakingScores.validate(
            pd.DataFrame(columns=list(SpeakingScores.to_schema().columns)))
        people = scored_people(scores, embed.table("track_segments"), identities)
        evidence = turn_evidence(turns, people, cfg.talking_score)
        heard = (voice_similarity(speakers.table("voices"), voicebank.table("voicebank"))
                 if voicebank is not None else None)
        owners = voice_owners(turns, evidence, cfg, heard)
        attributed = attribute_turns(turns, evidence, owners, cfg, ep_id=ep_id)
        intervals = pd.concat([visual, speaking_intervals(attributed, visual, ep_id=ep_id)], ignore_index=True)
        outputs["voice_links"] = voice_links(owners, ep_id=ep_id)
        outputs["turn_speakers"] = attributed
        if transcript is not None:
            outputs["transcript"] = label_words(transcript.table("words"), attributed)
    table = screen_time(intervals, identities, ep_id=ep_id, duration_s=info.duration_s, audio=speakers is not None)
    warnings = (attribution_warnings(attributed, people, table.set_index("person_id")["speaking_s"],
                                     table.set_index("person_id")["name"], cfg, outputs.get("transcript"))
                if speakers is not None else [])
    outputs.update(screentime=table, intervals=intervals, **{"timeline.png": timeline_png(
        intervals, table, duration_s=info.video_start_s + info.duration_s,
        title=f"{ep_id}: who is on screen and who speaks")})
    links_info = outputs["voice_links"].set_index("speaker")["person_id"].to_dict() if speakers is not None else {}
    return outputs, {"voice_links": links_info, "warnings": warnings}
