"""Run guardrails: numbers that reveal a bad run, each with a warning threshold and a recommendation."""
from __future__ import annotations

from pandera.typing import DataFrame

from screenalytics.tasks.configs import GuardrailsConfig
from screenalytics.tasks.schemas import Clusters, Tracks


def run_metrics(tracks: DataFrame[Tracks], clusters: DataFrame[Clusters], *, duration_s: float,
                cfg: GuardrailsConfig) -> tuple[dict[str, float], list[str]]:
    """Returns (metrics, warnings). Warnings name the metric, its value, the limit and what to try."""
    n_tracks = int(tracks["track_id"].nunique())
    span = tracks.groupby("track_id")["t_s"].agg(lambda t: t.max() - t.min())
    n_segments_split = int((clusters.groupby("track_id").size() > 1).sum())
    per_cluster = clusters[clusters["cluster_id"] >= 0].groupby("cluster_id").size()
    metrics = {
        "tracks_per_min": n_tracks / max(duration_s / 60.0, 1e-9),
        "short_track_fraction": float((span < cfg.short_track_s).mean()) if n_tracks else 0.0,
        "id_switch_rate": n_segments_split / n_tracks if n_tracks else 0.0,
        "singleton_cluster_fraction": float((per_cluster == 1).mean()) if len(per_cluster) else 0.0,
        "largest_cluster_fraction": float(per_cluster.max() / per_cluster.sum()) if len(per_cluster) else 0.0,
        "n_tracks": float(n_tracks),
        "n_clusters": float(len(per_cluster)),
    }
    checks = [
        ("tracks_per_min", cfg.max_tracks_per_min,
         "tracks are fragmenting: raise track.lost_track_buffer_s or lower track.minimum_iou_threshold"),
        ("short_track_fraction", cfg.max_short_track_fraction,
         "many tracks are very short: raise detect.sample_fps, or lower detect.det_thresh if faces flicker"),
        ("id_switch_rate", cfg.max_id_switch_rate,
         "tracks often change appearance: raise track.minimum_iou_threshold for crowded shots, or raise "
         "embed.split_distance if one person's faces vary a lot (pose, lighting)"),
        ("singleton_cluster_fraction", cfg.max_singleton_cluster_fraction,
         "identities are fragmented: raise cluster.distance slightly, or add facebank photos of the cast"),
        ("largest_cluster_fraction", cfg.max_largest_cluster_fraction,
         "one identity swallows most tracks: lower cluster.distance"),
    ]
    warnings = [f"{name}={metrics[name]:.3g} exceeds {limit:g}: {advice}"
                for name, limit, advice in checks if metrics[name] > limit and n_tracks >= 5]
    if n_tracks == 0:
        warnings.append("no face was found in the video: visual screen time is 0 for everyone. If faces are there, "
                        "they may be smaller than detect.min_face_px or the video too small or dark: lower "
                        "detect.det_thresh or detect.min_face_px, or raise detect.sample_fps")
    return metrics, warnings
