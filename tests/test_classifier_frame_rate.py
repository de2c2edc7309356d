"""The classifier samples every video at the frame rate it was trained at.

A window is a fixed number of frames: 16 frames are 1.07 s of a 15-fps B-SOiD clip but 0.53 s of a
30-fps recording. The model card stores the training rate and training, ``mouseact classify`` and
the pipeline take every ``frame_step``-th frame. Checked on real clips played at twice their rate
(each frame written twice at 30 fps): sampled, they give what the 15-fps clip gives.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from mouseact.classifier.data import Clip, embed_clip_windows, frame_step, lowest_frame_rate
from mouseact.crop import CropPolicy
from mouseact.video import VideoReader, write_video


@pytest.mark.parametrize(
    "fps, rate, step",
    [(30, 15, 2), (15, 15, 1), (250, 15, 17), (25, 15, 2), (20, 15, 1), (7.5, 15, 1), (30, None, 1), (None, 15, 1)],
)
def test_frame_step_is_the_nearest_whole_step(fps, rate, step):
    assert frame_step(fps, rate) == step


@pytest.fixture(scope="module")
def doubled_clips(bsoid_dir, tmp_path_factory):
    """Real 15-fps clips re-encoded once at 15 fps and once at 30 fps with every frame twice (same
    encoder and quality, so the two differ only by the frame rate)."""
    root = tmp_path_factory.mktemp("rates")
    out = {}
    for label in ("locomote", "face_groom"):
        with VideoReader(bsoid_dir / "mouse1" / f"{label}.mp4") as vr:
            frames = vr.get_frames(range(min(vr.info.n_frames, 64)))
        slow = write_video(root / f"{label}_15.mp4", frames, 15.0, gop=30)
        fast = write_video(root / f"{label}_30.mp4", np.repeat(frames, 2, 0), 30.0, gop=30)
        out[label] = (slow, fast)
    return out


def test_training_windows_at_the_lowest_rate_match_the_slow_clip(doubled_clips):
    from mouseact.classifier.embedders import make_embedder

    slow, fast = doubled_clips["locomote"]
    clips = [Clip(slow, "locomote", "a"), Clip(fast, "locomote", "b")]
    rate = lowest_frame_rate(clips)
    assert rate == 15.0
    emb = make_embedder("fast")
    w = embed_clip_windows(clips, ["locomote"], emb, 16, 4, CropPolicy(), frame_rate=rate)
    a, b = w.x[w.clip == 0], w.x[w.clip == 1]
    assert len(a) == len(b) > 3  # the same windows: 2n frames at step 2 are n frames
    z = np.abs(a - b) / (a.std(0) + b.std(0) + 1e-6)
    assert np.median(z) < 0.1
    # without sampling the 30-fps clip gives other windows: twice as many, half the motion per frame
    raw = embed_clip_windows(clips[1:], ["locomote"], emb, 16, 4, CropPolicy())
    assert len(raw.x) > 1.8 * len(b)


def test_classify_samples_a_fast_video_at_the_models_rate(doubled_clips, tmp_path):
    """``classify`` on the 30-fps copy gives the 15-fps clip's scores; an old model card without a
    frame rate (every frame) does not."""
    from mouseact.classifier.cli import classify_clip
    from mouseact.classifier.model import DEFAULT_MODEL_DIR, Classifier

    model = Classifier.load()
    assert model.frame_rate == 15.0 and model.frame_step(30.0) == 2
    old_dir = tmp_path / "old"
    shutil.copytree(DEFAULT_MODEL_DIR, old_dir)
    card = json.loads((old_dir / "model_card.json").read_text())
    del card["frame_rate"]
    (old_dir / "model_card.json").write_text(json.dumps(card))
    old = Classifier.load(old_dir)
    assert old.frame_rate is None and old.frame_step(30.0) == 1

    gaps_new, gaps_old = [], []
    for slow, fast in doubled_clips.values():
        ref = classify_clip(model, slow)
        new = classify_clip(model, fast)
        before = classify_clip(old, fast)
        diff = lambda r: max(abs(r["scores"][c] - ref["scores"][c]) for c in model.classes)  # noqa: E731
        gaps_new.append(diff(new))
        gaps_old.append(diff(before))
        assert new["label"] == ref["label"]
    assert max(gaps_new) < 0.1
    assert max(gaps_new) < max(gaps_old)


def test_pipeline_reads_every_step_th_frame(arena_video):
    from mouseact.inference.pipeline import Predictor, read_segment_crops, read_segment_crops_av, sampled_frames

    pred = Predictor(progress_bars=False)
    assert pred.window_frames(30.0) == 32 and pred.window_frames(15.0) == 16
    assert pred.segment_frames(30.0) == 32  # 1 s = 30 frames, raised to one window at the model's rate
    with VideoReader(arena_video, backend="av") as vr:
        pts = [ts for _, ts in vr.iter_frames_pts(0, 400)]
    rng = np.random.default_rng(3)
    cx = np.clip(320 + np.cumsum(rng.normal(0, 3, 400)), 60, 580)
    cy = np.clip(240 + np.cumsum(rng.normal(0, 3, 400)), 60, 420)
    rects = np.stack([cx - 41, cy - 37, cx + 40, cy + 38], 1).round().astype(int)
    group = [(3, 34), (20, 51), (301, 332)]
    every = read_segment_crops_av(arena_video, group, rects, pts)
    sampled = read_segment_crops_av(arena_video, group, rects, pts, step=2)
    with VideoReader(arena_video) as vr:
        sampled_decord = read_segment_crops(vr, group, rects, step=2)
    for (s, e), (ce, re_), (cs, rs), (cd, rd) in zip(group, every, sampled, sampled_decord):
        # the even frames of the video: one grid for all segments, so overlapping ones share frames
        assert len(cs) == 16 and list(sampled_frames(s, e, 2)) == [i for i in range(s, e + 1) if i % 2 == 0]
        assert np.array_equal(cs, ce[s % 2::2]) and np.array_equal(rs, re_[s % 2::2])
        assert np.array_equal(cd, cs) and np.array_equal(rd, rs)


def test_pipeline_warns_when_the_video_is_slower_than_training(bsoid_dir, tmp_path, caplog):
    """Frames are never repeated: a 15-fps video with a model trained at 30 fps is classified, with a
    warning that its windows span twice the time."""
    import logging

    from mouseact.inference.pipeline import Predictor
    from mouseact.models import DEFAULT_BUNDLE

    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    card_path = bundle / "classifier" / "model_card.json"
    card = json.loads(card_path.read_text())
    card["frame_rate"] = 30.0
    card_path.write_text(json.dumps(card))
    pred = Predictor(bundle, dense=True, progress_bars=False)
    assert pred.window_frames(15.0) == 16
    with caplog.at_level(logging.WARNING):
        res = pred.predict(bsoid_dir / "mouse1" / "orient_L.mp4")
    assert res.n_candidates > 0
    assert any("below the 30 fps the classifier was trained at" in r.getMessage() for r in caplog.records)
