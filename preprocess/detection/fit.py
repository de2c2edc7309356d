"""Train a YOLO / RT-DETR mouse detector offline and export it as a MouseAct model directory.

Training data is a list of real frames with at most one ``mouse`` box each (NaN row = no mouse,
kept as a negative image). It comes from a Supervisely project with ``mouse`` rectangles, from
an image CSV (``image, x1, y1, x2, y2``), or from the classical detector's confident boxes on
videos (self-training: the learned detector then generalises where the background model is
weak, e.g. a mouse that never moves). The last ``val_frac`` of each source's frames (in time
order) is held out, so validation frames are not near-copies of training frames.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path

import numpy as np
from pydantic import Field

from mouseact.config import Config
from mouseact.errors import AnnotationError, MouseActError
from mouseact.preprocess.detection.learned import ARCH_YAML, ARCHS, WEIGHTS, arch_family, build_model
from mouseact.sly_io import MOUSE_CLASS


class DetectorTrainConfig(Config):
    arch: str = Field("yolov8n", pattern="^(yolov8n|yolo11n|rtdetr-l)$",
        description="architecture (built from yaml, no download)")
    epochs: int = Field(30, ge=1, description="training epochs")
    imgsz: int = Field(320, ge=64, description="square input size (px)")
    batch: int = Field(16, ge=1, description="batch size")
    val_frac: float = Field(0.2, ge=0, lt=1,
        description="share of each source's frames (the last ones) held out")
    frames_per_video: int = Field(150, ge=1, description="frames sampled from each video")
    min_score: float = Field(0.5, ge=0, le=1,
        description="bootstrap: classical boxes below this score are not used")
    seed: int = Field(0, description="random seed")
    patience: int = Field(100, ge=1, description="stop after this many epochs without improvement")


@dataclasses.dataclass
class TrainingFrames:
    images: list[np.ndarray]         # RGB uint8
    boxes: np.ndarray                # (N, 4) float32 xyxy, NaN = no mouse
    is_val: np.ndarray               # (N,) bool
    source: dict


def _split_tail(n: int, val_frac: float) -> np.ndarray:
    is_val = np.zeros(n, bool)
    k = int(round(n * val_frac))
    if k and n - k >= 1:
        is_val[n - k:] = True
    return is_val


def _csv_box(row: dict, line: int, csv_path: Path) -> list[float]:
    """``[x1, y1, x2, y2]`` of one images-CSV row (all NaN = no mouse); a bad value is an error naming
    the file and line."""
    import math

    cells = [(row.get(c) or "").strip() for c in ("x1", "y1", "x2", "y2")]
    if all(c == "" for c in cells):
        return [np.nan] * 4
    vals = []
    for name, cell in zip(("x1", "y1", "x2", "y2"), cells):
        try:
            v = float(cell)
        except ValueError:
            v = None
        if v is None or not math.isfinite(v):
            raise AnnotationError(f"line {line}: {name} must be a number of pixels (or x1..y2 all empty for a "
                                  f"frame without a mouse), got {cell!r}", csv_path)
        vals.append(v)
    x1, y1, x2, y2 = vals
    if not (x1 < x2 and y1 < y2):
        raise AnnotationError(f"line {line}: the box needs x1 < x2 and y1 < y2 (corners top-left, bottom-right), "
                              f"got x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g}", csv_path)
    return vals


def frames_from_image_csv(csv_path: str | Path, image_root: str | Path | None = None, val_frac: float = 0.2
                          ) -> TrainingFrames:
    """Images listed in a CSV with columns ``image, x1, y1, x2, y2`` (all four empty = no mouse).

    Every box is checked before training: numbers, ``x1 < x2``, ``y1 < y2``, inside its image (up to
    a pixel); a bad row is a one-line error naming the file and line."""
    import cv2

    csv_path = Path(csv_path)
    root = Path(image_root) if image_root else csv_path.parent
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except UnicodeDecodeError:
        raise AnnotationError("not a UTF-8 text CSV", csv_path) from None
    except csv.Error as exc:
        raise AnnotationError(f"cannot parse the CSV: {exc}", csv_path) from None
    if not rows or not {"image", "x1", "y1", "x2", "y2"} <= set(rows[0]):
        raise AnnotationError("needs columns image, x1, y1, x2, y2", csv_path)
    # line numbers as an editor shows them: the header is line 1 (rows spanning lines are not expected)
    boxes = [_csv_box(r, i + 2, csv_path) for i, r in enumerate(rows)]  # every value checked before any image
    images = []
    for i, (r, box) in enumerate(zip(rows, boxes)):
        name = (r.get("image") or "").strip()
        if not name:
            raise AnnotationError(f"line {i + 2}: empty image path", csv_path)
        p = root / name
        img = cv2.imread(str(p))
        if img is None:
            raise AnnotationError(f"line {i + 2}: cannot read image {name} (looked in {root})", csv_path)
        h, w = img.shape[:2]
        if np.isfinite(box).all():
            x1, y1, x2, y2 = box
            if x1 < -1 or y1 < -1 or x2 > w + 1 or y2 > h + 1:
                raise AnnotationError(f"line {i + 2}: box x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} lies outside "
                                      f"the {w}x{h}-px image {name}", csv_path)
        images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return TrainingFrames(images, np.asarray(boxes, np.float32), _split_tail(len(images), val_frac),
                          {"kind": "image_csv", "path": str(csv_path), "n_images": len(images)})


def _sample_boxed(boxes: np.ndarray, n: int, usable: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(usable)
    if len(idx) > n:
        idx = idx[np.linspace(0, len(idx) - 1, n).round().astype(int)]
    return idx


def frames_from_project(project_dir: str | Path, cfg: DetectorTrainConfig) -> TrainingFrames:
    """Frames with a ``mouse`` rectangle from a Supervisely video project."""
    import json

    from mouseact import sly_io
    from mouseact.video import VideoReader

    project_dir = Path(project_dir)
    meta_path = project_dir / "meta.json"
    if not meta_path.is_file():
        raise AnnotationError("not a Supervisely project (no meta.json)", project_dir)
    try:
        meta = json.loads(meta_path.read_bytes())
    except OSError as exc:
        raise AnnotationError(f"cannot read meta.json: {exc.strerror or exc}", project_dir) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"meta.json is not valid JSON: {exc}", project_dir) from None
    classes = meta.get("classes", []) if isinstance(meta, dict) else None
    if not isinstance(classes, list):
        raise AnnotationError("meta.json must be an object with a list of 'classes'", project_dir)
    if MOUSE_CLASS not in [c.get("title") for c in classes if isinstance(c, dict)]:
        raise AnnotationError(f"the project has no '{MOUSE_CLASS}' object class to train a detector on", project_dir)
    records = sly_io.read_project(project_dir, out_of_range="clamp")
    images, boxes, is_val = [], [], []
    for rec in records:
        if rec.boxes is None:
            continue
        usable = np.isfinite(rec.boxes).all(1)
        idx = _sample_boxed(rec.boxes, cfg.frames_per_video, usable)
        if not len(idx):
            continue
        with VideoReader(rec.video_path) as vr:
            idx = idx[idx < vr.info.n_frames]
            images.extend(vr.get_frames(idx))
        boxes.append(rec.boxes[idx])
        is_val.append(_split_tail(len(idx), cfg.val_frac))
    if not images:
        raise AnnotationError(f"no frame of the project has a '{MOUSE_CLASS}' rectangle", project_dir)
    return TrainingFrames(images, np.concatenate(boxes).astype(np.float32), np.concatenate(is_val),
                          {"kind": "supervisely_project", "path": str(project_dir), "videos": len(records)})


def frames_from_classical(videos: list[str | Path], cfg: DetectorTrainConfig, progress: bool = True) -> TrainingFrames:
    """Self-training: confident classical detections on ``videos`` as boxes."""
    from mouseact.preprocess.detection.streaming import detect_video
    from mouseact.video import VideoReader

    images, boxes, is_val = [], [], []
    for v in videos:
        track = detect_video(v, detector="classical", stride=1, progress=progress)
        usable = (~track.lost) & (track.scores >= cfg.min_score)
        idx = _sample_boxed(track.boxes, cfg.frames_per_video, usable)
        if not len(idx):
            continue
        with VideoReader(v) as vr:
            images.extend(vr.get_frames(idx))
        boxes.append(track.boxes[idx])
        is_val.append(_split_tail(len(idx), cfg.val_frac))
    if not images:
        raise MouseActError("the classical detector found no confident boxes to train on")
    return TrainingFrames(images, np.concatenate(boxes).astype(np.float32), np.concatenate(is_val),
                          {"kind": "classical_bootstrap", "videos": [str(v) for v in videos]})


def merge(parts: list[TrainingFrames]) -> TrainingFrames:
    return TrainingFrames([im for p in parts for im in p.images], np.concatenate([p.boxes for p in parts]),
                          np.concatenate([p.is_val for p in parts]), {"parts": [p.source for p in parts]})


def write_yolo_dataset(data: TrainingFrames, root: Path) -> Path:
    """Images + YOLO label files (class cx cy w h, normalised) + data.yaml; returns data.yaml."""
    import cv2
    import yaml

    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i, (img, box, val) in enumerate(zip(data.images, data.boxes, data.is_val)):
        split = "val" if val else "train"
        h, w = img.shape[:2]
        cv2.imwrite(str(root / "images" / split / f"{i:06d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        label = ""
        if np.isfinite(box).all():
            x1, y1, x2, y2 = np.clip(box, 0, [w, h, w, h])
            if x2 > x1 and y2 > y1:
                label = f"0 {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"
        (root / "labels" / split / f"{i:06d}.txt").write_text(label)
    data_yaml = root / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val",
                                         "names": {0: MOUSE_CLASS}}))
    return data_yaml


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) xyxy arrays (0 where either is NaN)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(inter / union)


def ap50_top1(gt: np.ndarray, pred: np.ndarray, scores: np.ndarray) -> float:
    """AP at IoU 0.5 for one box per image (one mouse): the best prediction of each image is
    ranked by score; a hit needs IoU >= 0.5 with that image's ground truth. All-point interpolation."""
    has_gt = np.isfinite(gt).all(1)
    n_gt = int(has_gt.sum())
    if n_gt == 0:
        return float("nan")
    has_pred = np.isfinite(pred).all(1)
    order = np.argsort(-scores[has_pred], kind="stable")
    idx = np.flatnonzero(has_pred)[order]
    tp = (box_iou(pred[idx], gt[idx]) >= 0.5) & has_gt[idx]
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1)
    r = np.concatenate([[0], recall, [recall[-1] if len(recall) else 0]])
    p = np.concatenate([[1], precision, [0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))


def evaluate(model_dir: Path, images: list[np.ndarray], boxes: np.ndarray, idx: np.ndarray) -> dict:
    """Held-out AP50 (top box per frame), mean IoU and CPU ms/frame of a detector directory."""
    from mouseact.preprocess.detection.learned import UltralyticsDetector

    det = UltralyticsDetector.load(model_dir, conf=0.001)
    frames = np.stack([images[i] for i in idx])
    t1 = time.perf_counter()
    pred, scores = det.detect(frames)
    ms = 1000 * (time.perf_counter() - t1) / len(idx)
    gt = boxes[idx]
    iou = box_iou(pred, gt)
    has_gt = np.isfinite(gt).all(1)
    return {"val_map50": round(ap50_top1(gt, pred, scores), 4),
            "val_mean_iou": round(float(iou[has_gt].mean()), 4) if has_gt.any() else None,
            "val_frames": int(len(idx)), "cpu_ms_per_frame": round(ms, 1)}


def train_detector(data: TrainingFrames, out_dir: str | Path, cfg: DetectorTrainConfig | None = None,
                   workdir: str | Path | None = None, overwrite: bool = False) -> dict:
    """Train on ``data``, evaluate on its held-out frames, write the model directory; returns the card."""
    import tempfile

    import torch
    import yaml

    from mouseact import modelcard

    cfg = cfg or DetectorTrainConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise MouseActError("output model directory already exists (use --overwrite)", out_dir)
    if (~data.is_val).sum() < 1:
        raise MouseActError("no training frames left after the held-out split")
    family = arch_family(cfg.arch)
    tmp_ctx = tempfile.TemporaryDirectory(prefix="mouseact-det-") if workdir is None else None
    work = Path(workdir or tmp_ctx.name)
    try:
        data_yaml = write_yolo_dataset(data, work / "dataset")
        if not data.is_val.any():  # ultralytics needs a val split; then val = train (said in the card)
            data_yaml.write_text(data_yaml.read_text().replace("images/val", "images/train"))
        model = build_model(cfg.arch)
        t0 = time.perf_counter()
        model.train(data=str(data_yaml), epochs=cfg.epochs, imgsz=cfg.imgsz, batch=cfg.batch, device="cpu",
                    workers=0, amp=False, plots=False, project=str(work / "runs"), name="train", exist_ok=True,
                    seed=cfg.seed, patience=cfg.patience, verbose=False, val=True, cache=False)
        train_s = time.perf_counter() - t0
        trainer = model.trainer
        best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
        # our own fresh checkpoint from this run (not user input), read back to take its weights
        ckpt = torch.load(best, map_location="cpu", weights_only=False)
        net = (ckpt.get("ema") or ckpt["model"]).float()
        arch_cfg = {k: v for k, v in dict(net.yaml).items() if k != "yaml_file"}
        arch_cfg["nc"] = 1
        ul_metrics = {k: round(float(v), 4) for k, v in (getattr(trainer, "metrics", None) or {}).items()
                      if isinstance(v, (int, float))}
        card = {
            "family": family, "arch": cfg.arch, "classes": [MOUSE_CLASS], "input_size": cfg.imgsz,
            "config": cfg.model_dump(), "source": data.source,
            "data": {"n_train": int((~data.is_val).sum()), "n_val": int(data.is_val.sum()),
                     "n_negative": int((~np.isfinite(data.boxes).all(1)).sum())},
            "train_seconds": round(train_s, 1),
            "metrics": {"ultralytics_val": ul_metrics},
        }

        def write_files(tmp: Path) -> None:
            torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, tmp / WEIGHTS)
            (tmp / ARCH_YAML).write_text(yaml.safe_dump(arch_cfg, sort_keys=False))

        # export to a staging dir, evaluate that artifact exactly as users load it, then move
        # the finished directory (with its metrics) into place in one step
        stage = work / "export"
        modelcard.save(stage, "detector", card, write_files, overwrite=True)
        if data.is_val.any():
            card["metrics"].update(evaluate(stage, data.images, data.boxes, np.flatnonzero(data.is_val)))

        def copy_files(tmp: Path) -> None:
            for name in (WEIGHTS, ARCH_YAML):
                (tmp / name).write_bytes((stage / name).read_bytes())

        modelcard.save(out_dir, "detector", card, copy_files, overwrite=overwrite)
        return modelcard.load(out_dir, "detector")
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()


__all__ = ["ARCHS", "DetectorTrainConfig", "TrainingFrames", "ap50_top1", "box_iou", "frames_from_classical",
           "frames_from_image_csv", "frames_from_project", "merge", "train_detector", "write_yolo_dataset"]
