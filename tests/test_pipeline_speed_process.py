"""The pipeline's speed machinery changes nothing but speed: decoding in a child process gives
the same chunks as ``iter_chunks``; stage 2 in worker processes gives the same intervals."""

from __future__ import annotations

import time

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
        # hold - 1 more chunks: the last held one must still be intact however far ahead the child
        # decodes (one more would free it: then the child may overwrite it — this test used to
        # advance 3 with hold = 2 and failed whenever the child was quick enough)
        for _ in range(src.hold - 1):
            next(it, None)
        time.sleep(0.3)  # let the child run ahead as far as the free slots allow
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


def test_region_conversion_and_seek_by_timestamp_give_the_same_pixels(arena_video):
    """Stage 2 converts only the mouse's region of frames found by timestamp: same pixels as
    the sequential full-frame decode."""
    from mouseact.video import crop_rgb, iter_av_range

    with VideoReader(arena_video, backend="av") as vr:
        pts, want = [], {}
        for i, (frame, ts) in enumerate(vr.iter_frames_pts(0, 620)):
            pts.append(ts)
            if i >= 580:
                want[i] = frame
    rng = np.random.default_rng(0)
    got = list(iter_av_range(arena_video, pts, 580, 620))
    assert [i for i, _ in got] == list(range(580, 620))
    for i, frame in got:
        full = frame.to_ndarray(format="rgb24")
        assert np.array_equal(full, want[i])
        for _ in range(8):
            x1, y1 = int(rng.integers(0, 600)), int(rng.integers(0, 440))
            x2, y2 = int(rng.integers(x1 + 1, 641)), int(rng.integers(y1 + 1, 481))
            assert np.array_equal(crop_rgb(frame, x1, y1, x2, y2), full[y1:y2, x1:x2])


def test_segment_crops_by_timestamp_equal_the_decord_read(arena_video):
    from mouseact.inference.pipeline import read_segment_crops, read_segment_crops_av

    with VideoReader(arena_video, backend="av") as vr:
        n, pts = 700, [ts for _, ts in vr.iter_frames_pts(0, 700)]
    rng = np.random.default_rng(2)
    cx = np.clip(320 + np.cumsum(rng.normal(0, 3, n)), 60, 580)
    cy = np.clip(240 + np.cumsum(rng.normal(0, 3, n)), 60, 420)
    rects = np.stack([cx - 41, cy - 37, cx + 40, cy + 38], 1).round().astype(int)
    group = [(3, 30), (20, 52), (300, 331), (650, 699)]  # overlapping, a gap past a key frame, the end
    a = read_segment_crops_av(arena_video, group, rects, pts)
    with VideoReader(arena_video) as vr:
        b = read_segment_crops(vr, group, rects)
    for (ca, ra), (cb, rb) in zip(a, b):
        assert np.array_equal(ca, cb) and np.array_equal(ra, rb)


def test_feature_process_gives_the_same_features(bsoid_dir):
    """Features computed in a child process one chunk behind the detector: the same numbers
    (up to OpenCV's run-to-run float noise, ~1e-7) and the same boxes and timestamps."""
    from mouseact.timing import StageTimer

    video = bsoid_dir / "mouse1" / "body_groom.mp4"
    out = {}
    for fp in (True, False):
        pred = Predictor(progress_bars=False, overrides=[f"feature_process={str(fp).lower()}", "chunk_size=16"])
        timer = StageTimer()
        with VideoReader(video, backend="av") as vr:
            out[fp] = pred._streaming_pass(vr, timer)
        assert ("features (worker)" in timer.seconds) == fp
    (ta, fa, pa), (tb, fb, pb) = out[True], out[False]
    assert fa.shape == fb.shape and np.allclose(fa, fb, atol=1e-5)
    assert np.array_equal(np.asarray(ta.boxes), np.asarray(tb.boxes), equal_nan=True)
    assert pa is not None and pa == pb
