"""Measure the permissive face models (YuNet detector, SFace embedder: the defaults) against the previous defaults
(SCRFD, dlib) on the shared real data, and check them against OpenCV's own implementations. Not a test: it prints
tables (Markdown).

    SCREENALYTICS_MODEL_DIR=~/.cache/screenalytics/models python tests/extras/face_models_report.py [--quick]

Sections:
1. agreement with `cv2.FaceDetectorYN` and `cv2.FaceRecognizerSF` on the same model files;
2. speed, 1 and 2 threads: detectors per 1280x720 frame (crowd clip, downscaled), embedders per face (batch 32),
   all configurations interleaved frame by frame so a loaded machine slows them alike;
3. how small a face each detector finds on the crowd clip (no truth there: sizes and counts only);
4. detector scores against truth: hand-annotated VOC face boxes (faces_dlib) and GRID talking heads (one face per
   frame), recall and extra detections per score threshold;
5. identity separation: same- vs different-person distances (d', equal-error rate and its threshold) for SFace
   (cosine distance) and dlib (L2), with faces found by YuNet and by SCRFD, on faces_dlib's five Johns, labelled
   photos (faces_openface, faces_facenet_aligned, hamilton_whitehouse's stills) and GRID frames.

Labels: folder or file names, as each MANIFEST.md says; in faces_openface/longoria-cooper.jpg the left face is Eva
Longoria and the right one Bradley Cooper (the file name's order, checked by eye), who is also
faces_facenet_aligned/bradley_cooper; hamilton_whitehouse's obama.jpg and obama2.jpg are one person.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

from screenalytics.tasks.configs import DetectConfig
from screenalytics.tasks.faces import FaceChip, make_chip
from screenalytics.tasks.models import registry
from screenalytics.tasks.models.detector import FaceDetector
from screenalytics.tasks.models.embedder import DlibEmbedder
from screenalytics.tasks.models.sface import SFaceEmbedder, align
from screenalytics.tasks.models.yunet import YuNetDetector

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"  # beside the checkout, as in CI
CROWD = SHARED / "crowd_coventgarden_facenet" / "video.mp4"
GRID = SHARED / "grid_av"
VOC = SHARED / "faces_dlib" / "faces"
TIGHT_PAD = 0.5  # aligned crops (faces_dlib johns, faces_facenet_aligned) get this much black border per side
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def model_dir() -> str:
    return os.environ.get("SCREENALYTICS_MODEL_DIR", str(Path.home() / ".cache" / "screenalytics" / "models"))


def table(header: list[str], rows: list[list]) -> None:
    fmt = [lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)] * len(header)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f(v) for f, v in zip(fmt, row)) + " |")
    print()


def video_frames(path: Path, every: int = 1, limit: int | None = None) -> list[np.ndarray]:
    cap, out, i = cv2.VideoCapture(str(path)), [], 0
    while limit is None or len(out) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            out.append(frame)
        i += 1
    cap.release()
    return out


def crowd_720p(every: int) -> list[np.ndarray]:
    return [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA) for f in video_frames(CROWD, every)]


def voc_truth() -> dict[str, np.ndarray]:
    boxes = {}
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(VOC / xml).getroot().iter("image"):
            boxes[image.get("file")] = np.array(
                [[int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
                  int(b.get("top")) + int(b.get("height"))] for b in image.iter("box")], np.float32)
    return boxes


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x2, y2 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def matched(truth: np.ndarray, boxes: np.ndarray, min_iou: float = 0.5) -> int:
    """Truth boxes matched one-to-one (greedy by IoU) by a detection with IoU >= min_iou."""
    if not len(truth) or not len(boxes):
        return 0
    iou = iou_matrix(truth, boxes[:, :4])
    hits = 0
    while iou.size and iou.max() >= min_iou:
        i, j = np.unravel_index(iou.argmax(), iou.shape)
        hits += 1
        iou[i, :], iou[:, j] = -1, -1
    return hits


def to_chip(image: np.ndarray, box: np.ndarray, kps: np.ndarray, cfg: DetectConfig) -> FaceChip:
    """The chip the pipeline would store for this detection (JPEG, face at most chip_face_px tall), decoded."""
    jpeg, x0, y0, scale = make_chip(image, box, cfg)
    chip = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    offset = np.array([x0, y0], np.float32)
    return FaceChip(chip, ((box[:4].reshape(2, 2) - offset) * scale).reshape(4), (kps - offset) * scale)


# --- 1. agreement with OpenCV -------------------------------------------------------------------------------------

def agreement(images: list[np.ndarray], embedder: SFaceEmbedder) -> None:
    print("## Agreement with OpenCV's implementations (same model files)\n")
    rows = []
    for width in (640, 1280):
        ours = YuNetDetector(model_path=registry.yunet_path(), det_thresh=0.5, threads=2, input_width=width)
        n_ours = n_cv = n_same = 0
        worst = np.zeros(3)
        for img in images:
            h, w = img.shape[:2]
            scale = width / w
            resized = cv2.resize(img, (width, max(1, round(h * scale))),
                                 interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            boxes, kps = ours.detect_input(resized)
            reference = cv2.FaceDetectorYN.create(str(registry.yunet_path()), "", resized.shape[1::-1], 0.5, 0.3,
                                                  5000)
            faces = reference.detect(resized)[1]
            faces = np.zeros((0, 15), np.float32) if faces is None else faces
            n_ours, n_cv = n_ours + len(boxes), n_cv + len(faces)
            for face in faces:
                ref_box = np.r_[face[:2], face[:2] + face[2:4]]
                if not len(boxes):
                    continue
                j = np.abs(boxes[:, :4] - ref_box).max(axis=1).argmin()
                diff = np.array([np.abs(boxes[j, :4] - ref_box).max(), np.abs(kps[j].ravel() - face[4:14]).max(),
                                 abs(boxes[j, 4] - face[14])])
                if diff[0] < 1:
                    n_same += 1
                    worst = np.maximum(worst, diff)
        rows.append([f"YuNet vs cv2.FaceDetectorYN, input width {width}", len(images), f"{n_ours} / {n_cv}",
                     n_same, f"{worst[0]:.1e} px", f"{worst[1]:.1e} px", f"{worst[2]:.1e}"])
    table(["check", "images", "faces ours / OpenCV", "same faces", "max box diff", "max landmark diff",
           "max score diff"], rows)

    recognizer = cv2.FaceRecognizerSF.create(str(registry.sface_path(model_dir())), "")
    detector = YuNetDetector(model_path=registry.yunet_path(), det_thresh=0.5, threads=2)
    pixel, feature, cosine, n = 0, 0.0, 1.0, 0
    for img in images:
        for box, kp in zip(*detector.detect(img)):
            row = np.r_[box[:2], box[2:4] - box[:2], kp.ravel(), box[4]].astype(np.float32)[None]
            theirs = recognizer.alignCrop(img, row)
            mine = align(img, kp)
            pixel = max(pixel, int(np.abs(theirs.astype(int) - mine.astype(int)).max()))
            ref = recognizer.feature(theirs).ravel()
            ref = ref / np.linalg.norm(ref)
            same_crop = embedder.features(theirs[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32))[0]
            ours = embedder.features(mine[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32))[0]
            feature = max(feature, float(np.abs(same_crop - ref).max()))
            cosine, n = min(cosine, float(ours @ ref)), n + 1
    table(["check", "faces", "aligned crop max diff (grey levels)", "features, same crop: max diff",
           "features, whole path: min cosine"],
          [["SFace vs cv2.FaceRecognizerSF (alignCrop + feature)", n, pixel, f"{feature:.1e}", f"{cosine:.6f}"]])


# --- 2. speed -------------------------------------------------------------------------------------------------------

def speed(frames: list[np.ndarray], chips: list[FaceChip], repeats: int) -> None:
    print("## Speed on this machine (median; all configurations interleaved)\n")
    detectors = {}
    for threads in (1, 2):
        for width in (640, 1280):
            detectors[f"YuNet, input width {width}, {threads} thread(s)"] = YuNetDetector(
                model_path=registry.yunet_path(), det_thresh=0.5, threads=threads, input_width=width)
        detectors[f"SCRFD-2.5G at 640x640, {threads} thread(s)"] = FaceDetector(
            model_path=registry.scrfd_path(model_dir()), det_thresh=0.5, threads=threads)
    times: dict[str, list[float]] = {name: [] for name in detectors}
    for det in detectors.values():
        det.detect(frames[0])
    for _ in range(repeats):
        for frame in frames:
            for name, det in detectors.items():
                start = time.perf_counter()
                det.detect(frame)
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["SCRFD-2.5G at 640x640, 1 thread(s)"])
    table(["detector (1280x720 crowd frames)", "ms / frame", "x faster than SCRFD, 1 thread"],
          [[name, round(1000 * statistics.median(t), 1), round(base / statistics.median(t), 1)]
           for name, t in times.items()])

    batch = (chips * (32 // len(chips) + 1))[:32]
    embedders = {f"SFace, batch 32, {t} thread(s)": SFaceEmbedder(model_path=registry.sface_path(model_dir()),
                                                                   threads=t) for t in (1, 2)}
    embedders["SFace, batch 1, 1 thread"] = SFaceEmbedder(model_path=registry.sface_path(model_dir()), threads=1,
                                                          batch=1)
    embedders["SFace through cv2.FaceRecognizerSF (alignCrop + feature, 1 thread), for reference"] = _OpenCVSFace()
    embedders["dlib, 1 process"] = DlibEmbedder(workers=1)
    embedders["dlib, 2 processes"] = DlibEmbedder(workers=2)
    per_face: dict[str, list[float]] = {name: [] for name in embedders}
    for emb in embedders.values():
        emb.embed(batch)
    for _ in range(max(2, repeats)):
        for name, emb in embedders.items():
            start = time.perf_counter()
            emb.embed(batch)
            per_face[name].append((time.perf_counter() - start) / len(batch))
    base = statistics.median(per_face["dlib, 1 process"])
    table(["embedder (32 pipeline chips)", "ms / face", "x faster than dlib, 1 process"],
          [[name, round(1000 * statistics.median(t), 1), round(base / statistics.median(t), 1)]
           for name, t in per_face.items()])
    for emb in embedders.values():
        emb.close()


class _OpenCVSFace:
    """OpenCV's own SFace path on the same file (not used by the project: a speed reference)."""

    def __init__(self) -> None:
        self._model = cv2.FaceRecognizerSF.create(str(registry.sface_path(model_dir())), "")

    def embed(self, chips: list[FaceChip]) -> np.ndarray:
        rows = [np.r_[c.box[:2], c.box[2:4] - c.box[:2], c.kps.ravel(), 1].astype(np.float32)[None] for c in chips]
        return np.stack([self._model.feature(self._model.alignCrop(c.image_bgr, r)).ravel()
                         for c, r in zip(chips, rows)])

    def close(self) -> None:
        pass


# --- 3. small faces on the crowd clip -------------------------------------------------------------------------------

def crowd_sizes(frames: list[np.ndarray]) -> None:
    print("## Crowd clip at 1280x720: faces found per frame and the smallest (score >= 0.5; no truth)\n")
    detectors = {f"YuNet, input width {w}": YuNetDetector(model_path=registry.yunet_path(), det_thresh=0.5,
                                                           threads=2, input_width=w) for w in (640, 1280)}
    detectors["SCRFD-2.5G, 640x640"] = FaceDetector(model_path=registry.scrfd_path(model_dir()), det_thresh=0.5,
                                                     threads=2)
    rows = []
    for name, det in detectors.items():
        counts, widths = [], []
        for frame in frames:
            boxes = det.detect(frame)[0]
            counts.append(len(boxes))
            widths += (boxes[:, 2] - boxes[:, 0]).tolist()
        widths = np.array(widths)
        rows.append([name, len(frames), round(float(np.median(counts)), 1), len(widths),
                     round(float(widths.min()), 1), round(float(np.percentile(widths, 5)), 1),
                     int((widths < 20).sum()), int((widths < 26).sum())])
    table(["detector", "frames", "faces / frame (median)", "faces", "smallest width px", "5th percentile px",
           "< 20 px", "< 26 px"], rows)


# --- 4. detector scores against truth -------------------------------------------------------------------------------

def detector_truth(grid_frames: list[np.ndarray]) -> None:
    print("## Detector scores against truth\n")
    print("VOC photos (faces_dlib, 43 hand-annotated faces in 9 photos; an unmatched detection is counted as extra, "
          "though VOC leaves some background faces unannotated) and GRID frames (one face each; any other "
          "detection is extra). dogs.jpg: detections on dog faces.\n")
    truth = voc_truth()
    photos = {name: cv2.imread(str(VOC / name)) for name in truth}
    dogs = cv2.imread(str(VOC / "dogs.jpg"))
    detectors = {f"YuNet {w}": YuNetDetector(model_path=registry.yunet_path(), det_thresh=min(THRESHOLDS),
                                             threads=2, input_width=w) for w in (640, 1280)}
    detectors["SCRFD"] = FaceDetector(model_path=registry.scrfd_path(model_dir()), det_thresh=min(THRESHOLDS),
                                      threads=2)
    rows = []
    n_truth = sum(len(t) for t in truth.values())
    for name, det in detectors.items():
        voc = {f: det.detect(img)[0] for f, img in photos.items()}
        true_scores = [score for f, t in truth.items()
                       for score in voc[f][iou_matrix(t, voc[f][:, :4]).argmax(axis=1), 4].tolist()]
        grid = [det.detect(f)[0] for f in grid_frames]
        dog = det.detect(dogs)[0]
        for thr in THRESHOLDS:
            kept = {f: b[b[:, 4] >= thr] for f, b in voc.items()}
            hits = sum(matched(truth[f], kept[f]) for f in truth)
            extra = sum(len(kept[f]) for f in truth) - hits
            grid_kept = [b[b[:, 4] >= thr] for b in grid]
            found = sum(len(b) > 0 for b in grid_kept)
            grid_extra = sum(max(0, len(b) - 1) for b in grid_kept)
            rows.append([name, thr, f"{hits}/{n_truth}", extra, f"{found}/{len(grid)}", grid_extra,
                         int((dog[:, 4] >= thr).sum())])
        scores = np.concatenate([b[:, 4] for b in grid]) if grid else np.zeros(0)
        lowest = min(float(b[:, 4].max()) for b in grid if len(b)) if grid else float("nan")
        print(f"- {name}: VOC annotated faces score >= {min(true_scores):.3f}; GRID faces score >= {lowest:.3f} "
              f"({len(scores)} GRID detections at >= {min(THRESHOLDS)})")
    print()
    table(["detector", "score >=", "VOC faces found (IoU >= 0.5)", "VOC extra", "GRID frames with the face",
           "GRID extra", "dogs.jpg detections"], rows)


# --- 5. identity separation -----------------------------------------------------------------------------------------

def labelled_sets(grid_every: int) -> dict[str, list[tuple[str, np.ndarray, bool]]]:
    """{set: [(identity, image, tight crop?)]}; a `*` identity marks a two-face photo (left, right)."""
    johns, seen = [], set()
    for path in sorted((SHARED / "faces_dlib" / "johns").glob("*/*.jpg")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:  # John_Shimkus has one photo twice: a same-person pair at distance 0 would flatter both
            continue
        seen.add(digest)
        johns.append((path.parent.name, cv2.imread(str(path)), True))
    photos = []
    for path in sorted((SHARED / "faces_openface").glob("*.jpg")):
        name = path.stem.split("-")[0] if path.stem != "longoria-cooper" else "*eva_longoria,bradley_cooper"
        photos.append((name, cv2.imread(str(path)), False))
    for path in sorted((SHARED / "faces_facenet_aligned").glob("*/1.png")):
        photos.append((path.parent.name, cv2.imread(str(path)), True))
    for path in sorted((SHARED / "hamilton_whitehouse").glob("*.*g")):
        photos.append((path.stem.rstrip("0123456789"), cv2.imread(str(path)), False))
    grid = [(clip.stem, frame, False) for clip in sorted(GRID.glob("*.mpg"))
            for frame in video_frames(clip, every=grid_every)]
    return {"faces_dlib johns (5 people)": johns, "photos (openface + facenet + hamilton stills)": photos,
            "GRID frames (10 people)": grid}


def faces_of(detector, entries, cfg: DetectConfig) -> tuple[list[str], list[FaceChip], int]:
    labels, chips, missed = [], [], 0
    for identity, image, tight in entries:
        if tight:
            pad = int(round(TIGHT_PAD * max(image.shape[:2])))
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        boxes, kps = detector.detect(image)
        names = identity.lstrip("*").split(",")
        if len(boxes) < len(names):
            missed += len(names)
            continue
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        largest = np.sort(np.argsort(-area)[:len(names)])
        largest = largest[np.argsort(boxes[largest, 0])]  # left to right
        for name, i in zip(names, largest):
            labels.append(name)
            chips.append(to_chip(image, boxes[i], kps[i], cfg))
    return labels, chips, missed


def separation(vectors: np.ndarray, labels: list[str], metric: str) -> dict[str, float]:
    cosine = metric == "cosine"
    dist = 1 - vectors @ vectors.T if cosine else np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    same, diff = [], []
    for i, j in combinations(range(len(labels)), 2):
        (same if labels[i] == labels[j] else diff).append(dist[i, j])
    same, diff = np.array(same), np.array(diff)
    d_prime = (diff.mean() - same.mean()) / np.sqrt((same.var() + diff.var()) / 2)
    threshold, eer = equal_error(same, diff)
    return {"same": len(same), "diff": len(diff), "same_mean": same.mean(), "same_max": same.max(),
            "diff_mean": diff.mean(), "diff_min": diff.min(), "d_prime": d_prime, "eer": eer,
            "threshold": threshold}


def equal_error(same: np.ndarray, diff: np.ndarray) -> tuple[float, float]:
    """(distance threshold, error rate) where same-person pairs above it and different-person pairs at or below it
    are equally frequent; with no overlap, the middle of the gap and 0."""
    if same.max() < diff.min():
        return float((same.max() + diff.min()) / 2), 0.0
    candidates = np.unique(np.concatenate([same, diff]))
    frr = np.array([(same > t).mean() for t in candidates])
    far = np.array([(diff <= t).mean() for t in candidates])
    k = int(np.argmin(np.abs(frr - far)))
    return float(candidates[k]), float((frr[k] + far[k]) / 2)


def identity(grid_every: int) -> None:
    print("## Identity separation (same vs different person)\n")
    print("SFace: cosine distance (1 - cos) of unit vectors; dlib: L2. Chips as the pipeline stores them "
          "(JPEG, face <= 160 px). d' = (mean diff - mean same) / sqrt((var same + var diff) / 2). "
          "Sets are pooled in 'all' (people differ across sets).\n")
    cfg = DetectConfig()
    sets = labelled_sets(grid_every)
    detectors = {"YuNet 640": YuNetDetector(model_path=registry.yunet_path(), det_thresh=0.5, threads=2),
                 "SCRFD": FaceDetector(model_path=registry.scrfd_path(model_dir()), det_thresh=0.5, threads=2)}
    embedders = {"SFace": (SFaceEmbedder(model_path=registry.sface_path(model_dir()), threads=2), "cosine"),
                 "dlib": (DlibEmbedder(workers=2), "l2")}
    rows = []
    for det_name, det in detectors.items():
        pooled_labels, pooled = [], {name: [] for name in embedders}
        for set_name, entries in sets.items():
            labels, chips, missed = faces_of(det, entries, cfg)
            pooled_labels += [f"{set_name[:5]}:{label}" if set_name.startswith(("faces_dlib", "GRID")) else label
                              for label in labels]
            for emb_name, (emb, metric) in embedders.items():
                vectors = emb.embed(chips)
                pooled[emb_name].append(vectors)
                s = separation(vectors, labels, metric)
                rows.append([set_name, det_name, emb_name, f"{len(chips)} ({missed} missed)",
                             f"{s['same']} / {s['diff']}", f"{s['same_mean']:.3f} (max {s['same_max']:.3f})",
                             f"{s['diff_mean']:.3f} (min {s['diff_min']:.3f})", round(s["d_prime"], 2),
                             f"{100 * s['eer']:.1f}%", round(s["threshold"], 3)])
        for emb_name, (_, metric) in embedders.items():
            s = separation(np.concatenate(pooled[emb_name]), pooled_labels, metric)
            rows.append(["all", det_name, emb_name, len(pooled_labels), f"{s['same']} / {s['diff']}",
                         f"{s['same_mean']:.3f} (max {s['same_max']:.3f})",
                         f"{s['diff_mean']:.3f} (min {s['diff_min']:.3f})", round(s["d_prime"], 2),
                         f"{100 * s['eer']:.1f}%", round(s["threshold"], 3)])
    for emb, _ in embedders.values():
        emb.close()
    table(["set", "detector", "embedder", "faces", "pairs same / diff", "same: mean", "different: mean", "d'",
           "EER", "distance at EER"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats (a smoke run)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    crowd = crowd_720p(every=10 if args.quick else 5)
    grid_frames = [f for clip in sorted(GRID.glob("*.mpg")) for f in video_frames(clip, every=25)]
    images = (grid_frames + [cv2.imread(str(p)) for p in sorted(VOC.glob("20*.jpg"))]
              + [cv2.imread(str(p)) for p in sorted((SHARED / "faces_openface").glob("*.jpg"))]
              + crowd[:3])
    sface = SFaceEmbedder(model_path=registry.sface_path(model_dir()), threads=2)
    agreement(images, sface)
    detector = YuNetDetector(model_path=registry.yunet_path(), det_thresh=0.5, threads=2)
    chips = [to_chip(f, b, k, DetectConfig()) for f in grid_frames for b, k in zip(*detector.detect(f))][:32]
    speed(crowd[:8] if args.quick else crowd[:20], chips, repeats=1 if args.quick else 3)
    crowd_sizes(crowd_720p(every=1) if not args.quick else crowd)
    detector_truth(grid_frames)
    identity(grid_every=25 if args.quick else 8)


if __name__ == "__main__":
    main()
