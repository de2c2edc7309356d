"""Detector service over real HTTP on 127.0.0.1 with real frames from ../shared/data."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from mouseact.serve.client import RemoteDetector, get_json, wait_healthy
from mouseact.serve.common import ModelSlot, health_response
from mouseact.video import VideoReader
from serve_http import ServerThread, request

N_FRAMES = 48


@pytest.fixture(scope="module")
def openfield_frames(openfield_video) -> np.ndarray:
    with VideoReader(openfield_video) as vr:
        return vr.get_frames(range(N_FRAMES))


@pytest.fixture(scope="module")
def detector_server():
    from mouseact.serve.detector_service import create_app

    with ServerThread(create_app("classical")) as srv:
        wait_healthy(srv.url, timeout=60)
        yield srv


def npy(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, frames)
    return buf.getvalue()


def local_boxes(frames: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    from mouseact.preprocess.detection import make_detector

    det = make_detector("classical")
    parts = [det.detect(frames[i:i + chunk]) for i in range(0, len(frames), chunk)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def test_health_is_ready_only_after_loading():
    """/health: 503 while the model loads, 200 after, 500 with the reason when loading fails."""
    from fastapi import FastAPI

    release = threading.Event()

    def slow_load():
        release.wait(30)
        return "model"

    def broken_load():
        raise ValueError("weights.pt is not a detector")

    slow, broken = ModelSlot(slow_load, {"service": "test"}), ModelSlot(broken_load)
    app = FastAPI()
    app.get("/slow")(lambda: health_response(slow))
    app.get("/broken")(lambda: health_response(broken))
    slow.start(background=True)
    broken.start(background=False)
    with ServerThread(app) as srv:
        status, body = get_json(srv.url + "/slow")
        assert status == 503 and body["status"] == "loading"
        release.set()
        slow._thread.join(10)
        status, body = get_json(srv.url + "/slow")
        assert status == 200 and body["status"] == "ok" and body["service"] == "test"
        status, body = get_json(srv.url + "/broken")
        assert status == 500 and body["error"] == "weights.pt is not a detector"


def test_frames_over_http_equal_local_detection(detector_server, openfield_frames):
    """The service returns exactly what the same detector gives locally (nothing lost in transport)."""
    url = detector_server.url
    want_boxes, want_scores = local_boxes(openfield_frames, 16)
    got = []
    for i in range(0, N_FRAMES, 16):
        status, body, _ = request("POST", url + "/detect/frames", raw=npy(openfield_frames[i:i + 16]),
                                  headers={"X-Session": "t1"}, content_type="application/x-npy")
        assert status == 200, body
        assert body["n_frames"] == 16 and len(body["boxes"]) == 16 and len(body["scores"]) == 16
        got += body["boxes"]
    boxes = np.array([[np.nan] * 4 if b is None else b for b in got], dtype=np.float64)
    np.testing.assert_allclose(boxes, want_boxes, atol=0.01, equal_nan=True)
    # a real mouse is in these frames: most of them have a box inside the 640x480 frame
    found = np.isfinite(boxes).all(1)
    assert found.mean() > 0.5
    assert (boxes[found, 0] >= 0).all() and (boxes[found, 2] <= 640).all() and (boxes[found, 3] <= 480).all()


def test_remote_detector_is_a_detector(detector_server, openfield_frames):
    """RemoteDetector = the Detector protocol over HTTP, with its own session state."""
    want_boxes, want_scores = local_boxes(openfield_frames, 24)
    remote = RemoteDetector(detector_server.url)
    parts = [remote.detect(openfield_frames[i:i + 24]) for i in range(0, N_FRAMES, 24)]
    boxes = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    assert boxes.dtype == np.float32 and boxes.shape == (N_FRAMES, 4) and scores.shape == (N_FRAMES,)
    np.testing.assert_allclose(boxes, want_boxes, atol=0.01, equal_nan=True)
    np.testing.assert_allclose(scores, want_scores, atol=1e-3, equal_nan=True)
    remote.reset()
    status, body = get_json(f"{detector_server.url}/health")
    assert status == 200


def test_remote_background_priming_matches_local(detector_server, openfield_video, openfield_frames):
    """The pipeline primes the background from frames across the video; remotely too."""
    from mouseact.preprocess.detection import make_detector
    from mouseact.preprocess.detection.streaming import prime_detector

    local, remote = make_detector("classical"), RemoteDetector(detector_server.url)
    assert hasattr(remote, "fit_background") and remote.config.work_width == local.config.work_width
    prime_detector(local, openfield_video, 16)
    prime_detector(remote, openfield_video, 16)
    want, _ = local.detect(openfield_frames[:32])
    got, _ = remote.detect(openfield_frames[:32])
    np.testing.assert_allclose(got, want, atol=0.01, equal_nan=True)
    # unprimed, the first frames come out differently: priming really reached the service
    fresh, _ = RemoteDetector(detector_server.url).detect(openfield_frames[:32])
    assert not np.allclose(fresh, got, atol=0.01, equal_nan=True)


def test_whole_video_track(detector_server, bsoid_dir):
    from mouseact.preprocess.detection.streaming import detect_video

    video = bsoid_dir / "mouse1" / "orient_L.mp4"
    status, body, _ = request("POST", detector_server.url + "/detect/video", {"path": str(video), "stride": 2})
    assert status == 200, body
    local = detect_video(video, "classical", stride=2, progress=False)
    assert body["n_frames"] == len(local.boxes) == 47 and body["fps"] == pytest.approx(15.0)
    boxes = np.array([[np.nan] * 4 if b is None else b for b in body["boxes"]])
    np.testing.assert_allclose(boxes, local.boxes, atol=0.01, equal_nan=True)
    assert body["lost"] == [bool(x) for x in local.lost]


def test_bad_requests_get_one_line_errors(detector_server, tmp_path):
    url = detector_server.url
    status, body, _ = request("POST", url + "/detect/frames", raw=b"not an array", content_type="application/x-npy")
    assert status == 400 and body["error"].startswith("body is not a .npy array")
    status, body, _ = request("POST", url + "/detect/frames", raw=npy(np.zeros((2, 8, 8), np.float32)),
                              content_type="application/x-npy")
    assert status == 400 and "uint8 (T, H, W, 3)" in body["error"]
    missing = tmp_path / "nope.mp4"
    status, body, _ = request("POST", url + "/detect/video", {"path": str(missing)})
    assert status == 400 and body["error"] == f"{missing}: video not found (the path must be visible to the service)"
    text = tmp_path / "notes.txt"
    text.write_text("x")
    status, body, _ = request("POST", url + "/detect/video", {"path": str(text)})
    assert status == 400 and "not a video file" in body["error"]
    status, body, _ = request("POST", url + "/detect/video", {"path": str(text), "stride": 0})
    assert status == 400


def test_input_roots_confine_paths(bsoid_dir, tmp_path):
    from mouseact.serve.detector_service import create_app

    with ServerThread(create_app("classical", input_roots=[str(tmp_path)])) as srv:
        wait_healthy(srv.url, timeout=60)
        video = bsoid_dir / "mouse1" / "orient_R.mp4"
        status, body, _ = request("POST", srv.url + "/detect/video", {"path": str(video)})
        assert status == 400 and "outside the service's input folders" in body["error"]


def test_healthcheck_command_exit_codes(detector_server):
    """The command the images and compose run: 0 when healthy, 1 when down."""
    import subprocess
    import sys

    from serve_http import free_port

    ok = subprocess.run([sys.executable, "-m", "mouseact.serve.healthcheck", detector_server.url + "/health"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("healthy:")
    down = subprocess.run([sys.executable, "-m", "mouseact.serve.healthcheck",
                           f"http://127.0.0.1:{free_port()}/health"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "unhealthy" in down.stderr


def test_wrong_model_keeps_service_up_and_unhealthy():
    """A model directory that is not a detector: /health says why (500), requests are refused."""
    from mouseact.models import DEFAULT_BUNDLE
    from mouseact.serve.detector_service import create_app

    classifier_dir = DEFAULT_BUNDLE / "classifier"
    with ServerThread(create_app("yolo", model_path=str(classifier_dir))) as srv:
        import time

        deadline = time.monotonic() + 60
        while (status := get_json(srv.url + "/health")[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        status, body = get_json(srv.url + "/health")
        assert status == 500 and body["status"] == "error"
        assert body["error"] == f"{classifier_dir}: model is a 'classifier', expected detector"
        status, _, _ = request("POST", srv.url + "/detect/frames", raw=npy(np.zeros((1, 8, 8, 3), np.uint8)),
                               content_type="application/x-npy")
        assert status == 500
        with pytest.raises(Exception, match="failed to load"):
            wait_healthy(srv.url, timeout=5)
