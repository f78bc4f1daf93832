from __future__ import annotations

import pytest

from screenalytics.cli_common import parse_sets
from screenalytics.tasks.configs import MODEL_DEFAULTS, STAGES
from screenalytics.tasks.settings import Settings, config_dir, load_settings, stage_yaml


def test_defaults_match_stage_yaml():
    assert load_settings(environ={}) == Settings()


@pytest.mark.parametrize("section", sorted(STAGES))
def test_stage_yaml_is_generated_from_the_configs(section):
    """Each file is the section's defaults with their descriptions (`.ci/stage_yaml.py --write` regenerates)."""
    assert (config_dir() / "stages" / f"{section}.yaml").read_text() == stage_yaml(section)


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
    with pytest.raises(ValueError, match="sample_fps"):
        load_settings({"detect.sample_fps": -1}, environ={})
    with pytest.raises(ValueError, match="no_such_field"):
        load_settings({"detect.no_such_field": 1}, environ={})
    with pytest.raises(ValueError, match="Unknown profile"):
        load_settings({"profile": "turbo"}, environ={})


def test_mistyped_environment_setting_is_reported(caplog):
    s = load_settings(environ={"SCREENALYTICS_DETECT_SAMPLE_FPS": "9", "SCREENALYTICS_REPO": "/srv/app"})
    assert s.detect.sample_fps == Settings().detect.sample_fps
    assert "SCREENALYTICS_DETECT_SAMPLE_FPS" in caplog.text
    assert "SCREENALYTICS_REPO" not in caplog.text


def test_default_face_models_are_the_commercially_usable_ones():
    s = load_settings(environ={})
    assert (s.models.face_detector, s.models.face_embedder) == ("yunet", "sface")


def test_model_dependent_thresholds_follow_the_chosen_model_unless_set():
    default = load_settings(environ={})
    sface = MODEL_DEFAULTS["face_embedder"]["sface"]
    assert (default.embed.split_distance, default.cluster.distance, default.match.accept_distance,
            default.match.min_margin) == (sface["embed.split_distance"], sface["cluster.distance"],
                                          sface["match.accept_distance"], sface["match.min_margin"])
    dlib = load_settings({"models.face_embedder": "dlib"}, environ={})
    assert (dlib.embed.split_distance, dlib.cluster.distance, dlib.match.accept_distance, dlib.match.min_margin) == (
        0.75, 0.5, 0.58, 0.05)
    arcface = load_settings({"models.face_embedder": "arcface"}, environ={})
    assert arcface.cluster.distance == 1.1
    assert (arcface.embed.split_distance, arcface.match.accept_distance, arcface.match.min_margin) == (1.3, 1.15, 0.05)
    explicit = load_settings({"models.face_embedder": "arcface", "cluster.distance": 0.9}, environ={})
    assert explicit.cluster.distance == 0.9, "an explicit setting wins over the model's default"
    assert load_settings({"cluster.distance": 0.9}, environ={}).cluster.distance == 0.9
    assert load_settings(environ={"SCREENALYTICS_MODELS__FACE_EMBEDDER": "arcface"}).cluster.distance == 1.1
    # the detector's score threshold follows the face detector (their scores are on different scales)
    assert default.detect.det_thresh == MODEL_DEFAULTS["face_detector"]["yunet"]["detect.det_thresh"]
    assert load_settings({"models.face_detector": "scrfd"}, environ={}).detect.det_thresh == 0.5
    assert load_settings({"models.face_detector": "scrfd", "detect.det_thresh": 0.4},
                         environ={}).detect.det_thresh == 0.4
    # the speaker clustering threshold follows the speaker embedder (low_power picks resemblyzer)
    assert default.diarize.cluster_threshold == 0.8
    assert load_settings({"profile": "low_power"}, environ={}).diarize.cluster_threshold == 0.35
    assert load_settings({"models.speaker_embedder": "resemblyzer", "diarize.cluster_threshold": 0.5},
                         environ={}).diarize.cluster_threshold == 0.5


def test_renamed_sections_and_keys():
    s = load_settings({"transcribe.enabled": False, "guardrails.max_tracks_per_min": 60, "models.threads": 3},
                      environ={})
    assert (s.transcribe.enabled, s.guardrails.max_tracks_per_min, s.models.threads) == (False, 60, 3)
    for old in ("transcript.enabled", "metrics.max_tracks_per_min", "detect.threads", "embed.backend"):
        with pytest.raises(ValueError, match="unknown"):
            load_settings({old: 1}, environ={})


@pytest.mark.parametrize(("overrides", "says"), [
    ({"detect.threads": 100000}, "setting detect.threads: unknown (the settings there are: sample_fps"),
    ({"models.threads": 100000}, "setting models.threads: input should be less than or equal to 64"),
    ({"detect.sample_fps": float("inf")}, "setting detect.sample_fps: input should be a finite number"),
    ({"cluster.distance": "far"}, "setting cluster.distance: input should be a valid number"),
    ({"cluster.distance": -1}, "setting cluster.distance: input should be greater than 0"),
    ({"cluster.distance.dlib": 0.5}, "setting cluster.distance: input should be a valid number"),
    ({"models.face_embedder": "facenet"}, "setting models.face_embedder: input should be 'sface', 'dlib' or"),
])
def test_out_of_range_unknown_and_mistyped_settings_name_the_setting_and_its_range(overrides, says):
    with pytest.raises(ValueError) as raised:
        load_settings(overrides, environ={})
    assert says in str(raised.value) and "errors.pydantic.dev" not in str(raised.value)


def test_malformed_yaml_values_and_profile_paths_are_refused_clearly():
    with pytest.raises(ValueError, match="SCREENALYTICS_DETECT__SAMPLE_FPS='\\[1': not a value"):
        load_settings({}, environ={"SCREENALYTICS_DETECT__SAMPLE_FPS": "[1"})
    with pytest.raises(ValueError, match="--set detect.sample_fps='\\[1': not a value"):
        parse_sets(["detect.sample_fps=[1"])
    for name in ("/etc/passwd", "../profiles/balanced", "balanced.yaml"):
        with pytest.raises(ValueError, match="Unknown profile"):
            load_settings({"profile": name}, environ={})
