"""The default settings and model loader a measurement script runs with (as `screenalytics run` would)."""
from __future__ import annotations

from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.settings import Settings, load_settings


def default_models() -> tuple[Settings, Models]:
    settings = load_settings()
    return settings, Models(settings.models, settings.model_dir)
