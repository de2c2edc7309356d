"""The images' HEALTHCHECK command (``python -m mouseact.serve.healthcheck``, no arguments) against
real servers started through the image's entry script, as ``docker run mouseact:cpu <command>`` would
start them: it must find the port of whatever the main process serves (detector, inference service,
an app's form) and report a batch job healthy while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serve_http import free_port

REPO = Path(__file__).resolve().parents[1]
ENTRY = REPO / "docker" / "entrypoint.sh"
VENV_BIN = str(Path(sys.executable).parent)
PORT_VARS = ("MOUSEACT_PORT", "DETECTOR_PORT", "INFERENCE_PORT", "HOST", "MODEL_DIR", "DETECTOR_URL", "INPUT",
             "OUTPUT")


def image_env(**extra: str) -> dict[str, str]:
    """The host environment with this venv's python first on PATH (the image's ``python``)."""
    env = {k: v for k, v in os.environ.items() if k not in PORT_VARS}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def healthcheck(pid: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The image's HEALTHCHECK command; ``--pid`` stands for the container's PID 1."""
    return subprocess.run(["python", "-m", "mouseact.serve.healthcheck", "--pid", str(pid)], env=env,
                          capture_output=True, text=True, timeout=60)


class EntryProcess:
    """``docker/entrypoint.sh ARGS`` in its own process group (its PID is then the server's: exec)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = open(log, "w")
        self.proc = subprocess.Popen(["sh", str(ENTRY), *args], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def __enter__(self) -> "EntryProcess":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()


def wait_healthy(entry: EntryProcess, env: dict[str, str], timeout: float) -> tuple[list[int], str]:
    """Run the healthcheck until it passes; returns the exit codes seen and the passing line."""
    codes = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert entry.proc.poll() is None, Path(entry.log.name).read_text()[-2000:]
        res = healthcheck(entry.proc.pid, env)
        codes.append(res.returncode)
        if res.returncode == 0:
            return codes, res.stdout
        time.sleep(0.5)
    raise AssertionError(f"never healthy; last: {res.stderr}; log: {Path(entry.log.name).read_text()[-2000:]}")


def test_app_form_on_its_port(tmp_path):
    """``docker run ... mouseact:cpu app inference --host 0.0.0.0``: the form's server is probed, not 8001/8002."""
    port = free_port()
    env = image_env()
    with EntryProcess(["app", "inference", "--host", "127.0.0.1", "--port", str(port), "--workdir",
                       str(tmp_path / "work")], env, tmp_path / "app.log") as app:
        codes, line = wait_healthy(app, env, timeout=120)
        assert line.startswith(f"healthy: http://127.0.0.1:{port}/api/health: ok")
        # MOUSEACT_PORT names the port outright (here the same server, found through /api/health)
        res = subprocess.run(["python", "-m", "mouseact.serve.healthcheck"], env={**env, "MOUSEACT_PORT": str(port)},
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        # once the server is gone the same check fails
        os.killpg(app.proc.pid, signal.SIGTERM)
        app.proc.wait(timeout=30)
    res = subprocess.run(["python", "-m", "mouseact.serve.healthcheck"], env={**env, "MOUSEACT_PORT": str(port)},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}/health")


def test_detector_on_detector_port(tmp_path):
    """``entrypoint.sh detector`` with DETECTOR_PORT (no MOUSEACT_PORT): the check follows the port."""
    port = free_port()
    env = image_env(DETECTOR_PORT=str(port), HOST="127.0.0.1")
    with EntryProcess(["detector"], env, tmp_path / "detector.log") as det:
        codes, line = wait_healthy(det, env, timeout=120)
        assert line.startswith(f"healthy: http://127.0.0.1:{port}/health: ok")


@pytest.mark.slow
def test_inference_service_unhealthy_until_the_model_is_loaded(tmp_path):
    """``entrypoint.sh inference-service`` on INFERENCE_PORT: 1 while it starts and loads, then 0."""
    port = free_port()
    env = image_env(INFERENCE_PORT=str(port), HOST="127.0.0.1", OUTPUT=str(tmp_path / "out"))
    with EntryProcess(["inference-service"], env, tmp_path / "inference.log") as inf:
        codes, line = wait_healthy(inf, env, timeout=300)
        assert codes[0] == 1 and codes[-1] == 0  # not healthy before the server and its model are up
        assert line.startswith(f"healthy: http://127.0.0.1:{port}/health: ok")


def test_batch_job_is_healthy_while_it_runs(tmp_path, bsoid_dir):
    """``entrypoint.sh inference`` (the image's default command) serves nothing: no port to probe."""
    # a detector service that never comes up keeps the job alive (waiting for it) while it is checked
    env = image_env(INPUT=str(bsoid_dir / "mouse1" / "rear_plus.mp4"), OUTPUT=str(tmp_path / "out"),
                    DETECTOR_URL=f"http://127.0.0.1:{free_port()}", DETECTOR_WAIT_S="60")
    with EntryProcess(["inference"], env, tmp_path / "job.log") as job:
        deadline = time.monotonic() + 60
        while "waiting for the detector service" not in Path(job.log.name).read_text():
            assert job.proc.poll() is None and time.monotonic() < deadline, Path(job.log.name).read_text()
            time.sleep(0.2)
        res = healthcheck(job.proc.pid, env)
        assert job.proc.poll() is None, "the job ended before the check ran"
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f"healthy: no server to probe, process {job.proc.pid} runs a job")
