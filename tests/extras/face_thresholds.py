"""Measure the distance and score distributions that the face thresholds are chosen from, on composed episodes
(exact truth: every detection is labelled from the plan's geometry) and on the labelled photo sets. Not a test: it
prints Markdown tables and writes the raw numbers as JSON.

    python tests/extras/face_thresholds.py OUT.json SET:CLIPS_DIR... [--set models.face_embedder=dlib ...]
        [--kinds sample,tv_hard,voices,narrator] [--episodes out/eps] [--crowd CROWD.mp4]

For each SET (a name) and each kind, the episode `{episodes}/{SET}-{kind}` must have been composed by
`screenalytics sample ... --kind KIND --clips CLIPS_DIR [--crowd CROWD]`; its plan is rebuilt from the same clips to
label each detection: the topmost layer (person) whose rectangle, moved by the shot's zoom and pan, holds the
detection's centre; `extra` in a shot with a background video (the crowd: real faces, nobody in the facebank); `none`
elsewhere (no face drawn there: a false detection); frames of a cross-dissolve are left out. The episode flow runs
with the appearance gate and clustering turned off (`embed.split_distance` 100, `cluster.distance` 1e-6), so every
track is one segment and the stage tables hold what the thresholds act on:

1. detector scores: cast faces, false detections (`none`) and crowd faces, and the share of drawn cast faces found
   on the sampled frames per score threshold;
2. appearance gate (`embed.split_distance`): per track of one person, the largest gap between the means of the
   embedded faces before and after any point (what `appearance.split_points` compares with the threshold); per
   pair of tracks of two people in one episode, the gap at the true switch when one is appended to the other (all
   of B after A, and one face of B after A: a late switch);
3. clustering (`cluster.distance`): L2 between track means (mean of the embedded faces' vectors) of the same
   person, of two cast members, and of a crowd track and a cast track;
4. matching (`match.accept_distance`, `match.min_margin`): per track of a cast member, the median over its faces of
   the L2 distance to the nearest facebank image of its own person, to the nearest other person and the margin;
   per crowd track, the median to the nearest person (a distance an extra could be named at).

The photo sets follow tests/tasks/test_facebank.py (the Johns, openface, facenet): each query's distance to its own
person's nearest enrolled image and to the nearest other person; the three people not enrolled, their nearest.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from screenalytics.composer.episode import _camera, _timeline
from screenalytics.composer.sample import plan_for

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SIZE, FPS = (1280, 720), 25
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class Labeller:
    """Who is drawn where in a composed episode (from its plan)."""

    def __init__(self, kind: str, clips_dir: Path, crowd: Path | None):
        clips = {p.stem: p for p in sorted(Path(clips_dir).glob("*.mpg"))}
        self.shots = plan_for(kind, clips, crowd)
        self.tl = _timeline(self.shots, FPS, SIZE)

    def active(self, frame: int) -> list[int]:
        return [k for k, (s, n, _) in enumerate(self.tl) if s <= frame < s + n]

    def layers(self, frame: int) -> list[tuple[str, np.ndarray]] | None:
        """(person, x1 y1 x2 y2) of each drawn layer at `frame`, topmost last; None during a dissolve."""
        active = self.active(frame)
        if len(active) != 1:
            return None
        k = active[0]
        shot, (start, n, _) = self.shots[k], self.tl[k]
        m = _camera(shot, (frame - start) / max(n - 1, 1), SIZE)
        out = []
        for layer in shot.layers:
            x, y, w, h = layer.rect
            corners = m @ np.array([[x, y, 1.0], [x + w, y + h, 1.0]]).T
            out.append((layer.person, corners.T.ravel()))
        return out

    def label(self, frame: int, box: np.ndarray) -> str | None:
        layers = self.layers(frame)
        if layers is None:
            return None
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for person, (x1, y1, x2, y2) in reversed(layers):
            if x1 <= cx < x2 and y1 <= cy < y2:
                return person
        return "extra" if self.shots[self.active(frame)[0]].background is not None else "none"


def stage_table(root: Path, ep_id: str, manifest: dict, stage: str, table: str) -> pd.DataFrame:
    key = manifest["stages"][stage]["key"][:16]
    return pd.read_parquet(root / "episodes" / ep_id / "stages" / stage / key / f"{table}.parquet")


def max_gap(vectors: np.ndarray) -> float:
    n = len(vectors)
    cum = np.cumsum(vectors, axis=0)
    ks = np.arange(1, n)
    left, right = cum[:-1] / ks[:, None], (cum[-1] - cum[:-1]) / (n - ks)[:, None]
    return float(np.linalg.norm(left - right, axis=1).max())


def cut_gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)))


def measure_episode(folder: Path, labeller: Labeller, root: Path, overrides: dict) -> dict:
    from screenalytics.flows.episode import episode

    ep_id = folder.name
    manifest = episode(str(folder / "episode.mp4"), ep_id=ep_id, facebank=str(folder / "facebank"), root=str(root),
                       overrides={**overrides, "embed.split_distance": 100.0, "cluster.distance": 1e-6,
                                  "transcribe.enabled": False, "models.diarizer": "vad"})
    dets = stage_table(root, ep_id, manifest, "detect", "detections")
    frames = stage_table(root, ep_id, manifest, "detect", "frames")
    tracks = stage_table(root, ep_id, manifest, "track", "tracks")
    emb = stage_table(root, ep_id, manifest, "embed", "embeddings")
    bank = stage_table(root, ep_id, manifest, "facebank", "facebank")
    dets["label"] = [labeller.label(int(r.frame_idx), np.array([r.x1, r.y1, r.x2, r.y2]))
                     for r in dets.itertuples()]
    # 1. detector: scores per kind of label; recall of drawn cast faces per threshold
    known = dets[dets["label"].notna()]
    cast = ~known["label"].isin(["extra", "none"])
    scores = {"cast": known.loc[cast, "score"].tolist(),
              "none": known.loc[known["label"] == "none", "score"].tolist(),
              "extra": known.loc[known["label"] == "extra", "score"].tolist()}
    drawn, found = 0, {t: 0 for t in THRESHOLDS}
    for frame in frames["frame_idx"]:
        layers = labeller.layers(int(frame))
        if not layers:
            continue
        here = dets[dets["frame_idx"] == frame]
        for person, _ in layers:
            drawn += 1
            best = here.loc[here["label"] == person, "score"].max() if len(here) else np.nan
            for t in THRESHOLDS:
                found[t] += bool(best >= t)
    # tracks: majority label and purity, from every tracked detection
    tracked = tracks.merge(dets[["det_id", "label"]], on="det_id")
    purity = tracked.dropna(subset=["label"]).groupby("track_id")["label"].agg(
        lambda s: (s.value_counts().index[0], s.value_counts().iloc[0] / len(s)))
    emb = emb.merge(dets[["det_id", "label"]], on="det_id").sort_values(["track_id", "t_s"])
    per_track = {}
    for track_id, g in emb.groupby("track_id"):
        if track_id not in purity.index:
            continue
        owner, share = purity[track_id]
        if share < 1.0 or owner == "none":
            continue
        per_track[int(track_id)] = (owner, np.stack(g["vector"].to_numpy()).astype(np.float64))
    cast_tracks = {t: v for t, v in per_track.items() if v[0] != "extra"}
    # 2. appearance gate
    same_gap = [max_gap(v) for _, v in cast_tracks.values() if len(v) >= 2]
    switch_all, switch_late = [], []
    for (_, (pa, va)), (_, (pb, vb)) in combinations(cast_tracks.items(), 2):
        if pa != pb:
            switch_all += [cut_gap(va, vb), cut_gap(vb, va)]
            switch_late += [cut_gap(va, vb[:1]), cut_gap(vb, va[:1])]
    # 3. clustering
    means = {t: (p, v.mean(axis=0)) for t, (p, v) in per_track.items()}
    same_mean, cast_pair, extra_cast = [], [], []
    for (_, (pa, ma)), (_, (pb, mb)) in combinations(means.items(), 2):
        d = float(np.linalg.norm(ma - mb))
        if "extra" in (pa, pb):
            if (pa == "extra") != (pb == "extra"):
                extra_cast.append(d)
        else:
            (same_mean if pa == pb else cast_pair).append(d)
    # 4. matching
    names = sorted(bank["name"].unique())
    vectors = np.stack(bank["vector"].to_numpy()).astype(np.float64)
    owner = bank["name"].to_numpy()
    own, other, margin, extra_nearest = [], [], [], []
    for person, v in per_track.values():
        d = np.linalg.norm(v[:, None] - vectors[None], axis=2)
        median = np.median(np.stack([d[:, owner == n].min(axis=1) for n in names], axis=1), axis=0)
        if person == "extra":
            extra_nearest.append(float(median.min()))
        elif person in names:
            i = names.index(person)
            own.append(float(median[i]))
            other.append(float(np.delete(median, i).min()))
            margin.append(other[-1] - own[-1])
    return {"episode": ep_id, "scores": scores, "drawn": drawn, "found": found,
            "n_tracks": len(per_track), "impure_tracks": int(sum(1 for t in purity if t[1] < 1)),
            "same_gap": same_gap, "switch_all": switch_all, "switch_late": switch_late,
            "same_mean": same_mean, "cast_pair": cast_pair, "extra_cast": extra_cast,
            "own": own, "other": other, "margin": margin, "extra_nearest": extra_nearest,
            "models": {k: v.get("name") for k, v in manifest["models"].items() if k.startswith("face_")}}


def photo_sets(overrides: dict) -> dict:
    """test_facebank's protocol: distances of each query to its own person and to the nearest other."""
    from screenalytics.tasks.facebank import embed_image
    from screenalytics.tasks.models.loader import Models
    from screenalytics.tasks.settings import load_settings

    settings = load_settings(overrides)
    models = Models(settings.models, settings.model_dir, det_thresh=settings.detect.det_thresh)
    detector, embedder = models.get("face_detector"), models.get("face_embedder")

    def embed(path: Path) -> np.ndarray | None:
        return embed_image(path, detector, embedder, settings.detect)

    bank, queries = [], []
    for folder in sorted((SHARED / "faces_dlib" / "johns").iterdir()):
        photos = sorted(folder.glob("*.jpg"))
        bank += [(folder.name, embed(p)) for p in photos[:3]]
        queries += [(folder.name, embed(p)) for p in photos[3:]]
    openface = SHARED / "faces_openface"
    bank += [(n, embed(openface / f"{n}{s}.jpg")) for n, s in
             [("lennon", "-1"), ("clapton", "-1"), ("adams", ""), ("carell", "")]]
    queries += [("lennon", embed(openface / "lennon-2.jpg")), ("clapton", embed(openface / "clapton-2.jpg"))]
    bank += [(p.parent.name, embed(p)) for p in sorted((SHARED / "faces_facenet_aligned").glob("*/1.png"))]
    strangers = [embed(SHARED / "hamilton_whitehouse" / f) for f in ("biden.jpg", "obama.jpg",
                                                                     "lin-manuel-miranda.png")]
    models.close()
    missing = sum(v is None for _, v in bank + queries) + sum(v is None for v in strangers)
    bank = [(n, v) for n, v in bank if v is not None]
    names = sorted({n for n, _ in bank})
    vectors = np.stack([v for _, v in bank]).astype(np.float64)
    owner = np.array([n for n, _ in bank])

    def per_person(v: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(vectors - v, axis=1)
        return np.array([d[owner == n].min() for n in names])

    own, other = [], []
    for name, v in queries:
        if v is None:
            continue
        d = per_person(v)
        i = names.index(name)
        own.append(float(d[i]))
        other.append(float(np.delete(d, i).min()))
    stranger = [float(per_person(v).min()) for v in strangers if v is not None]
    return {"own": own, "other": other, "stranger": stranger, "missing": missing}


def q(values: list[float], fmt: str = ".3f") -> str:
    if not values:
        return "-"
    v = np.asarray(values)
    return (f"{v.min():{fmt}} / {np.percentile(v, 10):{fmt}} / {np.median(v):{fmt}} / {np.percentile(v, 90):{fmt}}"
            f" / {v.max():{fmt}} (n={len(v)})")


def equal_error(low: list[float], high: list[float]) -> tuple[float, float]:
    """Threshold where `low` values above it and `high` values at or below it are equally frequent (and that rate);
    with no overlap, the middle of the gap."""
    low_a, high_a = np.asarray(low), np.asarray(high)
    if low_a.max() < high_a.min():
        return float((low_a.max() + high_a.min()) / 2), 0.0
    cands = np.unique(np.concatenate([low_a, high_a]))
    miss = np.array([(low_a > t).mean() for t in cands])
    false = np.array([(high_a <= t).mean() for t in cands])
    k = int(np.argmin(np.abs(miss - false)))
    return float(cands[k]), float((miss[k] + false[k]) / 2)


def report(results: list[dict], photos: dict) -> None:
    pool = {key: [x for r in results for x in r[key]] for key in
            ("same_gap", "switch_all", "switch_late", "same_mean", "cast_pair", "extra_cast", "own", "other",
             "margin", "extra_nearest")}
    print("Quantiles: min / 10% / median / 90% / max (n).\n")
    print("| episode | cast scores | false (none) scores | crowd scores | cast found at >= 0.3 / 0.5 / 0.7 / 0.9 |")
    print("|---|---|---|---|---|")
    for r in results:
        found = " / ".join(str(r["found"].get(t, r["found"].get(str(t)))) for t in (0.3, 0.5, 0.7, 0.9))
        print(f"| {r['episode']} | {q(r['scores']['cast'], '.2f')} | {q(r['scores']['none'], '.2f')} | "
              f"{q(r['scores']['extra'], '.2f')} | {found} of {r['drawn']} |")
    print("\n| quantity | same person | different people | equal-error point |\n|---|---|---|---|")
    rows = [("appearance gate: largest gap in a track / gap at a switch (all of B)", "same_gap", "switch_all"),
            ("appearance gate: ... / gap at a late switch (one face of B)", "same_gap", "switch_late"),
            ("clustering: track means, same person / two cast members", "same_mean", "cast_pair"),
            ("clustering: ... / crowd track vs cast track", "same_mean", "extra_cast"),
            ("matching: median to own person / to nearest other person", "own", "other"),
            ("matching: median to own person / crowd track's nearest person", "own", "extra_nearest")]
    for title, low, high in rows:
        t, e = equal_error(pool[low], pool[high])
        print(f"| {title} | {q(pool[low])} | {q(pool[high])} | {t:.3f} ({100 * e:.1f}%) |")
    print(f"| matching: margin (nearest other - own) of cast tracks | {q(pool['margin'])} | | |")
    if photos:
        t, e = equal_error(photos["own"], photos["other"] + photos["stranger"])
        print(f"| photo sets: query to own person / to nearest other person | {q(photos['own'])} | "
              f"{q(photos['other'])} | {t:.3f} ({100 * e:.1f}%) |")
        print(f"| photo sets: not enrolled, nearest person | | {q(photos['stranger'])} | |")
        margins = np.asarray(photos["other"]) - np.asarray(photos["own"])
        print(f"| photo sets: margin | {q(margins.tolist())} | | |")
        print(f"\nphoto sets: {photos['missing']} photo(s) without a usable face")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("sets", nargs="+", help="SET:CLIPS_DIR")
    parser.add_argument("--episodes", type=Path, default=Path("out/eps"))
    parser.add_argument("--kinds", default="sample,tv_hard,voices,narrator")
    parser.add_argument("--crowd", type=Path, default=SHARED / "crowd_coventgarden_facenet" / "video.mp4")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="SECTION.FIELD=VALUE")
    parser.add_argument("--no-photos", action="store_true")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.overrides)}
    root = Path(tempfile.mkdtemp(prefix="sa-thr-"))
    results = []
    for item in args.sets:
        name, clips = item.split(":", 1)
        for kind in args.kinds.split(","):
            labeller = Labeller(kind, Path(clips), args.crowd if kind == "tv_hard" else None)
            results.append(measure_episode(args.episodes / f"{name}-{kind}", labeller, root, overrides))
            args.out.write_text(json.dumps({"episodes": results}, indent=0))
            print(f"measured {results[-1]['episode']}", flush=True)
    photos = {} if args.no_photos else photo_sets(overrides)
    args.out.write_text(json.dumps({"episodes": results, "photos": photos}, indent=0))
    report(results, photos)


if __name__ == "__main__":
    main()
