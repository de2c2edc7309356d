"""Inference service: videos in, behaviour intervals out, over HTTP.

The pipeline (``mouseact.inference.Predictor``) is loaded once when the service starts; each
request becomes a job run by one worker thread (CPU-bound work runs one at a time).

Endpoints
- ``GET /health``               200 only once the model bundle is loaded; 503 while loading; 500 if
                                 loading failed (with the error line).
- ``POST /jobs``                 JSON ``{"video": "/path/seen/by/the/service.mp4"}`` (``JobRequest``)
                                 → 202 ``{"job_id", ...}``
- ``POST /jobs/upload``          multipart form field ``file`` (a video) → 202 ``{"job_id", ...}``
- ``GET /jobs``                  all jobs (newest last), without their logs
- ``GET /jobs/{id}?since=N``     status, progress, log lines from N on, error, result when done
- ``GET /jobs/{id}/result``      the result JSON (409 until the job is done)
- ``GET /jobs/{id}/files/{rel}``  an output file of the job (ethogram PNG, CSVs, predictions JSON)
- ``DELETE /jobs/{id}``          cancel a queued job (a running pipeline finishes its video)
- ``GET /docs``                  every endpoint with its parameters, bodies and answers, drawn from the
                                 OpenAPI schema (``/openapi.json``) as one offline HTML page

Each job writes the usual per-video outputs (``mouseact.export.write_video_outputs``) and the
batch tables for that one video under ``OUT/<job_id>/``.
"""


import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mouseact.errors import MouseActError
from mouseact.serve.common import (ModelSlot, check_video_path, endpoint_list, error_response, error_responses,
                                   health_response, lifespan_loading, service_app)
from mouseact.serve.jobs import DONE, FINISHED, Job, JobRunner

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class JobRequest(BaseModel):
    """A video the service can read (inside the container: a mounted path); for a video on the
    client's side use ``POST /jobs/upload``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"video": "/data/input/mouse1.mp4"}]})
    video: str = Field(min_length=1, description="the video file, as a path the service can see")


_SUBMITTED = {202: {"description": "queued: poll status_url until status is done, failed or cancelled",
                    "content": {"application/json": {"example": {
                        "job_id": "3f2a9c1b7d4e", "status": "queued", "status_url": "/jobs/3f2a9c1b7d4e",
                        "result_url": "/jobs/3f2a9c1b7d4e/result"}}}}}


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
    from fastapi import File, Query, UploadFile
    from fastapi.responses import FileResponse, JSONResponse

    out_root = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="mouseact-serve-"))
    out_root.mkdir(parents=True, exist_ok=True)
    upload_root = out_root / "_uploads"
    runner = JobRunner()
    slot = ModelSlot(lambda: build_predictor(model_dir, detector, detector_model, detector_url, dense),
                     describe={"service": "inference", "model_dir": model_dir or "default",
                               "detector": "remote " + detector_url if detector_url else detector or "bundle's",
                               "dense": dense, "out_dir": str(out_root)})
    app = service_app("MouseAct inference service",
                      "Behaviour intervals for a video: POST /jobs (or /jobs/upload), then poll GET "
                      "/jobs/{id}. GET /health is 200 only once the model is loaded.",
                      lifespan_loading(slot, load_in_background, on_shutdown=runner.shutdown))
    app.state.slot, app.state.runner, app.state.out_root = slot, runner, out_root

    def submit(video: Path, params: dict) -> JSONResponse:
        def work(job: Job) -> dict:
            return run_prediction(slot.value, video, out_root / job.id, job)

        job = runner.submit("infer", params, work)
        return JSONResponse(status_code=202, content={"job_id": job.id, "status": job.status,
                                                      "status_url": f"/jobs/{job.id}",
                                                      "result_url": f"/jobs/{job.id}/result"})

    @app.get("/health", summary="200 once the model bundle is loaded (503 loading, 500 failed)",
             responses=error_responses(500, 503))
    def health():
        """What docker-compose's healthcheck and ``wait_healthy`` poll."""
        return health_response(slot)

    @app.get("/", summary="the service's name and endpoints")
    def index():
        return {"service": app.title, "endpoints": endpoint_list(app)}

    @app.post("/jobs", status_code=202, summary="run the pipeline on a video the service can read",
              responses={**_SUBMITTED, **error_responses(400, 500, 503)})
    def create_job(payload: JobRequest):
        """One job per video, run in submission order; with ``--input-root`` only videos under those
        folders."""
        if not slot.ready:
            return health_response(slot)
        try:
            video = check_video_path(payload.video, input_roots, "video")
        except MouseActError as exc:
            return error_response(400, str(exc))
        return submit(video, {"video": str(video)})

    @app.post("/jobs/upload", status_code=202, summary="run the pipeline on an uploaded video",
              responses={**_SUBMITTED, **error_responses(400, 500, 503)})
    def upload_job(file: UploadFile = File(..., description="the video file (by its extension: .mp4, .avi, ...)")):
        """A multipart form with one file field ``file`` (what a browser form or ``curl -F file=@v.mp4`` sends)."""
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

    @app.get("/jobs", summary="every job, oldest first, without logs and results")
    def list_jobs():
        return [{k: v for k, v in j.snapshot().items() if k not in ("log", "result")} for j in runner.list()]

    @app.get("/jobs/{job_id}", summary="a job's status, progress, new log lines, error, result when done",
             responses={200: {"description": "the job's snapshot", "content": {"application/json": {"example": {
                 "id": "3f2a9c1b7d4e", "kind": "infer", "status": "running",
                 "params": {"video": "/data/input/mouse1.mp4"}, "progress": 0.42,
                 "progress_text": "mouse1.mp4: decoded 420/1000 frames", "log": ["predicting mouse1.mp4"],
                 "log_next": 1, "error": None, "result": None, "elapsed_s": 3.1}}}},
                        **error_responses(404)})
    def job_status(job_id: str,
                   since: int = Query(0, description="return log lines from this number on (the previous "
                                                     "answer's log_next), so polling streams the log")):
        job = runner.get(job_id)
        if job is None:
            return error_response(404, f"no job {job_id}")
        return job.snapshot(since)

    @app.get("/jobs/{job_id}/result", summary="the result: intervals per behaviour, timing, output files",
             responses=error_responses(404, 409, 422))
    def job_result(job_id: str):
        job = runner.get(job_id)
        if job is None:
            return error_response(404, f"no job {job_id}")
        if job.status != DONE:
            snap = job.snapshot()
            code = 409 if job.status not in FINISHED else 422
            return JSONResponse(status_code=code, content={"status": job.status, "error": snap["error"]})
        return job.result

    @app.get("/jobs/{job_id}/files/{rel:path}", summary="an output file of a finished job",
             responses={200: {"description": "the file (ethogram PNG, CSV tables, predictions JSON); "
                                             "its path is one of the result's files"},
                        **error_responses(404)})
    def job_file(job_id: str, rel: str):
        job = runner.get(job_id)
        if job is None or job.status != DONE:
            return error_response(404, f"no finished job {job_id}")
        base = (out_root / job_id).resolve()
        target = (base / rel).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return error_response(404, f"no file {rel} in job {job_id}")
        return FileResponse(target)

    @app.delete("/jobs/{job_id}", summary="cancel a queued job (a running one finishes its video)",
                responses=error_responses(404))
    def cancel_job(job_id: str):
        job = runner.cancel(job_id)
        if job is None:
            return error_response(404, f"no job {job_id}")
        return {"job_id": job.id, "status": job.status}

    return app


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
