"""Property-based tests (hypothesis) of the interval math, the per-turn attribution and the settings loader.

Intervals have integer-millisecond endpoints (passed as seconds, `ms / 1000`) and are checked against brute-force
references on the millisecond grid, so no property depends on float rounding. Attribution runs on generated
active-speaker scores at 25 fps and checks only what its docstring and docs/active_speaker.md promise. The settings
properties generate overrides of every known setting from the configs' own types and constraints.
"""
from __future__ import annotations

import math
import typing

import numpy as np
import pandas as pd
import pytest
import yaml
from annotated_types import Ge, Gt, Le, Lt
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from screenalytics.tasks.attribution import FRAME_S, MIN_SEEN_S, attribute_turns, turn_evidence, voice_owners
from screenalytics.tasks.configs import MODEL_DEFAULTS, STAGES, FusionConfig
from screenalytics.tasks.intervals import (
    clip_to,
    frame_counts,
    inside,
    intersect,
    merge_intervals,
    segment_of,
    split_at,
)
from screenalytics.tasks.naming import is_named
from screenalytics.tasks.settings import Settings, config_dir, load_settings, profiles, yaml_value

# modest budgets: the suite runs on 2 cores; database=None keeps hypothesis from writing .hypothesis/ into the tree
FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(FAST, max_examples=60)

# ---------------------------------------------------------------------------------------------------------------
# interval math: integer-millisecond endpoints, brute-force references on the millisecond grid
# ---------------------------------------------------------------------------------------------------------------

HORIZON_MS = 4000  # every generated endpoint lies in [-500, HORIZON_MS + 500)
OFFSET_MS = 500
GRID = np.arange(-OFFSET_MS, HORIZON_MS + OFFSET_MS)  # one cell [t, t + 1) ms per entry


@st.composite
def ms_spans(draw, min_size=0, max_size=12, min_len=1, max_len=1500):
    """(start_ms, end_ms) pairs, end - start in [min_len, max_len]."""
    starts = draw(st.lists(st.integers(-OFFSET_MS, HORIZON_MS - max_len), min_size=min_size, max_size=max_size))
    return [(s, s + draw(st.integers(min_len, max_len))) for s in starts]


def frame(pairs, **columns) -> pd.DataFrame:
    """A start_s/end_s table (seconds) from millisecond pairs."""
    table = pd.DataFrame({"start_s": np.array([a for a, _ in pairs], float) / 1000,
                          "end_s": np.array([b for _, b in pairs], float) / 1000})
    return table.assign(**columns)


def cells(pairs) -> np.ndarray:
    """Which millisecond cells of GRID the union of the [start, end) pairs covers."""
    out = np.zeros(len(GRID), bool)
    for a, b in pairs:
        out[a + OFFSET_MS:b + OFFSET_MS] = True
    return out


def runs(covered: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of covered cells, as (start_ms, end_ms)."""
    edges = np.flatnonzero(np.diff(np.r_[0, covered.astype(np.int8), 0]))
    return [(int(a) - OFFSET_MS, int(b) - OFFSET_MS) for a, b in zip(edges[::2], edges[1::2])]


def as_ms(table: pd.DataFrame) -> list[tuple[int, int]]:
    """The start_s/end_s of a table back in integer milliseconds (exact: outputs are input endpoints)."""
    out = []
    for a, b in zip(table["start_s"].to_numpy(float), table["end_s"].to_numpy(float)):
        ms_a, ms_b = round(a * 1000), round(b * 1000)
        assert a == ms_a / 1000 and b == ms_b / 1000, "an output endpoint that is no input endpoint"
        out.append((ms_a, ms_b))
    return out


# max_gap: exactly 0 (touching spans merge), or half a millisecond off every integer gap, so that float rounding
# never decides whether a gap of exactly max_gap is bridged; `threshold` is the same gap in milliseconds
max_gaps = st.one_of(st.just(0.0), st.integers(0, 800).map(lambda ms: ms + 0.5))


def reference_merge(rows: list[tuple[str, int, int]], gap_ms: float) -> list[tuple[str, int, int]]:
    """Per group (sorted), a sweep in integer milliseconds: a span joins the run when its gap to the run's end is
    at most `gap_ms`."""
    out = []
    for group in sorted({g for g, _, _ in rows}):
        current = None
        for s, e in sorted((s, e) for g, s, e in rows if g == group):
            if current is not None and s - current[1] <= gap_ms:
                current[1] = max(current[1], e)
                continue
            if current is not None:
                out.append((group, *current))
            current = [s, e]
        out.append((group, *current))
    return out


def merged_rows(table: pd.DataFrame) -> list[tuple[str, int, int]]:
    return [(str(g), a, b) for g, (a, b) in zip(table["group"], as_ms(table))]


group_spans = st.lists(st.tuples(st.sampled_from("abc"), st.integers(-OFFSET_MS, HORIZON_MS - 1500),
                                 st.integers(0, 1500)), max_size=14).map(
    lambda rows: [(g, s, s + n) for g, s, n in rows])


def merge_rows(rows, max_gap: float) -> pd.DataFrame:
    groups = np.array([g for g, _, _ in rows], dtype="<U1")
    return merge_intervals(np.array([s for _, s, _ in rows], float) / 1000,
                           np.array([e for _, _, e in rows], float) / 1000, groups, max_gap)


@FAST
@given(group_spans, max_gaps, st.randoms(use_true_random=False))
def test_merge_intervals_matches_a_sweep_in_integer_milliseconds(rows, max_gap, rng):
    out = merge_rows(rows, max_gap)
    expected = reference_merge(rows, max_gap * 1000)
    assert merged_rows(out) == expected
    # the input's row order does not matter
    shuffled = list(rows)
    rng.shuffle(shuffled)
    assert merged_rows(merge_rows(shuffled, max_gap)) == expected


@FAST
@given(group_spans, max_gaps)
def test_merge_intervals_output_is_sorted_disjoint_and_idempotent(rows, max_gap):
    out = merge_rows(rows, max_gap)
    got = merged_rows(out)
    assert sorted({g for g, _, _ in rows}) == sorted({g for g, _, _ in got})
    for (g1, s1, e1), (g2, s2, _) in zip(got, got[1:]):
        assert (g1, s1) < (g2, s2), "sorted by group, then start"
        if g1 == g2:
            assert s2 - e1 > max_gap * 1000, "gaps left open are longer than max_gap"
    for g, s, e in rows:  # every input span lies inside one merged span of its group
        assert any(g == mg and ms <= s and e <= me for mg, ms, me in got)
    again = merge_intervals(out["start_s"].to_numpy(), out["end_s"].to_numpy(), out["group"].to_numpy(), max_gap)
    assert merged_rows(again) == got, "merging merged spans changes nothing"


@FAST
@given(group_spans)
def test_merge_intervals_without_gap_is_the_union(rows):
    """With max_gap 0: per group the merged spans cover exactly the union of the inputs, so their total length
    never exceeds the sum of the inputs' lengths."""
    got = merged_rows(merge_rows(rows, 0.0))
    for group in {g for g, _, _ in rows}:
        mine = [(s, e) for g, s, e in rows if g == group]
        merged = [(s, e) for g, s, e in got if g == group]
        assert (cells(merged) == cells(mine)).all()
        assert sum(e - s for s, e in merged) <= sum(e - s for s, e in mine)


@FAST
@given(ms_spans(min_len=0), st.lists(st.integers(-OFFSET_MS, HORIZON_MS + OFFSET_MS - 1), max_size=40))
def test_inside_is_membership_of_the_union(pairs, times):
    got = inside(np.array(times, float) / 1000, frame(pairs))
    assert got.tolist() == [any(a <= t < b for a, b in pairs) for t in times]


@FAST
@given(ms_spans(min_len=0), ms_spans(min_len=0))
def test_intersect_is_the_common_part_of_both_unions(a, b):
    got = intersect(frame(a), frame(b))
    spans = as_ms(got)
    common = cells(a) & cells(b)
    assert spans == runs(common), "the maximal runs of the time both cover, in order"
    assert (cells(spans) <= cells(a)).all() and (cells(spans) <= cells(b)).all()
    assert as_ms(intersect(frame(b), frame(a))) == spans, "commutative"
    assert as_ms(intersect(got, frame(a))) == spans, "intersecting again with a changes nothing"
    assert sum(e - s for s, e in spans) <= min(cells(a).sum(), cells(b).sum())


@FAST
@given(ms_spans(min_size=1), st.lists(st.integers(-OFFSET_MS, HORIZON_MS + OFFSET_MS), max_size=12))
def test_split_at_cuts_each_span_at_the_cuts_strictly_inside(pairs, cuts):
    spans = frame(pairs, tag=np.arange(len(pairs)))
    got = split_at(spans, np.array(cuts, float) / 1000)
    expected = []
    for tag, (s, e) in enumerate(pairs):
        bounds = [s, *sorted({c for c in cuts if s < c < e}), e]
        expected += [(tag, a, b) for a, b in zip(bounds, bounds[1:])]
    assert [(tag, a, b) for tag, (a, b) in zip(got["tag"].tolist(), as_ms(got))] == expected
    assert got.index.tolist() == list(range(len(got)))


@FAST
@given(ms_spans(min_size=1), ms_spans(min_len=0))
def test_clip_to_keeps_exactly_each_spans_time_inside_the_union(pairs, within):
    spans = frame(pairs, tag=np.arange(len(pairs)))
    got = clip_to(spans, frame(within))
    allowed = cells(within)
    assert got["tag"].is_monotonic_increasing
    for tag, (s, e) in enumerate(pairs):
        pieces = as_ms(got[got["tag"] == tag])
        for (_, e1), (s2, _) in zip(pieces, pieces[1:]):
            assert e1 <= s2, "pieces in order, not overlapping"
        for ps, pe in pieces:
            assert s <= ps < pe <= e, "a piece is a non-empty part of its span"
        assert (cells(pieces) == (cells([(s, e)]) & allowed)).all()
    # clipping what was clipped changes no time
    again = clip_to(got, frame(within))
    assert (cells(as_ms(again)) == cells(as_ms(got))).all()


@FAST
@given(ms_spans(max_len=2500), st.integers(0, 150), st.integers(0, 49).map(lambda k: 2 * k + 1))
def test_frame_counts_counts_the_spans_over_each_frame(pairs, n, step_ms):
    """Odd frame steps (in ms) keep every integer-ms edge off the half-frame ties of rounding."""
    got = frame_counts(frame(pairs), n, step_ms / 1000)
    edges = [(min(max(round(s / step_ms), 0), n), min(max(round(e / step_ms), 0), n)) for s, e in pairs]
    assert got.tolist() == [sum(lo <= k < hi for lo, hi in edges) for k in range(n)]
    assert (got >= 0).all() and got.sum() == sum(hi - lo for lo, hi in edges)


@st.composite
def tracks_and_faces(draw):
    """Segments of a few tracks (distinct start times per track, rows in any order) and tracked faces."""
    rows = []
    for track in draw(st.lists(st.integers(0, 5), unique=True, max_size=4)):
        starts = draw(st.lists(st.integers(0, HORIZON_MS), unique=True, min_size=1, max_size=5))
        rows += [(track, s) for s in starts]
    rows = draw(st.permutations(rows))
    segments = pd.DataFrame({"segment_id": np.arange(len(rows), dtype=np.int64) * 10 + 3,
                             "track_id": np.array([t for t, _ in rows], np.int64),
                             "start_s": np.array([s for _, s in rows], float) / 1000})
    faces = draw(st.lists(st.tuples(st.integers(0, 6), st.integers(-OFFSET_MS, HORIZON_MS + OFFSET_MS)),
                          max_size=25))
    points = pd.DataFrame({"track_id": np.array([t for t, _ in faces], np.int64),
                           "t_s": np.array([ms for _, ms in faces], float) / 1000})
    return segments, points


@FAST
@given(tracks_and_faces())
def test_segment_of_gives_the_segment_that_owns_the_time(data):
    """A segment owns [start_s, its track's next segment's start_s); the first owns everything before; a face of
    a track without segments gets -1. The segments' row order does not matter."""
    segments, points = data
    got = segment_of(points, segments)
    expected = []
    for track, t in zip(points["track_id"], points["t_s"]):
        mine = segments[segments["track_id"] == track].sort_values("start_s")
        if mine.empty:
            expected.append(-1)
            continue
        before = mine[mine["start_s"] <= t]
        expected.append(int((before if len(before) else mine.iloc[:1])["segment_id"].iloc[-1]))
    assert got.tolist() == expected


# ---------------------------------------------------------------------------------------------------------------
# per-turn attribution: generated active-speaker scores at 25 fps, one score per person and frame (as
# `scored_people` makes them), turns of up to three voices
# ---------------------------------------------------------------------------------------------------------------

PEOPLE = ["ann", "bob", "cy", "unknown_1", "unknown_2"]
VOICES = ["voice_0", "voice_1", "voice_2"]
N_FRAMES = 250  # 10 s
TALKING, QUIET = 1.5, -3.0


def generic_rate(k: int) -> float:
    """(2k+1)/1994 (k != 498): in lowest terms its denominator is 1994, so no ratio of frame counts with fewer than
    1994 frames watched (these scenes hold under 1000) equals it or comes within 1e-7 of it: float rounding of the
    sums never decides a comparison with it."""
    return (2 * k + 1) / 1994


RATES = [generic_rate(k) for k in (49, 149, 299, 497, 699, 899)]  # about 0.05, 0.15, 0.3, 0.5, 0.7, 0.9
fusion_configs = st.builds(
    lambda talking_s, rate, turn_rate, split_s, similarity: FusionConfig(
        min_talking_s=(talking_s + 0.5) * FRAME_S, min_talking_rate=rate, turn_talking_rate=turn_rate,
        min_split_s=(split_s + 0.5) * FRAME_S, min_voice_similarity=similarity),
    st.integers(0, 25), st.sampled_from(RATES), st.sampled_from(RATES), st.integers(0, 25),
    st.sampled_from([0.3, 0.5, 0.7]))


@st.composite
def scene(draw):
    """(people, turns, cfg): shots in a row (gaps allowed), each showing a few faces talking, quiet or mixed (a
    seeded share of talking frames) while a voice speaks a turn whose edges are near the shot's (integer
    milliseconds); plus a few turns anywhere (voices may overlap)."""
    frames: dict[tuple[str, int], float] = {}
    spoken = []
    first = 0
    for _ in range(draw(st.integers(1, 8))):
        first += draw(st.sampled_from([0, 0, 5, 20]))
        n = draw(st.integers(3, 60))
        for who in draw(st.lists(st.sampled_from(PEOPLE), unique=True, min_size=1, max_size=3)):
            mode = draw(st.sampled_from(["talking", "quiet", "mixed"]))
            flips = np.random.default_rng(draw(st.integers(0, 2**16))).random(n) < draw(st.integers(0, 10)) / 10
            lo, hi = sorted(draw(st.tuples(st.integers(0, n), st.integers(0, n))))  # seen for part of the shot
            for k in range(first + lo, min(first + hi, N_FRAMES)):
                talking = mode == "talking" or (mode == "mixed" and flips[k - first])
                frames[(who, k)] = TALKING if talking else QUIET
        start = max(0, round(first * FRAME_S * 1000) + draw(st.integers(-100, 100)))
        end = max(start + 1, round((first + n) * FRAME_S * 1000) + draw(st.integers(-100, 100)))
        spoken.append((draw(st.sampled_from(VOICES[:1] + VOICES)), start, end))  # merged voices are common
        first += n
    spoken += draw(st.lists(st.tuples(st.sampled_from(VOICES), st.integers(0, 9500), st.integers(40, 4000)).map(
        lambda row: (row[0], row[1], row[1] + row[2])), max_size=2))
    rows = [(k * FRAME_S, who, score) for (who, k), score in frames.items()]
    people = pd.DataFrame(rows, columns=["t_s", "person_id", "score"]).astype({"person_id": object})
    people = people.sort_values("t_s", kind="stable", ignore_index=True)
    turns = pd.DataFrame({"ep_id": "ep", "speaker": [v for v, _, _ in spoken],
                          "start_s": [s / 1000 for _, s, _ in spoken], "end_s": [e / 1000 for _, _, e in spoken]})
    return people, turns, draw(fusion_configs)


def attribute(people: pd.DataFrame, turns: pd.DataFrame, cfg: FusionConfig, similarity=None):
    evidence = turn_evidence(turns, people, cfg.talking_score)
    owners = voice_owners(turns, evidence, cfg, similarity)
    return evidence, owners, attribute_turns(turns, evidence, owners, cfg, ep_id="ep")


def person(value) -> str | None:
    """A person id, None for a missing one (None or NaN in a table)."""
    return value if isinstance(value, str) else None


def evidence_of(evidence: pd.DataFrame, turn: int, person) -> tuple[float, float] | None:
    """(talking_s, seen_s) of a person's face in a turn, None when it was not scored there."""
    row = evidence[(evidence["turn"] == turn) & (evidence["person_id"] == person)]
    return None if row.empty else (float(row["talking_s"].iloc[0]), float(row["seen_s"].iloc[0]))


@SLOW
@given(scene())
def test_every_turn_is_attributed_once_with_its_own_evidence(data):
    people, turns, cfg = data
    evidence, _, table = attribute(people, turns, cfg)
    assert len(table) == len(turns), "one row per turn, in the turns' order"
    columns = ["speaker", "start_s", "end_s"]
    assert table[columns].values.tolist() == turns[columns].values.tolist()
    for i, row in enumerate(table.itertuples(index=False)):
        length = row.end_s - row.start_s
        # one score per person and frame: a face is watched at most the turn's length (plus the frame it opens on)
        assert 0 <= row.talking_s <= row.seen_s <= length + FRAME_S + 1e-9
        seen = evidence_of(evidence, i, row.face_id)
        assert (row.talking_s, row.seen_s) == (seen if seen is not None else (0.0, 0.0))
        for person, group in evidence[evidence["turn"] == i].groupby("person_id"):
            during = (people["t_s"] >= row.start_s) & (people["t_s"] < row.end_s)
            mine = people[(people["person_id"] == person) & during]
            assert float(group["seen_s"].iloc[0]) == pytest.approx(len(mine) * FRAME_S)
            talking = (mine["score"] > cfg.talking_score).sum()
            assert float(group["talking_s"].iloc[0]) == pytest.approx(talking * FRAME_S)


@settings(SLOW, max_examples=150)  # the rarer paths (a face taking a turn from an owner) need more scenes
@given(scene())
def test_a_face_takes_a_turn_only_on_enough_talking_evidence(data):
    """A turn credited from what was seen (`seen_talking`) goes to a face watched for MIN_SEEN_S or more of it and
    talking for turn_talking_rate of that; to the voice's owner only with min_talking_s of talking, to another face
    only with min_split_s (any time when the owner is seen quiet), to a face of a voice without owner only with
    min_talking_s. A face owning another voice takes the turn only when this voice's owner is seen quiet in it; an
    unnamed face never takes a named owner's turn."""
    people, turns, cfg = data
    evidence, owners, table = attribute(people, turns, cfg)
    owner_of = dict(zip(owners["speaker"], owners["owner"]))
    owning = {o: v for v, o in owner_of.items() if person(o) is not None}
    for i, row in enumerate(table.itertuples(index=False)):
        owner = person(owner_of[row.speaker])
        if row.source != "seen_talking":
            assert person(row.face_id) == owner, "not seen: the turn follows its voice's owner, if any"
            continue
        talking_s, seen_s = evidence_of(evidence, i, row.face_id)
        assert seen_s >= MIN_SEEN_S and talking_s / seen_s >= cfg.turn_talking_rate
        owner_seen = evidence_of(evidence, i, owner) if owner is not None else None
        owner_quiet = (owner_seen is not None and owner_seen[1] >= MIN_SEEN_S
                       and owner_seen[0] / owner_seen[1] < cfg.turn_talking_rate)
        if owner is None:
            assert talking_s >= cfg.min_talking_s and owning.get(row.face_id, row.speaker) == row.speaker
        elif row.face_id == owner:
            assert talking_s >= cfg.min_talking_s
        else:
            assert is_named(row.face_id), "an unnamed face never takes a turn from the voice's owner"
            assert owner_quiet or talking_s >= cfg.min_split_s
            if owning.get(row.face_id, row.speaker) != row.speaker:
                assert owner_quiet, "a face owning another voice takes this one's turn only over a quiet owner"


@SLOW
@given(scene())
def test_only_cast_seen_talking_or_owning_the_voice_is_credited(data):
    """Credit goes to a named person, else to the voice label; without a voicebank only to a person whose face
    was seen talking (a photo, a still listener, a face never on screen is never credited); voices and owners are
    one to one, and an owner was seen talking for min_talking_s and min_talking_rate of the time watched."""
    people, turns, cfg = data
    evidence, owners, table = attribute(people, turns, cfg)
    ever_talking = set(people.loc[people["score"] > cfg.talking_score, "person_id"])
    for row in table.itertuples(index=False):
        if is_named(row.face_id):
            assert row.person_id == row.face_id
        else:
            assert row.person_id == row.speaker, "an unnamed face or nobody: the turn stays its voice's"
        if row.person_id != row.speaker:
            assert row.person_id in ever_talking
    named = owners.dropna(subset=["owner"])
    assert named["owner"].is_unique, "one voice per person"
    assert set(named["source"]) <= {"seen_talking"} and set(owners.loc[owners["owner"].isna(), "source"]) <= {"none"}
    voice = turns["speaker"].to_numpy()[evidence["turn"].to_numpy()]
    for speaker, person, talking_s, rate in named[["speaker", "owner", "talking_s", "talking_rate"]].itertuples(
            index=False):
        mine = evidence[(voice == speaker) & (evidence["person_id"] == person).to_numpy()]
        assert talking_s == pytest.approx(mine["talking_s"].sum()) and talking_s >= cfg.min_talking_s
        assert rate >= cfg.min_talking_rate and mine["talking_s"].sum() / max(mine["seen_s"].sum(), FRAME_S) == (
            pytest.approx(rate))


@SLOW
@given(scene(), st.lists(st.tuples(st.sampled_from(VOICES), st.sampled_from(["dee", "ann", "bob"]),
                                   st.sampled_from([0.1, 0.4, 0.6, 0.8, 0.9])), max_size=6,
                         unique_by=lambda row: row[:2]))
def test_with_a_voicebank_credit_still_needs_a_face_or_an_enrolled_voice(data, heard):
    """A person credited is seen talking, or enrolled and heard in the voice at min_voice_similarity or more
    (source voicebank), and owns no other voice."""
    people, turns, cfg = data
    similarity = pd.DataFrame(heard, columns=["speaker", "person_id", "similarity"])
    _, owners, table = attribute(people, turns, cfg, similarity)
    ever_talking = set(people.loc[people["score"] > cfg.talking_score, "person_id"])
    assert owners["owner"].dropna().is_unique
    for row in table.itertuples(index=False):
        if row.source == "voicebank":
            match = similarity[(similarity["speaker"] == row.speaker) & (similarity["person_id"] == row.person_id)]
            assert len(match) == 1 and match["similarity"].iloc[0] >= cfg.min_voice_similarity
        elif row.person_id != row.speaker:
            assert row.person_id in ever_talking


@SLOW
@given(scene(), st.randoms(use_true_random=False))
def test_attribution_does_not_depend_on_row_order(data, rng):
    """Turns in another order get the same rows (in that order); scores of one instant in another order change
    nothing."""
    people, turns, cfg = data
    _, owners, table = attribute(people, turns, cfg)
    order = list(range(len(turns)))
    rng.shuffle(order)
    people_shuffled = people.sample(frac=1, random_state=rng.randrange(2**16)).sort_values(
        "t_s", kind="stable", ignore_index=True)
    _, owners2, table2 = attribute(people_shuffled, turns.iloc[order].reset_index(drop=True), cfg)
    pd.testing.assert_frame_equal(owners2, owners)
    pd.testing.assert_frame_equal(table2, table.iloc[order].reset_index(drop=True))


# ---------------------------------------------------------------------------------------------------------------
# settings: overrides of every known setting, generated from the configs' own types and constraints
# ---------------------------------------------------------------------------------------------------------------


def field_spec(annotation, metadata):
    """(kind, choices or (low, high, low_open, high_open)) of a config field."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] if typing.get_origin(annotation) in (
        typing.Union, type(int | None)) else [annotation]
    base = args[0]
    if typing.get_origin(base) is typing.Literal:
        return "choice", typing.get_args(base)
    low = high = None
    low_open = high_open = False
    for bound in metadata:
        if isinstance(bound, Ge | Gt):
            low, low_open = (bound.ge, False) if isinstance(bound, Ge) else (bound.gt, True)
        elif isinstance(bound, Le | Lt):
            high, high_open = (bound.le, False) if isinstance(bound, Le) else (bound.lt, True)
    return {bool: "bool", int: "int", float: "float", str: "str"}[base], (low, high, low_open, high_open)


FIELDS = {f"{section}.{name}": field_spec(info.annotation, info.metadata)
          for section, config in STAGES.items() for name, info in config.model_fields.items()}
DRIVERS = {f"models.{field}": targets for field, targets in MODEL_DEFAULTS.items()}  # models.x -> model -> targets
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


def valid_values(dotted: str) -> st.SearchStrategy:
    kind, spec = FIELDS[dotted]
    if kind == "choice":
        return st.sampled_from(spec)
    if kind == "bool":
        return st.booleans()
    if kind == "str":
        return TEXT
    low, high, low_open, high_open = spec
    if kind == "int":
        low = -10**6 if low is None else low + low_open
        return st.integers(low, (low + 10**6) if high is None else high - high_open)
    return st.floats(-1e9 if low is None else low, 1e9 if high is None else high, exclude_min=low_open,
                     exclude_max=high_open, allow_nan=False, allow_infinity=False)


def invalid_values(dotted: str) -> st.SearchStrategy:
    """Values the setting must refuse: out of its range, or of another type (never one pydantic's lax mode
    documents as accepted, such as "3" or true for a number)."""
    kind, spec = FIELDS[dotted]
    containers = st.one_of(st.lists(st.integers(), max_size=3), st.dictionaries(TEXT, st.integers(), max_size=2))
    word = st.from_regex(r"[a-zA-Z_][a-zA-Z_ ]{0,12}", fullmatch=True)
    if kind == "choice":
        return st.one_of(containers, st.integers(), TEXT.filter(lambda text: text not in spec))
    if kind == "bool":
        accepted = {"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"}
        return st.one_of(containers, word.filter(lambda text: text.lower() not in accepted))
    if kind == "str":
        return st.one_of(containers, st.integers(), st.floats(allow_nan=False))
    low, high, low_open, high_open = spec
    wrong = [containers, word]  # pydantic parses numbers from text, never from letters
    if kind == "int":
        wrong.append(st.integers(-1000, 1000).map(lambda k: k + 0.5))
        if low is not None:
            wrong.append(st.integers(1, 10**6).map(lambda k: low - k + low_open))
        if high is not None:
            wrong.append(st.integers(1, 10**6).map(lambda k: high + k - high_open))
    else:
        wrong.append(st.sampled_from([math.inf, -math.inf, math.nan]))
        if low is not None:
            below = st.floats(1e-6, 1e9).map(lambda d: low - d)
            wrong.append(below | st.just(float(low)) if low_open else below)
        if high is not None:
            above = st.floats(1e-6, 1e9).map(lambda d: high + d)
            wrong.append(above | st.just(float(high)) if high_open else above)
    return st.one_of(wrong)


def env_name(dotted: str) -> str:
    section, name = dotted.split(".")
    return f"SCREENALYTICS_{section.upper()}__{name.upper()}"


def value_at(loaded: Settings, dotted: str):
    section, name = dotted.split(".")
    return getattr(getattr(loaded, section), name)


@st.composite
def valid_overrides(draw, min_size=1, max_size=5):
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, min_size=min_size, max_size=max_size))
    return {key: draw(valid_values(key)) for key in keys}


@FAST
@given(valid_overrides(), st.sampled_from(profiles()))
def test_a_valid_override_of_any_setting_is_the_loaded_value(overrides, profile):
    loaded = load_settings({**overrides, "profile": profile}, environ={})
    for key, value in overrides.items():
        assert value_at(loaded, key) == value
    assert loaded.profile == profile


@FAST
@given(valid_overrides(), TEXT.filter(str.strip), TEXT.filter(str.strip))
def test_a_valid_environment_value_written_as_yaml_is_the_loaded_value(overrides, root, model_dir):
    environ = {env_name(key): yaml.safe_dump(value) for key, value in overrides.items()}
    loaded = load_settings(environ={**environ, "SCREENALYTICS_ROOT": root, "SCREENALYTICS_MODEL_DIR": model_dir})
    for key, value in overrides.items():
        assert value_at(loaded, key) == value
    assert (loaded.root, loaded.model_dir) == (root, model_dir), "root and model_dir are taken as they are"


@st.composite
def layers(draw):
    """(profile via override, profile via env, env values, override values) over a few settings."""
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=6))
    env = {k: draw(valid_values(k)) for k in keys if draw(st.booleans())}
    cli = {k: draw(valid_values(k)) for k in keys if draw(st.booleans())}
    names = st.none() | st.sampled_from(profiles())
    return draw(names), draw(names), env, cli


@FAST
@given(layers())
def test_layers_apply_in_order_defaults_stage_yaml_profile_environment_overrides(data):
    """Every setting (not only those given) is the override's, else the environment's, else the profile's, else
    the chosen model's default (model-dependent thresholds), else the default."""
    cli_profile, env_profile, env, cli = data
    environ = {env_name(key): yaml.safe_dump(value) for key, value in env.items()}
    if env_profile:
        environ["SCREENALYTICS_PROFILE"] = env_profile
    loaded = load_settings({**cli, "profile": cli_profile}, environ=environ)
    profile = cli_profile or env_profile or "balanced"
    assert loaded.profile == profile
    from_profile = {f"{section}.{name}": value for section, values in
                    yaml.safe_load((config_dir() / "profiles" / f"{profile}.yaml").read_text()).items()
                    for name, value in values.items()}
    defaults = Settings()

    def expected(key):
        for layer in (cli, env, from_profile):
            if key in layer:
                return layer[key]
        for driver, per_model in DRIVERS.items():  # a threshold of the chosen model (the drivers have none)
            if key not in DRIVERS and key in per_model[expected(driver)]:
                return per_model[expected(driver)][key]
        return value_at(defaults, key)

    assert {key: value_at(loaded, key) for key in FIELDS} == {key: expected(key) for key in FIELDS}



def refused(overrides=None, environ=None) -> str:
    """load_settings' error text for settings it must refuse: a ValueError (not a crash of another type, and not
    pydantic's own dump)."""
    with pytest.raises(ValueError) as raised:
        load_settings(overrides, environ=environ or {})
    text = str(raised.value)
    assert "input_value=" not in text and "errors.pydantic.dev" not in text, text
    return text


@st.composite
def invalid_setting(draw):
    key = draw(st.sampled_from(sorted(FIELDS)))
    return key, draw(invalid_values(key))


@FAST
@given(invalid_setting(), st.booleans())
def test_an_out_of_range_or_mistyped_value_is_refused_naming_the_setting(setting, from_env):
    key, value = setting
    if from_env:  # named with the variable that gave it
        assert f"setting {key} (from {env_name(key)}): " in refused(environ={env_name(key): yaml.safe_dump(value)})
    else:
        assert f"setting {key}: " in refused({key: value})


@FAST
@given(st.sampled_from(sorted(STAGES)), st.from_regex(r"[a-z]+(_[a-z0-9]+)*", fullmatch=True), st.booleans())
def test_an_unknown_setting_of_a_known_section_is_refused_naming_it(section, name, from_env):
    assume(name not in STAGES[section].model_fields)
    key = f"{section}.{name}"
    if from_env:
        assert f"setting {key} (from {env_name(key)}): unknown" in refused(environ={env_name(key): "1"})
    else:
        assert f"setting {key}: unknown" in refused({key: 1})


@FAST
@given(st.sampled_from(["SCREENALYTICS_ROOT", "SCREENALYTICS_MODEL_DIR", "SCREENALYTICS_PROFILE"]),
       st.text(" \t\n", max_size=3))
def test_a_blank_root_model_dir_or_profile_variable_is_refused_naming_it(name, blank):
    assert name in refused(environ={name: blank})


@FAST
@given(st.sampled_from(sorted(STAGES)),
       st.one_of(st.integers(), st.booleans(), TEXT, st.floats(allow_nan=False), st.lists(st.integers(), max_size=2)),
       st.booleans())
@example("shots", 3, False)  # refused clearly, as every section should be
@example("detect", 3, False)  # TypeError: 'int' object is not iterable (settings._resolve_model_defaults)
@example("models", 3, False)  # AttributeError: 'int' object has no attribute 'face_detector'
@example("cluster", 0, False)  # accepted silently, as if the section were empty
def test_a_section_given_a_single_value_is_refused_naming_the_section(section, value, from_env):
    """`--set detect=3` or SCREENALYTICS_DETECT=3: a section needs a mapping of its settings."""
    if from_env:
        variable = f"SCREENALYTICS_{section.upper()}"
        assert f"setting {section} (from {variable}): " in refused(environ={variable: yaml.safe_dump(value)})
    else:
        assert f"setting {section}: " in refused({section: value})


YAML_PIECES = ["!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!str ", "!!null ", "!!python/name:x ",
               "!!set ", "&a ", "*a", "[", "]", "{", "}", ": ", "- ", ", ", "'", '"', "#", "|", ">", "\n", " ", "0x",
               "0o", "0b", "_", ":", "-", ".", "e", "2001", "13", "30", "1", "0", "maybe", "inf", "nan", "yes", "~"]
yaml_texts = st.one_of(TEXT, st.text(max_size=30),
                       st.lists(st.sampled_from(YAML_PIECES), max_size=10).map("".join))


@settings(FAST, max_examples=300)  # parsing is cheap; the odd tags need many texts
@given(yaml_texts)
@example("[1")  # malformed YAML: the documented error
@example("!!bool maybe")  # KeyError: 'maybe'
@example("!!int")  # IndexError: string index out of range
@example("!!timestamp x")  # AttributeError: 'NoneType' object has no attribute 'groupdict'
@example("2001-13-01")  # ValueError('month must be in 1..12'): not naming the setting
@example("0x_")  # ValueError("invalid literal for int() with base 16: ''"): not naming the setting
@example("[" * 1000)  # RecursionError
def test_yaml_value_parses_any_text_or_refuses_it_naming_the_setting(raw):
    """yaml_value gives a value, or a ValueError naming where the text came from: never another exception."""
    try:
        yaml_value(raw, "SCREENALYTICS_DETECT__SAMPLE_FPS")
    except ValueError as exc:
        assert str(exc).startswith(f"SCREENALYTICS_DETECT__SAMPLE_FPS={raw!r}: not a value"), str(exc)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)


@FAST
@given(st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(TEXT, scalars, max_size=3)))
def test_yaml_value_reads_back_what_yaml_writes(value):
    assert yaml_value(yaml.safe_dump(value), "--set x") == value
