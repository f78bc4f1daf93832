"""The facebank: face recognition accuracy on the identity-labelled photo sets in ../shared/data, for the default
face models (YuNet + SFace) and for the optional SCRFD + dlib pair, each with its own thresholds; unusable photos,
and loading a facebank from a folder or a Parquet file.

Protocol (open-set identification, as the product uses it): enrol 3 photos of each John (faces_dlib), one photo
each of lennon, clapton, adams, carell (faces_openface) and the 5 faces_facenet_aligned people; query the other 8
photos of each John plus lennon-2 and clapton-2 through the same per-identity decision rule the pipeline uses
(distance, margin, votes). Three people who are not enrolled (Biden, Obama, Miranda) must stay unnamed.

Bar: 42 of 42. SCRFD + dlib (the previous defaults) measured 42/42 here, and the defaults must do at least as well
(YuNet + SFace: 42/42). A broken alignment or preprocessing drops this to near chance (~1/16).
"""
from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from screenalytics.flows.refs import facebank_ref, folder_ref
from screenalytics.tasks import storage
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.facebank import embed_image, facebank_task, load_facebank
from screenalytics.tasks.match import decide, person_distances
from screenalytics.tasks.models.loader import Models
from screenalytics.tasks.runner import Ref, RunContext
from screenalytics.tasks.settings import load_settings
from tests.conftest import GRID, HAMILTON, SHARED

ENROL_PER_JOHN = 3
FACE_MODELS = {"yunet+sface": ("yunet", "sface"), "scrfd+dlib": ("scrfd", "dlib")}  # the defaults; the previous ones


@pytest.fixture(scope="module", params=list(FACE_MODELS))
def face_models(request):
    """Settings (thresholds resolved for the pair), detector and embedder of one detector + embedder pair."""
    detector, embedder = FACE_MODELS[request.param]
    chosen = load_settings({"models.face_detector": detector, "models.face_embedder": embedder})
    models = Models(chosen.models, chosen.model_dir, det_thresh=chosen.detect.det_thresh)
    yield chosen, models.get("face_detector"), models.get("face_embedder")
    models.close()


@pytest.fixture(scope="module")
def embed(face_models):
    chosen, detector, embedder = face_models

    def run(path):
        vector = embed_image(path, detector, embedder, chosen.detect)
        assert vector is not None, f"no single face found in {path}"
        return vector

    return run


@pytest.fixture(scope="module")
def embedder(models):
    """The run's default face embedder."""
    return models.get("face_embedder")


@pytest.fixture(scope="module")
def bank_and_queries(embed):
    bank, queries = [], []
    for folder in sorted((SHARED / "faces_dlib" / "johns").iterdir()):
        photos = sorted(folder.glob("*.jpg"))
        bank += [(folder.name, embed(p)) for p in photos[:ENROL_PER_JOHN]]
        queries += [(folder.name, embed(p)) for p in photos[ENROL_PER_JOHN:]]
    openface = SHARED / "faces_openface"
    bank += [(n, embed(openface / f"{n}{s}.jpg")) for n, s in
             [("lennon", "-1"), ("clapton", "-1"), ("adams", ""), ("carell", "")]]
    queries += [("lennon", embed(openface / "lennon-2.jpg")), ("clapton", embed(openface / "clapton-2.jpg"))]
    bank += [(p.parent.name, embed(p)) for p in sorted((SHARED / "faces_facenet_aligned").glob("*/1.png"))]
    frame = pd.DataFrame({"name": [n for n, _ in bank], "vector": [v for _, v in bank]})
    return frame, queries


def identify(bank: pd.DataFrame, vector, chosen) -> str | None:
    cfg = chosen.match  # the pair's own thresholds
    dist, names = person_distances(vector[None], bank)
    return decide(dist, names, cfg.accept_distance, cfg.min_margin, cfg.min_vote_share)["name"]


def test_identification_accuracy(bank_and_queries, face_models):
    bank, queries = bank_and_queries
    correct = sum(identify(bank, v, face_models[0]) == name for name, v in queries)
    accuracy = correct / len(queries)
    print(f"recognition accuracy: {correct}/{len(queries)} = {accuracy:.1%}")
    assert len(queries) == 42
    assert accuracy == 1.0


def test_people_not_enrolled_stay_unnamed(bank_and_queries, embed, face_models):
    bank, _ = bank_and_queries
    for photo in ("biden.jpg", "obama.jpg", "lin-manuel-miranda.png"):
        assert identify(bank, embed(HAMILTON / photo), face_models[0]) is None, photo


def test_unusable_images_are_skipped_with_a_warning(tmp_path, detector, embedder, settings, caplog):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    group = SHARED / "faces_openface" / "longoria-cooper.jpg"
    noface = tmp_path / "noface.png"
    import cv2

    cv2.imwrite(str(noface), np.full((200, 200, 3), 127, np.uint8))
    for path, reason in [(bad, "not a readable image"), (group, "several faces"), (noface, "no face")]:
        caplog.clear()
        assert embed_image(path, detector, embedder, settings.detect) is None
        assert str(path) in caplog.text and reason in caplog.text


def test_load_facebank_from_a_folder_or_a_parquet_of_the_same_embedder(tmp_path, detector, embedder, settings,
                                                                       progress_log):
    folder = tmp_path / "people"
    for name in ("John_Salley", "John_Simm"):
        shutil.copytree(SHARED / "faces_dlib" / "johns" / name, folder / name)
    (folder / "John_Simm" / "broken.jpg").write_bytes(b"nope")
    bank = load_facebank(facebank_ref(str(folder)), detector, embedder, settings.detect, progress_log)
    assert sorted(bank["name"].unique()) == ["John_Salley", "John_Simm"]
    assert len(bank) == 22 and (bank["embedder"] == embedder.id).all(), "the broken image is skipped"
    assert progress_log.log == [("facebank", 23, 23)], "one bar over every image, broken ones included"
    url = storage.normalize_root(tmp_path / "bank.parquet")
    storage.write_parquet(bank, url)
    again = load_facebank(facebank_ref(url), detector, embedder, settings.detect)
    pd.testing.assert_frame_equal(again, bank)
    storage.write_parquet(bank.assign(embedder="arcface-0123456789ab"), url)
    with pytest.raises(ValueError, match="built with arcface-0123456789ab") as refused:
        load_facebank(facebank_ref(url), detector, embedder, settings.detect)
    assert "models.face_embedder=arcface" in str(refused.value) and "facebank import" in str(refused.value)


def test_a_facebank_of_the_previous_default_embedder_is_refused_with_the_fix(tmp_path, detector, embedder, settings):
    """A facebank built with dlib (the default before SFace) is never compared with SFace vectors: the error says
    which setting built it, which the run uses, and how to rebuild or keep using it."""
    url = storage.normalize_root(tmp_path / "bank.parquet")
    storage.write_parquet(pd.DataFrame({"name": ["a"], "image": ["a.jpg"], "image_sha256": ["0" * 64],
                                        "embedder": ["dlib-resnet-v1"], "vector": [np.zeros(128, np.float32)]}), url)
    with pytest.raises(ValueError) as refused:
        load_facebank(facebank_ref(url), detector, embedder, settings.detect)
    message = str(refused.value)
    assert "dlib-resnet-v1 (models.face_embedder=dlib)" in message
    assert f"{embedder.id} (models.face_embedder=sface)" in message
    assert "screenalytics facebank import" in message and "--set models.face_embedder=dlib" in message


def test_facebank_stage_refuses_a_facebank_without_one_usable_face(tmp_path, models, settings):
    (tmp_path / "bank" / "Nobody").mkdir(parents=True)
    (tmp_path / "bank" / "Nobody" / "broken.jpg").write_bytes(b"nope")
    video = (GRID / "bbaf2n.mpg").as_uri()
    ctx = RunContext(ep_id="g", episode_url=storage.join(storage.normalize_root(tmp_path), "episodes", "g"),
                     video=Ref(url=video, sha256=storage.sha256_url(video)))
    with pytest.raises(InputError, match="no usable face image"):
        facebank_task.fn(ctx, models, None, source=folder_ref(tmp_path / "bank"), cfg=settings.detect,
                         accept_distance=settings.match.accept_distance)
    assert not list(tmp_path.rglob("_done.json"))


def test_skipped_images_stay_in_the_stage_warnings_when_it_is_reused(tmp_path, models, settings):
    """The manifest's warnings come from each stage's stored info: a cached rerun reports the skipped photos too."""
    folder = tmp_path / "bank"
    shutil.copytree(SHARED / "faces_dlib" / "johns" / "John_Salley", folder / "John_Salley")
    (folder / "John_Salley" / "broken.jpg").write_bytes(b"nope")
    video = (GRID / "bbaf2n.mpg").as_uri()
    ctx = RunContext(ep_id="g", episode_url=storage.join(storage.normalize_root(tmp_path), "episodes", "g"),
                     video=Ref(url=video, sha256=storage.sha256_url(video)))
    runs = [facebank_task.fn(ctx, models, None, source=folder_ref(folder), cfg=settings.detect,
                              accept_distance=settings.match.accept_distance) for _ in range(2)]
    assert [r.cached for r in runs] == [False, True]
    for out in runs:
        assert out.info["warnings"] == [f"facebank: skipped {folder / 'John_Salley' / 'broken.jpg'}: "
                                        "not a readable image; replace it with a JPEG or PNG photo, or delete it"]


def test_names_that_would_share_a_person_id_are_refused(tmp_path, models, settings):
    """`Lisa V` and `lisa-v` would both be person `lisa-v`, and their screen time one person's: the facebank stage
    refuses them, naming both; so is a name whose id is reserved for unnamed faces."""
    video = (GRID / "bbaf2n.mpg").as_uri()
    ctx = RunContext(ep_id="g", episode_url=storage.join(storage.normalize_root(tmp_path), "episodes", "g"),
                     video=Ref(url=video, sha256=storage.sha256_url(video)))
    for names, says in ((["Lisa V", "lisa-v"], "the names 'Lisa V', 'lisa-v' would be one person ('lisa-v')"),
                        (["Unidentified"], "the name 'Unidentified' is reserved")):
        folder = tmp_path / "-".join(names)
        for name, person in zip(names, ("John_Salley", "John_Simm"), strict=False):
            shutil.copytree(SHARED / "faces_dlib" / "johns" / person, folder / name)
        with pytest.raises(ValueError, match=re.escape(says)):
            facebank_task.fn(ctx, models, None, source=folder_ref(folder), cfg=settings.detect,
                             accept_distance=settings.match.accept_distance)
