"""The crops the streaming pass keeps for stage 2 (``keep_crops``) change nothing but speed: a
segment is served from them only when its exact crop union lies inside what was kept, with the
same pixels a re-read gives; the rest is re-read; a failing disk only means re-reading."""

from __future__ import annotations

import numpy as np
import pytest

from mouseact.crop import CropPolicy, crop_boxes
from mouseact.inference.cropstore import CropStore, CropStoreWriter
from mouseact.inference.pipeline import (Predictor, ProcessChunks, dense_windows, read_group,
                                         read_segment_crops, read_segment_crops_stored)
from mouseact.timing import StageTimer
from mouseact.video import VideoReader

pytestmark = pytest.mark.skipif(not ProcessChunks.available(), reason="needs fork")


@pytest.fixture(scope="module")
def predictor():
    return Predictor(progress_bars=False)


@pytest.fixture(scope="module")
def arena_head(arena_video, tmp_path_factory):
    """The first ~20 s of the real arena video (30 fps, 640x480, a small mouse that runs about),
    remuxed without re-encoding up to the first key frame after 20 s."""
    import av

    dst = tmp_path_factory.mktemp("arena") / "arena_head.mp4"
    with av.open(str(arena_video)) as inp, av.open(str(dst), "w") as out:
        s = inp.streams.video[0]
        o = out.add_stream_from_template(s)
        for pkt in inp.demux(s):
            if pkt.dts is None:
                continue
            if pkt.is_keyframe and pkt.pts is not None and float(pkt.pts * s.time_base) >= 20:
                break
            pkt.stream = o
            out.mux(pkt)
    return dst


@pytest.mark.parametrize("step", [1, 2])
def test_kept_regions_give_the_reread_pixels(predictor, arena_head, tmp_path, step):
    """On a real video of a running mouse: every segment `covers` says yes to is cut from the store
    with exactly the pixels (and shifted rectangles) of a sequential re-read; a segment the store
    does not cover is refused, not approximated."""
    video = arena_head
    with VideoReader(video, backend="av") as vr:
        info = vr.info
        store = CropStore(info.n_frames, step, info.width, info.height, tmp_path)
        track, _, pts = predictor._streaming_pass(vr, StageTimer(), store=store)
    with store:
        assert store.path.stat().st_size > 0
        kept = store.regions[:, 0] >= 0
        assert kept.mean() > 0.9  # a mouse was detected near nearly every sampled frame
        rects = crop_boxes(np.asarray(track.boxes, np.float64), info.width, info.height, predictor.crop_policy)
        segs = dense_windows(info.n_frames, 16 * step, 8)
        ok = store.covers(segs, rects)
        assert ok.mean() > 0.5, ok.mean()
        served = [s for s, o in zip(segs, ok) if o]
        got = read_segment_crops_stored(store, served, rects, step)
        with VideoReader(video) as vr:
            want = read_segment_crops(vr, served, rects, step)
        for (ca, ra), (cb, rb) in zip(got, want):
            assert ca.shape == cb.shape and np.array_equal(ca, cb) and np.array_equal(ra, rb)
        # read_group mixes both: the same items as re-reading every segment, and counts re-reads
        mixed, n_reread = read_group(video, segs, rects, pts, step, store)
        plain, n_all = read_group(video, segs, rects, pts, step)
        assert n_reread == int((~ok).sum()) and n_all == len(segs)
        for (ca, ra), (cb, rb) in zip(mixed, plain):
            assert np.array_equal(ca, cb) and np.array_equal(ra, rb)
        # a segment whose crop reaches one pixel outside a kept region, on any side, is not covered
        inner = np.flatnonzero(kept & (store.regions[:, 0] > 0) & (store.regions[:, 1] > 0)
                               & (store.regions[:, 2] < info.width) & (store.regions[:, 3] < info.height))
        j = int(inner[len(inner) // 2])
        i = j * step
        inside = rects.copy()
        inside[i] = store.regions[j]  # exactly the kept region: covered
        assert store.covers([(i, i)], inside)[0]
        for side, delta in ((0, -1), (1, -1), (2, 1), (3, 1)):
            wide = inside.copy()
            wide[i, side] += delta
            assert not store.covers([(i, i)], wide)[0], side
        with pytest.raises(KeyError):
            store.region_pixels(i + 1) if step > 1 else store.region_pixels(info.n_frames + 5)
    assert not store.dir.exists()  # closing deletes the file


def test_pipeline_same_intervals_with_and_without_kept_crops(predictor, arena_head, tmp_path):
    video = arena_head
    cfg = predictor.config
    results = {}
    try:
        for name, update in {"keep": {"keep_crops": True, "crop_store_dir": str(tmp_path)},
                             "keep, features in-process": {"keep_crops": True, "crop_store_dir": str(tmp_path),
                                                           "feature_process": False, "stage2_workers": 0},
                             "re-read": {"keep_crops": False}}.items():
            predictor.config = cfg.model_copy(update=update)
            results[name] = predictor.predict(video)
    finally:
        predictor.config = cfg
    ref = results["re-read"]
    assert ref.n_candidates > 1 and ref.n_reread == ref.n_candidates
    for name in ("keep", "keep, features in-process"):
        res = results[name]
        assert res.n_candidates == ref.n_candidates
        assert res.n_reread < res.n_candidates, name
        assert [iv.to_json() for iv in res.intervals] == [iv.to_json() for iv in ref.intervals], name
    assert list(tmp_path.iterdir()) == []  # every temporary store removed after its video


def test_a_failing_disk_only_means_rereading(bsoid_dir, tmp_path):
    video = bsoid_dir / "mouse1" / "itch.mp4"
    with VideoReader(video) as vr:
        info = vr.info
        chunks = list(vr.iter_chunks(32, 0, 96))
    store = CropStore(info.n_frames, 1, info.width, info.height, tmp_path)
    writer = CropStoreWriter.for_policy(store, CropPolicy(), 16)
    box = np.array([[100, 100, 160, 140]], np.float64)
    start, frames = chunks[0]
    writer.add(start, frames, np.repeat(box, len(frames), 0))
    store.close()  # the directory vanishes under the writer (as a full disk fails a write)
    for start, frames in chunks[1:]:
        writer.add(start, frames, np.repeat(box, len(frames), 0))
    writer.finish()
    assert writer.failed and "No such file" in writer.failed
    assert (store.regions == -1).all()
    assert not store.covers([(0, 15)], np.repeat(np.array([[110, 110, 150, 130]]), info.n_frames, 0))[0]


def test_the_store_stops_at_its_size_limit(bsoid_dir, tmp_path):
    """Past ``max_gb`` nothing more is kept (those segments are re-read); what was kept stays valid."""
    video = bsoid_dir / "mouse1" / "itch.mp4"
    with VideoReader(video) as vr:
        info = vr.info
        chunks = list(vr.iter_chunks(32, 0, 96))
    box = np.array([[100, 100, 160, 140]], np.float64)
    with CropStore(info.n_frames, 1, info.width, info.height, tmp_path, max_gb=200_000 / 2**30) as store:
        writer = CropStoreWriter.for_policy(store, CropPolicy(), 16)
        for start, frames in chunks:
            writer.add(start, frames, np.repeat(box, len(frames), 0))
        writer.finish()
        kept = np.flatnonzero(store.regions[:, 0] >= 0)
        assert 0 < len(kept) < 96 and kept.tolist() == list(range(len(kept)))  # the first frames, then none
        assert writer.failed is None and writer.bytes_written <= store.max_bytes
        assert store.path.stat().st_size == writer.bytes_written
        pixels, region = store.region_pixels(int(kept[-1]))
        x1, y1, x2, y2 = region
        assert np.array_equal(pixels, chunks[kept[-1] // 32][1][kept[-1] % 32, y1:y2, x1:x2])


def test_a_missing_store_directory_is_refused_before_any_video(tmp_path):
    from mouseact.errors import MouseActError

    with pytest.raises(MouseActError, match="crop_store_dir is not an existing directory") as err:
        Predictor(overrides=[f"crop_store_dir={tmp_path / 'nope'}"], progress_bars=False)
    assert str(tmp_path / "nope") in str(err.value) and "\n" not in str(err.value)
    Predictor(overrides=[f"crop_store_dir={tmp_path / 'nope'}", "keep_crops=false"], progress_bars=False)
