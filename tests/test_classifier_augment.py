"""Mirror / speed augmentation and per-video standardisation of the stage-2 classifier (real clips)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mouseact.classifier import Classifier, HeadConfig, make_embedder, whole_frame_rect
from mouseact.classifier.augment import AugmentedEmbedder, augmented_windows, mirror_label_map
from mouseact.classifier.cache import EmbeddingCache
from mouseact.classifier.data import Clip
from mouseact.crop import CropPolicy
from mouseact.errors import MouseActError
from mouseact.video import VideoReader
from conftest import bsoid_subset


@pytest.fixture(scope="module")
def orient(bsoid_dir):
    with VideoReader(bsoid_dir / "mouse1" / "orient_L.mp4") as vr:
        return vr.get_frames(range(32))


def test_mirror_label_map_pairs_by_name_and_explicitly():
    assert mirror_label_map(["itch", "orient_L", "orient_R"]) == {
        "itch": "itch",
        "orient_L": "orient_R",
        "orient_R": "orient_L",
    }
    assert mirror_label_map(["turn left", "turn right"])["turn left"] == "turn right"
    assert mirror_label_map(["Left_turn", "Right_turn"])["Right_turn"] == "Left_turn"
    assert mirror_label_map(["orient_L", "groom"]) == {"orient_L": "orient_L", "groom": "groom"}  # no partner
    assert mirror_label_map(["a", "b", "c"], [["a", "b"]]) == {"a": "b", "b": "a", "c": "c"}
    with pytest.raises(MouseActError, match="not among"):
        mirror_label_map(["a", "b"], [["a", "z"]])


def test_mirror_flips_frames_and_rects_and_the_turn_sign(orient):
    fast = make_embedder("fast")
    mir = AugmentedEmbedder(fast, mirror=True)
    assert mir.config["augment"] == {"mirror": True, "speed": 1.0} and mir.config["kind"] == "fast"
    w = orient.shape[2]
    rect = np.array([10, 5, 100, 80])
    f, r = mir.transform(orient[:16], rect)
    np.testing.assert_array_equal(f, orient[:16, :, ::-1])
    assert r.shape == (16, 4) and r[0].tolist() == [w - 100, 5, w - 10, 80]
    f2, r2 = mir.transform(f, r)
    np.testing.assert_array_equal(f2, orient[:16])
    np.testing.assert_array_equal(r2, np.repeat(rect[None], 16, 0))
    item = [(orient[:16], whole_frame_rect(orient))]
    a, b = fast.embed_batch(item)[0], mir.embed_batch(item)[0]
    names = fast.feature_names
    # a mirrored turn turns the other way; shape and motion features stay (nearly) the same
    t = names.index("turn_signed_mean")
    assert abs(a[t] + b[t]) <= 0.25 * abs(a[t]) + 1e-3
    for k in ("rel_area_mean", "speed_mean", "motion_in_mean", "elongation_mean"):
        i = names.index(k)
        assert abs(a[i] - b[i]) <= 0.1 * abs(a[i]) + 1e-3, k


def test_speed_augmentation_spans(orient):
    fast = make_embedder("fast")
    fast2 = AugmentedEmbedder(fast, speed=2.0)
    half = AugmentedEmbedder(fast, speed=0.5)
    assert fast2.span == 32 and half.span == 8
    f, _ = fast2.transform(orient, whole_frame_rect(orient))
    np.testing.assert_array_equal(f, orient[::2])
    f, _ = half.transform(orient[:8], whole_frame_rect(orient))
    assert len(f) == 16 and (f[0] == f[1]).all()
    assert fast2.embed_batch([(orient, whole_frame_rect(orient))]).shape == (1, fast.dim)
    with pytest.raises(MouseActError, match="speed"):
        AugmentedEmbedder(fast, speed=3.0)


def test_augmented_windows_swap_mirror_pairs(bsoid_dir, tmp_path):
    clips = [
        Clip(bsoid_dir / "mouse1" / "orient_L.mp4", "orient_L", "mouse1", 0, 39),
        Clip(bsoid_dir / "mouse1" / "itch.mp4", "itch", "mouse1", 0, 39),
    ]
    classes = ["itch", "orient_L", "orient_R"]
    w = augmented_windows(
        clips, classes, make_embedder("fast"), 16, 8, CropPolicy(), EmbeddingCache(tmp_path), True, [2.0]
    )
    tags = set(w.variant.tolist())
    assert tags == {"mirror 1x", "2x", "mirror 2x"}
    mirrored_l = (w.clip == 0) & np.char.startswith(w.variant.astype(str), "mirror")
    assert (w.y[mirrored_l] == classes.index("orient_R")).all()
    assert (w.y[w.clip == 1] == classes.index("itch")).all()
    assert (w.y[(w.clip == 0) & (w.variant == "2x")] == classes.index("orient_L")).all()


def _shifted_groups(rng, offset):
    """Two classes separated along dim 0; the whole 'video' shifted and scaled (another animal/rig)."""
    y = np.repeat([0, 1], 60)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    x[:, 0] += np.where(y == 1, 3.0, -3.0)
    return (x * 2.0 + offset).astype(np.float32), y


def test_per_video_standardisation_fits_per_group_and_needs_the_video(tmp_path):
    rng = np.random.default_rng(0)
    xa, ya = _shifted_groups(rng, 0.0)
    xb, yb = _shifted_groups(rng, 0.0)
    xt, yt = _shifted_groups(rng, 0.0)
    xb, xt = xb + 40.0, xt * 3 - 25.0  # the second training video and the test video differ a lot
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    groups = np.array(["a"] * len(xa) + ["b"] * len(xb))
    emb = make_embedder("fast")
    model, _ = Classifier.fit(
        x, y, ["p", "q"], emb, CropPolicy(), HeadConfig(head="prototype", standardise="per_video"),
        groups=groups,
    )  # fmt: skip
    assert model.needs_video_statistics
    acc_video = (model.predict_proba(xt, xt).argmax(1) == yt).mean()
    acc_train_stats = (model.predict_proba(xt).argmax(1) == yt).mean()
    assert acc_video > 0.95 and acc_train_stats < 0.75
    # too few rows for statistics: training statistics, same as no video
    np.testing.assert_allclose(model.predict_proba(xt[:3], xt[:3]), model.predict_proba(xt[:3]))
    labels, _ = model.predict(xt, video_embeddings=xt)
    assert labels.count("unknown") < 10
    with pytest.raises(MouseActError, match="video_embeddings"):
        model.predict_proba(xt, xt[:, :3])
    model.save(tmp_path / "m")
    back = Classifier.load(tmp_path / "m")
    assert back.config.standardise == "per_video"
    np.testing.assert_allclose(back.predict_proba(xt, xt), model.predict_proba(xt, xt), atol=1e-6)
    # per_video_mean: video mean removed, pooled training scale kept
    m2, _ = Classifier.fit(
        x, y, ["p", "q"], emb, CropPolicy(), HeadConfig(head="kmeans", standardise="per_video_mean"),
        groups=groups,
    )  # fmt: skip
    assert (m2.predict_proba(xb, xb).argmax(1) == yb).mean() > 0.95


def test_train_cli_with_mirror_and_per_video(cli, bsoid_dir, tmp_path):
    root = bsoid_subset(bsoid_dir, tmp_path / "bsoid")
    out = tmp_path / "model"
    res = cli(
        "train", "classifier", "--bsoid", str(root), "--out", str(out), "--cache", str(tmp_path / "cache"),
        "--set", "stride=8", "--set", "augment_mirror=true", "--set", "head.standardise=per_video",
        "--set", "head.few_shot_head=kmeans",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    card = json.loads((out / "model_card.json").read_text())
    assert card["training"]["config"]["augment_mirror"] is True
    assert card["head"]["standardise"] == "per_video" and card["head"]["few_shot_head"] == "kmeans"
    assert set(card["training"]["augmented_windows"]) == {"mirror 1x"}
    assert card["training"]["augmented_windows"]["mirror 1x"] == card["training"]["windows"]
    assert {"test_mouse1", "test_mouse2"} <= set(card["metrics"]["leave_one_group_out"])
    res = cli("classify", str(root / "mouse1" / "investigate.mp4"), "--model", str(out))
    assert res.returncode == 0 and json.loads(res.stdout)["label"] in card["classes"] + ["unknown"]


def test_default_model_is_mirror_trained_with_training_statistics(bsoid_dir):
    from mouseact.classifier import DEFAULT_MODEL_DIR

    model = Classifier.load(DEFAULT_MODEL_DIR)
    # per-video statistics would make labels depend on the video's behaviour mix (docs/notes/issue-6)
    assert not model.needs_video_statistics and model.config.few_shot_head == "kmeans"
    assert model.card["training"]["config"]["augment_mirror"] is True
    assert "augment_mirror=true" in model.card["training"]["command"]
    with VideoReader(bsoid_dir / "mouse2" / "locomote.mp4") as vr:
        frames = vr.get_frames(range(64))
    items = [(frames[s : s + 16], whole_frame_rect(frames)) for s in range(0, 49, 4)]
    x = model.embedder.embed_batch(items)
    for video in (None, x):  # without the video's statistics: the training statistics
        p = model.predict_proba(x, video)
        assert p.shape == (len(x), 11) and np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
