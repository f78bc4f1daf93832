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
from scipy.optimize import linear_sum_assignment

from screenalytics.tasks.appearance import assign_segments
from screenalytics.tasks.schemas import Intervals, VoiceLinks, Words
from screenalytics.tasks.screentime import NOT_COUNTED, merge_intervals
from screenalytics.tasks.settings import FusionConfig
from screenalytics.tasks.voicebank import no_similarity

MOUTH_SCALE = 0.25


def inside(times: np.ndarray, spans: pd.DataFrame) -> np.ndarray:
    """Whether each time falls in the union of `spans` (start_s/end_s)."""
    if spans.empty:
        return np.zeros(len(times), bool)
    merged = merge_intervals(spans["start_s"].to_numpy(), spans["end_s"].to_numpy(), np.zeros(len(spans)), 0.0)
    starts, ends = merged["start_s"].to_numpy(), merged["end_s"].to_numpy()
    idx = np.searchsorted(starts, times, side="right") - 1
    return (idx >= 0) & (times < ends[np.maximum(idx, 0)])


def intersect(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Intersection of two unions of spans (start_s/end_s), as merged spans."""
    edges = np.unique(np.r_[a["start_s"], a["end_s"], b["start_s"], b["end_s"]])
    if len(edges) < 2:
        return pd.DataFrame({"start_s": [], "end_s": []})
    mids = (edges[:-1] + edges[1:]) / 2
    keep = inside(mids, a) & inside(mids, b)
    spans = pd.DataFrame({"start_s": edges[:-1][keep], "end_s": edges[1:][keep]})
    merged = merge_intervals(spans["start_s"].to_numpy(), spans["end_s"].to_numpy(), np.zeros(len(spans)), 0.0)
    return merged[["start_s", "end_s"]]


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


def link_voices(samples: pd.DataFrame, turns: pd.DataFrame, cfg: FusionConfig, *, ep_id: str,
                similarity: pd.DataFrame | None = None) -> pd.DataFrame:
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


def speaking_intervals(turns: pd.DataFrame, links: pd.DataFrame, visual: pd.DataFrame, *, ep_id: str,
                       ) -> pd.DataFrame:
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


def face_samples(tracks: pd.DataFrame, detections: pd.DataFrame, mouth: pd.DataFrame, identities: pd.DataFrame,
                 ) -> pd.DataFrame:
    """One row per tracked face sample of a counted person: t_s, person_id, face_h_px, mouth activity."""
    samples = tracks[["det_id", "track_id", "t_s"]].merge(detections[["det_id", "face_h_px"]], on="det_id")
    samples = samples.merge(mouth[["det_id", "activity"]], on="det_id", how="left")
    samples["segment_id"] = assign_segments(samples, identities)
    samples = samples.merge(identities[["segment_id", "person_id"]], on="segment_id")
    return samples[~samples["person_id"].isin(NOT_COUNTED)].reset_index(drop=True)


def label_words(words: pd.DataFrame, turns: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
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
