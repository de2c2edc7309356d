"""Per-frame boxes -> one smoothed track per mouse, honest about where the mouse is lost.

Order of operations (each fixes what the previous step would otherwise smear around):

1. **Outliers**: a box whose centre jumps away from the running median of its neighbours
   by more than ``max_jump`` box sizes, or whose area is ``max_area_ratio`` off the running
   median area, is dropped (a reflection or a ghost for one frame, not the mouse).
2. **Short gaps** (<= ``max_gap_s``) are linearly interpolated between the boxes either side.
3. **Smoothing**: a centred moving average of ``smooth_frames`` frames over each run of
   boxes (never across a long gap), so crops do not jitter.
4. **Lost**: frames still without a box (long gaps, or before the first / after the last
   detection beyond ``max_gap_s``) are flagged ``lost`` and keep NaN boxes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import Field

from mouseact.config import Config
from mouseact.intervals import runs


class TrackerConfig(Config):
    max_gap_s: float = Field(1.0, ge=0,
        description="gaps up to this long (seconds) are interpolated; longer ones are 'lost'")
    max_jump: float = Field(1.5, gt=0,
        description="centre jump (in box diagonals) from the local median that marks an outlier")
    max_area_ratio: float = Field(3.0, gt=1,
        description="area this many times off the local median marks an outlier")
    outlier_window: int = Field(9, ge=3, description="frames in the running median used for outlier tests")
    smooth_frames: int = Field(3, ge=1, description="moving-average length for box smoothing (1 = off)")
    edge_hold_s: float = Field(0.5, ge=0,
        description="hold the first/last box this long before/after the detections")


@dataclasses.dataclass
class Track:
    boxes: np.ndarray   # (N, 4) float32 xyxy; NaN where lost
    scores: np.ndarray  # (N,) float32; 0 where the box was interpolated or lost
    lost: np.ndarray    # (N,) bool

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def found_share(self) -> float:
        return float(1 - self.lost.mean()) if len(self.lost) else 0.0

    def centroids(self) -> np.ndarray:
        return np.stack([(self.boxes[:, 0] + self.boxes[:, 2]) / 2, (self.boxes[:, 1] + self.boxes[:, 3]) / 2], 1)

    @classmethod
    def empty(cls) -> "Track":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, bool))


def _running_median(x: np.ndarray, window: int) -> np.ndarray:
    """Running median over the valid (non-NaN) entries of each centred window."""
    from numpy.lib.stride_tricks import sliding_window_view

    half = window // 2
    pad = np.concatenate([np.full((half,) + x.shape[1:], np.nan), x, np.full((half,) + x.shape[1:], np.nan)])
    win = sliding_window_view(pad, window, axis=0)  # (N, ..., W)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(win, axis=-1)


def reject_outliers(boxes: np.ndarray, cfg: TrackerConfig) -> np.ndarray:
    """NaN-out boxes that jump or change size implausibly against their neighbours."""
    boxes = np.asarray(boxes, np.float64).copy()
    ok = np.isfinite(boxes).all(1)
    if ok.sum() < 3:
        return boxes
    # medians over valid detections only (compressed index), so gaps do not dilute them
    b = boxes[ok]
    c = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    wh = np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1).clip(1e-3)
    area = wh.prod(1)
    med_c = _running_median(c, cfg.outlier_window)
    med_wh = _running_median(wh, cfg.outlier_window)
    med_area = _running_median(area, cfg.outlier_window)
    diag = np.hypot(med_wh[:, 0], med_wh[:, 1])
    jump = np.hypot(*(c - med_c).T) > cfg.max_jump * diag
    ratio = area / med_area
    size = (ratio > cfg.max_area_ratio) | (ratio < 1 / cfg.max_area_ratio)
    bad = np.flatnonzero(ok)[jump | size]
    boxes[bad] = np.nan
    return boxes


def interpolate_gaps(boxes: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly fill NaN runs of at most ``max_gap`` frames that have a box on both sides."""
    boxes = np.asarray(boxes, np.float64).copy()
    missing = ~np.isfinite(boxes).all(1)
    n = len(boxes)
    for s, e in runs(missing):
        if s == 0 or e == n - 1 or e - s + 1 > max_gap:
            continue
        a, b = boxes[s - 1], boxes[e + 1]
        w = (np.arange(s, e + 1) - (s - 1)) / (e + 2 - s)
        boxes[s: e + 1] = a + w[:, None] * (b - a)
    return boxes


def smooth(boxes: np.ndarray, frames: int) -> np.ndarray:
    """Centred moving average within each run of boxes (edges use the shorter window)."""
    boxes = np.asarray(boxes, np.float64).copy()
    if frames <= 1:
        return boxes
    ok = np.isfinite(boxes).all(1)
    half = frames // 2
    for s, e in runs(ok):
        seg = boxes[s: e + 1]
        cs = np.concatenate([np.zeros((1, 4)), np.cumsum(seg, 0)])
        idx = np.arange(len(seg))
        lo, hi = np.clip(idx - half, 0, len(seg)), np.clip(idx + half + 1, 0, len(seg))
        boxes[s: e + 1] = (cs[hi] - cs[lo]) / (hi - lo)[:, None]
    return boxes


def build_track(boxes: np.ndarray, scores: np.ndarray | None = None, fps: float = 30.0,
                config: TrackerConfig | None = None) -> Track:
    """Raw per-frame detections -> :class:`Track` (see module docstring)."""
    cfg = config or TrackerConfig()
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return Track.empty()
    scores = np.zeros(n, np.float32) if scores is None else np.asarray(scores, np.float32).copy()
    cleaned = reject_outliers(boxes, cfg)
    detected = np.isfinite(cleaned).all(1)
    filled = interpolate_gaps(cleaned, max(0, int(round(cfg.max_gap_s * fps))))
    out = smooth(filled, cfg.smooth_frames)
    # hold the first/last box for a short while at the edges (the mouse did not vanish there)
    ok = np.isfinite(out).all(1)
    hold = int(round(cfg.edge_hold_s * fps))
    if ok.any() and hold:
        first, last = np.flatnonzero(ok)[[0, -1]]
        out[max(0, first - hold): first] = out[first]
        out[last + 1: last + 1 + hold] = out[last]
    lost = ~np.isfinite(out).all(1)
    scores = np.where(detected, scores, 0).astype(np.float32)
    return Track(out.astype(np.float32), scores, lost)
