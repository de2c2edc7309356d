"""Test helpers for the HTTP tests (serve, docker entry, apps): real servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A real uvicorn server for ``app`` on a free local port, in a thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def request(method: str, url: str, body: Any = None, headers: dict | None = None, raw: bytes | None = None,
            content_type: str | None = None, timeout: float = 120) -> tuple[int, Any, bytes]:
    """(status, parsed JSON or None, raw bytes); HTTP errors are returned, not raised."""
    data = raw
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif content_type:
        hdrs["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    return status, parsed, payload


def multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field (what a browser's form upload sends)."""
    boundary = "----mouseact-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def wait_job(url: str, timeout: float = 300, interval: float = 0.3) -> dict:
    """Poll a job status URL until it finishes; returns the last snapshot (log lines accumulated)."""
    deadline = time.monotonic() + timeout
    log: list[str] = []
    since = 0
    while time.monotonic() < deadline:
        status, snap, _ = request("GET", f"{url}?since={since}")
        assert status == 200, snap
        log += snap["log"]
        since = snap["log_next"]
        if snap["status"] in ("done", "failed", "cancelled"):
            snap["full_log"] = log
            return snap
        time.sleep(interval)
    raise AssertionError(f"job {url} not finished after {timeout} s; log so far: {log[-10:]}")
