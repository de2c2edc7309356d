"""A mouse that rests in one place for most of the recording (treated or sedated mice rest for
minutes) must keep its box: the background must not learn it (issue 3, session 3).

The recording is spliced from real B-SOiD frames of one mouse, same rig: the ``inactive`` clip
(the mouse lies still at the top-left wall) for 74 % of the frames, with three short bouts of
other clips where the mouse is elsewhere. A per-pixel median of frames sampled across it is the
resting mouse there; the detector must find it anyway.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mouseact.preprocess.detection import ClassicalDetector, detect_video
from mouseact.preprocess.detection.fit import box_iou
from mouseact.video import VideoReader, write_video

REST, BOUT = 30, 14
# (clip, first frame) of the bouts: the mouse is away from its resting place
BOUTS = (("orient_L", 0), ("investigate", 20), ("rear_plus", 40))


def _dark_mouse(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box and centroid of the black mouse: the largest blob far darker than the light floor."""
    dark = (cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) < 60).astype(np.uint8)
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))  # no tail, no specks
    _, _, st, cen = cv2.connectedComponentsWithStats(dark)
    i = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = st[i, :4]
    return np.array([x, y, x + w, y + h], float), cen[i]


@pytest.fixture(scope="module")
def resting_video(bsoid_dir, tmp_path_factory):
    root = bsoid_dir / "mouse2"
    with VideoReader(root / "inactive.mp4") as vr:
        inactive = vr.get_frames(range(vr.info.n_frames))
    pieces, rest = [], []
    for k, (clip, start) in enumerate(BOUTS + ((None, 0),)):
        pieces.append(inactive[k * REST: (k + 1) * REST])
        rest += [True] * REST
        if clip:
            with VideoReader(root / f"{clip}.mp4") as vr:
                pieces.append(vr.get_frames(range(start, start + BOUT)))
            rest += [False] * BOUT
    frames = np.concatenate(pieces)
    rest = np.array(rest)
    assert rest.mean() > 0.7
    path = tmp_path_factory.mktemp("resting") / "resting.mp4"
    write_video(path, iter(frames), fps=15, crf=16)
    with VideoReader(path) as vr:  # truth from the recording's own pixels (after encoding)
        decoded = vr.get_frames(np.flatnonzero(rest))
    truth = [_dark_mouse(f) for f in decoded]
    return path, rest, np.array([t[0] for t in truth]), np.array([t[1] for t in truth])


def _on_mouse(boxes: np.ndarray, truth: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    ok = np.isfinite(boxes).all(1)
    inside = ok & (boxes[:, 0] <= centroid[:, 0]) & (centroid[:, 0] <= boxes[:, 2]) \
        & (boxes[:, 1] <= centroid[:, 1]) & (centroid[:, 1] <= boxes[:, 3])
    iou = np.zeros(len(boxes))
    iou[ok] = box_iou(boxes[ok].astype(float), truth[ok])
    return inside & (iou >= 0.3)


def test_resting_mouse_keeps_its_box(resting_video):
    path, rest, truth, centroid = resting_video
    track, raw, _, _ = detect_video(path, stride=1, progress=False, return_raw=True)
    on = _on_mouse(raw[rest], truth, centroid)
    assert on.mean() >= 0.95, f"resting mouse found in {on.mean():.0%} of its frames"
    assert _on_mouse(track.boxes[rest], truth, centroid).mean() >= 0.95
    # the bouts elsewhere are still found (the mouse is there in every frame)
    assert np.isfinite(raw[~rest]).all(1).mean() >= 0.8


def test_resting_place_is_floor_in_the_background(resting_video):
    """The learnt background under the resting mouse is the floor, not the mouse (auto or dark polarity,
    and for the inverted recording: a light mouse on a dark floor)."""
    path, rest, truth, centroid = resting_video
    from mouseact.preprocess.detection.streaming import _read_background_samples

    frames, size = _read_background_samples(path, 320, 32)
    x1, y1, x2, y2 = (truth[0] * 320 / size[1]).round().astype(int)
    for polarity in ("auto", "dark"):
        det = ClassicalDetector(polarity=polarity)
        det.fit_background(frames, size)
        under = float(det._bg[y1:y2, x1:x2].mean())
        floor = float(np.median(det._bg))
        assert under > floor - 25, (polarity, under, floor)  # the black mouse would be ~60 levels darker
    det = ClassicalDetector(polarity="light")  # told the mouse is light: the dark resting mouse stays in it
    det.fit_background(frames, size)
    assert float(det._bg[y1:y2, x1:x2].mean()) < float(np.median(det._bg)) - 25
    det = ClassicalDetector()  # inverted: a light mouse resting on a dark floor (polarity from the samples)
    det.fit_background(255 - frames, size)
    assert float(det._bg[y1:y2, x1:x2].mean()) < float(np.median(det._bg)) + 25
