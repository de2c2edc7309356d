"""Inference service over real HTTP: jobs from a path and from an upload, real pipeline runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mouseact.serve.client import wait_healthy
from serve_http import ServerThread, multipart, request, wait_job


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from mouseact.serve.inference_service import create_app

    out = tmp_path_factory.mktemp("serve-out")
    app = create_app(out_dir=str(out))
    with ServerThread(app) as srv:
        health = wait_healthy(srv.url, timeout=180)
        assert health["service"] == "inference" and health["model_dir"] == "default"
        yield srv, out


@pytest.mark.slow
def test_video_path_job_and_upload_job_agree(service, bsoid_dir):
    srv, out = service
    video = bsoid_dir / "mouse1" / "rear_plus.mp4"
    status, body, _ = request("POST", srv.url + "/jobs", {"video": str(video)})
    assert status == 202 and body["status_url"] == f"/jobs/{body['job_id']}"
    snap = wait_job(srv.url + body["status_url"], timeout=400)
    assert snap["status"] == "done", (snap["error"], snap["full_log"][-10:])
    assert snap["progress"] == 1.0
    status, result, _ = request("GET", f"{srv.url}/jobs/{body['job_id']}/result")
    assert status == 200 and result == snap["result"]
    assert result["n_frames"] == 125 and result["fps"] == pytest.approx(15.0) and result["classes"]
    for iv in result["intervals"]:
        assert 0 <= iv["frame_range"][0] <= iv["frame_range"][1] <= 124
        assert iv["label"] in result["classes"] and 0 <= iv["confidence"] <= 1
    assert set(result["steps_ms_per_frame"]) == {"preprocess", "inference", "postprocess"}
    # outputs on disk match the JSON, and are served
    job_dir = out / body["job_id"]
    on_disk = json.loads((job_dir / result["files"]["predictions"]).read_text())
    assert on_disk == result["intervals"]
    status, _, png = request("GET", f"{srv.url}/jobs/{body['job_id']}/files/{result['files']['ethogram']}")
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert request("GET", f"{srv.url}/jobs/{body['job_id']}/files/../../etc/passwd")[0] == 404

    # the same video uploaded (what a browser/remote client does) gives the same intervals
    raw, ctype = multipart("file", "rear_plus.mp4", video.read_bytes())
    status, up, _ = request("POST", srv.url + "/jobs/upload", raw=raw, content_type=ctype)
    assert status == 202, up
    snap2 = wait_job(srv.url + up["status_url"], timeout=400)
    assert snap2["status"] == "done", snap2["error"]
    assert snap2["result"]["intervals"] == result["intervals"]
    listed = request("GET", srv.url + "/jobs")[1]
    assert [j["id"] for j in listed][-2:] == [body["job_id"], up["job_id"]]


def test_bad_requests(service, tmp_path):
    srv, _ = service
    missing = tmp_path / "x.mp4"
    status, body, _ = request("POST", srv.url + "/jobs", {"video": str(missing)})
    assert status == 400 and body["error"].startswith(f"{missing}: video not found")
    status, body, _ = request("POST", srv.url + "/jobs", {})
    assert status == 400 and "video" in body["error"]
    raw, ctype = multipart("file", "notes.txt", b"hello")
    status, body, _ = request("POST", srv.url + "/jobs/upload", raw=raw, content_type=ctype)
    assert status == 400 and "not a video file" in body["error"]
    assert request("GET", srv.url + "/jobs/nope")[0] == 404
    assert request("GET", srv.url + "/jobs/nope/result")[0] == 404


def test_broken_video_job_fails_with_one_line(service, tmp_path, bsoid_dir):
    srv, _ = service
    broken = tmp_path / "truncated.mp4"
    broken.write_bytes((bsoid_dir / "mouse1" / "orient_R.mp4").read_bytes()[:3000])
    status, body, _ = request("POST", srv.url + "/jobs", {"video": str(broken)})
    assert status == 202
    snap = wait_job(srv.url + body["status_url"], timeout=120)
    assert snap["status"] == "failed" and str(broken) in snap["error"] and "\n" not in snap["error"]
    status, res, _ = request("GET", f"{srv.url}/jobs/{body['job_id']}/result")
    assert status == 422 and res["status"] == "failed"


def test_inference_service_on_the_detector_service(tmp_path, bsoid_dir):
    """``serve inference --detector-url``: stage 0 done by the detector service (the compose layout)."""
    from mouseact.serve.detector_service import create_app as detector_app
    from mouseact.serve.inference_service import create_app

    video = bsoid_dir / "mouse2" / "orient_L.mp4"
    with ServerThread(detector_app("classical")) as det:
        with ServerThread(create_app(detector_url=det.url, out_dir=str(tmp_path))) as srv:
            health = wait_healthy(srv.url, timeout=180)
            assert health["detector"] == f"remote {det.url}"
            status, body, _ = request("POST", srv.url + "/jobs", {"video": str(video)})
            snap = wait_job(srv.url + body["status_url"], timeout=300)
            assert snap["status"] == "done", snap["error"]
            assert snap["result"]["n_frames"] == 47
        status, stats, _ = request("GET", det.url + "/stats")
        assert stats["frames"] > 0 and stats["sessions"] >= 1
