"""Per-frame actionness → candidate segments, and the choice of the operating point.

Proposals are made by hysteresis: a segment is a run of frames with actionness >= ``low``
that contains at least one frame >= ``high`` (a brief dip below ``high`` inside an action
does not split it, a lone noisy frame above ``low`` does not start one). Then segments
closer than ``max_gap_s`` are stitched, those shorter than ``min_duration_s`` dropped, and
each is padded by ``pad_s`` on both sides (the classifier sees a little context, and
boundary errors cost less recall).

With ``levels`` > 0 (temporal actionness grouping, as TAG in Zhao et al., "Temporal Action
Detection with Structured Segment Networks", ICCV 2017) the same procedure also runs at higher
thresholds and adds those segments: a threshold low enough to find a weakly scored bout lets
a strongly scored one spread past its ends or run into its neighbour, and the higher levels
give the tight segment too. Every higher-level segment lies inside a base segment, so the
frames proposed do not change; the list then holds nested segments (``merge`` gives the base).
TAG's other axis is the grouping tolerance: with ``group_levels`` > 0 the base segments are
also stitched across longer gaps (``max_gap_s * 2**j``) and the joined segments added, so a bout
whose actionness dips for longer than ``max_gap_s`` is also proposed whole (its pieces stay
proposed too). Unlike ``levels`` this proposes more frames: the gaps it bridges.

The operating point (``high``, ``low`` and, when several are offered, the stitching gap, the
padding and the minimum duration) is chosen on validation data: the smallest share of frames
proposed that still reaches the target recall of true segments, a segment counting as found
when proposals cover at least half of it (``match="coverage"``, default) or when one proposal
overlaps it with tIoU >= 0.5 (``match="tiou"``). Both recalls are always reported. With a
frame budget, the point is instead the one with the best tIoU recall among those that reach the
target within the budget (see ``choose_operating_point``): the fewest frames alone picks points
whose proposals touch every bout but cover few of them whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mouseact.config import Config
from mouseact.intervals import Interval, clamp, merge, runs, tiou
from pydantic import Field, model_validator

LABEL = "action"


class ProposalConfig(Config):
    high: float = Field(0.5, ge=0, le=1, allow_inf_nan=False,
                        description="a segment needs at least one frame with actionness >= high")
    low: float = Field(0.3, ge=0, le=1, allow_inf_nan=False,
                       description="a segment extends over neighbouring frames with actionness >= low (<= high)")
    max_gap_s: float = Field(0.5, description="stitch segments separated by at most this many seconds")
    min_duration_s: float = Field(0.4, description="drop segments shorter than this (before padding)")
    pad_s: float = Field(0.25, description="extend every segment by this many seconds on both sides")
    levels: int = Field(0, ge=0, le=8, description="temporal actionness grouping: also propose the segments found "
                        "at this many higher thresholds, low_k = 1 - (1 - low) / 2**k, high_k = max(high, low_k) "
                        "for k = 1..levels, stitched, filtered and padded the same way. They nest inside the base "
                        "segments (the frames proposed do not change) and give tight segments where the base "
                        "one spans several bouts or spreads past a bout's ends. 0 = base segments only")
    group_levels: int = Field(0, ge=0, le=4, description="temporal actionness grouping by tolerance: also "
                              "propose the base segments stitched across gaps up to max_gap_s * 2**j for j = "
                              "1..group_levels (joined segments only; the pieces stay). Finds a bout whose actionness "
                              "dips for longer than max_gap_s in the middle as one segment; costs the bridged gaps' "
                              "frames. Needs max_gap_s > 0. 0 = off")
    refine_threshold: float | None = Field(
        None, ge=0, le=1, description="boundary refinement: after stitching, trim each segment's ends to its first "
        "and last frame whose short-window actionness is >= this (never extends a segment, never drops one: a "
        "segment with no such frame is kept whole); None = off. Needs the short-window signal (a model trained "
        "with refine_window_s)")

    @model_validator(mode="after")
    def _low_not_above_high(self):
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must be <= high ({self.high:g})")
        return self


def propose(actionness: np.ndarray, fps: float, config: ProposalConfig,
            boundary: np.ndarray | None = None) -> list[Interval]:
    """Candidate ``"action"`` segments (inclusive ends); confidence = peak actionness inside.

    ``boundary``: the short-window actionness ``(N,)`` used to trim the segments' ends when
    ``config.refine_threshold`` is set (ignored otherwise; required then).
    """
    a = np.asarray(actionness, dtype=np.float64)
    n = len(a)
    if n == 0:
        return []
    if config.refine_threshold is not None and (boundary is None or len(boundary) != n):
        raise ValueError("refine_threshold needs the short-window actionness of the same frames (boundary=)")
    low = min(config.low, config.high)
    out = _propose_level(a, fps, config, config.high, low, boundary)
    # (config, high, low) of every extra pass: TAG levels at higher thresholds, then longer stitching gaps
    level_lows = [1.0 - (1.0 - low) / 2 ** k for k in range(1, config.levels + 1)]
    extra = [(config, max(config.high, low_k), low_k) for low_k in level_lows]
    extra += [(config.model_copy(update={"max_gap_s": config.max_gap_s * 2 ** j}), config.high, low)
              for j in range(1, config.group_levels + 1) if config.max_gap_s > 0]
    if extra:
        seen = {(iv.start, iv.end) for iv in out}
        for cfg, high_k, low_k in extra:
            for iv in _propose_level(a, fps, cfg, high_k, low_k, boundary):
                if (iv.start, iv.end) not in seen:
                    seen.add((iv.start, iv.end))
                    out.append(iv)
        out.sort(key=lambda iv: (iv.start, -iv.end))
    return out


def _propose_level(a: np.ndarray, fps: float, config: ProposalConfig, high: float, low: float,
                   boundary: np.ndarray | None) -> list[Interval]:
    """:func:`propose` at one pair of thresholds: hysteresis, stitching, minimum, trimming, padding."""
    n = len(a)
    segs = [(s, e) for s, e in runs(a >= low) if a[s:e + 1].max() >= high]
    ivs = [Interval(s, e, LABEL, float(a[s:e + 1].max())) for s, e in segs]
    gap = int(round(config.max_gap_s * fps))
    if ivs and gap > 0:
        # stitch, keeping the peak (not the mean) as confidence
        out = [ivs[0]]
        for iv in ivs[1:]:
            if iv.start - out[-1].end - 1 <= gap:
                out[-1] = Interval(out[-1].start, iv.end, LABEL, max(out[-1].confidence, iv.confidence))
            else:
                out.append(iv)
        ivs = out
    min_len = int(round(config.min_duration_s * fps))
    ivs = [iv for iv in ivs if iv.length >= min_len]
    if config.refine_threshold is not None:
        ivs = refine(ivs, np.asarray(boundary, dtype=np.float64), config.refine_threshold)
    pad = int(round(config.pad_s * fps))
    ivs = clamp([Interval(iv.start - pad, iv.end + pad, LABEL, iv.confidence) for iv in ivs], n)
    # padding can make neighbours overlap: merge them, keeping the higher peak
    out: list[Interval] = []
    for iv in sorted(ivs):
        if out and iv.start <= out[-1].end + 1:
            out[-1] = Interval(out[-1].start, max(out[-1].end, iv.end), LABEL,
                               max(out[-1].confidence, iv.confidence))
        else:
            out.append(iv)
    return out


def refine(ivs: Sequence[Interval], boundary: np.ndarray, threshold: float) -> list[Interval]:
    """Trim each segment to its first..last frame with ``boundary >= threshold`` (kept whole if none).

    Why: the actionness that *finds* a bout is averaged over 1-3 s windows, so at a threshold low
    enough to find weakly scored bouts the strong ones' segments spread 1-1.5 s past each end
    (measured: the tIoU-0.5 failures of mouse2 -> mouse1 at <= 25 % of frames are mostly such
    too-long segments, docs/notes/issue-5-localizer.md session 5). A 0.33 s-window score is noisier
    but sharper at the ends; it only bounds segments the smooth score found.
    """
    out = []
    for iv in ivs:
        idx = np.flatnonzero(boundary[iv.start: iv.end + 1] >= threshold)
        out.append(iv if not len(idx) else Interval(iv.start + int(idx[0]), iv.start + int(idx[-1]), iv.label,
                                                    iv.confidence))
    return out


def gt_segments(labels: np.ndarray) -> list[Interval]:
    """Class-agnostic true segments: runs of non-background frames (adjacent actions merge)."""
    return [Interval(s, e, LABEL) for s, e in runs(np.asarray(labels) > 0)]


def _best_overlaps(g: Interval, props: Sequence[Interval], starts: np.ndarray) -> tuple[float, float]:
    """(best tIoU, covered share of ``g``) over proposals sorted by start."""
    best = covered = 0.0
    for p in props[: int(np.searchsorted(starts, g.end, side="right"))]:
        if p.end >= g.start:
            best = max(best, tiou(g, p))
            covered += min(p.end, g.end) - max(p.start, g.start) + 1
    return best, covered / g.length


def recall_at(gt: Sequence[Interval], proposals: Sequence[Interval], threshold: float = 0.5,
              match: str = "tiou") -> tuple[int, int]:
    """(hits, total) true segments found by the proposals.

    ``match="tiou"``: some proposal overlaps the segment with tIoU >= ``threshold`` (the usual
    detection criterion: penalises proposals much longer than the segment).
    ``match="coverage"``: at least ``threshold`` of the segment's frames lie inside proposals
    (what stage 1 must guarantee: the classifier and post-processing set the final bounds).
    """
    if match not in ("tiou", "coverage"):
        raise ValueError(f"match must be 'tiou' or 'coverage', not {match!r}")
    # coverage over the union: nested proposals (``levels``) must not count a frame twice
    props = sorted(proposals) if match == "tiou" else merge(proposals)
    starts = np.array([p.start for p in props])
    hits = 0
    for g in gt:
        best, cov = _best_overlaps(g, props, starts)
        hits += (best if match == "tiou" else cov) >= threshold
    return hits, len(gt)


def proposed_fraction(proposals: Sequence[Interval], n_frames: int) -> float:
    return sum(p.length for p in merge(proposals)) / max(n_frames, 1)


def evaluate(actionness_list, labels_list, fps_list, config: ProposalConfig, threshold: float = 0.5,
             match: str = "tiou", boundary_list=None) -> dict:
    """Recall (by ``match``), both recalls, and share of frames proposed, pooled over sequences.

    ``boundary_list``: each sequence's short-window actionness (needed when ``config.refine_threshold``
    is set)."""
    hits = {"tiou": 0, "coverage": 0}
    total = proposed = frames = n_props = 0
    minutes = 0.0
    boundary_list = boundary_list if boundary_list is not None else [None] * len(actionness_list)
    for a, y, fps, b in zip(actionness_list, labels_list, fps_list, boundary_list):
        props = propose(a, fps, config, b)
        gt = gt_segments(y)
        for m in hits:
            hits[m] += recall_at(gt, props, threshold, m)[0]
        total += len(gt)
        proposed += proposed_fraction(props, len(a)) * len(a)
        frames += len(a)
        n_props += len(props)
        minutes += len(a) / fps / 60
    rec = {m: h / max(total, 1) for m, h in hits.items()}
    return {"recall": rec[match], "recall_tiou": rec["tiou"], "recall_coverage": rec["coverage"],
            "segments": total, "frames_proposed": proposed / max(frames, 1),
            "proposals_per_min": n_props / max(minutes, 1e-9)}


# the proposal settings besides the thresholds (refine_threshold: None = no boundary refinement)
SHAPE_KEYS = ("max_gap_s", "min_duration_s", "pad_s", "refine_threshold", "levels", "group_levels")


def shape_of(point) -> tuple:
    """A point's (or config's) proposal settings besides the thresholds, sortable (None first)."""
    get = point.get if isinstance(point, dict) else (lambda k: getattr(point, k))
    return tuple((-1.0 if get(k) is None else float(get(k))) for k in SHAPE_KEYS)


def operating_curve(actionness_list, labels_list, fps_list, base: ProposalConfig | Sequence[ProposalConfig],
                    highs: Sequence[float] | None = None, low_ratios: Sequence[float] = (0.5, 0.7, 1.0),
                    threshold: float = 0.5, match: str = "tiou", boundary_list=None) -> list[dict]:
    """Recall vs frames proposed for a grid of (high, low) thresholds, for each base config.

    ``base`` may be several configs (e.g. stitching gaps x paddings): every point records its
    ``max_gap_s``, ``min_duration_s``, ``pad_s`` and ``refine_threshold`` as well as ``high`` and ``low``.
    ``boundary_list``: the short-window actionness per sequence, for configs with ``refine_threshold``.
    """
    bases = [base] if isinstance(base, ProposalConfig) else list(base)
    if highs is None:
        allv = np.concatenate([np.asarray(a) for a in actionness_list])
        highs = np.unique(np.round(np.quantile(allv, np.linspace(0.3, 0.995, 40)), 4))
    curve = []
    for b in bases:
        shape = {k: getattr(b, k) for k in SHAPE_KEYS}  # floats, levels int, refine_threshold maybe None
        for hi in highs:
            for r in low_ratios:
                cfg = b.model_copy(update={"high": float(hi), "low": float(hi * r)})
                res = evaluate(actionness_list, labels_list, fps_list, cfg, threshold, match, boundary_list)
                curve.append({"high": float(hi), "low": float(hi * r), **shape, **res})
    return curve


def choose_operating_point(curve: list[dict], target_recall: float,
                           frame_budget: float | None = None) -> tuple[dict, bool]:
    """The point proposing the fewest frames with recall >= target; else the highest recall.

    With ``frame_budget`` (a share of frames): among the points with recall >= target that
    propose at most that share, the fewest frames whose tIoU recall also reaches the target,
    else the highest tIoU recall (then the higher recall, then fewer frames). Why: the fewest
    frames for a coverage target is a point whose proposals touch every bout but cover few
    whole (measured on B-SOiD: out-of-group tIoU recall 0.81 at 19.8 % of frames, where
    points at <= 25 % reach 0.9-1.0); stage 2 then works from fragments. When no point reaches
    the target within the budget, the rule without budget applies.

    Returns ``(point, target_met)``.
    """
    ok = [c for c in curve if c["recall"] >= target_recall]
    within = [c for c in ok if frame_budget is not None and c["frames_proposed"] <= frame_budget]
    if within:
        strict = [c for c in within if c["recall_tiou"] >= target_recall]
        if strict:
            return min(strict, key=lambda c: (c["frames_proposed"], -c["recall"])), True
        return max(within, key=lambda c: (c["recall_tiou"], c["recall"], -c["frames_proposed"])), True
    if ok:
        return min(ok, key=lambda c: (c["frames_proposed"], -c["recall"])), True
    return max(curve, key=lambda c: (c["recall"], -c["frames_proposed"])), False
