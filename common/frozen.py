"""Frozen frames: stretches where a clip repeats one picture.

Clips cut out of a GIF/montage (the B-SOiD example videos are three panels stacked side by
side) keep playing the panel's *last picture* after its example has ended, until the longest
panel finishes: in ``bsoid_clips/mouse2`` up to 61 % of a clip is one repeated picture
(``rear_plus``: 49 moving frames of 125, ``inactive``: 71 of 228). Those frames show no
behaviour — a frozen "itch" is pixel-identical to a mouse that sits still — so training on them
teaches the models that stillness is every behaviour, and scoring on them asks a model to see
an action in a still picture.

A frame *repeats* when no pixel of its full-size grey picture differs from the previous one by
more than ``max_diff`` (8) grey levels: a re-encoded repeat wobbles by 2-5 levels, while a real
frame, even of a mouse sitting still, changes tens of pixels by more (measured on the B-SOiD
clips: moving frames change 20 to thousands of pixels by > 8, repeats none). A run of at least
``min_run`` repeats is frozen.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def repeat_mask(grey_frames: np.ndarray, max_diff: int = 8) -> np.ndarray:
    """``(T,)`` bool: frame t shows the same picture as frame t-1 (frame 0 never repeats)."""
    g = np.asarray(grey_frames, np.int16)
    out = np.zeros(len(g), bool)
    if len(g) > 1:
        out[1:] = ~(np.abs(np.diff(g, axis=0)) > max_diff).reshape(len(g) - 1, -1).any(axis=1)
    return out


def moving_ranges(repeats: np.ndarray, min_run: int = 5, min_moving: int = 5) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` ranges outside frozen runs.

    A frozen run is ``min_run`` or more consecutive repeated frames; the frame it repeats (the one
    before the run) stays in the moving range. Moving ranges shorter than ``min_moving`` frames
    (a single changed frame inside a frozen tail) are dropped.
    """
    repeats = np.asarray(repeats, bool)
    n = len(repeats)
    frozen = np.zeros(n, bool)
    i = 0
    while i < n:
        if repeats[i]:
            j = i
            while j < n and repeats[j]:
                j += 1
            if j - i >= min_run:
                frozen[i:j] = True
            i = j
        else:
            i += 1
    ranges, i = [], 0
    while i < n:
        if frozen[i]:
            i += 1
            continue
        j = i
        while j < n and not frozen[j]:
            j += 1
        if j - i >= min_moving:
            ranges.append((i, j))
        i = j
    return ranges


def moving_span(path: str | Path, max_diff: int = 8, min_run: int = 5) -> tuple[int, int, int]:
    """``(start, stop, n_frames)`` of a video file without its frozen head and tail.

    ``[start, stop)`` runs from the first to the last moving range (frozen runs in the middle are
    kept: they are rare and short). A clip that never moves keeps all its frames.
    """
    from mouseact.video import _check_file

    p = Path(path)
    _check_file(p)  # a missing or empty file: the same one-line VideoError as VideoReader gives
    st = p.stat()
    return _moving_span(str(p.resolve()), st.st_size, st.st_mtime_ns, max_diff, min_run)


@functools.lru_cache(maxsize=256)
def _moving_span(path: str, size: int, mtime_ns: int, max_diff: int, min_run: int) -> tuple[int, int, int]:
    from mouseact.video import VideoReader

    # full resolution: shrinking averages the sensor noise away and makes still footage look frozen
    with VideoReader(path) as vr:
        grey = np.stack([f.mean(axis=2) for f in vr.iter_frames()]).round().astype(np.uint8)
    n = len(grey)
    ranges = moving_ranges(repeat_mask(grey, max_diff), min_run)
    if not ranges:
        return 0, n, n
    return ranges[0][0], ranges[-1][1], n

