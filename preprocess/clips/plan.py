"""What to cut from one video: behaviour clips and idle clips (pure functions, no decoding).

Behaviour clips: the bouts of each behaviour are merged when they overlap or touch, padded
(centred, kept inside the video) when shorter than ``min_frames`` and split into near-equal
parts when longer than ``max_frames``.

Idle clips: placed at seeded random positions over the *whole* video (uniform over every
position where a clip fits), never within ``margin`` frames of any bout or behaviour clip and
never overlapping each other, until the idle frames reach ``ratio`` x the behaviour frames of
that video or no room is left. (The seed app took idle clips from the start of each video.)
Everything is per video and seeded by the video's own key, so adding videos later leaves the
plans of the others unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Sequence

import numpy as np

from mouseact.intervals import Interval, by_label, merge


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    label: str      # behaviour, or the idle label
    start: int      # inclusive frame range in the source video
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def to_json(self) -> dict:
        return {"label": self.label, "start": self.start, "end": self.end}


def stable_seed(*parts) -> int:
    """A 64-bit seed from strings/ints that is the same on every machine and Python run."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def pad_range(start: int, end: int, min_frames: int, n_frames: int) -> tuple[int, int]:
    """Grow ``[start, end]`` around its centre to ``min_frames``, shifted to stay in the video."""
    length = end - start + 1
    if length >= min_frames:
        return start, end
    want = min(min_frames, n_frames)
    extra = want - length
    start -= extra // 2
    end += extra - extra // 2
    if start < 0:
        end, start = end - start, 0
    if end > n_frames - 1:
        start, end = max(0, start - (end - (n_frames - 1))), n_frames - 1
    return start, end


def split_range(start: int, end: int, max_frames: int) -> list[tuple[int, int]]:
    """``[start, end]`` cut into the fewest near-equal parts of at most ``max_frames``."""
    length = end - start + 1
    parts = max(1, math.ceil(length / max_frames))
    edges = np.linspace(start, end + 1, parts + 1).round().astype(int)
    return [(int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:])]


def positive_clips(intervals: Sequence[Interval], n_frames: int, max_frames: int, min_frames: int
                   ) -> list[ClipPlan]:
    out = []
    for label, ivs in by_label(merge(intervals)).items():
        for iv in ivs:
            s, e = max(iv.start, 0), min(iv.end, n_frames - 1)
            if s > e:
                continue
            for a, b in split_range(s, e, max_frames):
                a, b = pad_range(a, b, min_frames, n_frames)
                out.append(ClipPlan(label, a, b))
    return sorted(out, key=lambda c: (c.start, c.end, c.label))


def idle_clips(intervals: Sequence[Interval], positives: Sequence[ClipPlan], n_frames: int, *,
               ratio: float, clip_frames: int, min_frames: int, margin: int, seed: int,
               label: str = "idle") -> tuple[list[ClipPlan], int]:
    """Idle clips for one video and the number of idle frames still missing (0 = ratio met)."""
    target = int(round(ratio * sum(c.length for c in positives)))
    free = np.ones(n_frames, dtype=bool)
    for s, e in [(iv.start, iv.end) for iv in intervals] + [(c.start, c.end) for c in positives]:
        free[max(0, s - margin): min(n_frames, e + margin + 1)] = False
    rng = np.random.default_rng(seed)
    min_frames = max(1, min(min_frames, clip_frames))
    chosen: list[ClipPlan] = []
    remaining = target
    while remaining > 0:
        length = max(min(clip_frames, remaining), min_frames)
        starts = _fitting_starts(free, length)
        while starts.size == 0 and length > min_frames:
            length = max(min_frames, length // 2)  # no room for a full clip: try shorter ones
            starts = _fitting_starts(free, length)
        if starts.size == 0:
            break
        s = int(starts[rng.integers(starts.size)])
        chosen.append(ClipPlan(label, s, s + length - 1))
        free[s: s + length] = False
        remaining -= length
    return sorted(chosen, key=lambda c: c.start), max(0, remaining)


def _fitting_starts(free: np.ndarray, length: int) -> np.ndarray:
    if length > free.size:
        return np.zeros(0, dtype=np.int64)
    csum = np.concatenate([[0], np.cumsum(free, dtype=np.int64)])
    window = csum[length:] - csum[:-length]
    return np.flatnonzero(window == length)
