"""Inference service over real HTTP: jobs from a path and from an upload, real pipeline runs."""

from __future__ import annotations

import json
import threading
import time
import uuid
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

    # a done job keeps its upload until it is deleted; DELETE then removes the job, its outputs, its upload
    upload = Path(snap2["result"]["video"])
    assert upload.is_file() and upload.parent.parent == out / "_uploads"
    for job_id in (body["job_id"], up["job_id"]):
        assert request("DELETE", f"{srv.url}/jobs/{job_id}")[1] == {"job_id": job_id, "status": "deleted"}
        assert request("GET", f"{srv.url}/jobs/{job_id}")[0] == 404
        assert not (out / job_id).exists()
    assert not upload.parent.exists()
    assert video.is_file()  # a job on a path the service reads never touches that video


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


def test_failed_upload_job_drops_its_upload_keeps_its_log(service, bsoid_dir):
    """A failed job's upload is removed as soon as it ends; its log and error stay until DELETE."""
    srv, out = service
    name = f"broken-{uuid.uuid4().hex[:8]}.mp4"
    raw, ctype = multipart("file", name, (bsoid_dir / "mouse1" / "orient_R.mp4").read_bytes()[:3000])
    status, body, _ = request("POST", srv.url + "/jobs/upload", raw=raw, content_type=ctype)
    assert status == 202, body
    snap = wait_job(srv.url + body["status_url"], timeout=120)
    assert snap["status"] == "failed" and name in snap["error"] and snap["full_log"]
    assert not list((out / "_uploads").glob(f"*/{name}"))  # the upload went with the failure
    status, again, _ = request("GET", srv.url + body["status_url"])
    assert status == 200 and again["error"] == snap["error"]  # ... the job (log, error) stays
    assert request("DELETE", srv.url + body["status_url"])[1] == {"job_id": body["job_id"], "status": "deleted"}
    assert request("GET", srv.url + body["status_url"])[0] == 404
    assert request("DELETE", srv.url + body["status_url"])[0] == 404
    assert not (out / body["job_id"]).exists()


def test_upload_retention_and_delete(tmp_path, monkeypatch):
    """Who owns an upload, step by step: the pipeline is replaced by a gate so a job is reliably
    running or queued (the real pipeline's runs: the tests above)."""
    from mouseact.errors import MouseActError
    from mouseact.serve import inference_service

    gate, broken_gate = threading.Event(), threading.Event()

    def pipeline(predictor, video: Path, out_dir: Path, job) -> dict:
        out_dir.mkdir(parents=True)
        (out_dir / "note.txt").write_text(f"read {video.read_bytes()[:4]!r}")
        job.add_log(f"predicting {video.name}")
        if video.name.startswith("slow"):
            gate.wait(60)
        if video.name.startswith("broken"):
            broken_gate.wait(60)
            raise MouseActError("cannot decode the video", video)
        return {"video": str(video), "files": {"note": "note.txt"}}

    monkeypatch.setattr(inference_service, "build_predictor", lambda *a, **k: "predictor")
    monkeypatch.setattr(inference_service, "run_prediction", pipeline)
    out = tmp_path / "out"
    on_disk = tmp_path / "on_disk.mp4"
    on_disk.write_bytes(b"a video the service reads in place")

    def upload(name: str) -> tuple[str, Path]:
        raw, ctype = multipart("file", name, b"video bytes of " + name.encode())
        status, body, _ = request("POST", srv.url + "/jobs/upload", raw=raw, content_type=ctype)
        assert status == 202, body
        (folder,) = [p.parent for p in (out / "_uploads").glob(f"*/{name}")]
        return body["job_id"], folder

    def status_of(job_id: str, until=("done", "failed", "cancelled")) -> str:
        deadline = time.monotonic() + 30
        while (st := request("GET", f"{srv.url}/jobs/{job_id}")[1]["status"]) not in until:
            assert time.monotonic() < deadline, st
            time.sleep(0.05)
        return st

    def delete(job_id: str) -> dict:
        status, body, _ = request("DELETE", f"{srv.url}/jobs/{job_id}")
        assert status == 200, body
        return body

    with ServerThread(inference_service.create_app(out_dir=str(out))) as srv:
        wait_healthy(srv.url, timeout=60)
        running, running_upload = upload("slow.mp4")
        assert status_of(running, ("running",)) == "running"
        queued, queued_upload = upload("queued.mp4")
        assert delete(queued) == {"job_id": queued, "status": "cancelled"}
        assert not queued_upload.exists()  # a job that will never run drops its upload at once
        assert delete(running) == {"job_id": running, "status": "running"}  # cancelling: ends after its video
        assert running_upload.is_dir()  # still being read
        gate.set()
        assert status_of(running) == "cancelled" and not running_upload.exists()
        assert (out / running / "note.txt").is_file()  # what it wrote stays until it is deleted
        assert delete(running) == {"job_id": running, "status": "deleted"}
        assert not (out / running).exists() and request("GET", f"{srv.url}/jobs/{running}")[0] == 404

        broken, broken_upload = upload("broken.mp4")
        assert status_of(broken, ("running",)) == "running" and broken_upload.is_dir()
        broken_gate.set()
        assert status_of(broken) == "failed" and not broken_upload.exists()
        snap = request("GET", f"{srv.url}/jobs/{broken}")[1]
        assert snap["log"] == ["predicting broken.mp4"] and "cannot decode the video" in snap["error"]
        assert (out / broken / "note.txt").is_file()

        done, done_upload = upload("good.mp4")
        assert status_of(done) == "done" and (done_upload / "good.mp4").is_file()  # kept with its job
        status, _, note = request("GET", f"{srv.url}/jobs/{done}/files/note.txt")
        assert status == 200 and note == b"read b'vide'"
        assert delete(done) == {"job_id": done, "status": "deleted"}
        assert not done_upload.exists() and not (out / done).exists()
        assert request("GET", f"{srv.url}/jobs/{done}/files/note.txt")[0] == 404

        status, body, _ = request("POST", srv.url + "/jobs", {"video": str(on_disk)})
        assert status_of(body["job_id"]) == "done"
        assert delete(body["job_id"])["status"] == "deleted"
        assert on_disk.is_file() and not (out / body["job_id"]).exists()  # the input itself is not the job's

        kept, kept_upload = upload("kept.mp4")
        assert status_of(kept) == "done" and kept_upload.is_dir()
    # jobs live in memory: once the service stops, no job owns an upload any more
    assert not kept_upload.exists() and (out / kept / "note.txt").is_file() and (out / broken).is_dir()
    assert list((out / "_uploads").iterdir()) == []


def test_inference_app_refuses_bad_arguments(tmp_path):
    """What needs no loading is refused when the app is built, before anything is written."""
    from mouseact.errors import ModelError, MouseActError
    from mouseact.serve.inference_service import create_app

    out = tmp_path / "out"
    with pytest.raises(ModelError, match="model directory not found"):
        create_app(model_dir=str(tmp_path / "nope"), out_dir=str(out))
    with pytest.raises(ModelError, match="needs a trained model directory"):
        create_app(detector="rtdetr", out_dir=str(out))
    with pytest.raises(MouseActError, match="input folder not found"):
        create_app(input_roots=[str(tmp_path / "nope")], out_dir=str(out))
    assert not out.exists()
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(MouseActError, match="not a folder"):
        create_app(out_dir=str(a_file))


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


def test_docs_and_job_body_agree(service, tmp_path):
    """/docs works offline, and POST /jobs takes exactly the body that the schema and --help show."""
    from test_serve_detector import _schema, check_docs_page, help_body_keys

    srv, _ = service
    spec, page = check_docs_page(srv.url)
    assert {"/jobs", "/jobs/upload", "/jobs/{job_id}", "/jobs/{job_id}/files/{rel}"} <= set(spec["paths"])
    op = spec["paths"]["/jobs"]["post"]
    schema = _schema(spec, op["requestBody"]["content"]["application/json"]["schema"])
    assert schema["required"] == ["video"] and set(schema["properties"]) == {"video"}
    assert schema["additionalProperties"] is False
    assert help_body_keys("inference", "POST /jobs") == {"video"}
    assert "202" in op["responses"] and "422" not in op["responses"]
    upload = spec["paths"]["/jobs/upload"]["post"]["requestBody"]["content"]
    assert _schema(spec, upload["multipart/form-data"]["schema"])["required"] == ["file"]

    # the docs' example, with a path that does not exist: accepted as a body, refused as a video
    example = {**_schema(spec, schema)["examples"][0], "video": str(tmp_path / "missing.mp4")}
    status, body, _ = request("POST", srv.url + "/jobs", example)
    assert status == 400 and body["error"] == f"{tmp_path / 'missing.mp4'}: video not found (the path must be " \
                                              "visible to the service)"
    # an empty body names the documented field, never another one
    status, body, _ = request("POST", srv.url + "/jobs", {})
    assert status == 400 and body["error"] == 'POST /jobs: body "video": field required'
    status, body, _ = request("POST", srv.url + "/jobs", {"path": str(tmp_path / "x.mp4")})
    assert status == 400 and 'body "path": not a field of this request' in body["error"]
    status, body, _ = request("POST", srv.url + "/jobs", raw=b"{not json", content_type="application/json")
    assert status == 400 and "not valid JSON" in body["error"]


@pytest.mark.browser
def test_inference_docs_in_headless_chromium(service, tmp_path):
    from cdp_browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    srv, _ = service
    spec = request("GET", srv.url + "/openapi.json")[1]
    with Browser(tmp_path / "profile") as b:
        b.goto(srv.url + "/docs")
        n_ops = sum(len(item) for item in spec["paths"].values())
        b.wait_for(f"document.querySelectorAll('section.op').length === {n_ops}")
        text = b.eval("document.body.innerText")
        assert "POST\n/jobs" in text or "POST /jobs" in text.replace("\n", " ")
        assert "video" in b.eval("document.querySelector('section[data-path=\"/jobs\"][data-method=\"POST\"] table')"
                                 ".innerText")
        resources = b.eval("performance.getEntriesByType('resource').map(r => r.name)")
        assert all(r.startswith(srv.url) for r in resources), resources
