"""The episode report: one self-contained HTML file (no network: styles, script and pictures inline) with the totals,
a per-person timeline (visual and speaking intervals, shot cuts, times on hover), each identity's best face, the
guardrails with their warnings, and the run manifest. Everything comes from stored tables: nothing is recomputed.

`write_report(folder)` writes `report.html` into an episode's folder (`published.episode_folder`);
`write_season_report(root)` writes `{root}/report.html`, the leaderboard per season with a link to each episode's
report."""
from __future__ import annotations

import base64
import html
import json
from typing import Any

import cv2
import numpy as np
import pandas as pd

from screenalytics.published import read_manifest, run_label, stage_table
from screenalytics.tasks import storage
from screenalytics.tasks.naming import is_named

WIDTH = 1000  # timeline drawing width, px
ROW_H, BAR_H, TALK_H = 22, 16, 6
THUMB_PX = 96
COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1080px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.muted{color:#777}.warn{color:#9a5b00}
.faces{display:flex;flex-wrap:wrap;gap:12px}.face{width:110px;text-align:center;font-size:12px}
.face img{width:96px;height:96px;object-fit:cover;border-radius:6px;background:#eee}
#readout{height:18px;font-size:12px;color:#555}svg text{font-size:11px}pre{background:#f6f6f6;padding:8px;
overflow:auto;max-height:360px}
"""
SCRIPT = """
const svg=document.getElementById('timeline'),out=document.getElementById('readout');
if(svg){svg.addEventListener('mousemove',e=>{const t=e.target.closest('[data-tip]');
const r=svg.getBoundingClientRect(),x=(e.clientX-r.left)*svg.viewBox.baseVal.width/r.width;
const s=(x-LEFT)/SCALE;out.textContent=(s>=0&&s<=DURATION?('t = '+s.toFixed(2)+' s'):'')+
(t?'  |  '+t.dataset.tip:'');});}
"""


def face_thumbnail(chip: pd.Series, det: pd.Series, size: int = THUMB_PX) -> bytes:
    """A square JPEG around a detection's face, cut from its stored chip (`Chips` row, `Detections` row)."""
    image = cv2.imdecode(np.frombuffer(chip["jpeg"], np.uint8), cv2.IMREAD_COLOR)
    origin = np.array([chip["x0_px"], chip["y0_px"], chip["x0_px"], chip["y0_px"]], float)
    box = (np.array([det["x1"], det["y1"], det["x2"], det["y2"]], float) - origin) * chip["scale"]
    cx, cy, half = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 0.7 * max(box[2] - box[0], box[3] - box[1])
    h, w = image.shape[:2]
    x0, y0, x1, y1 = int(max(0, cx - half)), int(max(0, cy - half)), int(min(w, cx + half)), int(min(h, cy + half))
    crop = cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()


def identity_faces(folder: str, per_person: int = 1, person_id: str | None = None,
                   manifest: dict[str, Any] | None = None) -> dict[str, list[bytes]]:
    """Per person_id (or only `person_id`): JPEGs of its best faces, the embedded faces of highest quality, cut
    from the chips the run stored (`folder`: an episode's published folder)."""
    manifest = manifest or read_manifest(folder)
    identities = storage.read_parquet(storage.join(folder, "identities.parquet"))
    faces = stage_table(folder, manifest, "embed", "embeddings")
    dets = stage_table(folder, manifest, "detect", "detections")
    if faces is None or dets is None or faces.empty:
        return {}
    faces = faces.merge(identities[["segment_id", "person_id"]], on="segment_id")
    if person_id is not None:
        faces = faces[faces["person_id"] == person_id]
    best = faces.sort_values("quality", ascending=False).groupby("person_id").head(per_person)
    if best.empty:
        return {}
    # only the chips shown: the table holds every face the run embedded (~40 MB for 10 minutes)
    chips = stage_table(folder, manifest, "detect", "chips", filters=[("det_id", "in", best["det_id"].tolist())])
    if chips is None:
        return {}
    chips, dets = chips.set_index("det_id"), dets.set_index("det_id")
    out: dict[str, list[bytes]] = {}
    for person, det_id in zip(best["person_id"], best["det_id"], strict=True):
        if det_id in chips.index:
            out.setdefault(person, []).append(face_thumbnail(chips.loc[det_id], dets.loc[det_id]))
    return out


def _rows(screentime: pd.DataFrame) -> pd.DataFrame:
    """People in display order: cast by seconds on screen, then the others."""
    order = screentime.assign(cast=screentime["person_id"].map(is_named))
    return order.sort_values(["cast", "visual_s", "speaking_s"], ascending=[False, False, False], ignore_index=True)


def timeline_svg(rows: pd.DataFrame, intervals: pd.DataFrame, shots: pd.DataFrame | None, duration_s: float) -> str:
    """An SVG: one row per person, a bar per visual interval, a thin dark bar per speaking interval, shot cuts as
    faint lines, a time axis; every bar carries its times for the hover readout."""
    left, scale = 130, (WIDTH - 140) / max(duration_s, 1e-6)
    height = 30 + ROW_H * len(rows)
    parts = [f'<svg id="timeline" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'aria-label="timeline">']
    for cut in ([] if shots is None else shots["start_s"].iloc[1:]):
        x = left + cut * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height - 24}" stroke="#ccc" stroke-width="0.6" '
                     f'data-tip="shot cut at {cut:.2f} s"/>')
    for i, row in rows.iterrows():
        y = 4 + ROW_H * i
        colour = COLOURS[i % len(COLOURS)] if row["cast"] else "#999"
        name = html.escape(str(row["name"]))
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" class="name">{name}</text>')
        mine = intervals[intervals["person_id"] == row["person_id"]]
        for kind, top, bar_h, fill, opacity in (("visual", y, BAR_H, colour, 0.75),
                                                ("speaking", y + BAR_H - TALK_H, TALK_H, "#222", 0.9)):
            for start, end in mine.loc[mine["kind"] == kind, ["start_s", "end_s"]].itertuples(index=False):
                tip = html.escape(f"{row['name']} {'on screen' if kind == 'visual' else 'speaking'} "
                                  f"{start:.2f}-{end:.2f} s ({end - start:.2f} s)")
                width = max((end - start) * scale, 0.8)
                parts.append(f'<rect x="{left + start * scale:.1f}" y="{top}" width="{width:.1f}" height="{bar_h}" '
                             f'fill="{fill}" opacity="{opacity}" class="{kind}" data-tip="{tip}">'
                             f'<title>{tip}</title></rect>')
    step = _tick_step(duration_s)
    for tick in np.arange(0, duration_s + 1e-9, step):
        x = left + tick * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height - 24}" y2="{height - 19}" stroke="#888"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{_clock(tick)}</text>')
    parts.append("</svg>")
    script = SCRIPT.replace("LEFT", str(left)).replace("SCALE", f"{scale:.6f}").replace("DURATION", f"{duration_s}")
    return "\n".join(parts) + f'<div id="readout"></div><script>{script}</script>'


def _tick_step(duration_s: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800):
        if duration_s / step <= 12:
            return float(step)
    return 3600.0


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}" if m else f"{s}s"


def _table(df: pd.DataFrame, digits: int = 2) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v, digits))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def episode_html(folder: str) -> str:
    """The report of the finished run published in `folder`, as one HTML document."""
    manifest = read_manifest(folder)
    screentime = storage.read_parquet(storage.join(folder, "screentime.parquet"))
    intervals = storage.read_parquet(storage.join(folder, "intervals.parquet"))
    shots_url = storage.join(folder, "shots.parquet")
    shots = storage.read_parquet(shots_url) if storage.exists(shots_url) else None
    duration = float(manifest["stages"]["probe"]["info"]["duration_s"])
    rows = _rows(screentime)
    thumbs = {person: jpegs[0] for person, jpegs in identity_faces(folder, manifest=manifest).items()}
    label = run_label(manifest)
    totals = rows[["name", "visual_s", "speaking_s", "overlap_s", "offscreen_speaking_s", "appearances",
                   "first_seen_s", "last_seen_s", "share_of_episode"]].rename(columns={
                       "name": "person", "visual_s": "on screen s", "speaking_s": "speaking s",
                       "overlap_s": "speaking on screen s", "offscreen_speaking_s": "speaking off screen s",
                       "first_seen_s": "first seen s", "last_seen_s": "last seen s", "share_of_episode": "share"})
    faces = "".join(
        f'<div class="face"><img alt="{html.escape(str(r.name))}" src="data:image/jpeg;base64,'
        f'{base64.b64encode(thumbs[r.person_id]).decode()}"><br>{html.escape(str(r.name))}<br>'
        f'<span class="muted">{r.visual_s:.1f} s</span></div>'
        for r in rows.itertuples() if r.person_id in thumbs)
    metrics = pd.DataFrame(sorted(manifest.get("metrics", {}).items()), columns=["guardrail metric", "value"])
    warnings = "".join(f'<li class="warn">{html.escape(w)}</li>' for w in manifest["warnings"]) or "<li>None.</li>"
    stages = pd.DataFrame([(name, entry["state"], float(entry["seconds"]))
                           for name, entry in manifest["stages"].items()], columns=["stage", "state", "seconds"])
    models = pd.DataFrame([(role, m.get("name", ""), m.get("device", ""), str(m.get("sha256", ""))[:12])
                           for role, m in manifest.get("models", {}).items()],
                          columns=["role", "model", "device", "sha256"])
    title = html.escape(f"{manifest['ep_id']}" + (f" ({label})" if label else ""))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Screenalytics: {title}</title>
<style>{STYLE}</style></head><body>
<h1>{title}</h1>
<div class="muted">{duration:.1f} s of video · run {html.escape(manifest.get('created_at', ''))} ·
code {html.escape(str(manifest.get('code_version', '')))} · profile
{html.escape(str(manifest.get('config', {}).get('profile', '')))}</div>
<h2>Screen time</h2>{_table(totals)}
<h2>Timeline</h2><div class="muted">Bars: on screen; dark strips: speaking; grey lines: shot cuts. Hover for times.
</div>{timeline_svg(rows, intervals, shots, duration)}
<h2>Faces</h2><div class="faces">{faces or '<span class="muted">No faces stored.</span>'}</div>
<h2>Guardrails</h2><ul>{warnings}</ul>{_table(metrics, 3)}
<h2>Run</h2>{_table(models)}{_table(stages)}
<details><summary>Effective configuration</summary><pre>{html.escape(json.dumps(manifest.get('config', {}),
indent=1))}</pre></details>
<p class="muted">Input {html.escape(manifest['input']['url'])} (sha256 {manifest['input']['sha256'][:16]}…)</p>
</body></html>"""


def write_report(folder: str) -> str:
    """Write `report.html` into an episode's published folder; returns its URL."""
    url = storage.join(folder, "report.html")
    storage.write_bytes(url, episode_html(folder).encode())
    return url


def season_html(root: str) -> str:
    """Every season under the root: its leaderboard and a link to each episode's report."""
    from screenalytics.query import query

    episodes = query(root, "episodes")
    board = query(root, "leaderboard") if not episodes.empty else pd.DataFrame()
    parts = []
    for (show, season), group in episodes.groupby(["show_name", "season"], dropna=False, sort=True):
        name = " ".join(str(v) for v in (show, season) if isinstance(v, str)) or "Episodes without a show"
        links = "".join(f'<li><a href="episodes/{html.escape(r.ep_id)}/report.html">{html.escape(r.ep_id)}</a> '
                        f'<span class="muted">{html.escape(str(r.episode or ""))} {r.duration_s:.0f} s</span></li>'
                        for r in group.sort_values(["episode", "ep_id"]).itertuples())
        same = (board["show_name"].fillna("") == (show if isinstance(show, str) else "")) & (
            board["season"].fillna("") == (season if isinstance(season, str) else "")) if len(board) else []
        mine = board[same] if len(board) else board
        columns = ["name", "episodes", "visual_s", "speaking_s", "overlap_s", "visual_share", "speaking_share"]
        parts.append(f"<h2>{html.escape(name)}</h2><ul>{links}</ul>" + (_table(mine[columns]) if len(mine) else ""))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Screenalytics: seasons</title>
<style>{STYLE}</style></head><body><h1>Seasons</h1>{''.join(parts) or '<p>No episodes under this root.</p>'}
</body></html>"""


def write_season_report(root: str) -> str:
    """Write `{root}/report.html`; returns its URL."""
    url = storage.join(storage.normalize_root(root), "report.html")
    storage.write_bytes(url, season_html(root).encode())
    return url
