"""Pieces shared by the services: a model slot that loads in the background, health answers,
error answers, input-path checks and running uvicorn."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from mouseact.errors import MouseActError


class ModelSlot:
    """Holds what a service needs (a loaded model); ``ready`` only after ``load()`` succeeded.

    Loading runs in a thread at startup so the HTTP server answers ``/health`` (503) while a
    model loads — docker-compose's ``service_healthy`` waits for exactly this.
    """

    def __init__(self, load: Callable[[], Any], describe: dict | None = None):
        self._load = load
        self.describe = {k: v for k, v in (describe or {}).items() if v is not None}
        self.value: Any = None
        self.error: str | None = None
        self.ready = False
        self.load_seconds: float | None = None
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
        except Exception as exc:  # shown by /health; the service stays up to say why
            self.error = " ".join(str(exc).split()) or type(exc).__name__
            return
        self.load_seconds = round(time.perf_counter() - t0, 3)
        self.ready = True


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


def check_video_path(raw: Any, roots: list[str] | None = None) -> Path:
    """A video path from a request: must exist, be a file, and (with ``roots``) lie under one of them."""
    from mouseact.video import is_video_file

    if not raw or not isinstance(raw, str):
        raise MouseActError('request needs "path": the video file to read (a path the service can see)')
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


def run_uvicorn(app, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
