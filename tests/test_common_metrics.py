"""mouseact.metrics against small cases checked by hand (numbers derived in the comments)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mouseact import metrics
from mouseact.intervals import Interval, to_frame_labels

nan = math.nan


def approx(x):
    return pytest.approx(x, nan_ok=True)


# ---------------------------------------------------------------- frame level
def test_frame_scores_hand_checked():
    #            0  1  2  3  4  5  6  7
    gt = np.array([0, 1, 1, 1, 0, 2, 2, 0])
    pred = np.array([0, 1, 1, 0, 2, 2, 0, 0])
    s = metrics.frame_scores(gt, pred, ["a", "b"])
    # a: tp=2 (frames 1,2), 2 predicted, 3 true -> P=1, R=2/3, F1=2*2/(2+3)=0.8
    assert s["per_class"]["a"] == {"precision": 1.0, "recall": approx(2 / 3), "f1": approx(0.8),
                                   "support": 3, "n_pred": 2}
    # b: tp=1 (frame 5), 2 predicted (4,5), 2 true (5,6) -> P=R=F1=0.5
    assert s["per_class"]["b"]["f1"] == approx(0.5)
    assert s["macro"] == {"n_classes": 2, "precision": approx(0.75), "recall": approx(7 / 12), "f1": approx(0.65)}
    assert s["accuracy"] == approx(5 / 8) and s["n_frames"] == 8


def test_frame_scores_agree_with_sklearn_on_real_sized_input():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(0)
    gt = rng.integers(0, 5, 3000)
    pred = np.where(rng.random(3000) < 0.6, gt, rng.integers(0, 5, 3000))
    s = metrics.frame_scores(gt, pred, ["a", "b", "c", "d"])
    p, r, f, sup = precision_recall_fscore_support(gt, pred, labels=[1, 2, 3, 4], zero_division=0)
    assert [s["per_class"][c]["f1"] for c in "abcd"] == approx(list(f))
    assert [s["per_class"][c]["precision"] for c in "abcd"] == approx(list(p))
    assert [s["per_class"][c]["recall"] for c in "abcd"] == approx(list(r))
    assert s["macro"]["f1"] == approx(float(np.mean(f)))  # background (0) not in the macro


def test_frame_scores_background_is_not_a_class():
    # all background, predicted perfectly: no behaviour to score -> macro NaN, not 1.0
    s = metrics.frame_scores(np.zeros(10, int), np.zeros(10, int), ["a"])
    assert math.isnan(s["macro"]["f1"]) and s["macro"]["n_classes"] == 0
    assert s["accuracy"] == 1.0


def test_frame_scores_absent_and_false_alarm_classes():
    gt = np.array([1, 1, 0, 0])
    pred = np.array([1, 1, 2, 0])  # class b never true, predicted once; class c absent everywhere
    s = metrics.frame_scores(gt, pred, ["a", "b", "c"])
    assert s["per_class"]["b"] == {"precision": 0.0, "recall": approx(nan), "f1": 0.0, "support": 0, "n_pred": 1}
    assert all(math.isnan(s["per_class"]["c"][k]) for k in ("precision", "recall", "f1"))
    # macro over a (F1 1) and b (F1 0); c says nothing
    assert s["macro"]["f1"] == 0.5 and s["macro"]["n_classes"] == 2
    # missed class: precision and recall 0
    s = metrics.frame_scores(np.array([1, 1]), np.array([0, 0]), ["a"])
    assert s["per_class"]["a"]["precision"] == 0.0 and s["per_class"]["a"]["f1"] == 0.0


def test_frame_scores_inclusive_ends_via_intervals():
    # [2, 4] inclusive is 3 frames; prediction [4, 6] shares exactly frame 4
    gt = to_frame_labels([Interval(2, 4, "a")], 10, ["a"])
    pred = to_frame_labels([Interval(4, 6, "a")], 10, ["a"])
    assert metrics.frame_scores(gt, pred, ["a"])["per_class"]["a"]["f1"] == approx(2 * 1 / 6)


def test_frame_scores_rejects_mismatched_input():
    with pytest.raises(ValueError, match="frames"):
        metrics.frame_scores(np.zeros(5, int), np.zeros(6, int), ["a"])
    with pytest.raises(ValueError, match="class ids"):
        metrics.frame_scores(np.array([0, 3]), np.array([0, 1]), ["a", "b"])


# ---------------------------------------------------------------- segment level
GT = [Interval(0, 9, "a"), Interval(20, 29, "a")]
PRED = [Interval(0, 9, "a", 0.9),     # tIoU 1.0 with gt0
        Interval(22, 31, "a", 0.8),   # with gt1: inter 22..29 = 8, union 20..31 = 12 -> 0.667
        Interval(21, 28, "a", 0.7)]   # with gt1: 8 / 10 = 0.8


def test_segment_scores_hand_checked():
    s = metrics.segment_scores(GT, PRED, ["a"])
    # 0.3 / 0.5: p0->gt0, p1->gt1, p2 finds gt1 taken -> FP. 0.7: p1 (0.667) fails, so p2 takes gt1.
    for t in ("0.3", "0.5", "0.7"):
        row = s["per_class"]["a"][t]
        assert (row["tp"], row["n_gt"], row["n_pred"]) == (2, 2, 3)
        assert row["precision"] == approx(2 / 3) and row["recall"] == 1.0 and row["f1"] == approx(0.8)
    assert metrics.match(GT, PRED, "a", 0.5) == [True, True, False]
    assert metrics.match(GT, PRED, "a", 0.7) == [True, False, True]
    assert s["macro"]["0.5"]["f1"] == approx(0.8)


def test_average_precision_hand_checked():
    # 0.5: hits T,T,F -> recall .5, 1, 1 at precision 1, 1, 2/3 -> AP = .5*1 + .5*1 = 1
    assert metrics.average_precision(GT, PRED, "a", 0.5) == approx(1.0)
    # 0.7: hits T,F,T -> precision 1, .5, 2/3; envelope 1, 2/3, 2/3; recall .5, .5, 1 -> .5 + .5*2/3
    assert metrics.average_precision(GT, PRED, "a", 0.7) == approx(0.5 + 1 / 3)
    table = metrics.ap_table(GT, PRED, ["a"])
    assert table["per_threshold"] == {"0.3": approx(1.0), "0.5": approx(1.0), "0.7": approx(5 / 6)}
    assert metrics.mean_ap(GT, PRED, ["a"]) == approx((1 + 1 + 5 / 6) / 3)


def test_highest_confidence_wins_the_match():
    gt = [Interval(0, 9, "a")]
    low = Interval(0, 9, "a", 0.2)       # perfect but unsure
    high = Interval(2, 11, "a", 0.9)     # tIoU 8/12 = 0.667, sure
    assert metrics.match(gt, [low, high], "a", 0.5) == [True, False]  # ranked: high, low
    # at 0.7 the confident one is too loose, the perfect one still matches
    assert metrics.match(gt, [low, high], "a", 0.7) == [False, True]
    assert metrics.average_precision(gt, [low, high], "a", 0.7) == approx(0.5)  # TP at rank 2: P=.5, R=1


def test_empty_gt_and_empty_pred():
    s = metrics.segment_scores([], [], ["a"])
    assert math.isnan(s["per_class"]["a"]["0.5"]["f1"]) and s["macro"]["0.5"]["n_classes"] == 0
    assert math.isnan(metrics.average_precision([], [], "a", 0.5))
    assert math.isnan(metrics.mean_ap([], [], ["a"]))
    # nothing predicted: everything missed
    s = metrics.segment_scores(GT, [], ["a"])
    assert s["per_class"]["a"]["0.5"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "n_gt": 2, "n_pred": 0}
    assert metrics.average_precision(GT, [], "a", 0.5) == 0.0
    # nothing true: every prediction is a false alarm, AP undefined (left out of mAP)
    s = metrics.segment_scores([], PRED, ["a"])
    assert s["per_class"]["a"]["0.5"]["f1"] == 0.0 and s["macro"]["0.5"]["f1"] == 0.0
    assert math.isnan(metrics.average_precision([], PRED, "a", 0.5))


def test_touching_segments_do_not_overlap():
    # inclusive ends: [0, 9] and [10, 19] share no frame; [0, 9] and [9, 18] share one of 19
    assert metrics.match([Interval(0, 9, "a")], [Interval(10, 19, "a")], "a", 0.01) == [False]
    assert metrics.match([Interval(0, 9, "a")], [Interval(9, 18, "a")], "a", 1 / 19) == [True]
    assert metrics.match([Interval(0, 9, "a")], [Interval(9, 18, "a")], "a", 0.06) == [False]


def test_nested_segment_and_threshold_boundary():
    gt = [Interval(0, 99, "a")]
    pred = [Interval(25, 74, "a")]  # 50 of 100 frames: tIoU exactly 0.5 (>= counts)
    s = metrics.segment_scores(gt, pred, ["a"])
    assert [s["per_class"]["a"][t]["tp"] for t in ("0.3", "0.5", "0.7")] == [1, 1, 0]


def test_duplicate_predictions_match_once():
    gt = [Interval(0, 9, "a")]
    pred = [Interval(0, 9, "a", 0.9), Interval(0, 9, "a", 0.9)]
    row = metrics.segment_scores(gt, pred, ["a"])["per_class"]["a"]["0.5"]
    assert (row["tp"], row["precision"], row["recall"]) == (1, 0.5, 1.0)
    assert metrics.average_precision(gt, pred, "a", 0.5) == 1.0  # the duplicate ranks below full recall


def test_classes_are_matched_separately_and_unknown_predictions_ignored():
    gt = [Interval(0, 9, "a"), Interval(20, 29, "b")]
    pred = [Interval(0, 9, "b", 0.9), Interval(20, 29, "b", 0.8), Interval(0, 9, "unknown", 0.99)]
    s = metrics.segment_scores(gt, pred, ["a", "b"])
    assert s["per_class"]["a"]["0.5"]["tp"] == 0
    assert s["per_class"]["b"]["0.5"]["tp"] == 1 and s["per_class"]["b"]["0.5"]["precision"] == 0.5
    with pytest.raises(ValueError, match="'c'"):
        metrics.segment_scores([Interval(0, 3, "c")], [], ["a"])


def test_several_videos_never_match_across_videos():
    gt = {"v1": [Interval(0, 9, "a")], "v2": []}
    pred = {"v2": [Interval(0, 9, "a", 0.9)], "v1": [Interval(0, 9, "a", 0.5)]}
    assert metrics.match(gt, pred, "a", 0.5) == [False, True]  # v2's confident one is a false alarm
    assert metrics.average_precision(gt, pred, "a", 0.5) == approx(0.5)
    row = metrics.segment_scores(gt, pred, ["a"])["per_class"]["a"]["0.5"]
    assert (row["tp"], row["n_pred"], row["n_gt"]) == (1, 2, 1)


def test_results_survive_json():
    s = metrics.segment_scores(GT, PRED, ["a"], thresholds=(0.5, 0.75))
    assert set(s["macro"]) == {"0.5", "0.75"}
    back = json.loads(json.dumps(s))
    assert back["per_class"]["a"]["0.75"] == s["per_class"]["a"]["0.75"]


def _reference_match(gt, pred, label, threshold):
    """The rule written plainly with intervals.tiou (one video)."""
    from mouseact.intervals import tiou

    gts = [g for g in gt if g.label == label]
    used = [False] * len(gts)
    out = []
    for p in sorted((p for p in pred if p.label == label), key=lambda p: (-p.confidence, p.start, p.end)):
        best, best_iou = -1, 0.0
        for j, g in enumerate(gts):
            if not used[j] and tiou(p, g) > best_iou:
                best, best_iou = j, tiou(p, g)
        ok = best >= 0 and best_iou >= threshold
        if ok:
            used[best] = True
        out.append(ok)
    return out


def test_matching_agrees_with_the_plain_rule_on_many_segments():
    rng = np.random.default_rng(1)

    def segs(n, conf):
        starts = rng.integers(0, 5000, n)
        return [Interval(int(s), int(s + rng.integers(0, 80)), "a", float(c) if conf else 1.0)
                for s, c in zip(starts, rng.random(n))]

    gt, pred = segs(150, False), segs(300, True)
    for t in (0.1, 0.3, 0.5, 0.7):
        assert metrics.match(gt, pred, "a", t) == _reference_match(gt, pred, "a", t)
