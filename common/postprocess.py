"""Post-processing: scored candidate segments -> the behaviour intervals a researcher sees.

The classifier gives candidate segments (``Interval`` with a label and a confidence) that may
overlap (multi-scale proposals, or the half-overlapping windows of ``--dense``). A list of
named stages, applied in order, turns them into clean bouts:

    soft_nms -> threshold -> exclusive -> smooth -> stitch -> min_duration   (then clamp, always)

Every stage describes itself (:data:`STAGES`: name, help, parameters with defaults) so
``mouseact infer --list-postprocess`` can print them. Durations are in **seconds** (converted
with the video's fps) because that is how behaviour is described in papers. Parameters marked
per-class can be overridden for one behaviour, JABS style::

    --set threshold=0.4 --set per_class.itch.threshold=0.6 --set per_class.itch.min_duration_s=0.1

Whatever the configuration, output frame ranges lie inside ``[0, n_frames-1]``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
from pydantic import Field

from mouseact.config import Config
from mouseact.errors import MouseActError
from mouseact.intervals import Interval, by_label, clamp, from_frame_labels, stitch_gaps, tiou

DEFAULT_ORDER = ["soft_nms", "threshold", "exclusive", "smooth", "stitch", "min_duration"]


class PostprocessConfig(Config):
    """Defaults of every post-processing stage (see ``mouseact infer --list-postprocess``)."""

    stages: list[str] = Field(default_factory=lambda: list(DEFAULT_ORDER),
                              description="stages to run, in order (drop one to disable it)")
    nms_sigma: float = Field(0.5, gt=0, description="soft-NMS Gaussian width: score *= exp(-tIoU^2/sigma)")
    nms_min_score: float = Field(0.001, ge=0, description="soft-NMS drops segments whose decayed score falls below this")
    threshold: float = Field(0.3, ge=0, le=1, description="minimum confidence to keep a segment")
    smooth_s: float = Field(0.2, ge=0, description="majority-filter window on the per-frame labels, seconds (0 = off)")
    stitch_gap_s: float = Field(0.3, ge=0, description="join same-behaviour bouts separated by at most this gap, seconds")
    min_duration_s: float = Field(0.2, ge=0, description="drop bouts shorter than this, seconds")
    per_class: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="per-behaviour overrides, e.g. {itch: {threshold: 0.6}}")

    def value(self, param: str, label: str) -> float:
        """``param`` for behaviour ``label``: its per-class override or the global default."""
        return float(self.per_class.get(label, {}).get(param, getattr(self, param)))


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    help: str
    params: tuple[str, ...]       # config fields this stage reads
    per_class: tuple[str, ...]    # those that may be overridden per behaviour
    fn: Callable[["Segments", PostprocessConfig], list[Interval]]


@dataclasses.dataclass
class Segments:
    """What flows between stages: candidate intervals on a video of ``n_frames`` at ``fps``."""

    intervals: list[Interval]
    n_frames: int
    fps: float

    def frames(self, seconds: float) -> int:
        return int(round(seconds * self.fps))


# -- stages -----------------------------------------------------------------------------------

def soft_nms(seg: Segments, cfg: PostprocessConfig) -> list[Interval]:
    """Gaussian soft-NMS per behaviour (Bodla et al. 2017, as in ActionFormer's post-processing).

    Repeatedly keep the best-scoring segment and decay the others by ``exp(-tIoU^2/sigma)``
    instead of deleting them, so two genuinely distinct but touching bouts both survive.
    """
    out: list[Interval] = []
    for label, ivs in by_label(seg.intervals).items():
        sigma = cfg.value("nms_sigma", label)
        min_score = cfg.value("nms_min_score", label)
        pool = [[iv, iv.confidence] for iv in ivs]
        while pool:
            best = max(range(len(pool)), key=lambda i: pool[i][1])
            iv, score = pool.pop(best)
            if score < min_score:
                break  # every remaining score is lower still
            out.append(dataclasses.replace(iv, confidence=float(score)))
            for item in pool:
                item[1] *= math.exp(-tiou(iv, item[0]) ** 2 / sigma)
    return sorted(out)


def threshold(seg: Segments, cfg: PostprocessConfig) -> list[Interval]:
    """Keep segments whose confidence reaches the behaviour's threshold."""
    return [iv for iv in seg.intervals if iv.confidence >= cfg.value("threshold", iv.label)]


def _frame_argmax(seg: Segments) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-frame label id and confidence where, on overlap, the most confident segment wins."""
    classes = sorted({iv.label for iv in seg.intervals})
    ids = {c: i + 1 for i, c in enumerate(classes)}
    labels = np.zeros(seg.n_frames, np.int32)
    conf = np.zeros(seg.n_frames, np.float32)
    # paint low-confidence first so the most confident segment ends on top
    for iv in sorted(seg.intervals, key=lambda iv: iv.confidence):
        s, e = max(iv.start, 0), min(iv.end, seg.n_frames - 1)
        if s > e:
            continue
        labels[s:e + 1] = ids[iv.label]
        conf[s:e + 1] = iv.confidence
    return labels, conf, classes


def exclusive(seg: Segments, cfg: PostprocessConfig) -> list[Interval]:
    """One behaviour per frame: where segments overlap, the most confident one wins.

    Overlapping windows of the same behaviour merge into one bout (confidence = mean of the
    winning per-frame confidences).
    """
    labels, conf, classes = _frame_argmax(seg)
    return from_frame_labels(labels, classes, conf)


def smooth(seg: Segments, cfg: PostprocessConfig) -> list[Interval]:
    """Majority (mode) filter of the per-frame labels over ``smooth_s`` seconds; removes flicker.

    Background counts as a label, so an isolated one-frame bout disappears and a one-frame hole
    in a bout is filled. Frames keep the confidence of the segment they came from; filled frames
    take the mean confidence of the window's winners.
    """
    width = seg.frames(cfg.smooth_s)
    if width < 2 or not seg.intervals:
        return list(seg.intervals)
    width |= 1  # odd: centred window
    labels, conf, classes = _frame_argmax(seg)
    n_ids = len(classes) + 1
    onehot = np.zeros((seg.n_frames, n_ids), np.float32)
    onehot[np.arange(seg.n_frames), labels] = 1
    # counts per label in a centred window, via cumulative sums (O(n * classes))
    half = width // 2
    csum = np.concatenate([np.zeros((1, n_ids), np.float32), np.cumsum(onehot, 0)])
    lo = np.clip(np.arange(seg.n_frames) - half, 0, seg.n_frames)
    hi = np.clip(np.arange(seg.n_frames) + half + 1, 0, seg.n_frames)
    counts = csum[hi] - csum[lo]
    # ties keep the frame's own label (so smoothing never shifts a clean boundary)
    counts[np.arange(seg.n_frames), labels] += 0.5
    new = counts.argmax(1).astype(np.int32)
    fill = new != labels
    if fill.any():
        cconf = np.concatenate([[0.0], np.cumsum(conf, dtype=np.float64)])
        conf = conf.copy()
        conf[fill] = ((cconf[hi] - cconf[lo]) / np.maximum(hi - lo, 1))[fill]
    return from_frame_labels(new, classes, conf)


def stitch(seg: Segments, cfg: PostprocessConfig) -> list[Interval]:
    """Join bouts of the same behaviour separated by a gap of at most ``stitch_gap_s``.

    A gap is bridged only if no other behaviour occurs in it (stitching must not paint over
    a short rear between two grooming bouts).
    """
    n = seg.n_frames
    groups = by_label(seg.intervals)
    cover = {}
    for label, ivs in groups.items():
        c = np.zeros(n + 1, np.int32)
        for iv in ivs:
            c[max(iv.start, 0)] += 1
            c[min(iv.end, n - 1) + 1] -= 1
        cover[label] = np.cumsum(c[:n]) > 0
    any_cover = np.logical_or.reduce(list(cover.values())) if cover else np.zeros(n, bool)
    out: list[Interval] = []
    for label, ivs in groups.items():
        others = np.concatenate([[0], np.cumsum(any_cover & ~cover[label])])
        max_gap = seg.frames(cfg.value("stitch_gap_s", label))
        cur = ivs[0]
        for iv in ivs[1:]:
            gap_start, gap_end = cur.end + 1, iv.start  # gap frames [gap_start, gap_end)
            free = gap_end <= gap_start or others[min(gap_end, n)] - others[min(gap_start, n)] == 0
            if iv.start - cur.end - 1 <= max_gap and free:
                cur = stitch_gaps([cur, iv], max_gap)[0]
            else:
                out.append(cur)
                cur = iv
        out.append(cur)
    return sorted(out)


def min_duration(seg: Segments, cfg: PostprocessConfig) -> list[Interval]:
    """Drop bouts shorter than the behaviour's ``min_duration_s``."""
    return [iv for iv in seg.intervals if iv.length >= max(1, seg.frames(cfg.value("min_duration_s", iv.label)))]


STAGES: dict[str, Stage] = {s.name: s for s in [
    Stage("soft_nms", "Gaussian soft-NMS of overlapping segments of the same behaviour (ActionFormer style)",
          ("nms_sigma", "nms_min_score"), ("nms_sigma", "nms_min_score"), soft_nms),
    Stage("threshold", "drop segments whose confidence is below the behaviour's threshold",
          ("threshold",), ("threshold",), threshold),
    Stage("exclusive", "one behaviour per frame: on overlap the most confident segment wins",
          (), (), exclusive),
    Stage("smooth", "temporal smoothing: majority filter of per-frame labels over smooth_s seconds",
          ("smooth_s",), (), smooth),
    Stage("stitch", "join bouts of one behaviour separated by a gap <= stitch_gap_s seconds",
          ("stitch_gap_s",), ("stitch_gap_s",), stitch),
    Stage("min_duration", "drop bouts shorter than min_duration_s seconds",
          ("min_duration_s",), ("min_duration_s",), min_duration),
]}


def validate(cfg: PostprocessConfig, classes: Sequence[str] | None = None) -> None:
    """Unknown stage names, per-class parameters or behaviours are errors, never ignored."""
    for name in cfg.stages:
        if name not in STAGES:
            raise MouseActError(f"unknown post-processing stage {name!r} (known: {', '.join(STAGES)})")
    allowed = {p for s in STAGES.values() for p in s.per_class}
    for label, params in cfg.per_class.items():
        if classes is not None and label not in classes:
            raise MouseActError(f"per_class override for unknown behaviour {label!r} "
                                f"(model behaviours: {', '.join(classes)})")
        for p in params:
            if p not in allowed:
                raise MouseActError(f"per_class.{label}.{p}: not a per-class parameter "
                                    f"(per-class: {', '.join(sorted(allowed))})")


def run(intervals: Sequence[Interval], n_frames: int, fps: float, cfg: PostprocessConfig | None = None,
        classes: Sequence[str] | None = None, background: Sequence[str] = ()) -> list[Interval]:
    """Apply the configured stages in order, then clamp every range into ``[0, n_frames-1]``.

    ``background``: labels that are no behaviour (a classifier's idle class). They take part in every
    stage -- a confident idle segment wins an overlap against a doubtful behaviour, and is smoothed like
    one -- and are dropped from the result."""
    cfg = cfg or PostprocessConfig()
    validate(cfg, classes)
    seg = Segments(clamp(intervals, n_frames), n_frames, fps)
    for name in cfg.stages:
        seg = Segments(STAGES[name].fn(seg, cfg), n_frames, fps)
    drop = set(background)
    return sorted(iv for iv in clamp(seg.intervals, n_frames) if iv.label not in drop)


def describe(cfg: PostprocessConfig | None = None, prefix: str = "") -> str:
    """Human-readable list of the stages, their help and their (current) parameter values.

    ``prefix`` is where the config sits in the caller's config (``postprocess.`` for infer)."""
    cfg = cfg or PostprocessConfig()
    fields = PostprocessConfig.model_fields
    lines = ["Post-processing stages (applied in this order; then ranges are clamped to the video):"]
    order = list(cfg.stages) + [n for n in STAGES if n not in cfg.stages]
    for name in order:
        st = STAGES[name]
        state = "" if name in cfg.stages else " [disabled]"
        lines.append(f"  {name}{state}: {st.help}")
        for p in st.params:
            tag = " (per-class)" if p in st.per_class else ""
            lines.append(f"      {prefix}{p} = {getattr(cfg, p)!r}{tag}  {fields[p].description}")
    if cfg.per_class:
        lines.append(f"  per-class overrides: {cfg.per_class}")
    lines.append(f"Set with --set KEY=VALUE or --config YAML, e.g. --set {prefix}threshold=0.4 "
                 f"--set {prefix}per_class.itch.min_duration_s=0.1 "
                 f"--set '{prefix}stages=[threshold,exclusive,stitch]'")
    return "\n".join(lines)
