"""The localizer's training-feature cache on real clips: a hit returns exactly what decoding,
detection and feature extraction return, and anything that changes the features misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mouseact.localizer.cache import FeatureCache
from mouseact.localizer.fit import LocalizerTrainConfig
from mouseact.localizer.sequences import Piece, build_sequence
from mouseact.train.localizer import video_sequence


def test_video_features_from_the_cache_equal_a_fresh_pass(tmp_path, bsoid_dir):
    clip = bsoid_dir / "mouse1" / "itch.mp4"
    cfg = LocalizerTrainConfig()
    cache = FeatureCache(tmp_path / "cache")
    fresh = video_sequence(clip, np.zeros(1), None, cfg, stride=4)
    first = video_sequence(clip, np.zeros(1), None, cfg, stride=4, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    again = video_sequence(clip, np.zeros(1), None, cfg, stride=4, cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    for seq in (first, again):
        np.testing.assert_array_equal(seq.features, fresh.features)
        np.testing.assert_array_equal(seq.boxes, fresh.boxes)
        assert seq.fps == fresh.fps
    # another detector stride, another feature config, boxes given by a project: other features
    video_sequence(clip, np.zeros(1), None, cfg, stride=2, cache=cache)
    other = LocalizerTrainConfig(features={**cfg.features.model_dump(), "crop_size": 48})
    video_sequence(clip, np.zeros(1), None, other, stride=4, cache=cache)
    given = video_sequence(clip, np.zeros(1), fresh.boxes, cfg, stride=4, cache=cache)
    assert (cache.hits, cache.misses) == (1, 4)
    assert len(given.features) == len(fresh.features)
    # a damaged entry is recomputed, not trusted
    for entry in (tmp_path / "cache").rglob("*.npz"):
        entry.write_bytes(b"truncated")
    video_sequence(clip, np.zeros(1), None, cfg, stride=4, cache=cache)
    assert (cache.hits, cache.misses) == (1, 5)


def test_spliced_sequence_from_the_cache(tmp_path, bsoid_dir):
    folder = bsoid_dir / "mouse2"
    plan = [Piece("inactive", 0, 40), Piece("itch", 0, 50), Piece("inactive", 40, 80)]
    cache = FeatureCache(tmp_path / "cache")
    first = build_sequence(folder, plan, ["itch"], cache=cache)
    again = build_sequence(folder, plan, ["itch"], cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.boxes, first.boxes)
    np.testing.assert_array_equal(again.labels, first.labels)
    np.testing.assert_array_equal(again.cuts, first.cuts)
    build_sequence(folder, plan[:2], ["itch"], cache=cache)  # another plan: computed
    assert cache.misses == 2
    assert isinstance(cache.root, Path) and len(list(cache.root.rglob("*.npz"))) == 2


def test_cache_directories_follow_xdg_cache_home_when_called(monkeypatch, tmp_path):
    from mouseact.classifier.train_run import default_cache_dir as embeddings_dir
    from mouseact.localizer.cache import default_cache_dir as features_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert features_dir() == tmp_path / "mouseact" / "features"
    assert embeddings_dir() == tmp_path / "mouseact" / "embeddings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert features_dir() == Path.home() / ".cache" / "mouseact" / "features"
