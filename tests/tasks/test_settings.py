from __future__ import annotations

import pytest
from pydantic import ValidationError

from screenalytics.tasks.settings import Settings, load_settings


def test_defaults_match_stage_yaml():
    assert load_settings(environ={}) == Settings()


def test_precedence_cli_over_env_over_profile_over_stage_yaml():
    env = {"SCREENALYTICS_PROFILE": "low_power", "SCREENALYTICS_DETECT__SAMPLE_FPS": "3",
           "SCREENALYTICS_EMBED__FACES_PER_TRACK": "4"}
    s = load_settings({"detect.sample_fps": 7}, environ=env)
    assert s.profile == "low_power"
    assert s.detect.sample_fps == 7  # CLI beats env
    assert s.embed.faces_per_track == 4  # env beats profile (low_power says 3)
    assert s.models.threads == 1  # profile beats stage yaml (2)
    assert s.track.lost_track_buffer_s == 1.0  # stage yaml / default


def test_root_and_model_dir_from_env():
    s = load_settings(environ={"SCREENALYTICS_ROOT": "s3://bucket/prefix", "SCREENALYTICS_MODEL_DIR": "/m"})
    assert (s.root, s.model_dir) == ("s3://bucket/prefix", "/m")


def test_bad_values_are_rejected_with_the_field_name():
    with pytest.raises(ValidationError, match="sample_fps"):
        load_settings({"detect.sample_fps": -1}, environ={})
    with pytest.raises(ValidationError, match="no_such_field"):
        load_settings({"detect.no_such_field": 1}, environ={})
    with pytest.raises(ValueError, match="Unknown profile"):
        load_settings({"profile": "turbo"}, environ={})


def test_mistyped_environment_setting_is_reported(caplog):
    s = load_settings(environ={"SCREENALYTICS_DETECT_SAMPLE_FPS": "9", "SCREENALYTICS_REPO": "/srv/app"})
    assert s.detect.sample_fps == Settings().detect.sample_fps
    assert "SCREENALYTICS_DETECT_SAMPLE_FPS" in caplog.text
    assert "SCREENALYTICS_REPO" not in caplog.text


def test_model_dependent_thresholds_follow_the_chosen_model_unless_set():
    dlib = load_settings(environ={})
    assert (dlib.embed.split_distance, dlib.cluster.distance, dlib.match.accept_distance, dlib.match.min_margin) == (
        0.75, 0.5, 0.58, 0.05)
    arcface = load_settings({"models.face_embedder": "arcface"}, environ={})
    assert arcface.cluster.distance == 1.1
    assert (arcface.embed.split_distance, arcface.match.accept_distance, arcface.match.min_margin) == (1.3, 1.15, 0.05)
    explicit = load_settings({"models.face_embedder": "arcface", "cluster.distance": 0.9}, environ={})
    assert explicit.cluster.distance == 0.9, "an explicit setting wins over the model's default"
    assert load_settings({"cluster.distance": 0.9}, environ={}).cluster.distance == 0.9
    assert load_settings(environ={"SCREENALYTICS_MODELS__FACE_EMBEDDER": "arcface"}).cluster.distance == 1.1
    # the speaker clustering threshold follows the speaker embedder (low_power picks resemblyzer)
    assert dlib.diarize.cluster_threshold == 0.8
    assert load_settings({"profile": "low_power"}, environ={}).diarize.cluster_threshold == 0.35
    assert load_settings({"models.speaker_embedder": "resemblyzer", "diarize.cluster_threshold": 0.5},
                         environ={}).diarize.cluster_threshold == 0.5


def test_renamed_sections_and_keys():
    s = load_settings({"transcribe.enabled": False, "guardrails.max_tracks_per_min": 60, "models.threads": 3},
                      environ={})
    assert (s.transcribe.enabled, s.guardrails.max_tracks_per_min, s.models.threads) == (False, 60, 3)
    for old in ("transcript.enabled", "metrics.max_tracks_per_min", "detect.threads", "embed.backend"):
        with pytest.raises(ValidationError):
            load_settings({old: 1}, environ={})
