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
    assert s.detect.threads == 1  # profile beats stage yaml (2)
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
