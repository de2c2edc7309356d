"""Batch input resolution: video, folder, Supervisely project (real SDK), unique output names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mouseact.errors import MouseActError
from mouseact.inference.batch import resolve_inputs

REPO = Path(__file__).resolve().parents[1]


def test_single_video_and_folder(tmp_path, bsoid_dir):
    one = resolve_inputs(bsoid_dir / "mouse1" / "itch.mp4")
    assert [j.name for j in one] == ["itch.mp4"]
    jobs = resolve_inputs(bsoid_dir / "mouse1")
    assert len(jobs) == 11 and all(j.path.is_file() for j in jobs)
    with pytest.raises(MouseActError, match="no videos found"):
        resolve_inputs(tmp_path)
    with pytest.raises(MouseActError, match="input not found"):
        resolve_inputs(tmp_path / "missing")


def test_supervisely_project_input_with_clashing_names(tmp_path, bsoid_dir):
    from mouseact import sly_io
    from mouseact.intervals import Interval
    from mouseact.video import probe

    recs = []
    for mouse in ("mouse1", "mouse2"):
        src = bsoid_dir / mouse / "itch.mp4"
        info = probe(src)
        recs.append(sly_io.VideoRecord(src, "itch.mp4", mouse, info.fps, info.n_frames, info.width, info.height,
                                       [Interval(0, 9, "itch", 1.0)]))
    proj = sly_io.write_project(tmp_path / "proj", recs, ["itch"])
    jobs = resolve_inputs(proj)
    assert sorted(j.name for j in jobs) == ["mouse1__itch.mp4", "mouse2__itch.mp4"]
    assert {j.dataset for j in jobs} == {"mouse1", "mouse2"}
    # the shipped demo sample is a project too
    sample = resolve_inputs(REPO / "samples" / "bsoid_sequence" / "project")
    assert len(sample) == 1 and sample[0].path.is_file()


def test_segment_crops_are_exactly_the_full_frame_pixels(openfield_video):
    """Stage 2 keeps only the mouse neighbourhood; the embedder must see the very same pixels."""
    import numpy as np

    from mouseact.crop import CropPolicy, apply_crop, crop_boxes
    from mouseact.inference.pipeline import read_segment_crops
    from mouseact.video import VideoReader

    rng = np.random.default_rng(1)
    with VideoReader(openfield_video) as vr:
        n, w, h = vr.info.n_frames, vr.info.width, vr.info.height
        cx = np.clip(320 + np.cumsum(rng.normal(0, 3, n)), 40, w - 40)
        cy = np.clip(240 + np.cumsum(rng.normal(0, 3, n)), 40, h - 40)
        boxes = np.stack([cx - 30, cy - 20, cx + 30, cy + 20], 1)
        rects = crop_boxes(boxes, w, h, CropPolicy())
        group = [(100, 131), (120, 151), (600, 615)]          # overlapping + a far one
        items = read_segment_crops(vr, group, rects)
        for (s, e), (crops, rel) in zip(group, items):
            full = vr.get_frames(range(s, e + 1))
            assert np.array_equal(apply_crop(crops, rel, 64), apply_crop(full, rects[s:e + 1], 64))
