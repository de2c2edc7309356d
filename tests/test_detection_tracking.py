"""Tracking: outliers rejected, short gaps interpolated, long gaps flagged lost -- on real detections."""

from __future__ import annotations

import numpy as np
import pytest

from mouseact.preprocess.detection import TrackerConfig, build_track, detect_video
from mouseact.preprocess.detection.boxes_io import read_boxes_csv, write_boxes_csv


@pytest.fixture(scope="module")
def arena_raw(arena_video):
    """Per-frame classical detections of the first 20 s of the arena video (every frame)."""
    _, raw, scores, info = detect_video(arena_video, stride=1, stop=600, progress=False, return_raw=True)
    assert np.isfinite(raw).all()
    return raw.astype(np.float64), scores, info.fps


def _centre(b):
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def test_single_frame_jump_is_rejected_and_filled(arena_raw):
    raw, scores, fps = arena_raw
    bad = raw.copy()
    bad[300] += [250, 120, 250, 120]          # a reflection far away for one frame
    track = build_track(bad, scores, fps)
    assert not track.lost[300]
    assert np.hypot(*(_centre(track.boxes[300]) - _centre(raw[300]))) < 8
    assert track.scores[300] == 0              # not a detection any more


def test_short_gap_interpolated_long_gap_lost(arena_raw):
    raw, scores, fps = arena_raw
    gappy = raw.copy()
    gappy[100:110] = np.nan                    # 1/3 s: interpolate
    gappy[300:450] = np.nan                    # 5 s: the mouse is really gone
    cfg = TrackerConfig(max_gap_s=1.0, edge_hold_s=0.0)
    track = build_track(gappy, scores, fps, cfg)
    assert not track.lost[100:110].any()
    err = np.hypot(*(np.stack([_centre(b) for b in track.boxes[100:110]]) -
                     np.stack([_centre(b) for b in raw[100:110]])).T)
    assert err.max() < 15
    assert track.lost[300:450].all() and np.isnan(track.boxes[300:450]).all()
    assert not track.lost[:300].any() and not track.lost[450:].any()
    assert track.found_share == pytest.approx(1 - 150 / len(raw))


def test_smoothing_reduces_jitter_without_lag(arena_raw):
    raw, scores, fps = arena_raw
    track = build_track(raw, scores, fps, TrackerConfig(smooth_frames=5))
    c_raw = np.stack([_centre(b) for b in raw])
    c_tr = track.centroids()
    jitter_raw = np.abs(np.diff(c_raw, 2, axis=0)).mean()
    jitter_tr = np.abs(np.diff(c_tr, 2, axis=0)).mean()
    assert jitter_tr < jitter_raw
    assert np.median(np.hypot(*(c_tr - c_raw).T)) < 3


def test_boxes_csv_round_trip(arena_raw, tmp_path):
    raw, scores, fps = arena_raw
    gappy = raw.copy()
    gappy[200:300] = np.nan
    track = build_track(gappy, scores, fps, TrackerConfig(edge_hold_s=0))
    path = write_boxes_csv(tmp_path / "b.csv", track, fps)
    back = read_boxes_csv(path)
    assert len(back) == len(track)
    assert (back.lost == track.lost).all()
    ok = ~track.lost
    assert np.abs(back.boxes[ok] - track.boxes[ok]).max() <= 0.051
