"""Report pictures: a per-person timeline of when each person is on screen."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

ROW_HEIGHT_IN = 0.35
COLOURS = {"visual": "#3b7dd8", "speaking": "#e07b39"}


def timeline_png(intervals: pd.DataFrame, screentime: pd.DataFrame, *, duration_s: float, title: str) -> bytes:
    """PNG: one row per person (most screen time first), a bar for each interval, totals in the labels."""
    people = screentime.sort_values("visual_s", ascending=False)
    fig, ax = plt.subplots(figsize=(11, 1.2 + ROW_HEIGHT_IN * max(1, len(people))))
    for row, person in enumerate(people.itertuples(index=False)):
        mine = intervals[intervals["person_id"] == person.person_id]
        for kind, part in mine.groupby("kind"):
            spans = list(zip(part["start_s"], part["end_s"] - part["start_s"]))
            ax.broken_barh(spans, (row - 0.35, 0.7), color=COLOURS.get(kind, "grey"))
    ax.set_yticks(range(len(people)),
                  [f"{p.name} ({p.visual_s:.1f} s)" for p in people.itertuples(index=False)])
    ax.invert_yaxis()
    ax.set_xlim(0, duration_s)
    ax.set_xlabel("episode time (s)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    kinds = sorted(intervals["kind"].unique())
    if len(kinds) > 1:
        ax.legend(handles=[Patch(color=COLOURS.get(k, "grey"), label=k) for k in kinds], loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
