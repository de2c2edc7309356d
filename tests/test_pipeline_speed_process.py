"""The pipeline's speed machinery changes nothing but speed: decoding in a child process gives
the same chunks as ``iter_chunks``; stage 2 in worker processes gives the same intervals."""

from __future__ import annotations

import numpy as np
import pytest

from mouseact.errors import VideoError
from mouseact.inference.pipeline import Predictor, ProcessChunks, split_tasks
from mouseact.video import VideoReader

pytestmark = pytest.mark.skipif(not ProcessChunks.available(), reason="needs fork")


def test_process_chunks_equal_iter_chunks(bsoid_dir):
    video = bsoid_dir / "mouse1" / "itch.mp4"
    with VideoReader(video, backend="av") as vr:
        info = vr.info
        want = [(s, f.copy()) for s, f in vr.iter_chunks(16)]
    with ProcessChunks(video, info, 16, depth=2) as src:
        got = [(s, f.copy()) for s, f in src]
    assert [s for s, _ in got] == [s for s, _ in want]
    for (_, a), (_, b) in zip(got, want):
        assert np.array_equal(a, b)
    # a chunk stays valid until `hold` more chunks have been yielded (past frames the features use)
    with ProcessChunks(video, info, 8, depth=2, keep_frames=8) as src:
        it = iter(src)
        held = [next(it) for _ in range(src.hold)]
        copies = [f.copy() for _, f in held]
        for _ in range(3):  # let the child run ahead as far as it can
            next(it, None)
        assert np.array_equal(held[-1][1], copies[-1])


def test_process_chunks_stop_early_and_errors(bsoid_dir, tmp_path):
    video = bsoid_dir / "mouse1" / "itch.mp4"
    with VideoReader(video) as vr:
        info = vr.info
    with ProcessChunks(video, info, 8, depth=2) as src:
        start, frames = next(iter(src))
        assert start == 0 and frames.shape == (8, info.height, info.width, 3)
    assert src._proc is None  # closed: the child was stopped and joined
    # a truncated copy: the child's failure arrives as a VideoError naming the file
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(VideoError):
        with ProcessChunks(bad, info, 8, depth=2) as src:
            for _ in src:
                pass


def test_split_tasks_keeps_order_and_covers_everything():
    segs = [(i * 40, i * 40 + 29) for i in range(203)]
    tasks = split_tasks(list(reversed(segs)), 2)
    assert [s for t in tasks for s in t] == segs
    assert len(tasks) >= 8 and max(len(t) for t in tasks) <= 64
    assert split_tasks(segs[:3], 2) == [[s] for s in segs[:3]]
    assert split_tasks([], 2) == []


@pytest.fixture(scope="module")
def predictor():
    return Predictor(dense=True, progress_bars=False)  # dense: many stage-2 segments on a short clip


def test_stage2_workers_give_the_same_intervals(predictor, bsoid_dir):
    """Same segments, same embeddings, same labels with and without worker processes."""
    video = bsoid_dir / "mouse2" / "face_groom.mp4"
    cfg = predictor.config
    try:
        predictor.config = cfg.model_copy(update={"stage2_workers": 2, "decode_process": True})
        a = predictor.predict(video)
        predictor.config = cfg.model_copy(update={"stage2_workers": 0, "decode_process": False})
        b = predictor.predict(video)
    finally:
        predictor.config = cfg
    assert a.n_candidates == b.n_candidates > 1
    assert "embed (workers)" in a.timing and "embed (workers)" not in b.timing
    assert [iv.to_json() for iv in a.intervals] == [iv.to_json() for iv in b.intervals]
    assert np.array_equal(np.asarray(a.track.boxes), np.asarray(b.track.boxes), equal_nan=True)
