"""Post-processing stages on small hand-checked cases and on random inputs (invariants)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mouseact import postprocess as pp
from mouseact.errors import MouseActError
from mouseact.intervals import Interval


def cfg(**kw) -> pp.PostprocessConfig:
    return pp.PostprocessConfig(**kw)


def only(stage: str, **kw) -> pp.PostprocessConfig:
    return cfg(stages=[stage], **kw)


def test_soft_nms_decays_overlap_but_keeps_distinct_bouts():
    a = Interval(0, 99, "groom", 0.9)
    b = Interval(10, 109, "groom", 0.8)      # tIoU with a = 90/110
    c = Interval(100, 199, "groom", 0.7)     # touches a, overlaps b by 10 frames
    out = pp.run([a, b, c], 300, 30.0, only("soft_nms", nms_sigma=0.5))
    got = {(iv.start, iv.end): iv.confidence for iv in out}
    assert got[(0, 99)] == pytest.approx(0.9)
    t_ab = 90 / 110
    t_bc = 10 / 190  # c (0.7) outranks the decayed b, so b is decayed by c as well
    assert got[(10, 109)] == pytest.approx(0.8 * math.exp(-t_ab ** 2 / 0.5) * math.exp(-t_bc ** 2 / 0.5), rel=1e-6)
    assert got[(100, 199)] == pytest.approx(0.7, rel=1e-6)  # no overlap with a: untouched
    # a different behaviour over the same frames is never suppressed
    out2 = pp.run([a, Interval(0, 99, "rear", 0.5)], 300, 30.0, only("soft_nms"))
    assert {iv.label for iv in out2} == {"groom", "rear"}


def test_soft_nms_min_score_removes_near_duplicates():
    a = Interval(0, 99, "groom", 0.9)
    dup = Interval(0, 99, "groom", 0.1)      # identical range: decays to 0.1*exp(-2)
    out = pp.run([a, dup], 300, 30.0, only("soft_nms", nms_sigma=0.5, nms_min_score=0.05))
    assert out == [a]


def test_threshold_per_class_override():
    ivs = [Interval(0, 9, "groom", 0.5), Interval(20, 29, "itch", 0.5)]
    c = only("threshold", threshold=0.4, per_class={"itch": {"threshold": 0.6}})
    assert pp.run(ivs, 100, 30.0, c, classes=["groom", "itch"]) == [ivs[0]]


def test_exclusive_most_confident_wins_and_same_label_windows_merge():
    ivs = [Interval(0, 19, "groom", 0.6), Interval(10, 29, "groom", 0.8), Interval(25, 39, "rear", 0.9)]
    out = pp.run(ivs, 100, 30.0, only("exclusive"))
    assert [(iv.label, iv.start, iv.end) for iv in out] == [("groom", 0, 24), ("rear", 25, 39)]
    # merged confidence is the mean of the per-frame winners: 10 frames 0.6, 15 frames 0.8
    assert out[0].confidence == pytest.approx((10 * 0.6 + 15 * 0.8) / 25, rel=1e-5)


def test_smooth_removes_flicker_and_fills_holes_without_moving_clean_edges():
    ivs = [Interval(10, 39, "groom", 0.8), Interval(41, 69, "groom", 0.8),  # 1-frame hole at 40
           Interval(90, 90, "rear", 0.9)]                                   # 1-frame blip
    out = pp.run(ivs, 200, 30.0, only("smooth", smooth_s=0.2))              # 6 frames -> window 7
    assert [(iv.label, iv.start, iv.end) for iv in out] == [("groom", 10, 69)]
    assert 0.0 <= out[0].confidence <= 1.0
    # smoothing off
    assert pp.run(ivs, 200, 30.0, only("smooth", smooth_s=0)) == sorted(ivs)


def test_stitch_and_min_duration_in_seconds_with_per_class_values():
    ivs = [Interval(0, 29, "groom", 1.0), Interval(36, 59, "groom", 1.0),   # gap 6 frames = 0.2 s
           Interval(100, 102, "itch", 1.0), Interval(150, 151, "groom", 1.0)]
    out = pp.run(ivs, 300, 30.0, cfg(stages=["stitch", "min_duration"], stitch_gap_s=0.2,
                                     min_duration_s=0.5, per_class={"itch": {"min_duration_s": 0.1}}))
    assert [(iv.label, iv.start, iv.end) for iv in out] == [("groom", 0, 59), ("itch", 100, 102)]
    out = pp.run(ivs, 300, 30.0, cfg(stages=["stitch"], stitch_gap_s=0.1))
    assert len([iv for iv in out if iv.label == "groom"]) == 3


def test_stitch_never_bridges_across_another_behaviour():
    ivs = [Interval(0, 9, "groom", 1.0), Interval(11, 12, "rear", 1.0), Interval(14, 20, "groom", 1.0),
           Interval(40, 49, "groom", 1.0), Interval(52, 60, "groom", 1.0)]
    out = pp.run(ivs, 100, 30.0, only("stitch", stitch_gap_s=0.5))  # 15 frames
    assert [(iv.label, iv.start, iv.end) for iv in out] == [
        ("groom", 0, 9), ("rear", 11, 12), ("groom", 14, 20), ("groom", 40, 60)]


def test_ranges_always_inside_video_even_with_out_of_range_candidates():
    ivs = [Interval(-20, 5, "groom", 0.9), Interval(95, 400, "rear", 0.9), Interval(500, 600, "rear", 0.9)]
    for stages in ([], pp.DEFAULT_ORDER):
        out = pp.run(ivs, 100, 30.0, cfg(stages=list(stages)))
        assert out and all(0 <= iv.start <= iv.end <= 99 for iv in out)


def test_random_candidates_invariants():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    for _ in range(30):
        n = int(rng.integers(50, 500))
        ivs = []
        for _ in range(int(rng.integers(0, 40))):
            s = int(rng.integers(-10, n + 10))
            ivs.append(Interval(s, s + int(rng.integers(0, 60)), str(rng.choice(labels)), float(rng.random())))
        out = pp.run(ivs, n, 15.0)
        assert all(0 <= iv.start <= iv.end <= n - 1 for iv in out)
        assert all(0 <= iv.confidence <= 1 for iv in out)
        # after `exclusive` no two bouts overlap
        spans = sorted((iv.start, iv.end) for iv in out)
        assert all(e1 < s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))
        assert all(iv.length >= 3 for iv in out)  # min_duration 0.2 s at 15 fps


def test_bad_config_is_a_clear_error():
    with pytest.raises(MouseActError, match="unknown post-processing stage 'smoth'"):
        pp.run([], 10, 30.0, cfg(stages=["smoth"]))
    with pytest.raises(MouseActError, match="unknown behaviour 'gromm'"):
        pp.run([], 10, 30.0, cfg(per_class={"gromm": {"threshold": 0.5}}), classes=["groom"])
    with pytest.raises(MouseActError, match="not a per-class parameter"):
        pp.run([], 10, 30.0, cfg(per_class={"groom": {"smooth_s": 0.5}}), classes=["groom"])
    from mouseact.config import load

    with pytest.raises(MouseActError, match="threshold"):
        load(pp.PostprocessConfig, overrides=["threshold=2"])
    c = load(pp.PostprocessConfig, overrides=["per_class.itch.threshold=0.7", "stages=[threshold]"])
    assert c.value("threshold", "itch") == 0.7 and c.value("threshold", "groom") == 0.3


def test_describe_lists_every_stage_and_parameter():
    text = pp.describe(cfg(stages=["threshold"]))
    for name, stage in pp.STAGES.items():
        assert name in text
        for p in stage.params:
            assert p in text
    assert "[disabled]" in text and "per-class" in text


def test_background_labels_compete_then_are_dropped():
    """An idle segment takes part in every stage (here it wins the overlap against a doubtful groom) and
    is left out of the result; a confident groom elsewhere stays."""
    from mouseact import postprocess as pp
    from mouseact.intervals import Interval

    ivs = [Interval(0, 29, "idle", 0.9), Interval(10, 39, "groom", 0.4), Interval(60, 89, "groom", 0.8)]
    cfg = pp.PostprocessConfig(stages=["exclusive"])
    kept = pp.run(ivs, 100, 10.0, cfg, ["groom", "idle"], background=["idle"])
    assert [(iv.start, iv.end, iv.label) for iv in kept] == [(30, 39, "groom"), (60, 89, "groom")]
    assert [iv.label for iv in pp.run(ivs, 100, 10.0, cfg, ["groom", "idle"])].count("idle") == 1
