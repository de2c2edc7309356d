"""mouseact.errors (one line naming the path) and mouseact.timing (per-stage milliseconds)."""

from __future__ import annotations

import time

import pytest

from mouseact.errors import AnnotationError, ModelError, MouseActError, VideoError
from mouseact.timing import StageTimer


def test_errors_are_one_line_and_name_the_path():
    e = VideoError("cannot open\n  (decoder said:\n bad data)", "/data/m1.mp4")
    assert str(e) == "/data/m1.mp4: cannot open (decoder said: bad data)"
    assert e.path == "/data/m1.mp4"
    assert str(MouseActError("no path here")) == "no path here"
    for cls in (VideoError, AnnotationError, ModelError):
        assert issubclass(cls, MouseActError)


def test_stage_timer():
    timer = StageTimer()
    for _ in range(2):
        with timer.stage("decode"):
            time.sleep(0.01)
    with pytest.raises(RuntimeError):
        with timer.stage("classify"):
            raise RuntimeError("a failing stage is still timed")
    report = timer.report(n_frames=100)
    assert report["decode"]["total_s"] >= 0.02 and timer.calls["decode"] == 2
    # total_s is rounded to 1 ms: 0.5 ms over 100 frames is 0.005 ms/frame
    assert report["decode"]["ms_per_frame"] == pytest.approx(1000 * report["decode"]["total_s"] / 100, abs=0.006)
    assert "classify" in report
    assert timer.line(100).startswith("ms/frame: decode ")
