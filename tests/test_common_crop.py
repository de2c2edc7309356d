"""mouseact.crop on the real open-field boxes (derived from DLC keypoints) and real frames."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

from mouseact.crop import CropPolicy, apply_crop, clip_crop_box, crop_boxes, fill_missing
from mouseact.video import VideoReader

W, H = 640, 480


@pytest.fixture(scope="module")
def real_boxes(data_dir) -> np.ndarray:
    """(2330, 4) mouse boxes of m3v1mp4, NaN rows where the derivation found none."""
    path = data_dir / "openfield_dlc/derived/m3v1mp4_DERIVED_boxes_from_dlc_predictions.csv"
    boxes = np.full((2330, 4), np.nan, np.float32)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["method"] != "none" and row["x1"]:
                boxes[int(row["frame"])] = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
    return boxes


def test_crops_contain_the_mouse_stay_in_frame_and_are_square(real_boxes):
    policy = CropPolicy(window=15, pad_ratio=0.25)
    rects = crop_boxes(real_boxes, W, H, policy)
    assert rects.shape == (len(real_boxes), 4) and rects.dtype == np.int64
    x1, y1, x2, y2 = rects.T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= W).all() and (y2 <= H).all()
    side_w, side_h = x2 - x1, y2 - y1
    assert (side_w == side_h).all()                    # exactly square
    assert (side_w >= policy.min_side).all()
    ok = np.isfinite(real_boxes).all(1)
    b = real_boxes[ok]
    r = rects[ok]
    # the crop holds the frame's own box (the window union only grows it)
    assert (r[:, 0] <= np.floor(b[:, 0]) + 1).all() and (r[:, 2] >= np.ceil(b[:, 2]) - 1).all()
    assert (r[:, 1] <= np.floor(b[:, 1]) + 1).all() and (r[:, 3] >= np.ceil(b[:, 3]) - 1).all()


def test_window_union_makes_crops_steadier(real_boxes):
    jitter = {}
    for window in (1, 15):
        rects = crop_boxes(real_boxes, W, H, CropPolicy(window=window)).astype(float)
        jitter[window] = np.abs(np.diff(rects, axis=0)).mean()
    assert jitter[15] < jitter[1]


def test_fill_missing_uses_nearest_known_box():
    boxes = np.array([[np.nan] * 4, [0, 0, 10, 10], [np.nan] * 4, [np.nan] * 4, [np.nan] * 4, [20, 20, 30, 30]], float)
    filled = fill_missing(boxes, W, H)
    assert filled[0].tolist() == [0, 0, 10, 10]       # before the first: the first
    assert filled[2].tolist() == [0, 0, 10, 10]       # nearer to frame 1
    assert filled[4].tolist() == [20, 20, 30, 30]     # nearer to frame 5
    assert fill_missing(np.full((3, 4), np.nan), W, H).tolist() == [[0, 0, W - 1, H - 1]] * 3


def test_small_box_near_the_edge_is_shifted_not_shrunk():
    rect = crop_boxes(np.array([[630, 2, 639, 9]], float), W, H, CropPolicy(min_side=64))[0]
    assert rect.tolist() == [W - 64, 0, W, 64]


def test_clip_crop_box_covers_every_frame(real_boxes):
    seg = real_boxes[100:148]
    rect = clip_crop_box(seg, W, H, CropPolicy())
    ok = np.isfinite(seg).all(1)
    assert rect[0] <= np.nanmin(seg[ok, 0]) and rect[2] >= np.nanmax(seg[ok, 2]) - 1
    assert rect[1] <= np.nanmin(seg[ok, 1]) and rect[3] >= np.nanmax(seg[ok, 3]) - 1


def test_apply_crop_on_real_frames(openfield_video, real_boxes):
    policy = CropPolicy(out_size=96)
    with VideoReader(openfield_video) as vr:
        frames = vr.get_frames(range(200, 216))
    rects = crop_boxes(real_boxes, W, H, policy)[200:216]
    crops = apply_crop(frames, rects, policy.out_size)
    assert crops.shape == (16, 96, 96, 3) and crops.dtype == np.uint8
    one = apply_crop(frames, clip_crop_box(real_boxes[200:216], W, H, policy), policy.out_size)
    assert one.shape == crops.shape
    # the black mouse on the white floor: the dark pixels of each crop, mapped back to the frame,
    # centre inside that frame's mouse box
    for crop, (x1, y1, x2, y2), box in zip(crops, rects, real_boxes[200:216]):
        ys, xs = np.nonzero(crop.mean(-1) < 60)
        assert len(xs) > 50
        cx = x1 + (xs.mean() + 0.5) * (x2 - x1) / 96
        cy = y1 + (ys.mean() + 0.5) * (y2 - y1) / 96
        assert box[0] - 5 <= cx <= box[2] + 5 and box[1] - 5 <= cy <= box[3] + 5


def test_policy_dict_round_trip():
    p = CropPolicy(window=9, pad_ratio=0.1, out_size=224)
    assert CropPolicy.from_dict(p.to_dict()) == p
    assert CropPolicy.from_dict({**p.to_dict(), "future_key": 1}) == p
    assert CropPolicy.from_dict(None) == CropPolicy()
    assert dataclasses.asdict(p)["window"] == 9
