"""Detector service over real HTTP on 127.0.0.1 with real frames from ../shared/data."""

from __future__ import annotations

import html
import io
import re
import threading

import numpy as np
import pytest

from mouseact.errors import MouseActError
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


def test_wrong_model_is_refused_before_serving(tmp_path):
    """What needs no loading is checked when the app is built: nothing is served for a wrong model."""
    from mouseact.errors import ModelError
    from mouseact.models import DEFAULT_BUNDLE
    from mouseact.serve.detector_service import create_app

    classifier_dir = DEFAULT_BUNDLE / "classifier"
    with pytest.raises(ModelError, match="^" + re.escape(f"{classifier_dir}: model is a 'classifier', expected "
                                                         "detector") + "$"):
        create_app("yolo", model_path=str(classifier_dir))
    with pytest.raises(ModelError, match=r"the rtdetr detector needs a trained model directory \(--model DIR"):
        create_app("rtdetr")
    with pytest.raises(MouseActError, match="input folder not found"):
        create_app("classical", input_roots=[str(tmp_path / "nope")])


def test_model_that_fails_to_load_keeps_the_app_unhealthy(tmp_path):
    """In-process (``create_app``): a model that fails to load leaves the app up, /health says why (500)
    and model requests are refused. (``mouseact serve`` prints the line and exits: test_serve_cli.)"""
    from mouseact.serve.detector_service import create_app
    from test_serve_cli import fake_detector

    det = fake_detector(tmp_path / "det")
    with ServerThread(create_app("yolo", model_path=str(det))) as srv:
        import time

        deadline = time.monotonic() + 60
        while (status := get_json(srv.url + "/health")[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        status, body = get_json(srv.url + "/health")
        assert status == 500 and body["status"] == "error"
        assert body["error"] == f"{det}: model file weights.pt does not match its checksum (damaged or replaced)"
        status, _, _ = request("POST", srv.url + "/detect/frames", raw=npy(np.zeros((1, 8, 8, 3), np.uint8)),
                               content_type="application/x-npy")
        assert status == 500
        with pytest.raises(Exception, match="failed to load"):
            wait_healthy(srv.url, timeout=5)


def test_unexpected_load_error_names_the_model():
    """An error that is not MouseAct's own (a bug, a library's) still gets one line naming the model."""
    def load():
        raise AttributeError("'list' object has no attribute 'get'")

    slot = ModelSlot(load, source="/models/det")
    seen = []
    slot.on_error = seen.append
    slot.start(background=False)
    assert slot.error == "/models/det: cannot load the model: AttributeError: 'list' object has no attribute 'get'"
    assert seen == [slot] and not slot.ready


# -- GET /docs offline and the documented request bodies -------------------------------------------
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(|<script|<link|cdn\.""", re.I)


def check_docs_page(base_url: str) -> tuple[dict, str]:
    """/docs is one self-contained page listing every operation of /openapi.json (no CDN)."""
    status, spec, _ = request("GET", base_url + "/openapi.json")
    assert status == 200
    status, _, raw = request("GET", base_url + "/docs")
    page = raw.decode()
    assert status == 200 and page.lstrip().lower().startswith("<!doctype html>")
    assert not EXTERNAL.search(page), EXTERNAL.search(page).group(0)  # FastAPI's Swagger UI: cdn.jsdelivr.net
    assert "http://" not in page and "https://" not in page
    n = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            n += 1
            assert f'data-method="{method.upper()}" data-path="{html.escape(path)}"' in page, (method, path)
            assert html.escape(op["summary"]) in page
            for param in op.get("parameters", []):
                assert f"<code>{html.escape(param['name'])}</code>" in page, (path, param["name"])
            for media_type in op.get("requestBody", {}).get("content", {}):
                assert f"<code>{html.escape(media_type)}</code>" in page, (path, media_type)
    assert f"{n} endpoints" in page
    assert request("GET", base_url + "/redoc")[0] == 404  # the other CDN page is off too
    return spec, page


def test_docs_page_works_offline(detector_server):
    spec, page = check_docs_page(detector_server.url)
    assert {"/detect/frames", "/detect/video", "/sessions/{name}/background"} <= set(spec["paths"])
    assert "<code>X-Session</code>" in page and "<code>application/x-npy</code>" in page
    # GET / lists the same routes as the schema
    status, index, _ = request("GET", detector_server.url + "/")
    assert {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item} | {"GET /docs"} \
        == set(index["endpoints"])


@pytest.mark.browser
def test_docs_page_in_headless_chromium(detector_server, tmp_path):
    """What a person sees at /docs with no network: every endpoint drawn, nothing fetched elsewhere."""
    from cdp_browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    spec = request("GET", detector_server.url + "/openapi.json")[1]
    n_ops = sum(len(item) for item in spec["paths"].values())
    with Browser(tmp_path / "profile") as b:
        b.goto(detector_server.url + "/docs")
        b.wait_for(f"document.querySelectorAll('section.op').length === {n_ops}")
        assert b.eval("document.title").startswith("MouseAct detector service")
        shown = b.eval("[...document.querySelectorAll('section.op h2')].map(h => h.innerText.replace(/\\s+/g, ' '))")
        for path, item in spec["paths"].items():
            for method, op in item.items():
                assert f"{method.upper()} {path} {op['summary']}" in shown
        # drawn, not blank: the sections have height, and no request left 127.0.0.1
        assert b.eval("document.querySelector('section.op').getBoundingClientRect().height") > 50
        resources = b.eval("performance.getEntriesByType('resource').map(r => r.name)")
        assert all(r.startswith(detector_server.url) for r in resources), resources
        assert not b.console, b.console


def _schema(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def help_body_keys(service: str, route: str) -> set[str]:
    """The JSON keys ``mouseact serve SERVICE --help`` shows for ``route``'s body."""
    from mouseact.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["serve"]
    text = sub._subparsers._group_actions[0].choices[service].description
    body = re.search(re.escape(route) + r" (\{[^}]*\})", text)
    assert body, f"{service} --help documents no body for {route}: {text}"
    return set(re.findall(r'"(\w+)":', body.group(1)))


def test_requests_as_documented_are_accepted(detector_server, openfield_frames, bsoid_dir):
    """Post exactly what /openapi.json (and so /docs) and the service's --help describe."""
    url = detector_server.url
    spec = request("GET", url + "/openapi.json")[1]

    # POST /detect/frames: a raw .npy body, documented by hand (FastAPI cannot see it)
    op = spec["paths"]["/detect/frames"]["post"]
    body = op["requestBody"]
    assert body["required"] and set(body["content"]) == {"application/x-npy", "application/octet-stream"}
    assert _schema(spec, body["content"]["application/x-npy"]["schema"])["format"] == "binary"
    header = [p for p in op["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in header] == ["X-Session"]
    for media_type in body["content"]:
        status, res, _ = request("POST", url + "/detect/frames", raw=npy(openfield_frames[:4]),
                                 headers={header[0]["name"]: "documented"}, content_type=media_type)
        assert status == 200 and res["session"] == "documented" and res["n_frames"] == 4
    assert set(op["responses"]["200"]["content"]["application/json"]["example"]) == set(res)  # the docs' answer
    bg = spec["paths"]["/sessions/{name}/background"]["post"]
    assert set(bg["requestBody"]["content"]) == set(body["content"])
    assert "X-Frame-Size" in [p["name"] for p in bg["parameters"]]

    # POST /detect/video: a JSON model; the docs' example with a real path is accepted as is
    op = spec["paths"]["/detect/video"]["post"]
    schema = _schema(spec, op["requestBody"]["content"]["application/json"]["schema"])
    assert schema["required"] == ["path"] and set(schema["properties"]) == {"path", "stride"}
    assert schema["additionalProperties"] is False
    assert help_body_keys("detector", "POST /detect/video") == set(schema["properties"])
    example = dict(schema["examples"][0])
    assert set(example) == set(schema["properties"])
    example["path"] = str(bsoid_dir / "mouse1" / "orient_L.mp4")
    status, res, _ = request("POST", url + "/detect/video", example)
    assert status == 200 and res["n_frames"] == 47, res
    assert set(op["responses"]["200"]["content"]["application/json"]["example"]) == set(res)
    # and what the schema refuses is refused with one line naming the field
    status, res, _ = request("POST", url + "/detect/video", {"video": example["path"]})
    assert status == 400 and res["error"] == ('POST /detect/video: body "path": field required; '
                                              'body "video": not a field of this request (see GET /docs)')
    status, res, _ = request("POST", url + "/detect/video", {**example, "stride": 0})
    assert status == 400 and 'body "stride"' in res["error"] and "\n" not in res["error"]
    # validation errors are documented as the 400 one-line answer, not FastAPI's 422 {"detail": [...]}
    assert "422" not in op["responses"] and "400" in op["responses"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]

