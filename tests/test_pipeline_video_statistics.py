"""Stage 2 gives a per-video-standardised classifier the statistics of the whole video's segments."""

from __future__ import annotations

import numpy as np
from mouseact.classifier import whole_frame_rect
from mouseact.inference.pipeline import Predictor
from mouseact.timing import StageTimer
from mouseact.video import VideoReader


def test_segments_are_classified_with_the_videos_statistics(bsoid_dir):
    pred = Predictor(progress_bars=False)
    # the default model uses its training statistics; the same model asked to standardise per video
    # (what `--set head.standardise=per_video` trains) must get the video's statistics from stage 2
    assert not pred.classifier.needs_video_statistics
    pred.classifier.config = pred.classifier.config.model_copy(update={"standardise": "per_video"})
    assert pred.classifier.needs_video_statistics
    items = []
    for name in ("itch", "locomote", "rear_minus", "body_groom", "inactive", "face_groom"):
        with VideoReader(bsoid_dir / "mouse1" / f"{name}.mp4") as vr:
            for start in (0, 8):
                frames = vr.get_frames(range(start, start + 16))
                items.append((frames, whole_frame_rect(frames)))
    emb = pred.classifier.embedder.embed_batch(items)
    segments = [(16 * i, 16 * i + 15) for i in range(len(emb))]
    base = pred._classify_embedded(segments, [emb], StageTimer())
    # a whole video whose embeddings are offset (another rig, lighting, coat) is labelled the same:
    # the statistics come from the video itself
    shifted = pred._classify_embedded(segments, [emb + 3.0 * emb.std(0)], StageTimer())
    assert [iv.label for iv in shifted] == [iv.label for iv in base]
    np.testing.assert_allclose([iv.confidence for iv in shifted], [iv.confidence for iv in base], rtol=1e-4)
    # ... while without the video's statistics the same offset changes the answer
    alone = [pred.classifier.predict(e[None])[0][0] for e in emb + 3.0 * emb.std(0)]
    assert alone != [iv.label for iv in base]
