"""Detector service: mouse boxes over HTTP (stage 0 as a service for the docker-compose setup).

Endpoints
- ``GET /health``            200 ``{"status": "ok", ...}`` only once the detector is built/loaded;
                              503 while loading, 500 if loading failed (with the error line).
- ``POST /detect/frames``     body: one ``.npy`` array, uint8 RGB ``(T, H, W, 3)`` (or one ``(H, W, 3)``
                              frame); header ``X-Session: NAME`` keeps a separate stateful detector per
                              client (the classical background model must see one video's frames in
                              order). → ``{"boxes": [[x1, y1, x2, y2] | null, ...], "scores": [...]}``
- ``DELETE /sessions/{name}``  forget that client's detector state (start of a new video).
- ``GET /info``               the detector's kind and config, whether it has a background model.
- ``POST /sessions/{name}/background``  ``.npy`` frames sampled across a video: prime that session's
                              background model (what the pipeline does before streaming a video).
- ``GET /stats``              requests and frames served, sessions alive.
- ``POST /detect/video``      JSON ``{"path": "...", "stride": 1}`` for a video the service can read
                              → the smoothed track: boxes, scores, lost flags, fps, frame count.

The detector comes from ``mouseact.preprocess.detection.make_detector`` (no weights are downloaded:
the classical detector needs none, learned ones load a local file given with ``--model``).
"""


import collections
import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from mouseact.errors import MouseActError
from mouseact.serve.common import (ModelSlot, check_video_path, error_response, health_response,
                                   lifespan_loading)

MAX_SESSIONS = 16          # oldest session's detector is dropped beyond this (state only, cheap)
MAX_BODY_BYTES = 512 << 20  # 512 MiB of frames per request (~1700 frames at 640x480)


class DetectorSessions:
    """One detector per client session, built lazily from the same factory; LRU-bounded."""

    def __init__(self, factory, max_sessions: int = MAX_SESSIONS):
        self._factory = factory
        self._max = max_sessions
        self._items: "collections.OrderedDict[str, tuple[Any, threading.Lock]]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str):
        with self._lock:
            if name in self._items:
                self._items.move_to_end(name)
                return self._items[name]
        item = (self._factory(), threading.Lock())  # build outside the lock (learned models take time)
        with self._lock:
            item = self._items.setdefault(name, item)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
            return item

    def drop(self, name: str) -> bool:
        with self._lock:
            return self._items.pop(name, None) is not None

    def __len__(self) -> int:
        return len(self._items)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def boxes_to_json(boxes: np.ndarray) -> list[list[float] | None]:
    """``(T, 4)`` float boxes → JSON rows; a NaN row (no mouse) becomes ``null``."""
    out: list[list[float] | None] = []
    for row in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        out.append(None if not np.isfinite(row).all() else [round(float(v), 2) for v in row])
    return out


def _scores_json(scores) -> list[float | None]:
    return [None if not np.isfinite(s) else round(float(s), 4) for s in np.asarray(scores, np.float64).ravel()]


def decode_frames(body: bytes) -> np.ndarray:
    if not body:
        raise MouseActError("empty request body: send frames as one .npy array (T, H, W, 3) uint8")
    try:
        frames = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as exc:
        raise MouseActError(f"body is not a .npy array: {str(exc).splitlines()[0][:120]}") from None
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise MouseActError(f"frames must be uint8 (T, H, W, 3); got {frames.dtype} {tuple(frames.shape)}")
    return frames


def create_app(kind: str = "classical", model_path: str | None = None, stride: int = 1,
               input_roots: list[str] | None = None, load_in_background: bool = True):
    """Build the FastAPI app; the detector is built in a thread so ``/health`` answers at once."""
    from fastapi import FastAPI, Request

    def factory():
        from mouseact.preprocess.detection import make_detector

        return make_detector(kind, model_path=model_path) if model_path else make_detector(kind)

    def load() -> dict:
        probe = factory()  # proves the model loads (bad file → error shown by /health)
        sessions = DetectorSessions(factory)
        with sessions._lock:
            sessions._items["default"] = (probe, threading.Lock())
        return {"sessions": sessions}

    stats = {"requests": 0, "frames": 0, "videos": 0}
    slot = ModelSlot(load, describe={"service": "detector", "detector": kind, "model": model_path,
                                     "stride": stride})
    app = FastAPI(title="MouseAct detector service",
                  description="Mouse boxes per frame (stage 0). GET /health is 200 only once the "
                              "detector is loaded.",
                  lifespan=lifespan_loading(slot, load_in_background))
    app.state.slot = slot

    @app.get("/health")
    def health():
        return health_response(slot)

    @app.get("/")
    def index():
        return {"service": app.title, "endpoints": ["GET /health", "GET /info", "POST /detect/frames", "POST /sessions/{name}/background", "DELETE /sessions/{name}", "POST /detect/video", "GET /stats", "GET /docs"]}

    @app.post("/detect/frames")
    async def detect_frames(request: Request):
        if not slot.ready:
            return health_response(slot)
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            return error_response(413, f"body of {length} bytes is over {MAX_BODY_BYTES}; send fewer frames")
        body = await request.body()
        session = request.headers.get("x-session", "default")[:100]
        try:
            frames = decode_frames(body)
        except MouseActError as exc:
            return error_response(400, str(exc))
        import anyio

        def run():
            detector, lock = slot.value["sessions"].get(session)
            with lock:  # a session's frames must reach its stateful detector in order
                t0 = time.perf_counter()
                boxes, scores = detector.detect(frames)
                return boxes, scores, time.perf_counter() - t0

        boxes, scores, seconds = await anyio.to_thread.run_sync(run)
        stats["requests"] += 1
        stats["frames"] += len(frames)
        return {"boxes": boxes_to_json(boxes), "scores": _scores_json(scores), "n_frames": len(frames),
                "session": session, "ms_per_frame": round(1000 * seconds / max(len(frames), 1), 3)}

    @app.get("/info")
    def get_info():
        """What a client needs to mirror the detector: its config and whether it has a background model."""
        if not slot.ready:
            return health_response(slot)
        probe, _ = slot.value["sessions"].get("default")
        cfg = getattr(probe, "config", None)
        cfg = cfg.model_dump() if hasattr(cfg, "model_dump") else dict(vars(cfg)) if cfg is not None else {}
        return {"detector": kind, "model": model_path, "config": _jsonable(cfg),
                "background": hasattr(probe, "fit_background")}

    @app.post("/sessions/{name}/background")
    async def fit_background(name: str, request: Request):
        """Prime a session's background model with frames sampled across its video (header
        ``X-Frame-Size: H,W`` = size of the frames detection will see, if the samples are smaller)."""
        if not slot.ready:
            return health_response(slot)
        try:
            frames = decode_frames(await request.body())
            size = request.headers.get("x-frame-size")
            frame_size = tuple(int(v) for v in size.split(",")) if size else None
            if frame_size is not None and len(frame_size) != 2:
                raise MouseActError("X-Frame-Size must be H,W")
        except (MouseActError, ValueError) as exc:
            return error_response(400, str(exc))
        import anyio

        def run():
            detector, lock = slot.value["sessions"].get(name[:100])
            if not hasattr(detector, "fit_background"):
                return False
            with lock:
                detector.fit_background(frames, frame_size=frame_size)
            return True

        fitted = await anyio.to_thread.run_sync(run)
        if not fitted:
            return error_response(400, f"the {kind} detector has no background model")
        return {"session": name, "frames": len(frames), "frame_size": frame_size}

    @app.get("/stats")
    def get_stats():
        sessions = len(slot.value["sessions"]) if slot.ready else 0
        return {**stats, "sessions": sessions}

    @app.delete("/sessions/{name}")
    def drop_session(name: str):
        if not slot.ready:
            return health_response(slot)
        return {"session": name, "dropped": slot.value["sessions"].drop(name)}

    @app.post("/detect/video")
    def detect_video(payload: dict):
        if not slot.ready:
            return health_response(slot)
        try:
            path = check_video_path(payload.get("path"), input_roots)
            video_stride = int(payload.get("stride", stride))
            if video_stride < 1:
                raise MouseActError(f"stride must be >= 1, got {video_stride}")
            track, fps = _detect_whole_video(path, factory(), video_stride)
            stats["videos"] += 1
            return _track_json(track, fps, path)
        except MouseActError as exc:
            return error_response(400, str(exc))
        except (TypeError, ValueError) as exc:
            return error_response(400, f"bad request: {exc}")

    return app


def _detect_whole_video(path: Path, detector, stride: int):
    """The library's one streaming pass (background primed, tracked, smoothed) -> (Track, fps)."""
    from mouseact.preprocess.detection.streaming import detect_video

    track, _, _, info = detect_video(path, detector=detector, stride=stride, progress=False, return_raw=True)
    return track, info.fps


def _track_json(track, fps: float, path: Path) -> dict:
    lost = np.asarray(track.lost, dtype=bool)
    return {"path": str(path), "n_frames": int(len(track.boxes)), "fps": fps,
            "boxes": boxes_to_json(track.boxes), "scores": _scores_json(track.scores),
            "lost": [bool(x) for x in lost], "lost_share": round(float(lost.mean()) if len(lost) else 0.0, 4)}
