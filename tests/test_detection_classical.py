"""The classical (no-weights) detector on real footage: accuracy against independent references,
negative frames, both polarities, lighting drift, a mouse that stops, both B-SOiD mice."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from mouseact.preprocess.detection import (ClassicalDetector, StreamingDetector, detect_video, make_detector,
                                           prime_detector)
from mouseact.preprocess.detection.fit import box_iou
from mouseact.video import VideoReader


def _tracktor(arena_video) -> np.ndarray:
    """Tracktor's centroids (pos_x, pos_y); row i = decoded frame i."""
    with open(arena_video.parent / "mouse_video_tracked.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([[float(r["pos_x"]), float(r["pos_y"])] for r in rows])


def _centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)


def _frames(video, start, stop) -> np.ndarray:
    with VideoReader(video) as vr:
        return np.concatenate([f for _, f in vr.iter_chunks(64, start, stop)])


@pytest.fixture(scope="module")
def arena_bg(arena_video):
    """Background samples of the arena video (decoded once for the module)."""
    from mouseact.preprocess.detection.streaming import _read_background_samples

    return _read_background_samples(arena_video, 320, 32)


def _primed(arena_bg, **cfg) -> ClassicalDetector:
    det = ClassicalDetector(**cfg)
    det.fit_background(*arena_bg)
    return det


def test_arena_centroids_follow_tracktor(arena_video):
    track = detect_video(arena_video, stride=2, stop=1500, progress=False)
    ref = _tracktor(arena_video)[:1500]
    dist = np.hypot(*(_centres(track.boxes) - ref).T)
    assert track.lost.mean() < 0.01
    assert np.nanmedian(dist) <= 5.0          # issue target, checked on the first 50 s
    assert np.nanpercentile(dist, 99) <= 20   # no frame on another object


def test_m4s1_boxes_contain_human_keypoints(data_dir):
    import cv2

    root = data_dir / "openfield_dlc"
    with open(root / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv", newline="") as f:
        rows = list(csv.reader(f))[3:]
    names = [r[0] for r in rows]
    kp = np.array([[float(v) if v else np.nan for v in r[1:9]] for r in rows]).reshape(-1, 4, 2)
    frames = np.stack([cv2.cvtColor(cv2.imread(str(root / n)), cv2.COLOR_BGR2RGB) for n in names])
    det = ClassicalDetector()
    det.fit_background(frames)  # the labelled frames are spread over their video: a fair background
    boxes, scores = det.detect(frames)
    assert np.isfinite(boxes).all()
    x, y = kp[..., 0], kp[..., 1]
    inside = ((x >= boxes[:, :1]) & (x <= boxes[:, 2:3]) & (y >= boxes[:, 1:2]) & (y <= boxes[:, 3:4])) | np.isnan(x)
    assert inside.all(1).mean() >= 0.97      # benchmark reports the exact share (target 99 %)


def test_no_mouse_no_box_on_real_frames_with_the_mouse_pasted_over(arena_video, arena_bg):
    ref = _tracktor(arena_video)
    with VideoReader(arena_video) as vr:
        grid = np.arange(500, 9500, 250)
        for i in (1200, 2500, 6000, 8000):
            j = int(grid[np.argmax(np.hypot(*(ref[grid] - ref[i]).T))])  # the mouse far away
            a, b = vr.get_frames([i, j])
            (xa, ya), (xb, yb) = ref[i], ref[j]
            assert np.hypot(xa - xb, ya - yb) > 120  # j's mouse is far from i's
            # real pixels with no mouse: frame i with the mouse's surroundings taken from frame j
            neg = a.copy()
            ys, xs = slice(int(ya) - 50, int(ya) + 50), slice(int(xa) - 50, int(xa) + 50)
            neg[ys, xs] = b[ys, xs]
            box_pos, _ = _primed(arena_bg).detect(a[None])
            box_neg, score_neg = _primed(arena_bg).detect(neg[None])
            assert np.isfinite(box_pos).all() and np.hypot(*(_centres(box_pos)[0] - ref[i])) < 10
            assert np.isnan(box_neg).all() and score_neg[0] == 0


def test_light_mouse_on_dark_floor(arena_video, arena_bg):
    """Inverted real frames: a light mouse on a dark floor must be found as well (auto polarity)."""
    frames = 255 - _frames(arena_video, 3000, 3300)
    det = ClassicalDetector()
    det.fit_background(255 - arena_bg[0], arena_bg[1])
    boxes, _ = det.detect(frames)
    dist = np.hypot(*(_centres(boxes) - _tracktor(arena_video)[3000:3300]).T)
    assert np.isfinite(boxes).all(1).mean() >= 0.98
    assert np.nanmedian(dist) <= 5


def test_lighting_drift_and_exposure_change(arena_video, arena_bg):
    """The lamp dims by 40 % over 10 s, with a non-linear (gamma) response on top."""
    frames = _frames(arena_video, 5000, 5300).astype(np.float32)
    gain = np.linspace(1.0, 0.6, len(frames))[:, None, None, None]
    drifted = (255 * (frames / 255) ** 1.15 * gain).clip(0, 255).astype(np.uint8)
    stream = StreamingDetector(_primed(arena_bg), stride=2)
    for s in range(0, len(drifted), 64):
        stream.process(s, drifted[s: s + 64])
    boxes, _ = stream.raw()
    dist = np.hypot(*(_centres(boxes) - _tracktor(arena_video)[5000:5300]).T)
    assert np.isfinite(boxes).all(1).mean() >= 0.95
    assert np.nanmedian(dist) <= 6


def test_mouse_still_for_minutes_is_not_absorbed(arena_video, arena_bg):
    """The same real frame for 600 detections while the background ring is renewed ~3 times over."""
    frame = _frames(arena_video, 4000, 4001)[0]
    det = _primed(arena_bg, bg_sample_every=8)  # 24-slot ring renewed every 192 frames
    still = np.repeat(frame[None], 64, 0)
    for _ in range(10):
        boxes, _ = det.detect(still)
    assert np.isfinite(boxes).all()
    assert np.hypot(*(_centres(boxes)[-1] - _tracktor(arena_video)[4000])) < 10


@pytest.mark.parametrize("mouse", ["mouse1", "mouse2"])
def test_bsoid_black_and_agouti_mice(bsoid_dir, mouse):
    for clip in ("locomote.mp4",):  # a mouse that moves; see docs/notes for still short clips
        # the first 4 s: mouse2 then stops at the wall for the rest of this short clip (see notes)
        track, raw, scores, info = detect_video(bsoid_dir / mouse / clip, stride=1, stop=60, progress=False,
                                                return_raw=True)
        found = np.isfinite(raw).all(1)
        assert found.mean() >= 0.9, clip
        area = (raw[found, 2] - raw[found, 0]) * (raw[found, 3] - raw[found, 1]) / (info.width * info.height)
        assert 0.005 < np.median(area) < 0.2, clip  # a mouse-sized box, not a speck or the whole box


def test_stride_interpolation_agrees_with_every_frame(arena_video):
    frames = _frames(arena_video, 2000, 2640)
    det1, det4 = make_detector("classical"), make_detector("classical")
    prime_detector(det1, arena_video)
    prime_detector(det4, arena_video)
    s1, s4 = StreamingDetector(det1, stride=1), StreamingDetector(det4, stride=4)
    for s in range(0, len(frames), 64):
        b1 = s1.process(2000 + s, frames[s: s + 64])
        b4 = s4.process(2000 + s, frames[s: s + 64])
        assert b4.shape == (len(frames[s: s + 64]), 4) and b4.dtype == np.float32
    r1, _ = s1.raw()
    r4, _ = s4.raw()
    assert len(r1) == 2640  # frames before the first chunk are padded as unseen
    assert np.isnan(r1[:2000]).all()
    iou = box_iou(r1[2000:], r4[2000:])
    assert np.median(iou) >= 0.8
    assert s4.n_detected <= 0.45 * len(frames)  # the stride really saves detector calls
    track = s4.finalize()
    track_hold_s = s4.tracker.edge_hold_s  # the first box is held this long before the first detection
    hold = int(round(track_hold_s * 30))
    assert track.lost[: 2000 - hold].all() and not track.lost[2000:].any()
