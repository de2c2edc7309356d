"""Streaming feature extraction on real B-SOiD clips."""

import numpy as np
import pytest
from mouseact.localizer.features import FeatureConfig, FeatureExtractor, extract_video
from mouseact.video import VideoReader


@pytest.fixture(scope="module")
def itch_frames(bsoid_dir):
    with VideoReader(bsoid_dir / "mouse1" / "itch.mp4") as vr:
        return vr.get_frames(range(80)), vr.info.fps


def _boxes(n):
    # a box around the mouse in mouse1/itch (found by the classical detector), with a jitter
    rng = np.random.default_rng(0)
    return (np.array([385, 66, 435, 118], np.float32) + rng.normal(0, 2, (n, 4))).astype(np.float32)


def test_features_do_not_depend_on_chunk_size(itch_frames):
    frames, fps = itch_frames
    boxes = _boxes(len(frames))
    boxes[30:35] = np.nan  # mouse lost for a few frames
    whole = FeatureExtractor(FeatureConfig(fps=fps)).process(0, frames, boxes)
    fx = FeatureExtractor(FeatureConfig(fps=fps))
    parts = [fx.process(s, frames[s:s + 17], boxes[s:s + 17]) for s in range(0, len(frames), 17)]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-5, atol=1e-6)
    assert whole.dtype == np.float32 and whole.shape == (len(frames), len(fx.feature_names))
    assert np.isfinite(whole).all()
    missing = whole[:, fx.feature_names.index("box_missing")]
    assert missing[30:35].all() and not missing[:30].any()


def test_grooming_moves_more_than_resting(bsoid_dir):
    # same mouse, same camera: itching vs lying still, boxes unknown (whole frame) on purpose
    cfg = FeatureConfig(fps=15)
    names = FeatureExtractor(cfg).feature_names
    itch = extract_video(bsoid_dir / "mouse1" / "itch.mp4", config=cfg, progress=False)
    rest = extract_video(bsoid_dir / "mouse1" / "inactive.mp4", config=cfg, progress=False)
    for name in ("motion_64", "motion_long_32"):
        j = names.index(name)
        assert np.median(itch[1:, j]) > 1.5 * np.median(rest[1:, j]), name


def test_frame_rate_sets_the_motion_lag():
    assert FeatureExtractor(FeatureConfig(fps=15)).lag == 1
    assert FeatureExtractor(FeatureConfig(fps=30)).lag == 2
    assert FeatureExtractor(FeatureConfig(fps=250)).lag == 17


def test_bad_calls_are_refused(itch_frames):
    frames, fps = itch_frames
    fx = FeatureExtractor(FeatureConfig(fps=fps))
    with pytest.raises(ValueError, match="boxes must be"):
        fx.process(0, frames[:10], np.zeros((9, 4), np.float32))
    fx.process(0, frames[:10], None)
    with pytest.raises(ValueError, match="consecutive"):
        fx.process(20, frames[10:20], None)
    # start 0 again = a new video: state is reset, same result as a fresh extractor
    again = fx.process(0, frames[:10], None)
    np.testing.assert_allclose(again, FeatureExtractor(FeatureConfig(fps=fps)).process(0, frames[:10], None))
