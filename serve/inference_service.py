"""Inference service: videos in, behaviour intervals out, over HTTP.

The pipeline (``mouseact.inference.Predictor``) is loaded once when the service starts; each
request becomes a job run by one worker thread (CPU-bound work runs one at a time).

Endpoints
- ``GET /health``               200 only once the model bundle is loaded; 503 while loading; 500 if
                                 loading failed (with the error line).
- ``POST /jobs``                 JSON ``{"video": "/path/seen/by/the/service.mp4"}`` → 202 ``{"job_id", ...}``
- ``POST /jobs/upload``          multipart form field ``file`` (a video) → 202 ``{"job_id", ...}``
- ``GET /jobs``                  all jobs (newest last), without their logs
- ``GET /jobs/{id}?since=N``     status, progress, log lines from N on, error, result when done
- ``GET /jobs/{id}/result``      the result JSON (409 until the job is done)
- ``GET /jobs/{id}/files/{rel}``  an output file of the job (ethogram PNG, CSVs, predictions JSON)
- ``DELETE /jobs/{id}``          cancel a queued job (a running pipeline finishes its video)

Each job writes the usual per-video outputs (``mouseact.export.write_video_outputs``) and the
batch tables for that one video under ``OUT/<job_id>/``.
"""


import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mouseact.errors import MouseActError
from mouseact.serve.common import (ModelSlot, check_video_path, error_response, health_response,
                                   lifespan_loading)
from mouseact.serve.jobs import DONE, FINISHED, Job, JobRunner

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def build_predictor(model_dir: str | None = None, detector: str | None = None, detector_model: str | None = None,
                    detector_url: str | None = None, dense: bool = False):
    """The pipeline's Predictor, with the detector local or (``detector_url``) the detector service."""
    from mouseact.inference import Predictor

    if detector_url:
        from mouseact.serve.client import RemoteDetector, wait_healthy

        wait_healthy(detector_url, timeout=300)
        return Predictor(model_dir, detector=RemoteDetector(detector_url), dense=dense, progress_bars=False)
    return Predictor(model_dir, detector=detector, detector_model=detector_model, dense=dense, progress_bars=False)


def run_prediction(predictor, video: Path, out_dir: Path, job: Job | None = None) -> dict:
    """Predict one video, write its outputs under ``out_dir``, return the JSON result."""
    from mouseact import export
    from mouseact.video import video_hash

    if job is not None:
        job.add_log(f"predicting {video.name}")
        job.set_progress(0.0, f"{video.name}: running the pipeline")
    t0 = time.perf_counter()
    progress = None
    if job is not None:
        def progress(done: int, total: int) -> None:
            job.set_progress(0.9 * done / max(total, 1), f"{video.name}: decoded {done}/{total} frames")
    result = predictor.predict(video, progress=progress)
    seconds = time.perf_counter() - t0
    classes = list(predictor.classes)
    name = result.name
    written = export.write_video_outputs(out_dir, name, result.info, result.intervals, result.track, classes,
                                         model=str(predictor.bundle.root), candidates=result.candidates,
                                         postprocess=predictor.config.postprocess.model_dump(),
                                         settings={**predictor.run_settings(), "video_key": video_hash(video)})
    batch = export.write_batch_outputs(out_dir, [result], classes, project=False)
    info = result.info
    n_frames = int(getattr(info, "n_frames", 0))
    files = {kind: str(Path(p).relative_to(out_dir)) for kind, p in {**written, **batch}.items()}
    if job is not None:
        job.add_log(f"{video.name}: {len(result.intervals)} intervals, {n_frames} frames in {seconds:.1f} s")
    return {
        "video": str(video),
        "name": name,
        "fps": float(getattr(info, "fps", 0.0)),
        "n_frames": n_frames,
        "classes": classes,
        "intervals": [iv.to_json() for iv in result.intervals],
        "timing": result.timing,
        "steps_ms_per_frame": result.steps_ms_per_frame,
        "n_candidates": result.n_candidates,
        "seconds": round(seconds, 3),
        "files": files,
    }


def create_app(model_dir: str | None = None, detector: str | None = None, detector_model: str | None = None,
               detector_url: str | None = None, dense: bool = False, out_dir: str | None = None,
               input_roots: list[str] | None = None, load_in_background: bool = True):
    from fastapi import FastAPI, File, UploadFile
    from fastapi.responses import FileResponse, JSONResponse

    out_root = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="mouseact-serve-"))
    out_root.mkdir(parents=True, exist_ok=True)
    upload_root = out_root / "_uploads"
    runner = JobRunner()
    slot = ModelSlot(lambda: build_predictor(model_dir, detector, detector_model, detector_url, dense),
                     describe={"service": "inference", "model_dir": model_dir or "default",
                               "detector": "remote " + detector_url if detector_url else detector or "bundle's",
                               "dense": dense, "out_dir": str(out_root)})
    app = FastAPI(title="MouseAct inference service",
                  description="Behaviour intervals for a video: POST /jobs, then poll GET /jobs/{id}. "
                              "GET /health is 200 only once the model is loaded.",
                  lifespan=lifespan_loading(slot, load_in_background, on_shutdown=runner.shutdown))
    app.state.slot, app.state.runner, app.state.out_root = slot, runner, out_root

    def submit(video: Path, params: dict) -> JSONResponse:
        def work(job: Job) -> dict:
            return run_prediction(slot.value, video, out_root / job.id, job)

        job = runner.submit("infer", params, work)
        return JSONResponse(status_code=202, content={"job_id": job.id, "status": job.status,
                                                      "status_url": f"/jobs/{job.id}",
                                                      "result_url": f"/jobs/{job.id}/result"})

    @app.get("/health")
    def health():
        return health_response(slot)

    @app.get("/")
    def index():
        return {"service": app.title, "endpoints": ["GET /health", "POST /jobs", "POST /jobs/upload", "GET /jobs", "GET /jobs/{id}", "GET /jobs/{id}/result", "GET /jobs/{id}/files/{path}", "DELETE /jobs/{id}", "GET /docs"]}

    @app.post("/jobs")
    def create_job(payload: dict):
        if not slot.ready:
            return health_response(slot)
        try:
            video = check_video_path(payload.get("video") or payload.get("path"), input_roots)
        except MouseActError as exc:
            return error_response(400, str(exc))
        return submit(video, {"video": str(video)})

    @app.post("/jobs/upload")
    def upload_job(file: UploadFile = File(...)):
        if not slot.ready:
            return health_response(slot)
        from mouseact.video import is_video_file

        name = _SAFE_NAME.sub("_", Path(file.filename or "upload.mp4").name).lstrip(".") or "upload.mp4"
        if not is_video_file(name):
            return error_response(400, f"{file.filename}: not a video file (by extension)")
        dest_dir = Path(tempfile.mkdtemp(prefix="job-", dir=_mkdir(upload_root)))
        dest = dest_dir / name
        with open(dest, "wb") as f:
            shutil.copyfileobj(file.file, f, length=1 << 20)
        if dest.stat().st_size == 0:
            shutil.rmtree(dest_dir, ignore_errors=True)
            return error_response(400, f"{file.filename}: empty upload")
        return submit(dest, {"video": name, "uploaded": True})

    @app.get("/jobs")
    def list_jobs():
        return [{k: v for k, v in j.snapshot().items() if k not in ("log", "result")} for j in runner.list()]

    @app.get("/jobs/{job_id}")
    def job_status(job_id: str, since: int = 0):
        job = runner.get(job_id)
        if job is None:
            return error_response(404, f"no job {job_id}")
        return job.snapshot(since)

    @app.get("/jobs/{job_id}/result")
    def job_result(job_id: str):
        job = runner.get(job_id)
        if job is None:
            return error_response(404, f"no job {job_id}")
        if job.status != DONE:
            snap = job.snapshot()
            code = 409 if job.status not in FINISHED else 422
            return JSONResponse(status_code=code, content={"status": job.status, "error": snap["error"]})
        return job.result

    @app.get("/jobs/{job_id}/files/{rel:path}")
    def job_file(job_id: str, rel: str):
        job = runner.get(job_id)
        if job is None or job.status != DONE:
            return error_response(404, f"no finished job {job_id}")
        base = (out_root / job_id).resolve()
        target = (base / rel).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return error_response(404, f"no file {rel} in job {job_id}")
        return FileResponse(target)

    @app.delete("/jobs/{job_id}")
    def cancel_job(job_id: str):
        job = runner.cancel(job_id)
        if job is None:
            return error_response(404, f"no job {job_id}")
        return {"job_id": job.id, "status": job.status}

    return app


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
