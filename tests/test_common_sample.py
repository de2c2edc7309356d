"""The shipped demo sample samples/bsoid_sequence/ is what sequence.json says it is."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mouseact import sly_io
from mouseact.intervals import Interval
from mouseact.video import VideoReader

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "bsoid_sequence"


@pytest.fixture(scope="module")
def sequence():
    return json.loads((SAMPLE / "sequence.json").read_text())


def test_sample_is_small_and_attributed():
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 3e6
    root = SAMPLE.parents[1]
    notice = (root / "NOTICE.md").read_text()
    assert "YttriLab/B-SOID" in notice and "GPL-3.0" in notice
    assert "GNU GENERAL PUBLIC LICENSE" in (SAMPLE.parent / "LICENSE_B-SOID_GPL3.txt").read_text()
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in (root / "LICENSE").read_text()


def test_ground_truth_project_matches_sequence(sequence):
    records = sly_io.read_project(SAMPLE / "project", known_labels=sequence["classes"])
    assert len(records) == 1
    rec = records[0]
    assert rec.video_path.resolve() == (SAMPLE / sequence["video"]).resolve()
    assert (rec.n_frames, rec.fps) == (sequence["n_frames"], sequence["fps"])
    assert rec.n_frames / rec.fps < 90
    expected = [Interval(s["frame_range"][0], s["frame_range"][1], s["label"], 1.0) for s in sequence["segments"]]
    assert rec.intervals == expected
    gt = [Interval.from_json(o) for o in json.loads((SAMPLE / "ground_truth.json").read_text())]
    assert gt == expected
    # segments tile the video with no gap, every behaviour at least once
    assert expected[0].start == 0 and expected[-1].end == rec.n_frames - 1
    assert all(a.end + 1 == b.start for a, b in zip(expected, expected[1:]))
    assert {iv.label for iv in expected} == set(sequence["classes"])
    assert sly_io.project_classes(SAMPLE / "project") == sequence["classes"]


def test_sample_frames_are_the_source_clips(sequence, data_dir):
    """Each segment's first, middle and last frames look like the source clip's (re-encoded)."""
    with VideoReader(SAMPLE / sequence["video"]) as vr:
        for seg in sequence["segments"]:
            src = data_dir / seg["source"]
            assert hashlib.sha256(src.read_bytes()).hexdigest() == seg["source_sha256"]
            s, e = seg["frame_range"]
            offsets = [0, (e - s) // 2, e - s]
            ours = vr.get_frames([s + o for o in offsets]).astype(float)
            with VideoReader(src) as sv:
                theirs = sv.get_frames([seg["source_frames"][0] + o for o in offsets]).astype(float)
            mse = ((ours - theirs) ** 2).mean()
            psnr = 10 * np.log10(255 ** 2 / mse)
            assert psnr > 38, (seg["label"], psnr)  # measured 42-45 dB; a 3-frame shift gives 35-37 on moving clips
