"""The crop policy: how the mouse box becomes the square region every model sees.

One implementation, used identically when cutting training clips and at inference: the
union of the per-frame boxes over a centred window (so the crop does not jitter and a
moving mouse stays inside), made square, padded by a ratio, clamped to the frame.
The policy is saved in every model artifact so inference crops exactly as training did.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class CropPolicy:
    window: int = 15          # frames in the union window (centred)
    pad_ratio: float = 0.25   # extra margin on each side, as a share of the box side
    square: bool = True
    min_side: int = 32        # pixels: never crop smaller than this (tiny/far mice)
    out_size: int = 112       # side of the resized crop fed to models

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "CropPolicy":
        d = d or {}
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}})


def fill_missing(boxes: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    """Replace NaN rows (no box) by the nearest known box; the whole frame if none is known."""
    boxes = np.asarray(boxes, dtype=np.float64).copy()
    ok = np.isfinite(boxes).all(axis=1)
    if not ok.any():
        boxes[:] = [0, 0, frame_w - 1, frame_h - 1]
        return boxes
    idx = np.arange(len(boxes))
    known = idx[ok]
    nearest = known[np.clip(np.searchsorted(known, idx), 0, len(known) - 1)]
    prev = known[np.clip(np.searchsorted(known, idx) - 1, 0, len(known) - 1)]
    use_prev = np.abs(idx - prev) <= np.abs(nearest - idx)
    src = np.where(use_prev, prev, nearest)
    boxes[~ok] = boxes[src[~ok]]
    return boxes


def crop_boxes(boxes: np.ndarray, frame_w: int, frame_h: int, policy: CropPolicy = CropPolicy()) -> np.ndarray:
    """Per-frame crop rectangles ``(T, 4)`` as int ``x1, y1, x2, y2`` (exclusive x2/y2)."""
    boxes = fill_missing(boxes, frame_w, frame_h)
    t = len(boxes)
    half = policy.window // 2
    out = np.zeros((t, 4), dtype=np.int64)
    if t == 0:
        return out
    # running union via sliding min/max (windows are short; a plain loop over T is fine)
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.repeat(boxes[:1], half, 0), boxes, np.repeat(boxes[-1:], half, 0)])
    win = sliding_window_view(padded, (2 * half + 1, 4))[:, 0]  # (T, W, 4)
    x1 = win[:, :, 0].min(1)
    y1 = win[:, :, 1].min(1)
    x2 = win[:, :, 2].max(1)
    y2 = win[:, :, 3].max(1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = x2 - x1, y2 - y1
    if policy.square:
        w = h = np.maximum(w, h)
    w = np.maximum(w * (1 + 2 * policy.pad_ratio), policy.min_side)
    h = np.maximum(h * (1 + 2 * policy.pad_ratio), policy.min_side)
    w = np.minimum(w, frame_w)
    h = np.minimum(h, frame_h)
    # integer sides first, so rounding the two corners separately cannot unsquare the crop
    w = np.round(w)
    h = np.round(h)
    # shift (not shrink) the square back inside the frame so the mouse keeps its context
    x1 = np.clip(np.round(cx - w / 2), 0, frame_w - w)
    y1 = np.clip(np.round(cy - h / 2), 0, frame_h - h)
    out[:, 0] = x1
    out[:, 1] = y1
    out[:, 2] = x1 + w
    out[:, 3] = y1 + h
    return out


def clip_crop_box(boxes: np.ndarray, frame_w: int, frame_h: int, policy: CropPolicy = CropPolicy()) -> np.ndarray:
    """One crop rectangle for a whole clip: the policy applied to the union of all its boxes."""
    boxes = fill_missing(boxes, frame_w, frame_h)
    union = np.array([[boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]])
    return crop_boxes(union, frame_w, frame_h, dataclasses.replace(policy, window=1))[0]


def apply_crop(frames: np.ndarray, rects: np.ndarray, out_size: int) -> np.ndarray:
    """Cut ``rects`` (one per frame, or one for all) out of ``frames`` and resize to ``out_size``²."""
    import cv2

    rects = np.asarray(rects)
    if rects.ndim == 1:
        rects = np.repeat(rects[None], len(frames), 0)
    out = np.empty((len(frames), out_size, out_size, frames.shape[-1]), dtype=frames.dtype)
    for i, (frame, (x1, y1, x2, y2)) in enumerate(zip(frames, rects)):
        out[i] = cv2.resize(frame[y1:y2, x1:x2], (out_size, out_size), interpolation=cv2.INTER_AREA)
    return out
