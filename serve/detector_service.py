"""Detector service: mouse boxes over HTTP (stage 0 as a service for the docker-compose setup).

Endpoints
- ``GET /health``            200 ``{"status": "ok", ...}`` only once the detector is built/loaded;
                              503 while loading, 500 if loading failed (with the error line; ``mouseact
                              serve detector`` then prints that line and exits with status 2).
- ``POST /detect/frames``     body: one ``.npy`` array, uint8 RGB ``(T, H, W, 3)`` (or one ``(H, W, 3)``
                              frame); header ``X-Session: NAME`` keeps a separate stateful detector per
                              client (the classical background model must see one video's frames in
                              order). → ``{"boxes": [[x1, y1, x2, y2] | null, ...], "scores": [...]}``
- ``DELETE /sessions/{name}``  forget that client's detector state (start of a new video).
- ``GET /info``               the detector's kind and config, whether it has a background model.
- ``POST /sessions/{name}/background``  ``.npy`` frames sampled across a video: prime that session's
                              background model (what the pipeline does before streaming a video).
- ``GET /stats``              requests and frames served, sessions alive.
- ``POST /detect/video``      JSON ``{"path": "...", "stride": 1}`` (``DetectVideoRequest``; stride
                              optional) for a video the service can read → the smoothed track: boxes,
                              scores, lost flags, fps, frame count.
- ``GET /docs``               every endpoint with its parameters, bodies and answers, drawn from the
                              OpenAPI schema (``/openapi.json``) as one offline HTML page.

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
from pydantic import BaseModel, ConfigDict, Field

from mouseact.errors import MouseActError
from mouseact.serve.common import (ModelSlot, check_input_roots, check_video_path, endpoint_list, error_response,
                                   error_responses, health_response, lifespan_loading, read_card, service_app)

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


NPY_MEDIA_TYPES = ("application/x-npy", "application/octet-stream")


def npy_body(what: str) -> dict:
    """``openapi_extra`` for an endpoint whose body is one raw ``.npy`` file (read from the request,
    not parsed by FastAPI, so it has to be documented by hand)."""
    schema = {"type": "string", "format": "binary",
              "description": "the bytes of one .npy file (numpy.save), uint8 RGB, shape (T, H, W, 3) or (H, W, 3)"}
    return {"requestBody": {"required": True, "description": what,
                            "content": {t: {"schema": schema} for t in NPY_MEDIA_TYPES}}}


class DetectVideoRequest(BaseModel):
    """A video file the service can read (inside the container: a mounted path)."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"path": "/data/input/mouse1.mp4", "stride": 1}]})
    path: str = Field(min_length=1, description="the video file, as a path the service can see")
    stride: int | None = Field(None, ge=1, description="run the detector every N-th frame and interpolate "
                                                       "(default: the service's --stride)")


_FRAMES_EXAMPLE = {"boxes": [[112.0, 80.5, 190.25, 141.0], None], "scores": [0.93, None], "n_frames": 2,
                   "session": "client-1", "ms_per_frame": 1.7}


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


def check_detector(kind: str, model_path: str | None, option: str = "--model") -> None:
    """What needs no loading: the kind exists, a learned kind has a model directory and that
    directory holds a detector of that family, the classical one has none. Raises ``ModelError``."""
    from mouseact.errors import ModelError
    from mouseact.preprocess.detection import DETECTOR_KINDS

    if kind not in DETECTOR_KINDS:
        raise ModelError(f"unknown detector kind {kind!r} (choose from {', '.join(DETECTOR_KINDS)})")
    if kind == "classical":
        if model_path:
            raise ModelError("the classical detector takes no model (use --detector yolo or rtdetr for a "
                             "trained one)", model_path)
        return
    if not model_path:
        raise ModelError(f"the {kind} detector needs a trained model directory ({option} DIR, made by "
                         "`mouseact train detector`)")
    family = read_card(model_path, "detector").get("family")
    if family not in ("yolo", "rtdetr"):
        raise ModelError(f"detector family {family!r} is not a learned detector", model_path)
    if family != kind:
        raise ModelError(f"this is a {family} detector, not {kind} (use --detector {family})", model_path)


def create_app(kind: str = "classical", model_path: str | None = None, stride: int = 1,
               input_roots: list[str] | None = None, load_in_background: bool = True):
    """Build the FastAPI app; the detector is built in a thread so ``/health`` answers at once.

    What needs no loading is checked here and raises :class:`MouseActError` (nothing is served):
    the detector kind and its model directory (``check_detector``), ``input_roots`` (existing
    folders). A model that then fails to load (damaged weights) makes ``/health`` answer 500."""
    from fastapi import Header, Request
    from fastapi import Path as PathParam

    check_detector(kind, model_path)
    input_roots = check_input_roots(input_roots)

    def factory():
        from mouseact.preprocess.detection import make_detector

        return make_detector(kind, model_path=model_path, option="--model") if model_path else make_detector(kind)

    def load() -> dict:
        probe = factory()  # proves the model loads (bad file → error shown by /health)
        sessions = DetectorSessions(factory)
        with sessions._lock:
            sessions._items["default"] = (probe, threading.Lock())
        return {"sessions": sessions}

    stats = {"requests": 0, "frames": 0, "videos": 0}
    slot = ModelSlot(load, describe={"service": "detector", "detector": kind, "model": model_path,
                                     "stride": stride}, source=model_path or f"the {kind} detector")
    app = service_app("MouseAct detector service",
                      "Mouse boxes per frame (stage 0). GET /health is 200 only once the detector is "
                      "loaded; model requests answer 503 until then.",
                      lifespan_loading(slot, load_in_background))
    app.state.slot = slot
    loading = error_responses(500, 503)

    @app.get("/health", summary="200 once the detector is loaded (503 loading, 500 failed)",
             responses=error_responses(500, 503))
    def health():
        """What docker-compose's healthcheck and ``wait_healthy`` poll."""
        return health_response(slot)

    @app.get("/", summary="the service's name and endpoints")
    def index():
        return {"service": app.title, "endpoints": endpoint_list(app)}

    @app.post("/detect/frames", summary="boxes for a batch of frames (a raw .npy body)",
              openapi_extra=npy_body("the frames, in video order: one .npy array uint8 RGB (T, H, W, 3), "
                                     f"at most {MAX_BODY_BYTES >> 20} MiB per request"),
              responses={200: {"description": "one box (x1, y1, x2, y2 in pixels, or null: no mouse) and "
                                              "score per frame",
                               "content": {"application/json": {"example": _FRAMES_EXAMPLE}}},
                         **error_responses(400, 413, 500, 503)})
    async def detect_frames(request: Request,
                            x_session: str = Header("default", alias="X-Session",
                                                    description="client session (up to 100 characters): each "
                                                                "keeps its own detector state, so a stateful "
                                                                "detector sees one video's frames in order")):
        """Send a video's frames in order, in batches, under one ``X-Session``; ``DELETE
        /sessions/{name}`` before the next video."""
        if not slot.ready:
            return health_response(slot)
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            return error_response(413, f"body of {length} bytes is over {MAX_BODY_BYTES}; send fewer frames")
        body = await request.body()
        session = x_session[:100]
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

    @app.get("/info", summary="the detector's kind and config", responses=loading)
    def get_info():
        """What a client needs to mirror the detector: its config and whether it has a background model."""
        if not slot.ready:
            return health_response(slot)
        probe, _ = slot.value["sessions"].get("default")
        cfg = getattr(probe, "config", None)
        cfg = cfg.model_dump() if hasattr(cfg, "model_dump") else dict(vars(cfg)) if cfg is not None else {}
        from mouseact.preprocess.detection import detector_key

        return {"detector": kind, "model": model_path, "config": _jsonable(cfg),
                "background": hasattr(probe, "fit_background"),
                "model_key": detector_key(kind, model_path)["model_key"]}

    @app.post("/sessions/{name}/background", summary="prime a session's background model (a raw .npy body)",
              openapi_extra=npy_body("frames sampled across the whole video: one .npy array uint8 RGB (T, H, W, 3)"),
              responses={**error_responses(400, 500, 503)})
    async def fit_background(request: Request,
                             name: str = PathParam(description="the session (the client's X-Session)"),
                             x_frame_size: str | None = Header(None, alias="X-Frame-Size",
                                                               description="H,W: the size of the frames detection "
                                                                           "will see, if the samples are smaller")):
        """Prime a session's background model with frames sampled across its video (what the pipeline
        does before streaming a video; only for detectors with a background model, see ``GET /info``)."""
        if not slot.ready:
            return health_response(slot)
        try:
            frames = decode_frames(await request.body())
            size = x_frame_size
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

    @app.get("/stats", summary="requests, frames and videos served; sessions alive")
    def get_stats():
        sessions = len(slot.value["sessions"]) if slot.ready else 0
        return {**stats, "sessions": sessions}

    @app.delete("/sessions/{name}", summary="forget a session's detector state (before its next video)",
                responses=loading)
    def drop_session(name: str):
        if not slot.ready:
            return health_response(slot)
        return {"session": name, "dropped": slot.value["sessions"].drop(name)}

    @app.post("/detect/video", summary="the smoothed track of a whole video the service can read",
              responses={200: {"description": "per frame: box (or null), score, lost flag; plus fps and frame count",
                               "content": {"application/json": {"example": {
                                   "path": "/data/input/mouse1.mp4", "n_frames": 2, "fps": 30.0,
                                   "boxes": [[112.0, 80.5, 190.25, 141.0], None], "scores": [0.93, None],
                                   "lost": [False, True], "lost_share": 0.5}}}},
                         **error_responses(400, 500, 503)})
    def detect_video(payload: DetectVideoRequest):
        """Background primed, detected, tracked and smoothed in one pass (the library's
        ``detect_video``); with ``--input-root`` only videos under those folders."""
        if not slot.ready:
            return health_response(slot)
        try:
            path = check_video_path(payload.path, input_roots, "path")
            video_stride = payload.stride if payload.stride is not None else stride
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
