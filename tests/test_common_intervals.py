"""mouseact.intervals: inclusive frame ranges, merging, conversions (hand-checked cases)."""

from __future__ import annotations

import numpy as np
import pytest

from mouseact.intervals import (Interval, by_label, clamp, drop_short, from_frame_labels, merge, runs,
                                stitch_gaps, tiou, to_frame_labels, to_frame_matrix)


def test_interval_basics():
    iv = Interval(3, 7, "groom", 0.5)
    assert iv.length == 5  # inclusive
    assert Interval.from_json(iv.to_json()) == iv
    assert iv.to_json() == {"label": "groom", "frame_range": [3, 7], "confidence": 0.5}
    assert Interval(4, 4, "x").length == 1
    with pytest.raises(ValueError, match="reversed"):
        Interval(5, 4, "x")


def test_tiou_inclusive():
    a = Interval(0, 9, "a")
    assert tiou(a, a) == 1.0
    assert tiou(a, Interval(10, 19, "a")) == 0.0            # touching: no shared frame
    assert tiou(a, Interval(9, 18, "a")) == pytest.approx(1 / 19)
    assert tiou(a, Interval(0, 4, "a")) == pytest.approx(0.5)  # nested
    assert tiou(Interval(0, 4, "a"), a) == tiou(a, Interval(0, 4, "a"))


def test_merge_and_stitch():
    ivs = [Interval(0, 4, "a", 1.0), Interval(5, 9, "a", 0.0),   # touching -> merged
           Interval(12, 13, "a", 0.5),                          # gap of 2 frames (10, 11)
           Interval(2, 3, "b"), Interval(3, 8, "b")]            # overlapping other label
    merged = merge(ivs)
    assert merged == [Interval(0, 9, "a", 0.5), Interval(2, 8, "b", 1.0), Interval(12, 13, "a", 0.5)]
    assert [(i.start, i.end) for i in stitch_gaps(ivs, 1) if i.label == "a"] == [(0, 9), (12, 13)]
    stitched = [i for i in stitch_gaps(ivs, 2) if i.label == "a"]
    assert [(i.start, i.end) for i in stitched] == [(0, 13)]
    # length-weighted confidence: (10 * 0.5 + 2 * 0.5) / 12
    assert stitched[0].confidence == pytest.approx(0.5)
    assert merge([]) == [] and stitch_gaps([], 5) == []
    # nested interval disappears into its container
    assert merge([Interval(0, 20, "a"), Interval(5, 6, "a")]) == [Interval(0, 20, "a")]


def test_drop_short_and_clamp():
    ivs = [Interval(0, 1, "a"), Interval(5, 9, "a"), Interval(-3, 2, "b"), Interval(8, 15, "b"), Interval(12, 14, "c")]
    assert drop_short(ivs, 3) == [Interval(5, 9, "a"), Interval(-3, 2, "b"), Interval(8, 15, "b"), Interval(12, 14, "c")]
    assert clamp(ivs, 10) == [Interval(0, 1, "a"), Interval(5, 9, "a"), Interval(0, 2, "b"), Interval(8, 9, "b")]


def test_frame_labels_round_trip():
    classes = ["a", "b"]
    ivs = [Interval(2, 4, "a"), Interval(5, 5, "b"), Interval(8, 9, "a")]
    labels = to_frame_labels(ivs, 10, classes)
    assert labels.tolist() == [0, 0, 1, 1, 1, 2, 0, 0, 1, 1]
    assert from_frame_labels(labels, classes) == sorted(ivs)
    scores = np.linspace(0, 0.9, 10)
    back = from_frame_labels(labels, classes, scores)
    assert back[0].confidence == pytest.approx(np.mean(scores[2:5]))
    # later intervals overwrite earlier ones; ranges past the end are cut
    assert to_frame_labels([Interval(0, 5, "a"), Interval(3, 12, "b")], 8, classes).tolist() == [1, 1, 1, 2, 2, 2, 2, 2]
    with pytest.raises(KeyError, match="'c'"):
        to_frame_labels([Interval(0, 1, "c")], 5, classes)
    assert from_frame_labels(np.zeros(0, int), classes) == []


def test_frame_matrix_allows_overlap():
    m = to_frame_matrix([Interval(0, 2, "a"), Interval(1, 3, "b")], 5, ["a", "b"])
    assert m.tolist() == [[1, 0], [1, 1], [1, 1], [0, 1], [0, 0]]


def test_runs():
    assert runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 2), (4, 4)]
    assert runs(np.array([1, 1, 1])) == [(0, 2)]
    assert runs(np.array([], bool)) == []


def test_by_label():
    ivs = [Interval(0, 14, "a"), Interval(30, 59, "a"), Interval(20, 24, "b")]
    assert list(by_label(ivs)) == ["a", "b"] and len(by_label(ivs)["a"]) == 2
