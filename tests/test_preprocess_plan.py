"""Clip planning and the split: pure functions, checked against their stated properties."""

from __future__ import annotations

import numpy as np
import pytest

from mouseact.errors import MouseActError
from mouseact.intervals import Interval
from mouseact.preprocess.clips import (assign_splits, group_of, idle_clips, pad_range, positive_clips,
                                       split_range, target_counts)


@pytest.mark.parametrize("start,end,max_frames", [(0, 0, 5), (10, 160, 75), (3, 1000, 150), (5, 79, 75)])
def test_split_range_covers_exactly_with_short_parts(start, end, max_frames):
    parts = split_range(start, end, max_frames)
    assert parts[0][0] == start and parts[-1][1] == end
    assert all(b + 1 == c for (_, b), (c, _) in zip(parts, parts[1:]))       # contiguous
    lengths = [b - a + 1 for a, b in parts]
    assert max(lengths) <= max_frames and max(lengths) - min(lengths) <= 1    # near-equal
    assert len(parts) == -(-(end - start + 1) // max_frames)                  # fewest parts


def test_pad_range_centres_and_stays_inside():
    assert pad_range(50, 53, 10, 100) == (47, 56)
    assert pad_range(0, 3, 10, 100) == (0, 9)
    assert pad_range(97, 99, 10, 100) == (90, 99)
    assert pad_range(2, 3, 10, 6) == (0, 5)           # video shorter than the minimum
    assert pad_range(10, 40, 10, 100) == (10, 40)     # long enough: untouched


def test_positive_clips_merge_touching_bouts_of_one_behaviour_only():
    ivs = [Interval(10, 20, "groom"), Interval(21, 30, "groom"), Interval(25, 40, "rear"), Interval(60, 61, "groom")]
    clips = positive_clips(ivs, n_frames=200, max_frames=100, min_frames=6)
    got = [(c.label, c.start, c.end) for c in clips]
    assert ("groom", 10, 30) in got and ("rear", 25, 40) in got
    assert ("groom", 58, 63) in got                    # padded to 6 frames, centred
    assert len(got) == 3


def _free_mask(ivs, positives, n, margin):
    free = np.ones(n, bool)
    for s, e in [(i.start, i.end) for i in ivs] + [(c.start, c.end) for c in positives]:
        free[max(0, s - margin): e + margin + 1] = False
    return free


def test_idle_clips_meet_the_ratio_far_from_behaviour_over_the_whole_video():
    n = 10000
    ivs = [Interval(100, 250, "groom"), Interval(600, 700, "rear")]
    pos = positive_clips(ivs, n, 75, 15)
    pos_frames = sum(c.length for c in pos)
    idle, short = idle_clips(ivs, pos, n, ratio=2.0, clip_frames=45, min_frames=15, margin=30, seed=1)
    # the last clip is never shorter than min_frames, so the ratio is met to within one short clip
    assert short == 0 and 0 <= sum(c.length for c in idle) - 2 * pos_frames < 15
    free = _free_mask(ivs, pos, n, 30)
    taken = np.zeros(n, int)
    for c in idle:
        assert free[c.start: c.end + 1].all()          # margin respected
        taken[c.start: c.end + 1] += 1
    assert taken.max() == 1                            # no overlap between idle clips
    starts = np.array([c.start for c in idle])
    # spread over the whole video, not bunched after the behaviour at the start (seed app's flaw)
    assert starts.max() > 0.75 * n and (starts > n / 2).sum() >= len(starts) // 4
    again, _ = idle_clips(ivs, pos, n, ratio=2.0, clip_frames=45, min_frames=15, margin=30, seed=1)
    other, _ = idle_clips(ivs, pos, n, ratio=2.0, clip_frames=45, min_frames=15, margin=30, seed=2)
    assert again == idle and other != idle


def test_idle_shortfall_when_no_room():
    n = 300
    ivs = [Interval(0, 199, "groom")]
    pos = positive_clips(ivs, n, 75, 15)
    idle, short = idle_clips(ivs, pos, n, ratio=1.0, clip_frames=45, min_frames=15, margin=30, seed=0)
    room = n - 200 - 30
    assert sum(c.length for c in idle) <= room and short >= 200 - room
    assert all(c.start >= 230 for c in idle)


def test_target_counts():
    assert target_counts(1, 0.15, 0.15) == {"train": 1, "val": 0, "test": 0}
    assert target_counts(2, 0.15, 0.15) == {"train": 1, "val": 0, "test": 1}
    assert target_counts(3, 0.15, 0.15) == {"train": 1, "val": 1, "test": 1}
    assert target_counts(20, 0.15, 0.15) == {"train": 14, "val": 3, "test": 3}
    assert target_counts(5, 0.0, 0.0) == {"train": 5, "val": 0, "test": 0}


def test_split_is_seeded_and_stable_when_videos_are_added():
    groups = [f"video{i}" for i in range(10)]
    a = assign_splits(groups, {}, 0.2, 0.2, seed=0)
    assert a == assign_splits(groups, {}, 0.2, 0.2, seed=0)
    assert sorted(a.values()).count("test") == 2 and sorted(a.values()).count("val") == 2
    assert any(assign_splits(groups, {}, 0.2, 0.2, seed=s) != a for s in range(1, 5))
    more = assign_splits(groups + ["video10", "video11", "video12"], a, 0.2, 0.2, seed=0)
    assert all(more[g] == a[g] for g in groups)        # earlier assignments kept
    assert list(more.values()).count("test") == 3      # newcomers fill the splits below target


def test_group_of_by_regex_or_map(tmp_path):
    assert group_of("mouse12_day3.mp4", r"^(mouse\d+)_") == "mouse12"
    assert group_of("mouse12_day3.mp4", r"mouse\d+") == "mouse12"
    assert group_of("m.mp4") == "m.mp4"
    with pytest.raises(MouseActError, match="does not match video 'x.mp4'"):
        group_of("x.mp4", r"^(mouse\d+)_")
    assert group_of("m1.mp4", mapping={"m1": "A"}) == "A"
    with pytest.raises(MouseActError, match="not in the group map"):
        group_of("m2.mp4", mapping={"m1": "A"})
