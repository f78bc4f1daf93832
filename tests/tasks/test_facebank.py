"""Face recognition accuracy on the identity-labelled photo sets in ../shared/data (dlib backend).

Protocol (open-set identification, as the product uses it): enrol 3 photos of each John (faces_dlib), one photo
each of lennon, clapton, adams, carell (faces_openface) and the 5 faces_facenet_aligned people; query the other 8
photos of each John plus lennon-2 and clapton-2 through the same per-identity decision rule the pipeline uses
(distance, margin, votes). Three people who are not enrolled (Biden, Obama, Miranda) must stay unnamed.

Bar: dlib's ResNet scores 99.38% on LFW; these are small 150x150 chips and single web photos, so we ask for 95%
(at most 2 of 42 queries wrong). A broken alignment or preprocessing drops this to near chance (~1/16).
"""
from __future__ import annotations

import pandas as pd
import pytest

from screenalytics.tasks.facebank import embed_image
from screenalytics.tasks.match import decide, person_distances
from screenalytics.tasks.settings import MatchConfig
from tests.conftest import HAMILTON, SHARED

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
    cfg = MatchConfig()
    dist, names = person_distances(vector[None], bank)
    return decide(dist, names, cfg.accept_distance["dlib"], cfg.min_margin["dlib"], cfg.min_vote_share)["name"]


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
