"""Model files: verified installs and clear errors when they are missing or damaged."""
from __future__ import annotations

import pytest

from screenalytics.tasks.models.registry import SCRFD, MissingModelError, describe, providers, scrfd_path


def test_missing_detector_names_the_install_command(tmp_path):
    with pytest.raises(MissingModelError, match="screenalytics models install"):
        scrfd_path(str(tmp_path))


def test_damaged_detector_is_refused(tmp_path):
    (tmp_path / SCRFD.file).write_bytes(b"not the model")
    with pytest.raises(MissingModelError, match="damaged"):
        scrfd_path(str(tmp_path))


def test_installed_models_are_listed_as_usable(settings):
    rows = {row.name: row for row in describe(settings.model_dir, None)}
    assert rows["scrfd-2.5g-kps"].usable and rows["dlib-resnet-v1"].usable
    assert not rows["arcface"].usable
    assert providers()[-1] == "CPUExecutionProvider"
