"""The one cache: what a stage's key is made of, and what it is not."""
from __future__ import annotations

import pandas as pd

from screenalytics.tasks import runner
from screenalytics.tasks.configs import DetectConfig, DiarizeConfig
from screenalytics.tasks.diarize import diarize_task
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.runner import Ref, RunContext, StageOutput, key_parts, stage_key
from screenalytics.tasks.schemas import Shots

CTX = RunContext(ep_id="ep", episode_url="file:///tmp/ep", video=Ref(url="file:///a/ep.mp4", sha256="v" * 64))


def code_of(task) -> set[str]:
    return set(key_parts(task.stage, task.stage_module, {}, {})["code"])


def test_a_stage_key_holds_its_own_code_and_leaf_helpers_only():
    detect = set(key_parts("detect", "screenalytics.tasks.detect", {}, {})["code"])  # as the scan task keys it
    assert detect == {"screenalytics.tasks.detect", "screenalytics.tasks.decoding", "screenalytics.tasks.faces"}
    diarize = code_of(diarize_task)
    assert {"screenalytics.tasks.diarize", "screenalytics.tasks.diarize_voices", "screenalytics.tasks.diarize_local",
            "screenalytics.tasks.audio_windows", "screenalytics.tasks.intervals"} <= diarize
    for stage_code in (detect, diarize):  # never the task layer, settings, storage, models or other stages
        assert not stage_code & {"screenalytics.tasks.runner", "screenalytics.tasks.settings",
                                 "screenalytics.tasks.configs", "screenalytics.tasks.storage",
                                 "screenalytics.tasks.schemas", "screenalytics.tasks.embed"}
        assert not any(m.startswith("screenalytics.tasks.models.") and not m.endswith(".specs") for m in stage_code)
    assert "screenalytics.tasks.faces" not in diarize  # editing the face code never re-runs diarization


def test_inputs_count_by_content_never_by_url():
    a = StageOutput(stage="shots", key="k", seconds=1, files={"shots": Ref(url="file:///x/shots.parquet",
                                                                           sha256="s" * 64)})
    moved = a.model_copy(update={"files": {"shots": Ref(url="s3://bucket/y/shots.parquet", sha256="s" * 64)},
                                 "seconds": 9.0})
    changed = a.model_copy(update={"files": {"shots": Ref(url="file:///x/shots.parquet", sha256="t" * 64)}})
    elsewhere = CTX.model_copy(update={"episode_url": "s3://bucket/ep",
                                       "video": Ref(url="file:///b/copy.mp4", sha256="v" * 64)})

    def key(ctx: RunContext, shots: StageOutput, cfg: DetectConfig) -> str:
        return stage_key(key_parts("track", "screenalytics.tasks.track", {"ctx": ctx, "shots": shots, "cfg": cfg}, {}))

    base = key(CTX, a, DetectConfig())
    assert key(elsewhere, moved, DetectConfig()) == base
    assert key(CTX, changed, DetectConfig()) != base
    assert key(CTX, a, DetectConfig(sample_fps=5)) != base


def test_model_identity_is_the_weights_and_code_not_the_folder_spelling(settings, tmp_path, monkeypatch):
    from pathlib import Path

    folder = Path(settings.model_dir).expanduser().resolve()
    monkeypatch.setenv("HOME", str(folder.parent))
    spelled = Models(settings.models, f"~/{folder.name}").identity("vad")
    plain = Models(settings.models, str(folder)).identity("vad")
    assert spelled == plain and plain["sha256"] and "screenalytics.tasks.models.vad" in plain["code"]
    parts = [key_parts("vad", "screenalytics.tasks.vad", {"ctx": CTX}, {"vad": i}) for i in (spelled, plain)]
    assert stage_key(parts[0]) == stage_key(parts[1])


def test_diarize_key_names_the_models_its_diarizer_reads(settings):
    models = Models(settings.models, settings.model_dir)
    read = diarize_task.model_roles
    assert set(read(models, cfg=DiarizeConfig(), diarizer="segmentation")) == {"speaker_embedder", "segmentation",
                                                                               "vad"}
    assert set(read(models, cfg=DiarizeConfig(trim_end_s=0), diarizer="segmentation")) == {"speaker_embedder",
                                                                                          "segmentation"}
    assert set(read(models, cfg=DiarizeConfig(), diarizer="vad")) == {"speaker_embedder"}


def test_a_finished_folder_is_reused_and_a_half_written_one_is_not(tmp_path):
    ctx = CTX.model_copy(update={"episode_url": (tmp_path / "ep").as_uri()})
    table = pd.DataFrame({"ep_id": ["ep"], "start_s": [0.0], "end_s": [1.0], "shot_id": [0]})
    out = runner.write_stage(ctx, "shots", "k" * 64, ({"shots": table}, {"n_shots": 1}), {"shots": Shots}, 0.5)
    again = runner.load_done(ctx, "shots", "k" * 64)
    assert again == out and again.schemas == {"shots": "Shots"}
    pd.testing.assert_frame_equal(again.table("shots"), Shots.validate(table))
    (tmp_path / "ep" / "stages" / "shots" / ("k" * 16) / "shots.parquet").unlink()
    assert runner.load_done(ctx, "shots", "k" * 64) is None
