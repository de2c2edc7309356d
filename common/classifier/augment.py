"""Training-time augmentation of clip windows: left-right mirror and playback speed.

* **mirror**: every frame flipped left-right (crop rectangles flipped with it). A mirrored
  left turn is a right turn, so labels listed as a mirror pair swap (``orient_L`` ↔
  ``orient_R``); every other behaviour keeps its label. With a camera looking straight up (or
  down) at the floor a mirrored clip is a physically possible view of another mouse.
* **speed**: ``2`` = every second frame of a span twice the window (the behaviour played twice
  as fast); ``0.5`` = each frame of half a window shown twice (half as fast; the repeated frames
  have no motion between them, so this one is cruder than 2x).

The augmented windows are extra *training* rows only: they keep the index of the clip they
come from (so validation time-blocks and ``head=auto``'s clip counts are unchanged) and are
never scored. :class:`AugmentedEmbedder` wraps any embedder; its config (the inner config plus
``augment``) keys the embedding cache, so augmented vectors are cached apart from plain ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from mouseact.errors import MouseActError

_SIDE_WORDS = {
    "left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT",
}  # fmt: skip


def mirror_label_map(classes: Sequence[str], pairs: Sequence[Sequence[str]] | None = None) -> dict[str, str]:
    """Label of each class after a left-right mirror. ``pairs`` (e.g. ``[["orient_L", "orient_R"]]``)
    names the swapped classes; without it pairs are found by name: ``X_L``/``X_R`` (also ``-``,
    space) and ``...left...``/``...right...`` when both classes exist. Unpaired classes map to
    themselves."""
    classes = list(classes)
    out = {c: c for c in classes}
    if pairs is None:
        found = []
        for c in classes:
            m = re.match(r"^(.*[_\- ])([LR])$", c)
            if m:
                other = m.group(1) + ("R" if m.group(2) == "L" else "L")
            elif re.search("left|right", c, re.I):
                other = re.sub("left|right", lambda k: _SIDE_WORDS.get(k.group(0), k.group(0)), c, flags=re.I)
            else:
                continue
            if other in out and other != c:
                found.append((c, other))
        pairs = found
    for pair in pairs:
        if len(pair) != 2:
            raise MouseActError(f"mirror pair must name two classes, got {list(pair)}")
        a, b = pair
        unknown = {a, b} - set(classes)
        if unknown:
            raise MouseActError(
                f"mirror pair {a!r}/{b!r}: {', '.join(sorted(unknown))} not among the behaviours "
                f"({', '.join(classes)})"
            )
        out[a], out[b] = b, a
    return out


class AugmentedEmbedder:
    """Wraps an embedder: items are mirrored and/or resampled in time before the inner embedder
    sees them. With ``speed`` s an item must hold ``round(n_frames * s)`` frames (the span that
    plays as one window)."""

    def __init__(self, inner, mirror: bool = False, speed: float = 1.0):
        if speed not in (0.5, 1.0, 2.0):
            raise MouseActError(f"speed augmentation must be 0.5, 1 or 2, got {speed}")
        self.inner = inner
        self.mirror = bool(mirror)
        self.speed = float(speed)
        self.kind = inner.kind
        self.config = {**inner.config, "augment": {"mirror": self.mirror, "speed": self.speed}}
        n = int(inner.config.get("n_frames", getattr(inner, "min_frames", 16)))
        self.span = span_frames(n, self.speed)

    def transform(self, frames: np.ndarray, rects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = np.asarray(frames)
        rects = np.asarray(rects)
        if rects.ndim == 1:
            rects = np.repeat(rects[None], len(frames), 0)
        if self.speed == 2.0:
            frames, rects = frames[::2], rects[::2]
        elif self.speed == 0.5:
            frames, rects = np.repeat(frames, 2, 0), np.repeat(rects, 2, 0)
        if self.mirror:
            w = frames.shape[2]
            frames = np.ascontiguousarray(frames[:, :, ::-1])
            rects = rects.copy()
            rects[:, [0, 2]] = w - rects[:, [2, 0]]
        return frames, rects

    def embed_batch(self, items):
        return self.inner.embed_batch([self.transform(f, r) for f, r in items])


def span_frames(window: int, speed: float) -> int:
    """Source frames that play as one ``window`` at ``speed``."""
    return max(1, int(round(window * speed)))


def augmented_windows(
    clips, classes, embedder, window: int, stride: int, policy, cache, mirror: bool, speeds: Sequence[float],
    frame_rate: float | None = None,
):
    """Extra training windows: every combination of (speed in ``[1, *speeds]``) × (mirror or not)
    except the plain one, concatenated as one :class:`~mouseact.classifier.data.Windows` whose
    labels already swap mirror pairs (None when nothing is asked for)."""
    from mouseact.classifier.data import Windows, embed_clip_windows

    lab_map = mirror_label_map(classes)
    combos = [(m, s) for s in [1.0, *[float(v) for v in speeds if float(v) != 1.0]] for m in (False, True)]
    combos = [(m, s) for m, s in combos if (m or s != 1.0) and (mirror or not m)]
    parts = []
    for m, s in combos:
        aug = AugmentedEmbedder(embedder, mirror=m, speed=s)
        try:
            w = embed_clip_windows(
                clips, classes, aug, aug.span, max(1, int(round(stride * s))), policy, cache,
                desc=f"embedding ({'mirror ' if m else ''}{s:g}x)", frame_rate=frame_rate,
            )
        except MouseActError:
            continue  # every clip shorter than the span (e.g. 2x on very short clips)
        if m:
            w.y = np.array([classes.index(lab_map[classes[k]]) for k in w.y], dtype=w.y.dtype)
        w.variant = np.full(len(w.y), f"{'mirror ' if m else ''}{s:g}x", dtype=object)
        parts.append(w)
    if not parts:
        return None
    return Windows(
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        np.concatenate([p.clip for p in parts]),
        np.concatenate([p.position for p in parts]),
        np.concatenate([p.variant for p in parts]),
    )
