"""Small stdlib HTTP client for the services (no extra dependency inside the containers).

``RemoteDetector`` implements the stage-0 ``Detector`` protocol (``detect(frames) -> (boxes,
scores)``, ``reset()``) by calling the detector service, so the pipeline can use the compose
deployment's ``detector`` container exactly like a local detector.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import numpy as np

from mouseact.errors import MouseActError


def _request(method: str, url: str, body: bytes | None = None, content_type: str | None = None,
             headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"error": raw.decode("utf-8", "replace")[:300]}
        return exc.code, payload


def get_json(url: str, timeout: float = 30) -> tuple[int, Any]:
    return _request("GET", url, timeout=timeout)


def post_json(url: str, obj: Any, timeout: float = 60) -> tuple[int, Any]:
    return _request("POST", url, json.dumps(obj).encode(), "application/json", timeout=timeout)


def wait_healthy(base_url: str, timeout: float = 120, interval: float = 0.5) -> dict:
    """Poll ``GET /health`` until 200; raise with the service's own error if it fails or times out."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, payload = get_json(base_url.rstrip("/") + "/health", timeout=min(5, timeout))
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last = f"not reachable ({getattr(exc, 'reason', exc)})"
        else:
            if status == 200:
                return payload
            if status == 500:
                raise MouseActError(f"service failed to load: {payload.get('error')}", base_url)
            last = f"HTTP {status} {payload.get('status', '')}".strip()
        time.sleep(interval)
    raise MouseActError(f"service not healthy after {timeout:.0f} s (last: {last})", base_url)


def _npy(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(frames, dtype=np.uint8), allow_pickle=False)
    return buf.getvalue()


class RemoteDetector:
    """The detector service as a local ``Detector``: same ``detect``/``reset`` as stage 0's detectors.

    Each instance has its own session on the service, so a stateful detector there (the
    classical background model) sees only this client's frames, in order.
    """

    def __init__(self, base_url: str, session: str | None = None, timeout: float = 300):
        self.base_url = base_url.rstrip("/")
        self.session = session or f"client-{uuid.uuid4().hex[:10]}"
        self.timeout = timeout
        self._info: dict | None = None

    def _service_info(self) -> dict:
        if self._info is None:
            status, payload = self._call("GET", "/info")
            self._info = payload
        return self._info

    def info(self) -> dict:
        """What the service runs: ``{"detector": kind, "model": its weights directory or None, "config": {...}}``."""
        return dict(self._service_info())

    @property
    def kind(self) -> str | None:
        return self._service_info().get("detector")

    @property
    def config(self):
        """The service detector's config (e.g. ``work_width``), as attributes."""
        import types

        return types.SimpleNamespace(**self._service_info().get("config", {}))

    @property
    def fit_background(self):
        """Present only when the service's detector has a background model (as local ones)."""
        if not self._service_info().get("background"):
            raise AttributeError("fit_background")
        return self._fit_background

    def _fit_background(self, frames: np.ndarray, frame_size: tuple[int, int] | None = None) -> None:
        headers = {"X-Frame-Size": f"{int(frame_size[0])},{int(frame_size[1])}"} if frame_size else {}
        self._call("POST", f"/sessions/{self.session}/background", _npy(frames), headers)

    def _call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, Any]:
        try:
            status, payload = _request(method, self.base_url + path, body,
                                       "application/x-npy" if body is not None else None,
                                       {"X-Session": self.session, **(headers or {})}, self.timeout)
        except (urllib.error.URLError, OSError) as exc:
            raise MouseActError(f"detector service not reachable: {getattr(exc, 'reason', exc)}",
                                self.base_url) from None
        if status != 200:
            detail = payload.get("error") if isinstance(payload, dict) else payload
            raise MouseActError(f"detector service answered HTTP {status} to {path}: {detail}", self.base_url)
        return status, payload

    def detect(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, payload = self._call("POST", "/detect/frames", _npy(frames))
        boxes = np.array([[np.nan] * 4 if b is None else b for b in payload["boxes"]], dtype=np.float32)
        scores = np.array([np.nan if s is None else s for s in payload["scores"]], dtype=np.float32)
        return boxes.reshape(-1, 4), scores

    def reset(self) -> None:
        try:
            _request("DELETE", f"{self.base_url}/sessions/{self.session}", timeout=30)
        except (urllib.error.URLError, OSError):
            pass  # nothing to forget on a service that is gone

    def __repr__(self) -> str:
        return f"RemoteDetector({self.base_url!r}, session={self.session!r})"
