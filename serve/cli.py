"""``mouseact serve detector|inference``: run an HTTP service (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse

from mouseact.cli import positive_int

DETECTOR_PORT = 8001
INFERENCE_PORT = 8002


def register(subparsers) -> None:
    from mouseact.cli import HelpFormatter

    serve = subparsers.add_parser(
        "serve", help="run an HTTP service: the detector or the whole inference pipeline",
        description="Run a MouseAct HTTP service (FastAPI + uvicorn). GET /health answers 200 only "
                    "once the model is loaded (docker-compose waits for it); GET /docs lists the "
                    "endpoints. A model that is missing or of the wrong kind stops the command before "
                    "the server starts; one that fails to load (damaged weights) stops the running "
                    "server: either way 'error: <model>: <problem>' on stderr and exit status 2.",
        formatter_class=HelpFormatter)
    which = serve.add_subparsers(dest="service", metavar="SERVICE")

    det = which.add_parser(
        "detector", formatter_class=HelpFormatter, help="mouse boxes per frame (stage 0) over HTTP",
        description="Detector service. POST /detect/frames (a .npy uint8 (T,H,W,3) body; header "
                    "X-Session keeps per-client state) or POST /detect/video {\"path\": PATH, \"stride\": N} "
                    "(stride optional) -> boxes.")
    _common(det, DETECTOR_PORT)
    det.add_argument("--detector", default="classical", choices=["classical", "yolo", "rtdetr"],
                     help="detector kind; classical needs no weights")
    det.add_argument("--model", metavar="DIR", default=None,
                     help="trained detector for yolo/rtdetr (a model directory made by `mouseact train detector`)")
    det.add_argument("--stride", type=positive_int, default=1,
                     help="POST /detect/video: run the detector every N-th frame and interpolate")
    det.set_defaults(func=_run_detector)

    inf = which.add_parser(
        "inference", formatter_class=HelpFormatter, help="the whole pipeline: video -> intervals, as jobs",
        description="Inference service. POST /jobs {\"video\": PATH} or POST /jobs/upload (multipart "
                    "field 'file') -> job id; GET /jobs/{id} -> status, progress, log, result; "
                    "GET /jobs/{id}/files/... -> outputs (ethogram PNG, CSVs); DELETE /jobs/{id} cancels "
                    "a job, or deletes a finished one with its outputs and uploaded video. An uploaded "
                    "video is kept with its job until then; a job that fails or is cancelled drops its "
                    "upload at once.")
    _common(inf, INFERENCE_PORT)
    inf.add_argument("--model", metavar="DIR", default=None,
                     help="model bundle directory (classifier/ + localizer/); default: the embedded one")
    inf.add_argument("--detector", default=None, choices=["classical", "yolo", "rtdetr"],
                     help="local detector kind (default: the model bundle's; ignored with --detector-url)")
    inf.add_argument("--detector-model", metavar="PATH", default=None,
                     help="trained detector for --detector yolo/rtdetr")
    inf.add_argument("--detector-url", metavar="URL", default=None, type=http_url,
                     help="use a running detector service (e.g. http://detector:8001) instead of a "
                          "local detector; waits until it is healthy")
    inf.add_argument("--dense", action="store_true",
                     help="send every window through stage 2 (slow; for comparison)")
    inf.add_argument("--out", metavar="DIR", default=None,
                     help="where each job writes its outputs (OUT/<job id>/); default: a new temp dir")
    inf.set_defaults(func=_run_inference)

    serve.set_defaults(func=lambda args: serve.print_help() or 1)


def _common(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 inside a container to accept other containers")
    from mouseact.cli import PortAction

    p.add_argument("--port", type=int, action=PortAction, default=port, help="TCP port (1-65535)")
    p.add_argument("--input-root", metavar="DIR", action="append", default=[],
                   help="only read videos under this folder (repeatable); default: any path")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (debug also logs every request)")


def _run_detector(args) -> int:
    from mouseact.serve.common import run_service
    from mouseact.serve.detector_service import create_app

    # create_app refuses what needs no loading (a missing, empty or other kind of model directory,
    # a learned detector without a model, an --input-root that is no folder) before any server runs
    app = create_app(kind=args.detector, model_path=args.model, stride=args.stride,
                     input_roots=args.input_root or None)
    return run_service(app, args.host, args.port, args.log_level)


def _run_inference(args) -> int:
    from mouseact.serve.common import run_service
    from mouseact.serve.inference_service import create_app

    app = create_app(model_dir=args.model, detector=args.detector, detector_model=args.detector_model,
                     detector_url=args.detector_url, dense=args.dense, out_dir=args.out,
                     input_roots=args.input_root or None)
    return run_service(app, args.host, args.port, args.log_level)


def http_url(text: str) -> str:
    """argparse type: an http(s) URL with a host (``http://detector:8001``)."""
    from urllib.parse import urlparse

    parts = urlparse(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an http(s) URL with a host: {text!r} (e.g. http://detector:8001)")
    return text
