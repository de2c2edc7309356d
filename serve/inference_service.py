"""Inference service: videos in, behaviour intervals out, over HTTP.

The pipeline (``mouseact.inference.Predictor``) is loaded once when the service starts; each
request becomes a job run by one worker thread (CPU-bound work runs one at a time).

Endpoints
- ``GET /health``               200 only once the model bundle is loaded; 503 while loading; 500 if
                                 loading failed (with the error line; ``mouseact serve inference`` then
                                 prints that line and exits with status 2).
- ``POST /jobs``                 JSON ``{"video": "/path/seen/by/the/service.mp4"}`` (``JobRequest``)
                                 → 202 ``{"job_id", ...}``
- ``POST /jobs/upload``          multipart form field ``file`` (a video) → 202 ``{"job_id", ...}``
- ``GET /jobs``                  all jobs (newest last), without their logs
- ``GET /jobs/{id}?since=N``     status, progress, log lines from N on, error, result when done
- ``GET /jobs/{id}/result``      the result JSON (409 until the job is done)
- ``GET /jobs/{id}/files/{rel}``  an output file of the job (ethogram PNG, CSVs, predictions JSON)
- ``DELETE /jobs/{id}``          a job that has not finished: cancel it (a queued job at once; a running
                                 pipeline finishes its video first). A finished job (done, failed or
                                 cancelled): delete it, with its outputs ``OUT/<id>/`` and its upload.
- ``GET /docs``                  every endpoint with its parameters, bodies and answers, drawn from the
                                 OpenAPI schema (``/openapi.json``) as one offline HTML page

Each job writes the usual per-video outputs (``mouseact.export.write_video_outputs``) and the
batch tables for that one video under ``OUT/<job_id>/``.

Uploads: ``POST /jobs/upload`` keeps its copy of the video in ``OUT/_uploads/`` as part of its job.
A job that fails or is cancelled drops its upload as soon as it ends (its log, error and any outputs
stay until ``DELETE``); a done job keeps it until the job is deleted (``DELETE /jobs/{id}``), dropped
as one of the oldest beyond the 200 jobs kept, or the service stops (jobs live in memory only).
"""


import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mouseact.errors import ModelError, MouseActError
from mouseact.serve.common import (ModelSlot, check_input_roots, check_video_path, endpoint_list, error_response,
                                   error_responses, health_response, lifespan_loading, read_card, service_app)
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


def check_model(model_dir: str | None = None, detector: str | None = None, detector_model: str | None = None,
                detector_url: str | None = None, dense: bool = False) -> None:
    """What needs no loading, before a server starts: the bundle (or classifier directory) exists and
    its model cards are of the right kinds (checksums are checked while loading), the detector kind
    has the model it needs. Raises ``ModelError`` naming the directory."""
    from mouseact.models import DEFAULT_BUNDLE, load_bundle
    from mouseact.serve.detector_service import check_detector

    try:
        bundle = load_bundle(model_dir)
    except MouseActError:
        raise
    except Exception as exc:  # e.g. a classifier card that is not a JSON object
        raise ModelError(f"cannot read the model: {type(exc).__name__}: {' '.join(str(exc).split())}",
                         model_dir or DEFAULT_BUNDLE) from None
    read_card(bundle.classifier_dir, "classifier")
    if not dense:
        if bundle.localizer_dir is None:
            raise ModelError("the model has no stage-1 localizer; use --dense or a bundle with one", bundle.root)
        read_card(bundle.localizer_dir, "localizer")
    from mouseact import config as config_mod
    from mouseact.inference.pipeline import PipelineConfig
    from mouseact.models import BUNDLE_FILE

    try:
        settings = config_mod.load(PipelineConfig, base=bundle.pipeline)
    except MouseActError as exc:
        spec = bundle.root / BUNDLE_FILE
        raise ModelError(f"its 'pipeline' settings: {exc}", spec if spec.is_file() else bundle.root) from None
    if detector_url:
        return  # stage 0 is the detector service's (checked when it answers)
    kind = detector or settings.detector or "classical"
    model = detector_model or settings.detector_model
    if kind == "classical" and model:
        if detector_model:
            raise ModelError("--detector-model is for a trained detector: add --detector yolo or rtdetr",
                             detector_model)
        raise ModelError(f"the bundle's settings run a trained detector ({model}): --detector classical cannot "
                         "replace it", bundle.root)
    check_detector(kind, model, option="--detector-model")


def build_predictor(model_dir: str | None = None, detector: str | None = None, detector_model: str | None = None,
                    detector_url: str | None = None, dense: bool = False):
    """The pipeline's Predictor, with the detector local or (``detector_url``) the detector service.

    A local trained detector is built once here, so damaged weights fail the loading (not every job)."""
    from mouseact.inference import Predictor

    if detector_url:
        from mouseact.serve.client import RemoteDetector, wait_healthy

        wait_healthy(detector_url, timeout=300)
        return Predictor(model_dir, detector=RemoteDetector(detector_url), dense=dense, progress_bars=False)
    predictor = Predictor(model_dir, detector=detector, detector_model=detector_model, dense=dense,
                          progress_bars=False)
    if predictor.config.detector != "classical":
        from mouseact.preprocess.detection import make_detector

        make_detector(predictor.config.detector, model_path=predictor.config.detector_model)
    return predictor


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
    """Build the FastAPI app; the model loads in a thread so ``/health`` answers at once.

    What needs no loading is checked here and raises :class:`MouseActError` (nothing is served,
    nothing written): the model (``check_model``), ``input_roots`` (existing folders), ``out_dir``
    (a folder, or creatable). A model that then fails to load makes ``/health`` answer 500."""
    from fastapi import File, Query, UploadFile
    from fastapi.responses import FileResponse, JSONResponse

    from mouseact.models import DEFAULT_BUNDLE

    check_model(model_dir, detector, detector_model, detector_url, dense)
    input_roots = check_input_roots(input_roots)
    out_root = _out_root(out_dir)
    upload_root = out_root / "_uploads"
    uploads: dict[str, Path] = {}  # job id -> its upload's folder (under upload_root)
    uploads_lock = threading.RLock()  # runner.submit may call drop_upload (on_forget) while held

    def drop_upload(job: Job) -> None:
        with uploads_lock:
            folder = uploads.pop(job.id, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def job_ended(job: Job) -> None:
        if job.status != DONE:  # failed or cancelled: its video is of no more use (log/outputs stay)
            drop_upload(job)

    def shutdown() -> None:
        runner.shutdown()
        with uploads_lock:  # jobs live in memory: once the service stops, their uploads belong to none
            folders = list(uploads.values())
            uploads.clear()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    runner = JobRunner(on_end=job_ended, on_forget=drop_upload)
    slot = ModelSlot(lambda: build_predictor(model_dir, detector, detector_model, detector_url, dense),
                     describe={"service": "inference", "model_dir": model_dir or "default",
                               "detector": "remote " + detector_url if detector_url else detector or "bundle's",
                               "dense": dense, "out_dir": str(out_root)},
                     source=str(model_dir or DEFAULT_BUNDLE))
    app = service_app("MouseAct inference service",
                      "Behaviour intervals for a video: POST /jobs (or /jobs/upload), then poll GET "
                      "/jobs/{id}; DELETE /jobs/{id} cancels a job or deletes a finished one. GET /health "
                      "is 200 only once the model is loaded.",
                      lifespan_loading(slot, load_in_background, on_shutdown=shutdown))
    app.state.slot, app.state.runner, app.state.out_root = slot, runner, out_root

    def submit(video: Path, params: dict, upload: Path | None = None) -> JSONResponse:
        def work(job: Job) -> dict:
            try:
                result = run_prediction(slot.value, video, out_root / job.id, job)
            except BaseException:
                drop_upload(job)  # before the job shows "failed" (job_ended would do it just after)
                raise
            if job.cancelled:
                drop_upload(job)
            return result

        with uploads_lock:  # registered before the job can end (and drop it)
            job = runner.submit("infer", params, work)
            if upload is not None:
                uploads[job.id] = upload
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
        """A multipart form with one file field ``file`` (what a browser form or ``curl -F file=@v.mp4`` sends).

        The service keeps its copy of the video with the job: a job that fails or is cancelled drops
        it as soon as it ends; a done job keeps it until ``DELETE /jobs/{id}`` (or until the service
        stops, or the job is one of the oldest beyond the 200 kept)."""
        if not slot.ready:
            return health_response(slot)
        from mouseact.video import is_video_file

        name = _SAFE_NAME.sub("_", Path(file.filename or "upload.mp4").name).lstrip(".") or "upload.mp4"
        if not is_video_file(name):
            return error_response(400, f"{file.filename}: not a video file (by extension)")
        dest_dir = Path(tempfile.mkdtemp(prefix="job-", dir=_mkdir(upload_root)))
        dest = dest_dir / name
        try:
            with open(dest, "wb") as f:
                shutil.copyfileobj(file.file, f, length=1 << 20)
            if dest.stat().st_size == 0:
                shutil.rmtree(dest_dir, ignore_errors=True)
                return error_response(400, f"{file.filename}: empty upload")
            return submit(dest, {"video": name, "uploaded": True}, upload=dest_dir)
        except BaseException:  # nothing half-written: a copy that failed (disk full, client gone) is removed
            with uploads_lock:
                owned = dest_dir in uploads.values()
            if not owned:
                shutil.rmtree(dest_dir, ignore_errors=True)
            raise

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

    @app.delete("/jobs/{job_id}", summary="cancel a job; delete a finished one with its outputs and upload",
                responses={200: {"description": 'the job\'s status after the request: "cancelled" (it was '
                                                'queued), "running" (cancelling: it ends cancelled once its '
                                                'video is done) or "deleted"',
                                 "content": {"application/json": {"example": {
                                     "job_id": "3f2a9c1b7d4e", "status": "deleted"}}}},
                           **error_responses(404)})
    def delete_job(job_id: str):
        """A job that has not finished is cancelled: a queued one at once, a running one once the
        pipeline has finished its video (it cannot stop mid-video). Either way its uploaded video is
        removed as soon as it has ended. A finished job (done, failed or cancelled) is deleted: it
        is no longer listed (``GET /jobs/{id}`` then answers 404), and its outputs ``OUT/<id>/`` and
        its uploaded video are removed."""
        job = runner.get(job_id)
        if job is None:
            return error_response(404, f"no job {job_id}")
        if job.status not in FINISHED:
            job = runner.cancel(job_id)
            return {"job_id": job.id, "status": job.status}
        job = runner.remove(job_id)  # drops its upload (on_forget)
        if job is None:  # deleted by a request at the same moment
            return error_response(404, f"no job {job_id}")
        outputs = out_root / job.id
        if outputs.parent == out_root and job.id not in ("", ".", "..", "_uploads"):
            shutil.rmtree(outputs, ignore_errors=True)
        return {"job_id": job.id, "status": "deleted"}

    return app


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _out_root(out_dir: str | None) -> Path:
    """``--out``: an existing folder or one that can be made; default a new temporary folder."""
    if not out_dir:
        return Path(tempfile.mkdtemp(prefix="mouseact-serve-"))
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise MouseActError("not a folder (--out is where each job writes its outputs)", out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MouseActError(f"cannot create the output folder: {exc.strerror or exc}", out_dir) from None
    return out
