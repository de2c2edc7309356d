"""Background jobs for the HTTP services and the app UI: queue, status, progress, log lines.

A service answers each request at once and runs the work in one worker thread (the CPU is the
bottleneck, so jobs run one at a time in submission order). Clients poll ``Job.snapshot()``:
status, progress (0..1 when known), the latest progress text and the log lines after a given
index, so a browser can stream the log without websockets.

Two kinds of work:
- a Python callable ``fn(job)`` (the inference service runs the already-loaded Predictor);
- a ``mouseact`` command line run in a subprocess (the app UI runs exactly the CLI the user
  would run, so the app and the CLI can never drift apart); its tqdm bars on stderr become
  the job's progress.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from typing import Any, Callable

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
MAX_LOG_LINES = 5000  # keep memory bounded on chatty jobs; the oldest lines are dropped

# tqdm's bar text: "desc:  45%|####5     | 450/1000 [00:01<00:02, 300.0frame/s]"
_TQDM_COUNT = re.compile(r"(\d+)/(\d+)\s*\[")
_TQDM_PCT = re.compile(r"(\d{1,3})%\|")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclasses.dataclass
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    status: str = QUEUED
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: float | None = None
    progress_text: str = ""
    log: list[str] = dataclasses.field(default_factory=list)
    log_offset: int = 0  # number of lines dropped from the front of ``log``
    result: Any = None
    error: str | None = None
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)
    _proc: subprocess.Popen | None = dataclasses.field(default=None, repr=False)
    _cancel: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    # -- called by the work ------------------------------------------------------------------
    def add_log(self, line: str) -> None:
        line = _ANSI.sub("", line).rstrip()
        if not line:
            return
        with self._lock:
            self.log.append(line)
            if len(self.log) > MAX_LOG_LINES:
                drop = len(self.log) - MAX_LOG_LINES
                del self.log[:drop]
                self.log_offset += drop

    def set_progress(self, fraction: float | None, text: str = "") -> None:
        with self._lock:
            if fraction is not None:
                self.progress = max(0.0, min(1.0, float(fraction)))
            if text:
                self.progress_text = _ANSI.sub("", text).strip()[:300]

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- read by clients ---------------------------------------------------------------------
    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """JSON-able state; ``log`` holds the lines numbered ``since`` and later."""
        with self._lock:
            start = max(since - self.log_offset, 0)
            lines = self.log[start:]
            now = time.time()
            return {
                "id": self.id,
                "kind": self.kind,
                "status": self.status,
                "params": self.params,
                "progress": self.progress,
                "progress_text": self.progress_text,
                "log": lines,
                "log_next": self.log_offset + len(self.log),
                "error": self.error,
                "result": self.result if self.status == DONE else None,
                "elapsed_s": round(((self.finished or now) - (self.started or now)), 2),
            }


class JobRunner:
    """Jobs by id plus one worker thread that runs them in order.

    ``on_end(job)`` is called once a job has ended (done, failed or cancelled, also a queued job
    cancelled before it ran); ``on_forget(job)`` once a finished job is dropped (``remove``, or the
    oldest beyond ``max_jobs_kept``). Both let a service free what belongs to a job (its upload)."""

    def __init__(self, max_jobs_kept: int = 200, on_end: Callable[[Job], None] | None = None,
                 on_forget: Callable[[Job], None] | None = None):
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._queue: "queue.Queue[tuple[Job, Callable[[Job], Any]] | None]" = queue.Queue()
        self._lock = threading.Lock()
        self._max_kept = max_jobs_kept
        self._on_end = on_end
        self._on_forget = on_forget
        self._thread = threading.Thread(target=self._work, name="mouseact-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, params: dict[str, Any], fn: Callable[[Job], Any]) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, params=params)
        with self._lock:
            self._jobs[job.id] = job
            self._order.append(job.id)
            forgotten = self._forget_old()
        for old in forgotten:
            self._hook(self._on_forget, old)
        self._queue.put((job, fn))
        return job

    def remove(self, job_id: str) -> Job | None:
        """Drop a finished job (``on_forget`` runs); a job still queued or running is left alone.
        Returns the job (check its status: removed only if finished), or None if there is none."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status not in FINISHED:
                return job
            del self._jobs[job_id]
            self._order.remove(job_id)
        self._hook(self._on_forget, job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return [self._jobs[i] for i in self._order]

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is None or job.status in FINISHED:
            return job
        job._cancel.set()
        ended = False
        with job._lock:
            if job.status == QUEUED:
                job.status, job.finished = CANCELLED, time.time()
                ended = True
        if ended:
            self._hook(self._on_end, job)
        elif job._proc is not None and job._proc.poll() is None:
            _terminate(job._proc)
        return job

    def shutdown(self) -> None:
        for job in self.list():
            self.cancel(job.id)
        self._queue.put(None)

    def _forget_old(self) -> list[Job]:
        forgotten = []
        while len(self._order) > self._max_kept:
            old = self._jobs.get(self._order[0])
            if old is not None and old.status not in FINISHED:
                break
            job = self._jobs.pop(self._order.pop(0), None)
            if job is not None:
                forgotten.append(job)
        return forgotten

    @staticmethod
    def _hook(fn: Callable[[Job], None] | None, job: Job) -> None:
        if fn is None:
            return
        try:
            fn(job)
        except Exception:  # a clean-up that failed must not stop the worker or the request
            traceback.print_exc()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, fn = item
            with job._lock:  # under the job's lock: a cancel() now either saw QUEUED or sees RUNNING
                if job.cancelled or job.status != QUEUED:
                    continue
                job.status, job.started = RUNNING, time.time()
            try:
                result = fn(job)
            except BaseException as exc:  # the worker must survive any job
                with job._lock:
                    job.status = CANCELLED if job.cancelled else FAILED
                    job.error = _one_line(exc)
                    job.finished = time.time()
                if not _is_user_error(exc) and not job.cancelled:
                    job.add_log(traceback.format_exc())
                self._hook(self._on_end, job)
                continue
            with job._lock:
                job.result = result
                job.status = CANCELLED if job.cancelled else DONE
                if job.status == DONE:
                    job.progress = 1.0
                job.finished = time.time()
            self._hook(self._on_end, job)


def _is_user_error(exc: BaseException) -> bool:
    from mouseact.errors import MouseActError

    return isinstance(exc, MouseActError)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if _is_user_error(exc) else f"{type(exc).__name__}: {text}"


class CommandFailed(Exception):
    """A ``mouseact`` subprocess exited non-zero; the message is its last error line."""


def run_mouseact(job: Job, argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None
                 ) -> int:
    """Run ``python -m mouseact ARGV`` for ``job``: stdout/stderr lines → log, tqdm → progress.

    stderr is a pseudo-terminal where the OS has one: the command then draws its progress bars
    exactly as in a terminal (tqdm hides them when stderr is a pipe). Raises
    :class:`CommandFailed` with the command's own ``error: ...`` line on a non-zero exit.
    """
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "COLUMNS": "120", "TERM": "dumb"}
    cmd = [sys.executable, "-m", "mouseact", *argv]
    job.add_log("$ mouseact " + " ".join(_quote(a) for a in argv))
    master, slave = _open_pty()
    proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=slave if slave is not None else subprocess.PIPE,
                            start_new_session=True)  # own process group: cancel kills its children too
    if slave is not None:
        os.close(slave)  # the child holds its copy; EOF on the master once the child exits
        err_stream = os.fdopen(master, "rb", buffering=0)
    else:
        err_stream = proc.stderr
    job._proc = proc
    if job.cancelled:
        _terminate(proc)
    last_error: list[str] = []
    readers = [threading.Thread(target=_pump, args=(proc.stdout, job, last_error), daemon=True),
               threading.Thread(target=_pump, args=(err_stream, job, last_error), daemon=True)]
    for t in readers:
        t.start()
    code = proc.wait()
    for t in readers:
        t.join(timeout=10)
    err_stream.close()
    job._proc = None
    if job.cancelled:
        raise CommandFailed("cancelled")
    if code != 0:
        raise CommandFailed(last_error[-1] if last_error else f"mouseact exited with status {code}")
    return code


def _open_pty() -> tuple[int | None, int | None]:
    """A pty pair with output post-processing off (no ``\n`` → ``\r\n``), or ``(None, None)``."""
    try:
        import fcntl
        import pty
        import struct
        import termios

        master, slave = pty.openpty()
        # a 0x0 terminal makes tqdm draw nothing: give it 40 rows x 120 columns
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        return master, slave
    except (ImportError, OSError):
        return None, None


def _pump(stream, job: Job, last_error: list[str]) -> None:
    """Split a byte stream on ``\\n`` (log lines) and ``\\r`` (tqdm redraws → progress only)."""
    buf = b""
    while True:
        try:
            chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        except OSError:  # EIO: a pty's reading end once the child has closed it
            break
        if not chunk:
            break
        buf += chunk
        while True:
            cut = min((i for i in (buf.find(b"\n"), buf.find(b"\r")) if i >= 0), default=-1)
            if cut < 0:
                break
            piece, sep, buf = buf[:cut], buf[cut:cut + 1], buf[cut + 1:]
            _handle_piece(piece.decode("utf-8", "replace"), sep == b"\r", job, last_error)
    if buf:
        _handle_piece(buf.decode("utf-8", "replace"), False, job, last_error)


def _handle_piece(text: str, redraw: bool, job: Job, last_error: list[str]) -> None:
    text = _ANSI.sub("", text).strip()
    if not text:
        return
    count = _TQDM_COUNT.search(text)
    pct = _TQDM_PCT.search(text)
    if count or pct:
        if count and int(count.group(2)) > 0:
            fraction = int(count.group(1)) / int(count.group(2))
        else:
            fraction = int(pct.group(1)) / 100 if pct else None
        job.set_progress(fraction, text)
        return  # bar redraws are not log lines
    if redraw:
        job.set_progress(None, text)
        return
    if text.startswith("error:"):
        last_error.append(text[len("error:"):].strip())
    job.add_log(text)


def _terminate(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
