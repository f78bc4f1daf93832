"""The facebank: face recognition accuracy on the identity-labelled photo sets in ../shared/data (dlib embedder),
unusable photos, and loading a facebank from a folder or a Parquet file.

Protocol (open-set identification, as the product uses it): enrol 3 photos of each John (faces_dlib), one photo
each of lennon, clapton, adams, carell (faces_openface) and the 5 faces_facenet_aligned people; query the other 8
photos of each John plus lennon-2 and clapton-2 through the same per-identity decision rule the pipeline uses
(distance, margin, votes). Three people who are not enrolled (Biden, Obama, Miranda) must stay unnamed.

Bar: dlib's ResNet scores 99.38% on LFW; these are small 150x150 chips and single web photos, so we ask for 95%
(at most 2 of 42 queries wrong). A broken alignment or preprocessing drops this to near chance (~1/16).
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from screenalytics.flows.refs import facebank_ref, folder_ref
from screenalytics.tasks import storage
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.facebank import embed_image, facebank_task, load_facebank
from screenalytics.tasks.match import decide, person_distances
from screenalytics.tasks.runner import Ref, RunContext
from tests.conftest import GRID, HAMILTON, SHARED
from tests.tasks.synthetic_faces import DLIB

ENROL_PER_JOHN = 3


@pytest.fixture(scope="module")
def embed(detector, dlib_embedder, settings):
    def run(path):
        vector = embed_image(path, detector, dlib_embedder, settings.detect)
        assert vector is not None, f"no single face found in {path}"
        return vector

    return run


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


def identify(bank: pd.DataFrame, vector) -> str | None:
    cfg = DLIB.match  # the dlib thresholds
    dist, names = person_distances(vector[None], bank)
    return decide(dist, names, cfg.accept_distance, cfg.min_margin, cfg.min_vote_share)["name"]


def test_identification_accuracy(bank_and_queries):
    bank, queries = bank_and_queries
    correct = sum(identify(bank, v) == name for name, v in queries)
    accuracy = correct / len(queries)
    print(f"recognition accuracy: {correct}/{len(queries)} = {accuracy:.1%}")
    assert len(queries) == 42
    assert accuracy >= 0.95


def test_people_not_enrolled_stay_unnamed(bank_and_queries, embed):
    bank, _ = bank_and_queries
    for photo in ("biden.jpg", "obama.jpg", "lin-manuel-miranda.png"):
        assert identify(bank, embed(HAMILTON / photo)) is None, photo


def test_unusable_images_are_skipped_with_a_warning(tmp_path, detector, dlib_embedder, settings, caplog):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    group = SHARED / "faces_openface" / "longoria-cooper.jpg"
    noface = tmp_path / "noface.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(noface), np.full((200, 200, 3), 127, np.uint8))
    for path, reason in [(bad, "not a readable image"), (group, "several faces"), (noface, "no face")]:
        caplog.clear()
        assert embed_image(path, detector, dlib_embedder, settings.detect) is None
        assert str(path) in caplog.text and reason in caplog.text


def test_load_facebank_from_a_folder_or_a_parquet_of_the_same_embedder(tmp_path, detector, dlib_embedder, settings,
                                                                       progress_log):
    folder = tmp_path / "people"
    for name in ("John_Salley", "John_Simm"):
        shutil.copytree(SHARED / "faces_dlib" / "johns" / name, folder / name)
    (folder / "John_Simm" / "broken.jpg").write_bytes(b"nope")
    bank = load_facebank(facebank_ref(str(folder)), detector, dlib_embedder, settings.detect, progress_log)
    assert sorted(bank["name"].unique()) == ["John_Salley", "John_Simm"]
    assert len(bank) == 22 and (bank["embedder"] == dlib_embedder.id).all(), "the broken image is skipped"
    assert progress_log.log == [("facebank", 23, 23)], "one bar over every image, broken ones included"
    url = storage.normalize_root(tmp_path / "bank.parquet")
    storage.write_parquet(bank, url)
    again = load_facebank(facebank_ref(url), detector, dlib_embedder, settings.detect)
    pd.testing.assert_frame_equal(again, bank)
    storage.write_parquet(bank.assign(embedder="arcface-0123456789ab"), url)
    with pytest.raises(ValueError, match="built with arcface-0123456789ab"):
        load_facebank(facebank_ref(url), detector, dlib_embedder, settings.detect)


def test_facebank_stage_refuses_a_facebank_without_one_usable_face(tmp_path, models, settings):
    (tmp_path / "bank" / "Nobody").mkdir(parents=True)
    (tmp_path / "bank" / "Nobody" / "broken.jpg").write_bytes(b"nope")
    video = (GRID / "bbaf2n.mpg").as_uri()
    ctx = RunContext(ep_id="g", episode_url=storage.join(storage.normalize_root(tmp_path), "episodes", "g"),
                     video=Ref(url=video, sha256=storage.sha256_url(video)))
    with pytest.raises(InputError, match="no usable face image"):
        facebank_task.fn(ctx, models, None, source=folder_ref(tmp_path / "bank"), cfg=settings.detect)
    assert not list(tmp_path.rglob("_done.json"))
