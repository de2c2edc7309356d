"""Proposals from actionness: hysteresis, stitching, min duration, padding, operating point."""

import numpy as np
import pytest
from mouseact.intervals import Interval
from mouseact.localizer.proposals import (
    ProposalConfig,
    choose_operating_point,
    evaluate,
    gt_segments,
    operating_curve,
    propose,
    recall_at,
)


def _signal(n, spans, level=0.9, base=0.05):
    a = np.full(n, base)
    for s, e in spans:
        a[s:e + 1] = level
    return a


def test_hysteresis_needs_a_peak_and_extends_over_low():
    a = np.zeros(100)
    a[10:20] = 0.4          # above low only: no segment
    a[40:60] = 0.4
    a[50] = 0.9             # one peak: the whole low run becomes the segment
    cfg = ProposalConfig(high=0.8, low=0.3, max_gap_s=0, min_duration_s=0, pad_s=0)
    segs = propose(a, 10, cfg)
    assert [(s.start, s.end) for s in segs] == [(40, 59)]
    assert segs[0].label == "action" and segs[0].confidence == 0.9


def test_gap_stitching_min_duration_and_padding():
    a = _signal(200, [(20, 39), (43, 60), (100, 101)])
    cfg = ProposalConfig(high=0.5, low=0.5, max_gap_s=0.5, min_duration_s=0.5, pad_s=0.2)
    segs = propose(a, 10, cfg)
    # the 3-frame gap (< 5 frames) is stitched; the 2-frame blip (< 5 frames) is dropped; pad 2
    assert [(s.start, s.end) for s in segs] == [(18, 62)]
    # padding never leaves the video
    edge = propose(_signal(30, [(0, 9)]), 10, cfg)
    assert edge[0].start == 0


def test_recall_counts_tiou_matches():
    gt = [Interval(0, 9, "action"), Interval(50, 59, "action")]
    props = [Interval(0, 11, "action"), Interval(40, 79, "action")]
    assert recall_at(gt, props, 0.5) == (1, 2)       # 10/12 matches; 10/40 does not
    assert recall_at(gt, props, 0.2) == (2, 2)


def test_operating_point_reaches_target_with_fewest_frames():
    rng = np.random.default_rng(0)
    labels = np.zeros(2000, int)
    spans = [(100 + 200 * i, 140 + 200 * i) for i in range(9)]
    for s, e in spans:
        labels[s:e + 1] = 1
    a = np.clip(_signal(2000, spans, 0.7, 0.2) + rng.normal(0, 0.08, 2000), 0, 1)
    curve = operating_curve([a], [labels], [30.0], ProposalConfig(pad_s=0.1, max_gap_s=0.3, min_duration_s=0.3))
    point, met = choose_operating_point(curve, 0.95)
    assert met and point["recall"] >= 0.95
    assert all(c["frames_proposed"] >= point["frames_proposed"] for c in curve if c["recall"] >= 0.95)
    cfg = ProposalConfig(high=point["high"], low=point["low"], pad_s=0.1, max_gap_s=0.3, min_duration_s=0.3)
    assert evaluate([a], [labels], [30.0], cfg)["recall"] == point["recall"]
    assert len(gt_segments(labels)) == 9


def _curve_point(frames, cov, tiou_, **shape):
    return {"high": 0.5, "low": 0.5, "max_gap_s": 0.5, "min_duration_s": 0.4, "pad_s": 0.25, **shape,
            "recall": cov, "recall_coverage": cov, "recall_tiou": tiou_, "frames_proposed": frames, "segments": 20}


def test_frame_budget_prefers_tiou_within_budget():
    curve = [_curve_point(0.18, 0.95, 0.80), _curve_point(0.22, 0.96, 0.90, max_gap_s=1.0),
             _curve_point(0.24, 0.97, 0.95, pad_s=0.0), _curve_point(0.30, 1.00, 1.00), _curve_point(0.10, 0.90, 0.90)]
    assert choose_operating_point(curve, 0.95)[0]["frames_proposed"] == 0.18          # no budget: fewest frames
    point, met = choose_operating_point(curve, 0.95, frame_budget=0.25)
    assert met and point["frames_proposed"] == 0.24 and point["pad_s"] == 0.0         # tIoU target reached
    point, _ = choose_operating_point(curve[:2] + curve[3:], 0.95, frame_budget=0.25)
    assert point["max_gap_s"] == 1.0                                                   # best tIoU within budget
    point, met = choose_operating_point(curve[3:], 0.95, frame_budget=0.25)            # none within: old rule
    assert met and point["frames_proposed"] == 0.30


def test_curve_over_gaps_picks_the_gap_that_keeps_bouts_whole():
    # 10 bouts of 3 s at 30 fps whose actionness dips for 0.8 s in the middle (a pause inside the action)
    rng = np.random.default_rng(1)
    labels = np.zeros(6000, int)
    spans = [(300 + 550 * i, 389 + 550 * i) for i in range(10)]
    pieces = []
    for s, e in spans:
        labels[s:e + 1] = 1
        pieces += [(s, s + 32), (e - 32, e)]
    a = np.clip(_signal(6000, pieces, 0.8, 0.1) + rng.normal(0, 0.03, 6000), 0, 1)
    bases = [ProposalConfig(max_gap_s=g, min_duration_s=0.4, pad_s=0.0) for g in (0.5, 1.0)]
    curve = operating_curve([a], [labels], [30.0], bases, match="coverage")
    assert {c["max_gap_s"] for c in curve} == {0.5, 1.0}
    short = [c for c in curve if c["max_gap_s"] == 0.5]
    assert max(c["recall_tiou"] for c in short if c["frames_proposed"] <= 0.25) < 0.95  # two halves, tIoU < 0.5
    point, met = choose_operating_point(curve, 0.95, frame_budget=0.25)
    assert met and point["max_gap_s"] == 1.0 and point["recall_tiou"] == 1.0
    cfg = ProposalConfig(**{k: point[k] for k in ("high", "low", "max_gap_s", "min_duration_s", "pad_s")})
    assert evaluate([a], [labels], [30.0], cfg)["recall_tiou"] == point["recall_tiou"]


def test_boundary_refinement_trims_ends_only():
    """A segment found on the smooth score is cut to the frames where the short-window score reaches the
    threshold; it is never extended, and kept whole when no frame reaches it."""
    a = _signal(200, [(20, 69), (120, 159)])                        # smooth score: two wide segments
    b = _signal(200, [(30, 59), (10, 15), (170, 180)], level=0.8)   # short-window score: a tighter bout, noise outside
    cfg = ProposalConfig(high=0.5, low=0.5, max_gap_s=0, min_duration_s=0, pad_s=0.2, refine_threshold=0.6)
    segs = propose(a, 10, cfg, b)
    # first segment trimmed to 30..59 then padded by 2; second has no frame >= 0.6 inside: kept whole;
    # the short-window blips outside any segment never make one
    assert [(s.start, s.end) for s in segs] == [(28, 61), (118, 161)]
    assert segs[0].confidence == 0.9
    off = propose(a, 10, cfg.model_copy(update={"refine_threshold": None}), b)
    assert [(s.start, s.end) for s in off] == [(18, 71), (118, 161)]
    assert ProposalConfig(**{k: v for k, v in cfg.model_dump().items() if k != "refine_threshold"}).refine_threshold \
        is None  # proposal configs of older cards: no trimming
    with pytest.raises(ValueError, match="short-window"):
        propose(a, 10, cfg)
    # the curve carries the trimming threshold; trimming lowers the frames, coverage still counted
    y = _signal(200, [(35, 54)], level=1, base=0).astype(int)
    curve = operating_curve([a], [y], [10], [cfg.model_copy(update={"refine_threshold": r}) for r in (None, 0.6)],
                            highs=[0.5], low_ratios=(1.0,), boundary_list=[b])
    assert [c["refine_threshold"] for c in curve] == [None, 0.6]
    assert curve[1]["frames_proposed"] < curve[0]["frames_proposed"]
    assert curve[0]["recall_tiou"] == 0.0 and curve[1]["recall_tiou"] == 1.0  # tIoU 20/54 untrimmed, 20/34 trimmed


def test_levels_nest_inside_the_base_segments_and_split_a_merged_pair():
    """TAG levels: a base segment spanning two strongly scored bouts (joined by a moderately scored
    stretch) also yields each bout's own segment; frames proposed and coverage do not change."""
    a = np.full(300, 0.05)
    a[50:80] = 0.97
    a[80:100] = 0.6         # above low, below the second level (1 - 0.7 / 4 = 0.825)
    a[100:130] = 0.97
    a[200:210] = 0.6        # a weak bout: base level only
    base = ProposalConfig(high=0.5, low=0.3, max_gap_s=0, min_duration_s=0, pad_s=0)
    tag = base.model_copy(update={"levels": 2})
    b_segs, t_segs = propose(a, 10, base), propose(a, 10, tag)
    assert [(s.start, s.end) for s in b_segs] == [(50, 129), (200, 209)]
    assert [(s.start, s.end) for s in t_segs] == [(50, 129), (50, 79), (100, 129), (200, 209)]
    assert all(any(b.start <= t.start and t.end <= b.end for b in b_segs) for t in t_segs)
    gt = [Interval(50, 79, "action"), Interval(100, 129, "action"), Interval(200, 209, "action")]
    assert recall_at(gt, b_segs) == (1, 3) and recall_at(gt, t_segs) == (3, 3)
    # coverage counts each frame once however many nested segments hold it
    assert recall_at(gt, t_segs, match="coverage") == recall_at(gt, b_segs, match="coverage") == (3, 3)
    labels = np.zeros(300, int)
    for g in gt:
        labels[g.start:g.end + 1] = 1
    eb, et = evaluate([a], [labels], [10], base), evaluate([a], [labels], [10], tag)
    assert eb["frames_proposed"] == et["frames_proposed"] and et["recall_tiou"] == 1.0 > eb["recall_tiou"]
    assert et["proposals_per_min"] == 2 * eb["proposals_per_min"]


def test_levels_on_real_spliced_sequences(spliced_sequences):
    """On real B-SOiD sequences with the default localizer's actionness: levels never change the
    frames proposed or the coverage recall, never lower the tIoU recall, and every added
    segment lies inside a base one."""
    from mouseact.localizer import DEFAULT_MODEL_DIR, Localizer

    loc = Localizer.load(DEFAULT_MODEL_DIR)
    base = loc.proposal_config.model_copy(update={"levels": 0})
    for seq in spliced_sequences:
        a = loc.actionness(seq.features, seq.fps)
        b_segs = propose(a, seq.fps, base)
        for lv in (1, 2, 4):
            t_segs = propose(a, seq.fps, base.model_copy(update={"levels": lv}))
            assert set(b_segs) <= set(t_segs)
            assert all(any(b.start <= t.start and t.end <= b.end for b in b_segs) for t in t_segs)
            eb = evaluate([a], [seq.labels], [seq.fps], base)
            et = evaluate([a], [seq.labels], [seq.fps], base.model_copy(update={"levels": lv}))
            assert et["frames_proposed"] == eb["frames_proposed"]
            assert et["recall_coverage"] == eb["recall_coverage"]
            assert et["recall_tiou"] >= eb["recall_tiou"]


def test_group_levels_join_a_bout_split_by_a_long_dip():
    """Grouping tolerance: a bout whose actionness dips for longer than max_gap_s is also proposed
    whole (its pieces stay); the bridged gap's frames count as proposed; far-apart bouts stay apart."""
    a = np.full(400, 0.05)
    a[50:70] = 0.9
    a[78:98] = 0.9          # an 8-frame dip: longer than the 5-frame gap, within 10 frames (group level 1)
    a[250:270] = 0.9        # 152 frames later: no group level reaches it
    base = ProposalConfig(high=0.5, low=0.5, max_gap_s=0.5, min_duration_s=0, pad_s=0)
    grouped = base.model_copy(update={"group_levels": 1})
    b_segs, g_segs = propose(a, 10, base), propose(a, 10, grouped)
    assert [(s.start, s.end) for s in b_segs] == [(50, 69), (78, 97), (250, 269)]
    assert [(s.start, s.end) for s in g_segs] == [(50, 97), (50, 69), (78, 97), (250, 269)]
    assert propose(a, 10, base.model_copy(update={"group_levels": 4})) == g_segs  # up to 8 s: still apart
    assert propose(a, 10, base.model_copy(update={"max_gap_s": 0, "group_levels": 2})) == \
        propose(a, 10, base.model_copy(update={"max_gap_s": 0}))  # no base gap, nothing to double
    gt = [Interval(50, 97, "action"), Interval(250, 269, "action")]
    assert recall_at(gt, b_segs) == (1, 2) and recall_at(gt, g_segs) == (2, 2)
    labels = np.zeros(400, int)
    for g in gt:
        labels[g.start:g.end + 1] = 1
    eb, eg = evaluate([a], [labels], [10], base), evaluate([a], [labels], [10], grouped)
    assert eg["frames_proposed"] - eb["frames_proposed"] == pytest.approx(8 / 400)
    assert eg["recall_tiou"] == 1.0 > eb["recall_tiou"]
    # the curve records the setting, so a trained card can store it
    curve = operating_curve([a], [labels], [10], [base, grouped], highs=[0.5], low_ratios=(1.0,))
    assert [c["group_levels"] for c in curve] == [0, 1]
    assert ProposalConfig(**{k: v for k, v in base.model_dump().items() if k != "group_levels"}).group_levels == 0
