"""Fast embedder and heads on real B-SOiD clips (no mocks)."""

from __future__ import annotations

import numpy as np
import pytest
from mouseact.classifier import Classifier, HeadConfig, make_embedder, whole_frame_rect
from mouseact.classifier.cache import EmbeddingCache, segment_key
from mouseact.classifier.heads import UNKNOWN, expected_calibration_error, fit_temperature, softmax
from mouseact.crop import CropPolicy
from mouseact.errors import MouseActError
from mouseact.video import VideoReader


@pytest.fixture(scope="module")
def locomote(bsoid_dir):
    with VideoReader(bsoid_dir / "mouse1" / "locomote.mp4") as vr:
        return vr.get_frames(range(48))


def test_fast_embedding_shape_finite_and_deterministic(locomote):
    emb = make_embedder("fast")
    items = [(locomote[:16], whole_frame_rect(locomote)), (locomote[16:32], whole_frame_rect(locomote))]
    a = emb.embed_batch(items)
    b = emb.embed_batch(items)
    assert a.shape == (2, len(emb.feature_names)) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert a[0, emb.feature_names.index("found_frac")] == 1.0  # the mouse is found in every frame


def test_fast_embedding_hardly_depends_on_crop_looseness(locomote):
    """The embedder re-finds the mouse: a whole frame and a detector-like padded square around the
    mouse must give nearly the same vector (closer than two different moments of the clip)."""
    emb = make_embedder("fast")
    frames = locomote[:16]
    boxes = emb._find(frames, np.repeat(whole_frame_rect(frames)[None], 16, 0))
    assert np.isfinite(boxes).all()
    from mouseact.crop import clip_crop_box

    h, w = frames.shape[1:3]
    tight = clip_crop_box(boxes.astype(np.float32), w, h, CropPolicy())
    whole, cropped, other = emb.embed_batch(
        [(frames, whole_frame_rect(frames)), (frames, tight), (locomote[32:48], whole_frame_rect(frames))]
    )
    scale = np.abs(whole) + np.abs(other) + 1e-3
    assert np.mean(np.abs(whole - cropped) / scale) < np.mean(np.abs(whole - other) / scale)


def test_fast_long_segment_and_bad_items(locomote):
    emb = make_embedder("fast")
    long_vec = emb.embed_batch([(locomote, whole_frame_rect(locomote))])
    assert long_vec.shape == (1, emb.dim) and np.isfinite(long_vec).all()
    with pytest.raises(MouseActError, match="shorter than the 16 frames"):
        emb.embed_batch([(locomote[:10], whole_frame_rect(locomote))])
    with pytest.raises(MouseActError, match="uint8 RGB"):
        emb.embed_batch([(locomote[:16].astype(np.float32), whole_frame_rect(locomote))])
    with pytest.raises(MouseActError, match="empty crop"):
        emb.embed_batch([(locomote[:16], np.array([10, 10, 10, 50]))])
    with pytest.raises(MouseActError, match="unknown embedder kind"):
        make_embedder("clip")


@pytest.fixture(scope="module")
def real_windows(bsoid_dir):
    """Embeddings of windows of four real behaviours of both animals (small: ~80 windows)."""
    from mouseact.classifier.data import bsoid_clips
    from mouseact.classifier.training import TrainConfig, embed

    clips = [
        c for c in bsoid_clips(bsoid_dir) if c.label in ("inactive", "locomote", "orient_L", "rear_plus")
    ]
    for c in clips:  # keep the test short: the first 64 frames of each clip
        c.end = 63
    classes = sorted({c.label for c in clips})
    w = embed(clips, classes, make_embedder("fast"), TrainConfig(stride=4), CropPolicy())
    return clips, classes, w


def test_heads_fit_save_load_roundtrip(real_windows, tmp_path):
    clips, classes, w = real_windows
    emb = make_embedder("fast")
    for head in ("mlp", "prototype", "kmeans", "auto"):
        model, info = Classifier.fit(
            w.x, w.y, classes, emb, CropPolicy(), HeadConfig(head=head, open_set=False)
        )
        p = model.predict_proba(w.x)
        assert p.shape == (len(w.y), len(classes))
        np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
        train_acc = (p.argmax(1) == w.y).mean()
        assert train_acc > 0.6, (head, train_acc)  # fits its own training data far above chance (0.25)
        out = model.save(tmp_path / head, {"note": "test"})
        back = Classifier.load(out)
        assert back.classes == classes and back.card["note"] == "test"
        assert back.card["crop_policy"] == CropPolicy().to_dict()
        assert back.card["embedder"]["kind"] == "fast"
        np.testing.assert_allclose(back.predict_proba(w.x), p, atol=1e-5)
        labels, conf = back.predict(w.x)
        assert len(labels) == len(w.y) and set(labels) <= set(classes)
        assert ((conf > 0) & (conf <= 1)).all()


def test_auto_head_per_class_choice(real_windows):
    clips, classes, w = real_windows
    emb = make_embedder("fast")
    # every window its own clip: all classes have many "clips" -> all MLP, except the user's pick
    model, info = Classifier.fit(
        w.x, w.y, classes, emb, CropPolicy(), HeadConfig(few_shot_classes=["orient_L"], max_epochs=30)
    )
    assert info["mlp_classes"] == [c for c in classes if c != "orient_L"]
    np.testing.assert_allclose(model.predict_proba(w.x).sum(1), 1, atol=1e-5)
    # counted by labelled clip (4 per class here, < 5): all few-shot prototypes
    model, info = Classifier.fit(w.x, w.y, classes, emb, CropPolicy(), HeadConfig(), clip_ids=w.clip)
    assert info["mlp_classes"] == [] and model.mlp is None
    with pytest.raises(MouseActError, match="not in the data"):
        Classifier.fit(w.x, w.y, classes, emb, CropPolicy(), HeadConfig(few_shot_classes=["backflip"]))


def test_open_set_unknown_far_from_every_class(real_windows):
    clips, classes, w = real_windows
    model, _ = Classifier.fit(
        w.x, w.y, classes, make_embedder("fast"), CropPolicy(), HeadConfig(head="prototype")
    )
    far = w.x.mean(0, keepdims=True) + 50 * w.x.std(0, keepdims=True)
    labels, _ = model.predict(np.concatenate([w.x[:5], far]))
    assert labels[-1] == UNKNOWN
    assert sum(lab == UNKNOWN for lab in labels[:5]) <= 1


def test_temperature_scaling_improves_overconfident_logits():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(0, 1, (600, 3))
    logits[np.arange(600), y] += 1.0
    logits *= 6  # overconfident
    t = fit_temperature(logits, y)
    assert t > 2
    assert expected_calibration_error(softmax(logits / t), y) < expected_calibration_error(softmax(logits), y)


def test_errors_for_unknown_class_and_wrong_embedding(real_windows):
    clips, classes, w = real_windows
    model, _ = Classifier.fit(
        w.x, w.y, classes, make_embedder("fast"), CropPolicy(), HeadConfig(head="prototype")
    )
    with pytest.raises(MouseActError, match="not known to this model"):
        model.class_index("backflip")
    with pytest.raises(MouseActError, match="embeddings must be"):
        model.predict_proba(np.zeros((2, 7)))


def test_cache_roundtrip_and_key(bsoid_dir, tmp_path):
    video = bsoid_dir / "mouse1" / "orient_R.mp4"
    cfg = make_embedder("fast").config
    rects = np.zeros((16, 4))
    k1 = segment_key(video, 0, 15, rects, cfg)
    assert k1 == segment_key(video, 0, 15, rects, cfg)
    assert k1 != segment_key(video, 1, 16, rects, cfg)
    assert k1 != segment_key(video, 0, 15, rects, {**cfg, "n_frames": 8})
    assert k1 != segment_key(bsoid_dir / "mouse2" / "orient_R.mp4", 0, 15, rects, cfg)
    cache = EmbeddingCache(tmp_path / "cache")
    assert cache.get(k1) is None
    cache.put(k1, np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(cache.get(k1), np.arange(5))
    assert cache.hits == 1 and cache.misses == 1
