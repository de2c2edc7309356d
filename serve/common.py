"""Pieces shared by the services: a model slot that loads in the background, health answers,
error answers, input-path checks and running uvicorn."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from mouseact.errors import MouseActError


class ModelSlot:
    """Holds what a service needs (a loaded model); ``ready`` only after ``load()`` succeeded.

    Loading runs in a thread at startup so the HTTP server answers ``/health`` (503) while a
    model loads — docker-compose's ``service_healthy`` waits for exactly this. A failed load is
    kept (``error``, one line; ``/health`` answers 500 with it) and reported to ``on_error``: the
    command line (``run_service``) prints it and stops the server.

    ``source``: the model the slot loads (a path); an error that does not name it already
    (anything but a :class:`MouseActError`) is prefixed with it.
    """

    def __init__(self, load: Callable[[], Any], describe: dict | None = None, source: str | None = None):
        self._load = load
        self.describe = {k: v for k, v in (describe or {}).items() if v is not None}
        self.source = source
        self.value: Any = None
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.ready = False
        self.load_seconds: float | None = None
        self.on_error: Callable[["ModelSlot"], None] | None = None
        self._thread: threading.Thread | None = None

    def start(self, background: bool = True) -> None:
        if self._thread is not None or self.ready:
            return
        if background:
            self._thread = threading.Thread(target=self._run, name="mouseact-model-load", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            self.value = self._load()
        except Exception as exc:  # shown by /health (500) and reported to on_error
            self.exception = exc
            self.error = error_line(exc, self.source)
            if self.on_error is not None:
                self.on_error(self)
            return
        self.load_seconds = round(time.perf_counter() - t0, 3)
        self.ready = True


def error_line(exc: BaseException, source: str | None = None) -> str:
    """One line for a failed load: a :class:`MouseActError` names its file already; anything else
    (a bug, a library's own error) gets its type and, with ``source``, the model it was loading."""
    text = " ".join(str(exc).split())
    if isinstance(exc, MouseActError):
        return text or type(exc).__name__
    if source is None:
        return text or type(exc).__name__
    return f"{source}: cannot load the model: {type(exc).__name__}: {text}".rstrip(": ")


def read_card(model_dir: str | Path, kind: str) -> dict:
    """A model directory's card, checked without hashing its weights (``modelcard.load(verify=False)``):
    it exists, is a MouseAct model, of ``kind``. The cheap part of loading, done before a server starts."""
    from mouseact import modelcard
    from mouseact.errors import ModelError

    try:
        return modelcard.load(model_dir, kind, verify=False)
    except MouseActError:
        raise
    except Exception as exc:  # a card the checks did not foresee: still one line naming the directory
        raise ModelError(f"cannot read its model card: {type(exc).__name__}: {' '.join(str(exc).split())}",
                         model_dir) from None


def check_input_roots(roots: list[str] | None) -> list[str] | None:
    """``--input-root`` folders: each must be an existing folder (a typo would refuse every video)."""
    if not roots:
        return None
    out = []
    for raw in roots:
        path = Path(raw).expanduser()
        if not path.exists():
            raise MouseActError("input folder not found (--input-root)", raw)
        if not path.is_dir():
            raise MouseActError("not a folder (--input-root takes folders of videos)", raw)
        out.append(str(path.resolve()))
    return out


def lifespan_loading(slot: ModelSlot, background: bool = True, on_shutdown: Callable[[], None] | None = None):
    """A FastAPI ``lifespan`` that starts loading ``slot`` when the server starts."""
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app):
        slot.start(background=background)
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    return lifespan


def error_response(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"error": " ".join(str(message).split())})


def health_response(slot: ModelSlot):
    from fastapi.responses import JSONResponse

    if slot.ready:
        return JSONResponse({"status": "ok", **slot.describe, "load_seconds": slot.load_seconds})
    if slot.error:
        return JSONResponse(status_code=500, content={"status": "error", "error": slot.error, **slot.describe})
    return JSONResponse(status_code=503, content={"status": "loading", **slot.describe})


def check_video_path(raw: Any, roots: list[str] | None = None, field: str = "path") -> Path:
    """A video path from a request: must exist, be a file, and (with ``roots``) lie under one of them."""
    from mouseact.video import is_video_file

    if not raw or not isinstance(raw, str):
        raise MouseActError(f'request needs "{field}": the video file to read (a path the service can see)')
    path = Path(raw).expanduser()
    try:
        path = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise MouseActError("video not found (the path must be visible to the service)", raw) from None
    if roots:
        allowed = [Path(r).expanduser().resolve() for r in roots]
        if not any(path.is_relative_to(r) for r in allowed):
            raise MouseActError("outside the service's input folders (" + ", ".join(map(str, allowed)) + ")",
                                raw)
    if not path.is_file():
        raise MouseActError("not a file", raw)
    if not is_video_file(path):
        raise MouseActError("not a video file (by extension)", raw)
    return path


class ErrorBody(BaseModel):
    """Every refused request: one line saying what was wrong."""

    error: str = Field(description="what was wrong, on one line")


class HealthBody(BaseModel):
    """``GET /health``; also the answer to a model request while the model is loading (503) or broken (500)."""

    model_config = ConfigDict(extra="allow")
    status: str = Field(description='"ok", "loading" or "error"')
    error: str | None = Field(None, description="why loading failed (status error)")


def error_responses(*codes: int) -> dict[int, dict]:
    """OpenAPI ``responses`` entries for the error answers an endpoint can give."""
    text = {400: ("bad request (body, header or path not acceptable)", ErrorBody),
            404: ("no such job, session or file", ErrorBody),
            409: ("the job has not finished yet", None),
            413: ("request body too large", ErrorBody),
            422: ("the job failed", None),
            500: ("the model failed to load (the reason is in the body)", HealthBody),
            503: ("the model is still loading: retry once GET /health answers 200", HealthBody)}
    out = {}
    for code in codes:
        desc, model = text[code]
        out[code] = {"description": desc, **({"model": model} if model else {})}
    return out


def service_app(title: str, description: str, lifespan, version: str | None = None):
    """A FastAPI app for a MouseAct service: offline ``/docs`` (no CDN), one-line 400 errors for
    request bodies, headers or parameters that do not match the documented schema."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError

    from mouseact.serve import docs

    if version is None:
        try:
            from importlib.metadata import version as _v

            version = _v("mouseact")
        except Exception:  # not installed as a distribution (running from a checkout)
            version = "0"
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # FastAPI's pages load from a CDN: blank offline

    @app.exception_handler(RequestValidationError)
    async def one_line_validation_error(request, exc: RequestValidationError):
        return error_response(400, f"{request.method} {request.url.path}: " + validation_message(exc.errors()))

    make_schema = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_with_400_errors(make_schema())
        return app.openapi_schema

    app.openapi = openapi
    docs.install(app)
    return app


def openapi_with_400_errors(spec: dict) -> dict:
    """FastAPI documents a request that fails validation as ``422`` with its own ``{"detail": [...]}``
    body; the services answer ``400 {"error": "one line"}`` instead (``service_app``), so say that."""
    import json

    from mouseact.serve.docs import operations

    prefix = "#/components/schemas/"
    for _, _, op in operations(spec):
        responses = op.get("responses", {})
        schema_422 = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if schema_422.get("$ref") == prefix + "HTTPValidationError":
            del responses["422"]
            responses.setdefault("400", {"description": "the request does not match this schema",
                                         "content": {"application/json": {"schema": {"$ref": prefix + "ErrorBody"}}}})
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorBody" not in schemas:
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
    for name in ("HTTPValidationError", "ValidationError"):  # drop them once nothing refers to them
        others = {k: v for k, v in schemas.items() if k != name}
        if f'"{prefix}{name}"' not in json.dumps({**spec, "components": {**spec["components"], "schemas": others}}):
            schemas.pop(name, None)
    return spec


def endpoint_list(app) -> list[str]:
    """``METHOD /path`` of every documented route, plus the docs page (what ``GET /`` lists)."""
    from mouseact.serve.docs import operations

    return [f"{m.upper()} {p}" for m, p, _ in operations(app.openapi())] + ["GET /docs"]


def validation_message(errors) -> str:
    """pydantic/FastAPI validation errors as one line: ``body "video": field required; ...``."""
    parts = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:])
        msg = str(err.get("msg", "invalid")).rstrip(".")
        if err.get("type") == "missing":
            msg = "field required"
        elif err.get("type") == "extra_forbidden":
            msg = "not a field of this request (see GET /docs)"
        elif err.get("type") == "json_invalid":
            msg = "not valid JSON"
        parts.append(f'{where} "{name}": {msg[:1].lower() + msg[1:]}' if name else f"{where}: {msg}")
    return "; ".join(parts) or "invalid request"


def run_uvicorn(app, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")


def run_service(app, host: str, port: int, log_level: str = "info") -> int:
    """Serve ``app`` (a service with ``app.state.slot``) until it is stopped; returns the exit status.

    The model loads in the background while the server answers (``/health`` 503 "loading"). If it
    fails to load, a service started from the command line must not run on broken: the reason is
    printed at once as ``error: <model>: <problem>`` on stderr, the server stops and the status is 2
    (1 for an unexpected error), so a container exits (and restarts) visibly instead of staying up
    unhealthy."""
    import socket
    import sys

    import uvicorn

    try:  # a busy port or an address not of this machine: one line now, not uvicorn's log and exit 3
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        sys.stderr.write(f"error: {host}:{port}: cannot listen there ({exc.strerror or exc})\n")
        return 2
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
    server = uvicorn.Server(config)
    slot: ModelSlot = app.state.slot
    failed: list[ModelSlot] = []

    def stop(broken: ModelSlot) -> None:
        sys.stderr.write(f"error: {broken.error}\n")  # one write: the server logs from another thread
        sys.stderr.flush()
        failed.append(broken)
        server.should_exit = True

    slot.on_error = stop
    if slot.error is None:  # (a slot is loaded once: one that already failed is not served)
        server.run()
    else:
        stop(slot)
    if failed:
        return 2 if isinstance(failed[0].exception, MouseActError) else 1
    return 0
