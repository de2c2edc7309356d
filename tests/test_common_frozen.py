"""Frozen (repeated-picture) stretches: found on real montage panels, not on real still footage."""

from __future__ import annotations

import numpy as np
from mouseact.frozen import moving_ranges, moving_span, repeat_mask
from mouseact.video import VideoReader


def test_repeat_mask_and_ranges_on_frames_of_a_real_clip(bsoid_dir):
    with VideoReader(bsoid_dir / "mouse1" / "locomote.mp4") as vr:
        frames = vr.get_frames(range(30))
    grey = frames.mean(axis=3).round().astype(np.uint8)
    # a real clip with a run of 8 repeated pictures in the middle and a frozen tail of 6
    seq = np.concatenate([grey[:10], np.repeat(grey[10:11], 8, 0), grey[11:20], np.repeat(grey[20:21], 7, 0)])
    rep = repeat_mask(seq)
    assert not rep[0]
    assert not rep[10] and rep[11:18].all() and rep[-6:].all()
    assert moving_ranges(rep) == [(0, 11), (18, 28)]
    # ±3 grey levels of re-encoding wobble on a repeat still count as a repeat
    wobble = seq.astype(np.int16)
    wobble[12] = np.clip(wobble[12] + 3, 0, 255)
    assert repeat_mask(wobble.astype(np.uint8))[12]


def test_moving_span_trims_montage_tails_only(bsoid_dir):
    # mouse2's itch panel stops after 26 frames and repeats its last picture up to frame 94
    start, stop, n = moving_span(bsoid_dir / "mouse2" / "itch.mp4")
    assert (start, n) == (0, 95) and 20 <= stop <= 32
    # a mouse sitting still is not a frozen picture: the whole inactive clip of mouse1 moves
    assert moving_span(bsoid_dir / "mouse1" / "inactive.mp4") == (0, 228, 228)
    assert moving_span(bsoid_dir / "mouse1" / "itch.mp4") == (0, 95, 95)


def test_bsoid_clips_are_cut_to_their_moving_frames(bsoid_dir):
    from mouseact.classifier.data import bsoid_clips

    clips = {(c.group, c.label): c for c in bsoid_clips(bsoid_dir)}
    itch = clips[("mouse2", "itch")]
    assert itch.start == 0 and itch.end == moving_span(itch.video)[1] - 1 < 40
    assert clips[("mouse1", "itch")].end == 94


def test_bad_files_are_one_line_errors(tmp_path):
    import pytest
    from mouseact.errors import VideoError

    with pytest.raises(VideoError, match="not found"):
        moving_span(tmp_path / "missing.mp4")
    bad = tmp_path / "text.mp4"
    bad.write_text("not a video")
    with pytest.raises(VideoError) as err:
        moving_span(bad)
    assert "text.mp4" in str(err.value) and "\n" not in str(err.value)
