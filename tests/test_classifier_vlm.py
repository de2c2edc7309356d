"""Qwen2-VL, Qwen2.5-VL and VideoMAE embedders: tiny random models built offline, real code path
(transformers + qwen-vl-utils + processors reloaded from disk), real B-SOiD frames."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from mouseact.classifier import Classifier, make_embedder, whole_frame_rect
from mouseact.errors import ModelError, MouseActError
from mouseact.video import VideoReader


@pytest.fixture(scope="module")
def frames(bsoid_dir):
    with VideoReader(bsoid_dir / "mouse1" / "rear_plus.mp4") as vr:
        return vr.get_frames(range(40))


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    from mouseact.classifier.tiny_models import build_tiny_qwen, build_tiny_videomae

    root = tmp_path_factory.mktemp("tiny_hf")
    return {
        "qwen2": build_tiny_qwen(root / "qwen2", "2"),
        "qwen2.5": build_tiny_qwen(root / "qwen25", "2.5"),
        "videomae": build_tiny_videomae(root / "videomae", num_frames=8, image_size=64),
    }


@pytest.mark.parametrize("version", ["qwen2", "qwen2.5"])
def test_qwen_embedder_poolings_and_batching(tiny_dirs, frames, version):
    rect = whole_frame_rect(frames)
    items = [(frames[:16], rect), (frames[10:40], rect), (frames[5:21], np.array([50, 20, 350, 320]))]
    mean = make_embedder(
        "qwen",
        model_path=str(tiny_dirs[version]),
        batch_size=2,
        n_frames=8,
        resized_height=56,
        resized_width=56,
    )
    x = mean.embed_batch(items)
    assert x.shape == (3, 64) and np.isfinite(x).all()
    # 8 frames of 56x56 = 4 temporal x 2x2 merged patches = 16 video tokens (+ the prompt)
    assert all(n > 16 for n in mean.last_tokens_per_item)
    # batching does not change a segment's vector
    np.testing.assert_allclose(mean.embed_batch(items[1:2])[0], x[1], atol=1e-4)
    assert not np.allclose(x[0], x[2])  # different crops, different vectors
    both = make_embedder(
        "qwen",
        model_path=str(tiny_dirs[version]),
        n_frames=8,
        resized_height=56,
        resized_width=56,
        pooling="both",
    ).embed_batch(items[:1])
    assert both.shape == (1, 128)
    np.testing.assert_allclose(both[0, :64], x[0], atol=1e-4)


def test_qwen_and_hf_bad_model_dirs(tiny_dirs, frames, tmp_path):
    rect = whole_frame_rect(frames)
    with pytest.raises(ModelError, match="not Qwen2-VL"):
        make_embedder("qwen", model_path=str(tiny_dirs["videomae"])).embed_batch([(frames[:16], rect)])
    with pytest.raises(ModelError, match="no config.json"):
        make_embedder("qwen", model_path=str(tmp_path)).embed_batch([(frames[:16], rect)])
    with pytest.raises(ModelError, match="multiples of 28"):
        make_embedder("qwen", model_path=str(tiny_dirs["qwen2"]), resized_height=100)
    with pytest.raises(ModelError, match="use --embedder qwen"):
        make_embedder("hf", model_path=str(tiny_dirs["qwen2"])).embed_batch([(frames[:16], rect)])
    with pytest.raises(ModelError, match="no config.json"):
        make_embedder("hf", model_path=str(tmp_path))


def test_videomae_embedder(tiny_dirs, frames):
    emb = make_embedder("hf", model_path=str(tiny_dirs["videomae"]), crop_size=64)
    assert emb.config["n_frames"] == 8  # from the model config
    x = emb.embed_batch([(frames[:16], whole_frame_rect(frames)), (frames[20:40], whole_frame_rect(frames))])
    assert x.shape == (2, 64) and np.isfinite(x).all() and not np.allclose(x[0], x[1])


@pytest.fixture(scope="module")
def small_bsoid(bsoid_dir, tmp_path_factory):
    """Three short behaviours of both animals, linked into a temporary B-SOiD-shaped folder."""
    root = tmp_path_factory.mktemp("bsoid_small")
    for mouse in ("mouse1", "mouse2"):
        (root / mouse).mkdir()
        for label in ("orient_R", "orient_L", "investigate"):
            os.symlink(bsoid_dir / mouse / f"{label}.mp4", root / mouse / f"{label}.mp4")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["qwen2.5", "videomae"])
def test_train_and_classify_end_to_end_with_hf_embedders(tiny_dirs, small_bsoid, tmp_path, kind, cli):
    from mouseact.classifier import train_run
    from mouseact.classifier.training import TrainConfig

    emb_kind = "qwen" if kind.startswith("qwen") else "hf"
    emb_cfg = (
        {"n_frames": 8, "resized_height": 56, "resized_width": 56}
        if emb_kind == "qwen"
        else {"crop_size": 64}
    )
    out = tmp_path / "model"
    train_run.train(
        small_bsoid,
        "bsoid",
        out,
        emb_kind,
        {"model_path": str(tiny_dirs[kind]), **emb_cfg},
        TrainConfig(stride=8),
        cache_dir=tmp_path / "cache",
        command="test",
    )
    card = json.loads((out / "model_card.json").read_text())
    assert card["embedder"]["kind"] == emb_kind and card["classes"] == ["investigate", "orient_L", "orient_R"]
    assert set(card["metrics"]["leave_one_group_out"]) == {"test_mouse1", "test_mouse2"}
    model = Classifier.load(out)
    assert model.embedder.kind == emb_kind
    # --model-path: the weights directory at run time, checked by the embedder's config class
    assert Classifier.load(out, model_path=str(tiny_dirs[kind])).embedder.kind == emb_kind
    with pytest.raises(MouseActError, match="has no setting bogus"):
        Classifier.load(out, bogus=1)
    res = cli("classify", str(small_bsoid / "mouse2" / "orient_L.mp4"), "--model", str(out))
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["label"] in model.classes + ["unknown"]
    assert abs(sum(result["scores"].values()) - 1) < 1e-3


def test_short_segment_for_qwen_is_an_error(tiny_dirs, frames):
    emb = make_embedder(
        "qwen", model_path=str(tiny_dirs["qwen2"]), n_frames=8, resized_height=56, resized_width=56
    )
    with pytest.raises(MouseActError, match="shorter than"):
        emb.embed_batch([(frames[:1], whole_frame_rect(frames))])
