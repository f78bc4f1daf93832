"""Facebank: named face images of the cast, embedded with the run's embedder and stored as Parquet.

A folder facebank holds one sub-folder per person (the folder name is the person's name). Images with no face,
several faces, or unreadable bytes are skipped with a warning that names the file.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from pandera.typing import DataFrame

from screenalytics.tasks import storage
from screenalytics.tasks.configs import DetectConfig
from screenalytics.tasks.errors import InputError
from screenalytics.tasks.faces import Detector, Embedder, decode_chip, make_chip
from screenalytics.tasks.naming import distinct_ids
from screenalytics.tasks.runner import Produced, Ref, StageRun, stage_task
from screenalytics.tasks.schemas import FacebankEntries
from screenalytics.tasks.vectors import stack

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SECOND_FACE_RATIO = 0.5  # another face at least this tall (relative to the largest) makes the photo ambiguous
PAD_FRACTION = 0.5  # black border added around photos so tightly cropped faces (aligned chips) are found


def folder_images(folder: Path) -> dict[str, list[Path]]:
    """`{name: [image, ...]}` from one sub-folder per person (photos in its own sub-folders, by shoot or season,
    are that person's too)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: facebank folder not found")
    people = {p.name: sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
              for p in sorted(folder.iterdir()) if p.is_dir()}
    people = {k: v for k, v in people.items() if v}
    if not people:
        raise ValueError(f"{folder}: no person sub-folders with images (expected {folder}/<Name>/photo.jpg)")
    return people


def _skip(path: Path, why: str, skipped: list[str] | None) -> None:
    message = f"facebank: skipped {path}: {why}"
    log.warning(message)
    if skipped is not None:
        skipped.append(message)


def embed_image(path: Path, detector: Detector, embedder: Embedder, cfg: DetectConfig,
                skipped: list[str] | None = None) -> np.ndarray | None:
    """The embedding of the one face in an image, or None (with a warning naming the file, also appended to
    `skipped`)."""
    data = np.frombuffer(path.read_bytes(), np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        _skip(path, "not a readable image; replace it with a JPEG or PNG photo, or delete it", skipped)
        return None
    pad_y, pad_x = (round(PAD_FRACTION * n) for n in image.shape[:2])
    image = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    boxes, kps = detector.detect(image)
    if len(boxes) == 0:
        _skip(path, "no face found; use a photo where the face is clearly visible", skipped)
        return None
    heights = boxes[:, 3] - boxes[:, 1]
    main = int(np.argmax(heights))
    if int((heights >= SECOND_FACE_RATIO * heights[main]).sum()) > 1:
        _skip(path, "several faces; crop it to one person", skipped)
        return None
    jpeg, x0, y0, scale = make_chip(image, boxes[main], cfg)
    det = pd.Series({"x1": boxes[main, 0], "y1": boxes[main, 1], "x2": boxes[main, 2], "y2": boxes[main, 3],
                     **{f"kp{k}_{a}": kps[main, k, j] for k in range(5) for j, a in enumerate("xy")}})
    chip = pd.Series({"jpeg": jpeg, "x0_px": x0, "y0_px": y0, "scale": scale})
    return embedder.embed([decode_chip(chip, det)])[0]


def drop_strangers(bank: pd.DataFrame, accept_distance: float, skipped: list[str] | None) -> pd.DataFrame:
    """With three or more photos of a person, one whose nearest other photo of them is farther than
    `accept_distance` (where a face stops taking a cast name) shows someone, or something, else: skipped. (With two,
    which one is wrong cannot be told.)"""
    keep = np.ones(len(bank), bool)
    for name, rows in bank.groupby("name").indices.items():
        if len(rows) < 3:
            continue
        vectors = stack(bank["vector"].iloc[rows])
        apart = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
        np.fill_diagonal(apart, np.inf)
        for row, nearest in zip(rows, apart.min(axis=1), strict=True):
            if nearest > accept_distance:
                keep[row] = False
                _skip(Path(bank["image"].iloc[row]), f"does not look like the other photos of {name} (the nearest is "
                      f"{nearest:.2f} away; a face takes a name within {accept_distance:.2f}); check that it shows "
                      f"{name}", skipped)
    return bank[keep].reset_index(drop=True)


def build_entries(people: dict[str, Iterable[Path]], detector: Detector, embedder: Embedder, cfg: DetectConfig,
                  progress: Callable[[int], None] | None = None, skipped: list[str] | None = None,
                  accept_distance: float | None = None) -> DataFrame[FacebankEntries]:
    """One row per usable image: the person's name, the image, its hash and its embedding. Why an image was
    skipped goes to the log and to `skipped`; with `accept_distance`, photos unlike the rest of a person's are
    skipped too (`drop_strangers`)."""
    rows = []
    for name, images in people.items():
        for path in images:
            vector = embed_image(Path(path), detector, embedder, cfg, skipped)
            if progress:
                progress(1)
            if vector is None:
                continue
            rows.append({"name": name, "image": str(path), "image_sha256": hashlib.sha256(
                Path(path).read_bytes()).hexdigest(), "embedder": embedder.id, "vector": vector})
    bank = pd.DataFrame(rows, columns=list(FacebankEntries.to_schema().columns))
    if accept_distance is not None:
        bank = drop_strangers(bank, accept_distance, skipped)
    return FacebankEntries.validate(bank)


EMBEDDERS = ("sface", "dlib", "arcface")  # models.face_embedder values; an embedder id starts with its name


def check_embedder(bank: pd.DataFrame, embedder_id: str, where: str) -> None:
    """Refuse a facebank whose vectors come from another embedder than the run's: distances between two
    embedders' vectors mean nothing."""
    found = set(bank["embedder"].unique())
    if found and found != {embedder_id}:
        def setting(ident: str) -> str:
            name = ident.split("-")[0]
            return f"{ident} (models.face_embedder={name})" if name in EMBEDDERS else ident

        built = ", ".join(setting(i) for i in sorted(found))
        names = sorted({i.split("-")[0] for i in found} & set(EMBEDDERS))
        other = f"`--set models.face_embedder={names[0]}`" if len(names) == 1 else "`--set models.face_embedder=...`"
        raise ValueError(
            f"Facebank {where} was built with {built}, but this run embeds with {setting(embedder_id)}: vectors "
            "of different embedders cannot be compared. Rebuild it with the run's models.face_embedder "
            "(`screenalytics facebank import DIR --bank NEW.parquet` with the same settings, or after removing the "
            "old file), pass the photo folder instead (it is embedded with the run's embedder), or run with the "
            f"models.face_embedder it was built with ({other}).")


def load_facebank(source: Ref, detector: Detector, embedder: Embedder, cfg: DetectConfig,
                  progress: Callable[[str, int | None], object] | None = None, skipped: list[str] | None = None,
                  accept_distance: float | None = None) -> DataFrame[FacebankEntries]:
    """A facebank from a folder (embedded now; skipped images noted in `skipped`) or a `.parquet` built with the
    same embedder."""
    path = storage.local_path(source.url)
    if path and Path(path).is_dir():
        people = folder_images(Path(path))
        if progress is None:
            return build_entries(people, detector, embedder, cfg, skipped=skipped, accept_distance=accept_distance)
        with progress("facebank", sum(len(v) for v in people.values())) as advance:
            return build_entries(people, detector, embedder, cfg, progress=advance, skipped=skipped,
                                 accept_distance=accept_distance)
    bank = storage.read_parquet(source.url)
    check_embedder(bank, embedder.id, source.url)
    return bank


@stage_task("facebank", tables={"facebank": FacebankEntries}, models=("face_detector", "face_embedder"))
def facebank_task(run: StageRun, source: Ref, cfg: DetectConfig, accept_distance: float) -> Produced:
    """The facebank's entries (a photo unlike the rest of its person's is skipped: `drop_strangers`); the skipped
    images stay in the stage's warnings, so a cached rerun reports them too."""
    skipped: list[str] = []
    bank = load_facebank(source, run.models.get("face_detector"), run.models.get("face_embedder"), cfg,
                         run.progress, skipped, accept_distance)
    if bank.empty:
        raise InputError(f"Facebank {source.url}: no usable face image ({'; '.join(skipped) or 'none found'}).")
    distinct_ids(bank["name"].tolist(), f"Facebank {storage.local_path(source.url) or source.url}")
    return {"facebank": bank}, {"people": sorted(bank["name"].unique().tolist()), "warnings": skipped}
