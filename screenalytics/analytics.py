"""Season analytics and conversation dynamics as DuckDB views over the published tables, and the named queries
`screenalytics query NAME` runs (docs/analytics.md has the columns and SQL examples).

Episode-level views keep every row (cast, `unknown_N` faces, `voice_N` voices); season-level ones keep the cast only,
since an `unknown_3` or a `voice_2` of one episode is not the same person as in another."""
from __future__ import annotations

from typing import NamedTuple


def is_cast(column: str = "person_id") -> str:
    """SQL: the column holds a facebank-named person (not `unknown_N`, `voice_N` or `unidentified`)."""
    return (f"({column} NOT LIKE 'unknown\\_%' ESCAPE '\\' AND {column} NOT LIKE 'voice\\_%' ESCAPE '\\' "
            f"AND {column} <> 'unidentified')")


# view name -> (the base views it needs, its SELECT); created in this order
VIEWS: dict[str, tuple[tuple[str, ...], str]] = {
    "catalog": (("episodes",), """
        SELECT e.ep_id, l.show_name, l.season, l.episode, e.duration_s, e.source_url
        FROM episodes e LEFT JOIN episode_labels l USING (ep_id)"""),
    "cast_screentime": (("screentime",), f"""
        SELECT c.show_name, c.season, c.episode, s.*, c.duration_s AS episode_s
        FROM screentime s JOIN catalog c USING (ep_id) WHERE {is_cast('s.person_id')}"""),
    "leaderboard": (("screentime",), """
        WITH seasons AS (
            SELECT show_name, season, sum(duration_s) AS season_s, count(*) AS season_episodes
            FROM catalog GROUP BY show_name, season),
        spoken AS (
            SELECT c.show_name, c.season, sum(coalesce(s.speaking_s, 0)) AS speech_s
            FROM screentime s JOIN catalog c USING (ep_id) GROUP BY c.show_name, c.season)
        SELECT t.show_name, t.season, t.person_id, any_value(t.name) AS name,
               count(DISTINCT t.ep_id) FILTER (WHERE t.visual_s > 0 OR t.speaking_s > 0) AS episodes,
               any_value(n.season_episodes) AS season_episodes,
               round(sum(t.visual_s), 2) AS visual_s, round(sum(t.speaking_s), 2) AS speaking_s,
               round(sum(t.overlap_s), 2) AS overlap_s,
               round(sum(t.visual_s) / any_value(n.season_s), 4) AS visual_share,
               round(sum(t.speaking_s) / nullif(any_value(p.speech_s), 0), 4) AS speaking_share,
               list(DISTINCT t.ep_id ORDER BY t.ep_id) AS ep_ids
        FROM cast_screentime t
        JOIN seasons n ON n.show_name IS NOT DISTINCT FROM t.show_name AND n.season IS NOT DISTINCT FROM t.season
        LEFT JOIN spoken p ON p.show_name IS NOT DISTINCT FROM t.show_name AND p.season IS NOT DISTINCT FROM t.season
        GROUP BY t.show_name, t.season, t.person_id"""),
    "speaking_share": (("screentime",), """
        SELECT c.show_name, c.season, c.episode, s.ep_id, s.person_id, s.name, round(s.speaking_s, 2) AS speaking_s,
               round(s.speaking_s / nullif(sum(s.speaking_s) OVER (PARTITION BY s.ep_id), 0), 4) AS share
        FROM screentime s JOIN catalog c USING (ep_id) WHERE s.speaking_s > 0"""),
    "coappearance": (("intervals",), """
        SELECT c.show_name, c.season, a.ep_id, a.person_id AS person_a, b.person_id AS person_b,
               round(sum(least(a.end_s, b.end_s) - greatest(a.start_s, b.start_s)), 2) AS seconds
        FROM intervals a JOIN intervals b ON a.ep_id = b.ep_id AND a.kind = 'visual' AND b.kind = 'visual'
             AND a.person_id < b.person_id AND a.start_s < b.end_s AND b.start_s < a.end_s
        JOIN catalog c ON c.ep_id = a.ep_id
        GROUP BY c.show_name, c.season, a.ep_id, a.person_id, b.person_id"""),
    "shot_presence": (("intervals", "shots"), """
        SELECT c.show_name, c.season, h.ep_id, h.shot_id, h.start_s AS shot_start_s, h.end_s AS shot_end_s,
               v.person_id, round(sum(least(v.end_s, h.end_s) - greatest(v.start_s, h.start_s)), 2) AS seconds
        FROM shots h JOIN intervals v ON v.ep_id = h.ep_id AND v.kind = 'visual'
             AND v.start_s < h.end_s AND h.start_s < v.end_s
        JOIN catalog c ON c.ep_id = h.ep_id
        GROUP BY c.show_name, c.season, h.ep_id, h.shot_id, h.start_s, h.end_s, v.person_id"""),
    "first_last": (("screentime",), """
        SELECT show_name, season, person_id, any_value(name) AS name,
               arg_min(ep_id, coalesce(episode, ep_id)) AS first_ep_id, min(episode) AS first_episode,
               arg_min(first_seen_s, coalesce(episode, ep_id)) AS first_seen_s,
               arg_max(ep_id, coalesce(episode, ep_id)) AS last_ep_id, max(episode) AS last_episode,
               arg_max(last_seen_s, coalesce(episode, ep_id)) AS last_seen_s
        FROM cast_screentime WHERE visual_s > 0 GROUP BY show_name, season, person_id"""),
    "speaking_turns": (("intervals",), """
        SELECT ep_id, person_id, start_s, end_s, end_s - start_s AS duration_s
        FROM intervals WHERE kind = 'speaking'"""),
    "turn_stats": (("intervals",), """
        SELECT c.show_name, c.season, t.ep_id, t.person_id, count(*) AS turns,
               round(sum(t.duration_s), 2) AS speaking_s,
               round(avg(t.duration_s), 2) AS mean_turn_s, round(max(t.duration_s), 2) AS longest_turn_s
        FROM speaking_turns t JOIN catalog c USING (ep_id) GROUP BY c.show_name, c.season, t.ep_id, t.person_id"""),
    "interruptions": (("intervals",), """
        SELECT c.show_name, c.season, a.ep_id, a.person_id AS interrupted, b.person_id AS interrupter,
               b.start_s AS at_s, round(least(a.end_s, b.end_s) - b.start_s, 2) AS overlap_s
        FROM speaking_turns a JOIN speaking_turns b ON a.ep_id = b.ep_id AND a.person_id <> b.person_id
             AND b.start_s > a.start_s AND b.start_s < a.end_s
        JOIN catalog c ON c.ep_id = a.ep_id"""),
    "responses": (("intervals",), """
        SELECT c.show_name, c.season, r.ep_id, r.prior_speaker, r.responder, r.start_s,
               round(r.latency_s, 2) AS latency_s
        FROM (SELECT ep_id, person_id AS responder, start_s,
                     lag(person_id) OVER w AS prior_speaker, start_s - lag(end_s) OVER w AS latency_s
              FROM speaking_turns WINDOW w AS (PARTITION BY ep_id ORDER BY start_s, end_s)) r
        JOIN catalog c USING (ep_id)
        WHERE r.prior_speaker <> r.responder AND r.latency_s >= 0"""),
    "reaction_shots": (("intervals",), """
        SELECT c.show_name, c.season, s.ep_id, s.person_id AS speaker, v.person_id AS on_screen,
               round(sum(least(s.end_s, v.end_s) - greatest(s.start_s, v.start_s)), 2) AS seconds
        FROM intervals s JOIN intervals v ON s.ep_id = v.ep_id AND s.kind = 'speaking' AND v.kind = 'visual'
             AND s.person_id <> v.person_id AND s.start_s < v.end_s AND v.start_s < s.end_s
        JOIN catalog c ON c.ep_id = s.ep_id
        GROUP BY c.show_name, c.season, s.ep_id, s.person_id, v.person_id"""),
}

FIRST_LAST_EP = "$ep_id IN (first_ep_id, last_ep_id)"
FILTERS = "($show IS NULL OR show_name = $show) AND ($season IS NULL OR season = $season) AND ($ep_id IS NULL OR {ep})"


class NamedQuery(NamedTuple):
    """A question with its SQL; `$show`, `$season` and `$ep_id` filter it (NULL: all)."""

    about: str
    sql: str


def _season(select: str, group: str, order: str, ep: str = "list_contains(ep_ids, $ep_id)") -> str:
    return (f"SELECT * FROM (SELECT {select}, list(DISTINCT ep_id ORDER BY ep_id) AS ep_ids FROM {group}) "
            f"WHERE {FILTERS.format(ep=ep)} ORDER BY {order}")


def _episode(view: str, order: str) -> str:
    return f"SELECT * FROM {view} WHERE {FILTERS.format(ep='ep_id = $ep_id')} ORDER BY {order}"


NAMED: dict[str, NamedQuery] = {
    "episodes": NamedQuery("every episode under the root with its show_name, season and length",
                           _episode("catalog", "show_name, season, episode, ep_id")),
    "leaderboard": NamedQuery(
        "cast ranked by seconds on screen per season: visual, speaking, overlap seconds and shares",
        f"SELECT * FROM leaderboard WHERE {FILTERS.format(ep='list_contains(ep_ids, $ep_id)')} "
        "ORDER BY show_name, season, visual_s DESC, person_id"),
    "coappearance": NamedQuery(
        "seconds two people are on screen together, per season (cast)",
        _season("show_name, season, person_a, person_b, round(sum(seconds), 2) AS seconds",
                f"coappearance WHERE {is_cast('person_a')} AND {is_cast('person_b')} "
                "GROUP BY show_name, season, person_a, person_b",
                "show_name, season, seconds DESC, person_a, person_b")),
    "speaking_share": NamedQuery("each person's share of the speech credited in each episode",
                                 _episode("speaking_share", "show_name, season, episode, ep_id, share DESC")),
    "shot_presence": NamedQuery("who is on screen in each shot, and for how long",
                                _episode("shot_presence", "ep_id, shot_id, seconds DESC")),
    "first_last": NamedQuery("each cast member's first and last appearance per season",
                             f"SELECT * FROM first_last WHERE {FILTERS.format(ep=FIRST_LAST_EP)} "
                             "ORDER BY show_name, season, first_episode, first_seen_s"),
    "turns": NamedQuery("speaking turns per person and episode: count, seconds, mean and longest turn",
                        _episode("turn_stats", "show_name, season, ep_id, turns DESC")),
    "interruptions": NamedQuery(
        "who talks over whom: times a person starts speaking while another is speaking, per season",
        _season("show_name, season, interrupter, interrupted, count(*) AS times, round(sum(overlap_s), 2) AS overlap_s",
                f"interruptions WHERE {is_cast('interrupter')} AND {is_cast('interrupted')} "
                "GROUP BY show_name, season, interrupter, interrupted", "show_name, season, times DESC")),
    "response_latency": NamedQuery(
        "how fast each person answers another: turns that follow another speaker's, with the median gap",
        _season("show_name, season, responder, prior_speaker, count(*) AS responses, "
                "round(median(latency_s), 2) AS median_latency_s",
                f"responses WHERE {is_cast('responder')} AND {is_cast('prior_speaker')} "
                "GROUP BY show_name, season, responder, prior_speaker", "show_name, season, responses DESC")),
    "reaction_shots": NamedQuery(
        "who is on screen while someone else speaks (reaction shots), per season",
        _season("show_name, season, speaker, on_screen, round(sum(seconds), 2) AS seconds",
                f"reaction_shots WHERE {is_cast('speaker')} AND {is_cast('on_screen')} "
                "GROUP BY show_name, season, speaker, on_screen", "show_name, season, seconds DESC")),
}
