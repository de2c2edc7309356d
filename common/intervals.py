"""Behaviour intervals on the frame axis. Ends are **inclusive** (Supervisely ``frameRange``).

An :class:`Interval` is ``(label, start, end, confidence)``. Per-frame label arrays use integer
class ids with 0 = background and ``classes[i-1]`` for id ``i``.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np

BACKGROUND = "background"


@dataclasses.dataclass(frozen=True, order=True)
class Interval:
    start: int
    end: int  # inclusive
    label: str
    confidence: float = 1.0

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"reversed interval {self.start}..{self.end} for {self.label!r}")

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def to_json(self, digits: int | None = 4) -> dict:
        """``digits=None`` keeps the confidence exact (files read back for further computation)."""
        conf = float(self.confidence)
        return {"label": self.label, "frame_range": [int(self.start), int(self.end)],
                "confidence": conf if digits is None else round(conf, digits)}

    @classmethod
    def from_json(cls, obj: dict) -> "Interval":
        start, end = obj["frame_range"]
        return cls(int(start), int(end), str(obj["label"]), float(obj.get("confidence", 1.0)))


def by_label(intervals: Iterable[Interval]) -> dict[str, list[Interval]]:
    out: dict[str, list[Interval]] = {}
    for iv in sorted(intervals):
        out.setdefault(iv.label, []).append(iv)
    return out


def tiou(a: Interval, b: Interval) -> float:
    """Temporal IoU of two inclusive frame ranges."""
    inter = min(a.end, b.end) - max(a.start, b.start) + 1
    if inter <= 0:
        return 0.0
    union = max(a.end, b.end) - min(a.start, b.start) + 1
    return inter / union


def stitch_gaps(intervals: Iterable[Interval], max_gap: int) -> list[Interval]:
    """Join same-label intervals separated by at most ``max_gap`` empty frames.

    ``max_gap=0`` merges only overlapping or touching (adjacent) intervals. The merged
    confidence is the length-weighted mean.
    """
    out: list[Interval] = []
    for label, ivs in by_label(intervals).items():
        cur = ivs[0]
        for iv in ivs[1:]:
            if iv.start - cur.end - 1 <= max_gap:
                end = max(cur.end, iv.end)
                conf = (cur.confidence * cur.length + iv.confidence * iv.length) / (cur.length + iv.length)
                cur = Interval(cur.start, end, label, conf)
            else:
                out.append(cur)
                cur = iv
        out.append(cur)
    return sorted(out)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping or touching intervals of the same label."""
    return stitch_gaps(intervals, 0)


def drop_short(intervals: Iterable[Interval], min_frames: int) -> list[Interval]:
    return [iv for iv in intervals if iv.length >= min_frames]


def clamp(intervals: Iterable[Interval], n_frames: int) -> list[Interval]:
    """Clip to ``[0, n_frames-1]``; intervals entirely outside are dropped."""
    out = []
    for iv in intervals:
        s, e = max(iv.start, 0), min(iv.end, n_frames - 1)
        if s <= e:
            out.append(dataclasses.replace(iv, start=s, end=e))
    return out


def to_frame_labels(intervals: Iterable[Interval], n_frames: int, classes: Sequence[str]) -> np.ndarray:
    """Per-frame class ids (0 = background). Later intervals overwrite earlier ones on overlap."""
    index = {c: i + 1 for i, c in enumerate(classes)}
    labels = np.zeros(n_frames, dtype=np.int32)
    for iv in intervals:
        if iv.label not in index:
            raise KeyError(f"unknown label {iv.label!r} (known: {', '.join(classes)})")
        labels[max(iv.start, 0): min(iv.end, n_frames - 1) + 1] = index[iv.label]
    return labels


def to_frame_matrix(intervals: Iterable[Interval], n_frames: int, classes: Sequence[str]) -> np.ndarray:
    """Multi-label per-frame matrix ``(n_frames, n_classes)`` of 0/1 (behaviours may overlap)."""
    index = {c: i for i, c in enumerate(classes)}
    mat = np.zeros((n_frames, len(classes)), dtype=np.uint8)
    for iv in intervals:
        if iv.label not in index:
            raise KeyError(f"unknown label {iv.label!r} (known: {', '.join(classes)})")
        mat[max(iv.start, 0): min(iv.end, n_frames - 1) + 1, index[iv.label]] = 1
    return mat


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` of each run of True in a 1-D boolean array."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return []
    d = np.diff(np.concatenate([[0], mask.view(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def from_frame_labels(labels: np.ndarray, classes: Sequence[str], scores: np.ndarray | None = None
                      ) -> list[Interval]:
    """Intervals from per-frame class ids; ``scores`` (n_frames,) gives each interval's mean confidence."""
    labels = np.asarray(labels)
    out = []
    for cid, name in enumerate(classes, start=1):
        for s, e in runs(labels == cid):
            conf = float(np.mean(scores[s: e + 1])) if scores is not None else 1.0
            out.append(Interval(s, e, name, conf))
    return sorted(out)


def near_duplicates(names: Iterable[str]) -> list[list[str]]:
    """Groups of distinct names that differ only in case or spacing ("Groom", "groom", "groom "): in
    annotations these are nearly always one behaviour typed two ways, and they split its bouts in two."""
    groups: dict[str, list[str]] = {}
    for n in dict.fromkeys(names):
        groups.setdefault(" ".join(str(n).split()).casefold(), []).append(n)
    return [g for g in groups.values() if len(g) > 1]
