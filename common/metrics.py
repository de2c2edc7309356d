"""Scores of predicted behaviour against ground truth: frame level, segment level, AP / mAP.

Conventions (written here once so every report means the same thing):

* **Frame level** (CalMS21 / DeepEthogram): per-frame class ids, 0 = background. Per class
  precision, recall and F1 over frames; the **macro** average is over behaviours only
  (background excluded) and only over classes that occur in the ground truth or the
  predictions (a class absent from both says nothing about the model and is reported as NaN).
  A class with predictions but no ground truth has precision 0, recall NaN and F1 0 (its false
  alarms count against the macro F1). A class with ground truth but no predictions has
  precision 0 (scikit-learn's ``zero_division=0``), recall 0, F1 0.
* **Segment level**: intervals with **inclusive** ends; temporal IoU as in
  ``mouseact.intervals.tiou``. Matching is one-to-one per class and per video, greedy:
  predictions in order of decreasing confidence each take the still-unmatched ground-truth
  segment with the highest tIoU, if that tIoU >= threshold (ActivityNet's rule). Every
  prediction is used (no confidence cut).
* **AP** at one tIoU threshold: the ActivityNet detection AP (precision made monotone,
  summed over recall steps) over predictions ranked by confidence across all videos.
  AP of a class with no ground truth is NaN and is left out of **mAP**, which is the mean over
  classes and thresholds.

``gt``/``pred`` of the segment functions are a list of intervals of one video, or a mapping
``{video_key: [Interval, ...]}`` for several videos (matching never crosses videos).
Threshold keys in returned dicts are strings such as ``"0.5"`` (``f"{t:g}"``), so the dicts
survive a JSON round trip unchanged.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from mouseact.intervals import Interval

DEFAULT_THRESHOLDS = (0.3, 0.5, 0.7)
Segments = "Sequence[Interval] | Mapping[str, Sequence[Interval]]"


def tkey(threshold: float) -> str:
    """The dict key of a tIoU threshold: ``0.5 -> "0.5"``."""
    return f"{float(threshold):g}"


def _prf(tp: int, n_pred: int, n_gt: int) -> dict[str, float]:
    if n_gt == 0 and n_pred == 0:
        return {"precision": math.nan, "recall": math.nan, "f1": math.nan}
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt if n_gt else math.nan
    denom = n_pred + n_gt
    f1 = 2 * tp / denom  # == 2PR/(P+R); 0 when nothing matched
    return {"precision": precision, "recall": recall, "f1": f1}


def _macro(rows: Iterable[dict]) -> dict[str, float]:
    rows = [r for r in rows if not math.isnan(r["f1"])]
    out = {"n_classes": len(rows)}
    for k in ("precision", "recall", "f1"):
        vals = [r[k] for r in rows if not math.isnan(r[k])]
        out[k] = float(np.mean(vals)) if vals else math.nan
    return out


# --------------------------------------------------------------------------------------------
# frame level
# --------------------------------------------------------------------------------------------
def frame_scores(gt_labels: np.ndarray, pred_labels: np.ndarray, classes: Sequence[str]) -> dict:
    """Frame-level P/R/F1 per behaviour and their macro average (background excluded).

    ``gt_labels``/``pred_labels``: int arrays of the same length, 0 = background, ``i`` =
    ``classes[i-1]``. Several videos: concatenate their arrays. Returns
    ``{"per_class": {name: {precision, recall, f1, support, n_pred}}, "macro": {precision,
    recall, f1, n_classes}, "accuracy": float, "n_frames": int}``.
    """
    gt = np.asarray(gt_labels).ravel()
    pred = np.asarray(pred_labels).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f"gt has {gt.size} frames, prediction has {pred.size}")
    n_ids = len(classes) + 1
    for name, arr in (("gt", gt), ("prediction", pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_ids):
            raise ValueError(f"{name} class ids must be in [0, {n_ids - 1}] for {len(classes)} classes")
    # confusion counts in one pass: bincount of gt*n+pred
    conf = np.bincount(gt.astype(np.int64) * n_ids + pred.astype(np.int64), minlength=n_ids * n_ids)
    conf = conf.reshape(n_ids, n_ids)
    per_class = {}
    for i, name in enumerate(classes, start=1):
        tp, support, n_pred = int(conf[i, i]), int(conf[i].sum()), int(conf[:, i].sum())
        per_class[name] = {**_prf(tp, n_pred, support), "support": support, "n_pred": n_pred}
    return {
        "per_class": per_class,
        "macro": _macro(per_class.values()),
        "accuracy": float(np.trace(conf) / gt.size) if gt.size else math.nan,
        "n_frames": int(gt.size),
    }


# --------------------------------------------------------------------------------------------
# segment level
# --------------------------------------------------------------------------------------------
def _by_video(segments) -> dict[str, list[Interval]]:
    if isinstance(segments, Mapping):
        return {str(k): list(v) for k, v in segments.items()}
    return {"": list(segments)}


def _ranked(preds: Iterable[tuple[str, Interval]]) -> list[tuple[str, Interval]]:
    # highest confidence first; ties broken by position so results do not depend on input order
    return sorted(preds, key=lambda vp: (-vp[1].confidence, vp[0], vp[1].start, vp[1].end))


def _tiou_matrix(pred: Sequence[Interval], gt: Sequence[Interval]) -> np.ndarray:
    """``(P, G)`` temporal IoU of inclusive ranges (vectorised :func:`mouseact.intervals.tiou`)."""
    ps = np.array([[p.start, p.end] for p in pred], dtype=np.float64).reshape(-1, 2)
    gs = np.array([[g.start, g.end] for g in gt], dtype=np.float64).reshape(-1, 2)
    inter = np.minimum(ps[:, None, 1], gs[None, :, 1]) - np.maximum(ps[:, None, 0], gs[None, :, 0]) + 1
    union = np.maximum(ps[:, None, 1], gs[None, :, 1]) - np.minimum(ps[:, None, 0], gs[None, :, 0]) + 1
    return np.where(inter > 0, inter / union, 0.0)


def match(gt: Segments, pred: Segments, label: str, threshold: float) -> list[bool]:
    """Greedy one-to-one matching of one class: for each prediction in ranked order, True if
    it matched a ground-truth segment. Returned in ranked (decreasing-confidence) order."""
    gt_v, pred_v = _by_video(gt), _by_video(pred)
    ranked = _ranked((v, p) for v, ivs in pred_v.items() for p in ivs if p.label == label)
    hits = np.zeros(len(ranked), dtype=bool)
    by_video: dict[str, list[int]] = {}
    for rank, (video, _) in enumerate(ranked):
        by_video.setdefault(video, []).append(rank)
    for video, ranks in by_video.items():
        cands = [g for g in gt_v.get(video, []) if g.label == label]
        if not cands:
            continue
        iou = _tiou_matrix([ranked[r][1] for r in ranks], cands)
        for row, rank in enumerate(ranks):  # ranks are in decreasing confidence within the video too
            j = int(np.argmax(iou[row]))  # best still-unmatched segment (taken ones are set to -1)
            if iou[row, j] >= threshold and iou[row, j] > 0:
                hits[rank] = True
                iou[:, j] = -1.0
    return hits.tolist()


def _count(segs: Segments, label: str) -> int:
    return sum(1 for ivs in _by_video(segs).values() for iv in ivs if iv.label == label)


def _check_labels(gt: Segments, classes: Sequence[str]) -> None:
    known = set(classes)
    for video, ivs in _by_video(gt).items():
        for iv in ivs:
            if iv.label not in known:
                where = f" in video {video!r}" if video else ""
                raise ValueError(f"ground-truth label {iv.label!r}{where} is not one of the classes {list(classes)}")


def segment_scores(gt: Segments, pred: Segments, classes: Sequence[str],
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict:
    """Segment-level P/R/F1 per class at each tIoU threshold, and the macro average per threshold.

    Returns ``{"per_class": {name: {"0.5": {precision, recall, f1, tp, n_gt, n_pred}, ...}},
    "macro": {"0.5": {precision, recall, f1, n_classes}, ...}}``. Predictions whose label is not
    in ``classes`` (e.g. ``"unknown"``) are not scored; ground truth outside ``classes`` is an error.
    """
    _check_labels(gt, classes)
    per_class: dict[str, dict] = {}
    for name in classes:
        n_gt, n_pred = _count(gt, name), _count(pred, name)
        per_class[name] = {}
        for t in thresholds:
            tp = sum(match(gt, pred, name, t))
            per_class[name][tkey(t)] = {**_prf(tp, n_pred, n_gt), "tp": tp, "n_gt": n_gt, "n_pred": n_pred}
    macro = {tkey(t): _macro(per_class[c][tkey(t)] for c in classes) for t in thresholds}
    return {"per_class": per_class, "macro": macro}


def average_precision(gt: Segments, pred: Segments, label: str, threshold: float) -> float:
    """ActivityNet detection AP of one class at one tIoU threshold (NaN if no ground truth)."""
    n_gt = _count(gt, label)
    if n_gt == 0:
        return math.nan
    hits = np.asarray(match(gt, pred, label, threshold), dtype=bool)
    if hits.size == 0:
        return 0.0
    tp = np.cumsum(hits)
    fp = np.cumsum(~hits)
    recall = tp / n_gt
    precision = tp / (tp + fp)
    # precision envelope (monotone non-increasing), then area under the step curve
    mprec = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mprec[steps]))


def ap_table(gt: Segments, pred: Segments, classes: Sequence[str],
             thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict:
    """``{"per_class": {name: {"0.5": AP}}, "per_threshold": {"0.5": mAP}, "mAP": float}``."""
    _check_labels(gt, classes)
    per_class = {c: {tkey(t): average_precision(gt, pred, c, t) for t in thresholds} for c in classes}
    per_threshold = {}
    for t in thresholds:
        vals = [per_class[c][tkey(t)] for c in classes if not math.isnan(per_class[c][tkey(t)])]
        per_threshold[tkey(t)] = float(np.mean(vals)) if vals else math.nan
    finite = [v for v in per_threshold.values() if not math.isnan(v)]
    return {"per_class": per_class, "per_threshold": per_threshold,
            "mAP": float(np.mean(finite)) if finite else math.nan}


def mean_ap(gt: Segments, pred: Segments, classes: Sequence[str],
            thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> float:
    """Mean AP over classes with ground truth and over ``thresholds`` (NaN if no ground truth)."""
    return ap_table(gt, pred, classes, thresholds)["mAP"]
