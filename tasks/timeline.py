"""Report pictures: a per-person timeline of when each person is on screen (full bar) and speaks (thin bar)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

ROW_HEIGHT_IN = 0.35
COLOURS = {"visual": "#3b7dd8", "speaking": "#e07b39"}
LANES = {"visual": (-0.35, 0.5), "speaking": (0.2, 0.2)}  # (offset from the row, height)


def timeline_png(intervals: pd.DataFrame, screentime: pd.DataFrame, *, duration_s: float, title: str) -> bytes:
    """PNG: one row per person (most screen time first), a bar for each interval, totals in the labels."""
    people = screentime
    fig, ax = plt.subplots(figsize=(11, 1.2 + ROW_HEIGHT_IN * max(1, len(people))))
    for row, person in enumerate(people.itertuples(index=False)):
        mine = intervals[intervals["person_id"] == person.person_id]
        for kind, part in mine[mine["kind"].isin(list(LANES))].groupby("kind"):
            spans = list(zip(part["start_s"], part["end_s"] - part["start_s"]))
            offset, height = LANES[kind]
            ax.broken_barh(spans, (row + offset, height), color=COLOURS[kind])
    ax.set_yticks(range(len(people)), [_label(p) for p in people.itertuples(index=False)])
    ax.invert_yaxis()
    ax.set_xlim(0, duration_s)
    ax.set_xlabel("episode time (s)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    kinds = sorted(set(intervals["kind"]) & set(LANES))
    if len(kinds) > 1:
        ax.legend(handles=[Patch(color=COLOURS[k], label=k) for k in kinds], loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _label(person: object) -> str:
    heard = "" if pd.isna(person.speaking_s) else f", speaks {person.speaking_s:.1f} s"
    return f"{person.name} ({person.visual_s:.1f} s{heard})"
