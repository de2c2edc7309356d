"""Speed-only changes of the classical detector keep its numbers exactly."""

from __future__ import annotations

import numpy as np

from mouseact.preprocess.detection.classical import _median, _median_stack, _sorting_network


def test_median_stack_equals_np_median_for_every_ring_size():
    rng = np.random.default_rng(0)
    for n in range(1, 41):
        stack = rng.integers(0, 256, (n, 17, 23), dtype=np.uint8)
        stack[:, :3] = 7  # ties
        want = np.median(stack, axis=0)
        got = _median_stack(stack)
        assert got.dtype == want.dtype and np.array_equal(got, want), n
    assert len(_sorting_network(24)) == 132


def test_fast_scalar_median_equals_np_median():
    rng = np.random.default_rng(1)
    for n in range(1, 60):
        x = rng.normal(0, 5, n).astype(np.float32 if n % 2 else np.float64)
        assert _median(x) == float(np.median(x))
        assert _median(x.reshape(1, -1)[:, ::2]) == float(np.median(x[::2]))


def test_strided_detection_gives_the_same_boxes(arena_video):
    """StreamingDetector hands the classical detector strided views instead of copies."""
    from mouseact.preprocess.detection.classical import ClassicalDetector
    from mouseact.preprocess.detection.streaming import StreamingDetector
    from mouseact.video import VideoReader

    with VideoReader(arena_video, backend="av") as vr:
        chunks = [(s, f) for s, f in vr.iter_chunks(64, 1000, 1320)]
    out = []
    for copy in (False, True):
        st = StreamingDetector(ClassicalDetector(), 2, fps=30.0)
        st.prime(arena_video, 32)
        if copy:  # the old way: fancy-indexed copies
            st._detect_at = lambda frames, pos: st._detect(frames[pos])
        for s, f in chunks:
            st.process(s, f)
        out.append((st.raw()[0], st.n_detected))
    assert np.array_equal(out[0][0], out[1][0], equal_nan=True) and out[0][1] == out[1][1]
