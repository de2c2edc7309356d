"""`mouseact infer` stopped from outside: SIGTERM (kill, docker stop, a job scheduler) ends it like Ctrl-C
(exit 130, helper processes gone, its temporary crop store removed, no half-written video); after SIGKILL
its helper processes end by themselves and the next run removes the orphaned crop store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_infer(video: Path, out: Path, tmp: Path) -> tuple[subprocess.Popen, Path]:
    """infer on the long arena video, its crop store in ``tmp``; returns once helpers and the store exist."""
    proc = subprocess.Popen([sys.executable, "-m", "mouseact", "infer", str(video), "--out", str(out), "--quiet",
                             "--set", f"crop_store_dir={tmp}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not (list(tmp.glob(f"mouseact-crops-{proc.pid}-*")) and len(children(proc.pid)) >= 2):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the streaming pass never started"
        time.sleep(0.2)
    return proc, next(tmp.glob(f"mouseact-crops-{proc.pid}-*"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_sigterm_stops_like_ctrl_c(arena_video, tmp_path):
    store_root = tmp_path / "store"
    store_root.mkdir()
    proc, store = start_infer(arena_video, tmp_path / "out", store_root)
    helpers = children(proc.pid)
    proc.send_signal(signal.SIGTERM)  # the process only, not its group: what `kill PID` does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err[-2000:]
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(alive(h) for h in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(h) for h in helpers)
    assert not store.exists()
    assert not (tmp_path / "out" / "predictions" / "mouse_video.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_sigkill_leaves_no_helpers_and_the_next_run_removes_the_store(arena_video, bsoid_dir, tmp_path):
    store_root = tmp_path / "store"
    store_root.mkdir()
    proc, store = start_infer(arena_video, tmp_path / "out", store_root)
    helpers = children(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(alive(h) for h in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(h) for h in helpers), "helper processes outlived a killed infer"
    assert store.exists()  # SIGKILL: nothing could clean up
    r = subprocess.run([sys.executable, "-m", "mouseact", "infer", str(bsoid_dir / "mouse1" / "itch.mp4"),
                        "--out", str(tmp_path / "out2"), "--quiet", "--set", f"crop_store_dir={store_root}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not store.exists() and not list(store_root.iterdir())
