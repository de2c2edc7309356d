"""Proposals from actionness: hysteresis, stitching, min duration, padding, operating point."""

import numpy as np
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
