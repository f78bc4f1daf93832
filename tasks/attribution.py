"""Who speaks each diarization turn: the face seen talking during it (active-speaker scores), made consistent per
voice.

Evidence per (turn, person): `talking_s`, the seconds of the turn the person's face was scored talking (logit above
`talking_score`), and `seen_s`, the seconds it was scored at all; their ratio is how much of the time the face was
watched it was talking. A photo, a still, a closed-mouth listener scores ~0 talking.

1. Each voice's owner: voices and people matched one to one by the seconds each person was seen talking over the
   voice's turns, a pair counting when that is at least `min_talking_s` and the person talked for at least
   `min_talking_rate` of the time they were watched while the voice spoke (a listener's occasional false
   "talking" frames do not make them the owner). One to one: the model tells that a face talks, not whose voice
   it hears, so a narrator over a talking cast member must not take that cast member, who owns their own voice.
2. Each turn goes to its voice's owner (on screen or not: the same voice is the same person), unless the owner is
   not seen talking in it (quiet, or off screen) while a named person is, for at least `turn_talking_rate` of their
   watched time and `min_split_s` seconds (or any time when the owner is seen quiet: evidence from both faces):
   then the turn goes to that person (diarization had merged two people's voices, or shifted a turn's end). An
   unnamed face never takes a turn from a named owner (a cast member's voice over talking extras). A voice without
   an owner gives each turn to a face seen talking through it (`turn_talking_rate`,
   `min_talking_s`), else to nobody on screen: the voice stays `voice_N`. A face that owns another voice takes a
   turn of this one only when this voice's owner is seen quiet in it.
3. Only cast (facebank-named people) are credited: a turn whose talker is an unnamed face (`unknown_N`, an extra)
   is credited to its voice label, and the face is kept as evidence (`face_id`).
With a voicebank, a voice no face was seen speaking is the enrolled person it sounds like (`min_voice_similarity`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandera.typing import DataFrame
from scipy.optimize import linear_sum_assignment

from screenalytics.tasks.configs import FusionConfig
from screenalytics.tasks.naming import NOT_COUNTED, is_named
from screenalytics.tasks.schemas import (
    Identities,
    SpeakerTurns,
    SpeakingScores,
    TrackSegments,
    TurnSpeakers,
    VoiceLinks,
)

FRAME_S = 1 / 25  # seconds one active-speaker score stands for
MIN_SEEN_S = 0.2  # a face scored for less of a turn than this (5 frames) is no evidence either way
EMPTY_EVIDENCE = pd.DataFrame({"seen_s": pd.Series(dtype=float), "talking_s": pd.Series(dtype=float)},
                              index=pd.Index([], name="person_id", dtype=object))


def scored_people(scores: DataFrame[SpeakingScores], faces: DataFrame[TrackSegments],
                  identities: DataFrame[Identities]) -> pd.DataFrame:
    """Active-speaker scores with the person of each: t_s, person_id, score. A score takes the segment of its
    track's nearest tracked face; faces never counted (`unidentified`) are dropped."""
    if scores.empty:
        return pd.DataFrame({"t_s": pd.Series(dtype=float), "person_id": pd.Series(dtype=object),
                             "score": pd.Series(dtype=float)})
    marks = faces[["track_id", "t_s", "segment_id"]].sort_values("t_s")
    table = pd.merge_asof(scores.sort_values("t_s"), marks, on="t_s", by="track_id", direction="nearest")
    table = table.merge(identities[["segment_id", "person_id"]], on="segment_id")
    table = table[~table["person_id"].isin(NOT_COUNTED)]
    # one face per person and frame: a person split over two tracks at one instant counts once, at its best
    table = table.assign(frame=np.round(table["t_s"] / FRAME_S).astype(np.int64))
    table = table.sort_values("score", ascending=False).drop_duplicates(["person_id", "frame"])
    return table.sort_values("t_s", ignore_index=True)[["t_s", "person_id", "score"]]


def turn_evidence(turns: DataFrame[SpeakerTurns], people: pd.DataFrame, talking_score: float) -> pd.DataFrame:
    """Per (turn, person) scored during the turn: turn (index into `turns`), person_id, seen_s, talking_s."""
    times = people["t_s"].to_numpy()
    lo = np.searchsorted(times, turns["start_s"].to_numpy(), side="left")
    hi = np.searchsorted(times, turns["end_s"].to_numpy(), side="left")
    index = np.repeat(np.arange(len(turns)), hi - lo)
    rows = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(index) else np.zeros(0, np.int64)
    picked = people.iloc[rows]
    table = pd.DataFrame({"turn": index, "person_id": picked["person_id"].to_numpy(),
                          "talking": (picked["score"].to_numpy() > talking_score)})
    out = table.groupby(["turn", "person_id"])["talking"].agg(seen="size", talking="sum").reset_index()
    return pd.DataFrame({"turn": out["turn"].astype(np.int64), "person_id": out["person_id"],
                         "seen_s": out["seen"] * FRAME_S, "talking_s": out["talking"] * FRAME_S})


def voice_owners(turns: DataFrame[SpeakerTurns], evidence: pd.DataFrame, cfg: FusionConfig,
                 similarity: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per voice: owner (person_id or None), how it was found (`source`: seen_talking, voicebank, none), the
    owner's talking_s and talking_rate over the voice's turns, and the voicebank's similarity of the voice to the
    owner (NaN without one). Voices and people are matched one to one, by seconds seen talking; a voice left over
    is the enrolled person it sounds like (`min_voice_similarity`) if that person has no voice yet.
    `similarity`: speaker, person_id, similarity."""
    voice = turns["speaker"].to_numpy()
    table = evidence.assign(speaker=voice[evidence["turn"].to_numpy()])
    totals = table.groupby(["speaker", "person_id"])[["seen_s", "talking_s"]].sum().reset_index()
    totals["talking_rate"] = totals["talking_s"] / totals["seen_s"].clip(lower=FRAME_S)
    eligible = totals[(totals["talking_s"] >= cfg.min_talking_s) & (totals["talking_rate"] >= cfg.min_talking_rate)]
    owner: dict[str, str] = {}
    if not eligible.empty:
        grid = eligible.pivot(index="speaker", columns="person_id", values="talking_s").fillna(0.0)
        for r, c in zip(*linear_sum_assignment(-grid.to_numpy()), strict=True):
            if grid.iat[r, c] > 0:
                owner[grid.index[r]] = grid.columns[c]
    sims = (similarity.set_index(["speaker", "person_id"])["similarity"] if similarity is not None
            else pd.Series(dtype=float))
    rows = []
    for speaker in sorted(turns["speaker"].unique()):
        person, source = owner.get(speaker), "seen_talking" if speaker in owner else "none"
        if person is None and similarity is not None:
            sounds = similarity[(similarity["speaker"] == speaker) & ~similarity["person_id"].isin(owner.values())]
            sounds = sounds[sounds["similarity"] >= cfg.min_voice_similarity]
            if not sounds.empty:
                person, source = sounds.sort_values("similarity").iloc[-1]["person_id"], "voicebank"
                owner[speaker] = person
        mine = totals[(totals["speaker"] == speaker) & (totals["person_id"] == person)]
        talking, rate = (float(mine["talking_s"].iloc[0]), float(mine["talking_rate"].iloc[0])) if len(mine) \
            else (0.0, 0.0)
        rows.append((speaker, person, source, talking, rate, float(sims.get((speaker, person), np.nan))))
    return pd.DataFrame(rows, columns=["speaker", "owner", "source", "talking_s", "talking_rate", "voice_similarity"])


def voice_links(owners: pd.DataFrame, *, ep_id: str) -> DataFrame[VoiceLinks]:
    """`VoiceLinks` from `voice_owners`: a voice is credited to its owner when the owner is named."""
    named = owners["owner"].map(is_named).astype(bool)
    confidence = np.where(owners["source"] == "voicebank", owners["voice_similarity"],
                          np.where(owners["source"] == "seen_talking", owners["talking_rate"], 0.0))
    table = pd.DataFrame({"ep_id": ep_id, "speaker": owners["speaker"],
                          "person_id": owners["owner"].where(named, owners["speaker"]),
                          "face_id": owners["owner"], "talking_s": owners["talking_s"],
                          "talking_rate": owners["talking_rate"].clip(0, 1),
                          "voice_similarity": owners["voice_similarity"],
                          "confidence": np.clip(np.nan_to_num(confidence), 0, 1)})
    return VoiceLinks.validate(table)


def attribute_turns(turns: DataFrame[SpeakerTurns], evidence: pd.DataFrame, owners: pd.DataFrame,
                    cfg: FusionConfig, *, ep_id: str) -> DataFrame[TurnSpeakers]:
    """`TurnSpeakers`: each turn's credited person (a cast member or the voice label), the face seen talking, the
    evidence and a confidence."""
    indexed = owners.set_index("speaker")
    owner_of = {v: (o if isinstance(o, str) else None) for v, o in indexed["owner"].items()}
    owner_confidence = indexed["talking_rate"].where(indexed["source"] != "voicebank",
                                                     indexed["voice_similarity"]).to_dict()
    owner_source = indexed["source"].map({"seen_talking": "voice", "voicebank": "voicebank"}).to_dict()
    owning = {person: speaker for speaker, person in owner_of.items() if person is not None}
    by_turn = {turn: group.set_index("person_id") for turn, group in evidence.groupby("turn")}
    rows = []
    for i, turn in enumerate(turns.itertuples(index=False)):
        seen = by_turn.get(i, EMPTY_EVIDENCE)
        owner = owner_of.get(turn.speaker)
        rate = seen["talking_s"] / seen["seen_s"].clip(lower=FRAME_S)
        # a face that owns another voice is talking with its own voice, not this one (dubbed or narrated over)
        free = pd.Series([owning.get(p, turn.speaker) == turn.speaker for p in seen.index], index=seen.index,
                         dtype=bool)
        seen_talking = (rate >= cfg.turn_talking_rate) & (seen["seen_s"] >= MIN_SEEN_S)
        talking = free & seen_talking
        face, source, confidence = None, "none", 0.0
        if owner is not None:
            owner_quiet = owner in seen.index and seen.loc[owner, "seen_s"] >= MIN_SEEN_S and not talking[owner]
            # the owner seen quiet is evidence too: then any other named face talking through the piece takes it,
            # even one with a voice of its own (diarization ran this voice's turn into the next speaker's)
            need = 0.0 if owner_quiet else cfg.min_split_s
            others = (seen_talking if owner_quiet else talking).drop(owner, errors="ignore")
            named = np.array([is_named(p) for p in others.index], bool)
            others = others[others & (seen.loc[others.index, "talking_s"] >= need) & named]
            if talking.get(owner, False) and seen.loc[owner, "talking_s"] >= cfg.min_talking_s:
                face, source, confidence = owner, "seen_talking", float(rate[owner])
            elif len(others):  # the owner is not seen talking and a named face is: diarization merged two voices
                face = seen.loc[others.index, "talking_s"].idxmax()
                source, confidence = "seen_talking", float(rate[face])
            else:
                face, source, confidence = owner, owner_source[turn.speaker], float(owner_confidence[turn.speaker])
        elif (talkers := talking & (seen["talking_s"] >= cfg.min_talking_s)).any():
            face = seen.loc[talkers, "talking_s"].idxmax()
            source, confidence = "seen_talking", float(rate[face])
        credited = face if is_named(face) else turn.speaker
        evidence_s = (seen.loc[face, ["talking_s", "seen_s"]].astype(float).tolist() if face in seen.index
                      else [0.0, 0.0])
        rows.append((ep_id, turn.speaker, turn.start_s, turn.end_s, credited, face, source, *evidence_s,
                     min(1.0, confidence)))
    table = pd.DataFrame(rows, columns=["ep_id", "speaker", "start_s", "end_s", "person_id", "face_id", "source",
                                        "talking_s", "seen_s", "confidence"])
    return TurnSpeakers.validate(table[list(TurnSpeakers.to_schema().columns)])


def attribution_warnings(attributed: DataFrame[TurnSpeakers], people: pd.DataFrame, speaking: pd.Series,
                         names: pd.Series, cfg: FusionConfig, words: pd.DataFrame | None = None) -> list[str]:
    """What a person should check: a named person seen talking but credited with no speech, a voice never seen
    talking, turns attributed with low confidence, a transcript of low word confidence. `speaking`: speaking_s per
    person_id; `names`: name per person_id."""
    out = []
    talking = people[people["score"] > cfg.talking_score].groupby("person_id").size() * FRAME_S
    for person, seconds in talking.items():
        if not is_named(person) or seconds < cfg.warn_seen_talking_s or speaking.get(person, 0):
            continue
        out.append(f"{names.get(person, person)} was seen talking for {seconds:.1f} s but is credited with no speech: "
                   "their voice may be merged with another's or taken for someone else's; check turn_speakers.parquet "
                   "(or the preview), or lower fusion.min_talking_rate")
    length = attributed["end_s"] - attributed["start_s"]
    for voice, seconds in length[attributed["source"] == "none"].groupby(attributed["speaker"]).sum().items():
        if seconds >= cfg.warn_seen_talking_s and (attributed.loc[attributed["speaker"] == voice, "source"]
                                                   == "none").all():
            out.append(f"{voice} ({seconds:.1f} s of speech) was never seen talking on screen: a narrator or someone "
                       "off camera; enrol a voicebank (--voicebank) to name it")
    unsure = (attributed["source"] != "none") & (attributed["confidence"] < cfg.warn_confidence)
    if length[unsure].sum() >= cfg.warn_seen_talking_s:
        out.append(f"{int(unsure.sum())} turns ({length[unsure].sum():.1f} s of speech) were attributed with "
                   f"confidence below {cfg.warn_confidence}: check them in turn_speakers.parquet (source, evidence) "
                   "or in the preview")
    if words is not None and len(words) and words["probability"].mean() < cfg.warn_word_probability:
        out.append(f"the transcript's mean word confidence is {words['probability'].mean():.2f}: its words are "
                   "unreliable (music, people talking at once, or a language other than transcribe.language); check "
                   "transcript.parquet")
    return out
