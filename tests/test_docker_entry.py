"""The containers' exact entry commands, run outside Docker with the compose environment.

As ``docker compose up`` would: the detector container's command (``entrypoint.sh detector``),
compose's healthcheck command until it passes, then the inference container's command
(``entrypoint.sh inference``) with MODEL_DIR / INPUT / OUTPUT / DETECTOR_URL pointing at temp
folders, a real video and the running detector service.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from serve_http import free_port, request

REPO = Path(__file__).resolve().parents[1]
ENTRY = REPO / "docker" / "entrypoint.sh"
COMPOSE = REPO / "inference_script" / "docker-compose.yml"
VENV_BIN = str(Path(sys.executable).parent)


def container_env(**extra: str) -> dict[str, str]:
    """The host environment with this venv's python first on PATH (the image's `python`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_DIR", "INPUT", "OUTPUT", "DETECTOR_URL")}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def compose_service(name: str) -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"][name]


@pytest.fixture
def input_dir(tmp_path, bsoid_dir) -> Path:
    d = tmp_path / "input"
    d.mkdir()
    shutil.copy(bsoid_dir / "mouse2" / "rear_plus.mp4", d / "rear_plus.mp4")
    (d / "notes.txt").write_text("not a video: ignored")
    return d


@pytest.fixture
def detector_service(tmp_path):
    """The detector container's command on a free port; yields (url, port)."""
    port = free_port()
    cmd = compose_service("detector")["command"]
    env = container_env(DETECTOR_PORT=str(port), MOUSEACT_PORT=str(port), HOST="127.0.0.1")
    log = open(tmp_path / "detector.log", "w")
    proc = subprocess.Popen(["sh", str(ENTRY), *cmd], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", port, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()


def run_healthcheck(port: int, env: dict) -> int:
    """compose's healthcheck test command for the detector, at our port."""
    test = compose_service("detector")["healthcheck"]["test"]
    assert test[0] == "CMD"
    cmd = [part.replace(":8001/", f":{port}/") for part in test[1:]]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30).returncode


@pytest.mark.slow
def test_compose_flow_outside_docker(tmp_path, input_dir, detector_service):
    from mouseact.models import DEFAULT_BUNDLE

    url, port, env = detector_service
    deadline = time.monotonic() + 90
    while run_healthcheck(port, env) != 0:  # compose: inference waits for service_healthy
        assert time.monotonic() < deadline, (tmp_path / "detector.log").read_text()[-2000:]
        time.sleep(0.5)

    inf = compose_service("inference")
    out_remote = tmp_path / "output"
    run_env = container_env(MODEL_DIR=str(DEFAULT_BUNDLE), INPUT=str(input_dir), OUTPUT=str(out_remote),
                            DETECTOR_URL=url)
    assert set(inf["environment"]) >= {"MODEL_DIR", "INPUT", "OUTPUT", "DETECTOR_URL"}
    res = subprocess.run(["sh", str(ENTRY), *inf["command"]], env=run_env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"outputs: {out_remote}" in res.stdout
    # the detector service really did stage 0: it saw every frame the bundle's stride asks for
    stride = json.loads((DEFAULT_BUNDLE / "pipeline.json").read_text())["pipeline"].get("detector_stride", 1)
    status, stats, _ = request("GET", url + "/stats")
    assert status == 200 and stats["frames"] >= -(-125 // stride) and stats["requests"] >= 2
    preds = json.loads((out_remote / "predictions" / "rear_plus.json").read_text())
    for p in preds:
        assert 0 <= p["frame_range"][0] <= p["frame_range"][1] <= 124 and 0 <= p["confidence"] <= 1
    for name in ("summary.csv", "boris_events.csv", "ethograms/rear_plus.png", "project/meta.json"):
        assert (out_remote / name).is_file(), name

    # the same entry without the detector service (local detector) gives the same intervals
    out_local = tmp_path / "output-local"
    res = subprocess.run([sys.executable, "-m", "mouseact.inference.container_entry"],
                         env=container_env(MODEL_DIR=str(DEFAULT_BUNDLE), INPUT=str(input_dir),
                                           OUTPUT=str(out_local)),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((out_local / "predictions" / "rear_plus.json").read_text()) == preds
    # ... and so the same run: the service resumes the local run's folder (the detector is recorded by what
    # it is -- kind and weights -- not by where it runs)
    res = subprocess.run(["sh", str(ENTRY), "inference"], env={**run_env, "OUTPUT": str(out_local)},
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "already done, skipped" in res.stderr, res.stderr[-2000:]

    # running again resumes: the finished video is skipped, not redone
    res = subprocess.run(["sh", str(ENTRY), "inference"], env=run_env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "already done, skipped" in res.stderr
    # ... but not with other settings: the job stops (nothing rewritten) until MOUSEACT_RESUME=0 runs it again
    changed = {**run_env, "MOUSEACT_SET": "postprocess.threshold=0.5"}
    res = subprocess.run(["sh", str(ENTRY), "inference"], env=changed, capture_output=True, text=True, timeout=600)
    assert res.returncode == 2 and "postprocess.threshold 0.0 -> 0.5" in res.stderr
    assert "MOUSEACT_RESUME=0" in res.stderr and "--no-resume" not in res.stderr  # the container's switch
    res = subprocess.run(["sh", str(ENTRY), "inference"], env={**changed, "MOUSEACT_RESUME": "2"},
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 2 and "MOUSEACT_RESUME must be 1" in res.stderr
    res = subprocess.run(["sh", str(ENTRY), "inference"], env={**changed, "MOUSEACT_RESUME": "0"},
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((out_remote / "predictions" / "rear_plus.meta.json").read_text())["postprocess"]["threshold"] == 0.5

    # one video as INPUT: compose mounts it at /data/input (no name); INPUT_NAME (the .env's path) names it
    mounted = tmp_path / "mnt" / "input"
    mounted.parent.mkdir()
    shutil.copy(input_dir / "rear_plus.mp4", mounted)
    out_one = tmp_path / "output-one"
    scratch = tmp_path / "tmp"  # the container's /tmp: the named link is removed after the run
    scratch.mkdir()
    res = subprocess.run(["sh", str(ENTRY), "inference"], capture_output=True, text=True, timeout=600,
                         env={**run_env, "INPUT": str(mounted), "INPUT_NAME": "./videos/rear_plus.mp4",
                              "OUTPUT": str(out_one), "TMPDIR": str(scratch)})
    assert res.returncode == 0, res.stderr[-2000:]
    assert not list(scratch.glob("mouseact-input-*"))
    assert json.loads((out_one / "predictions" / "rear_plus.json").read_text()) == preds

    # a bundle whose pipeline asks for a trained detector is not silently run with the service's classical one
    bundle = tmp_path / "bundle-yolo"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    spec = json.loads((bundle / "pipeline.json").read_text())
    spec["pipeline"].update(detector="yolo", detector_model="detector")
    (bundle / "pipeline.json").write_text(json.dumps(spec))
    res = subprocess.run(["sh", str(ENTRY), "inference"], env={**run_env, "MODEL_DIR": str(bundle),
                                                                "OUTPUT": str(tmp_path / "out-yolo")},
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 2 and "runs the classical detector but the pipeline settings ask for yolo" in res.stderr
    assert not (tmp_path / "out-yolo").exists()


def test_entry_needs_its_variables(tmp_path):
    res = subprocess.run(["sh", str(ENTRY), "inference"], env=container_env(OUTPUT=str(tmp_path / "out")),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: set INPUT")
    missing = tmp_path / "videos"
    res = subprocess.run(["sh", str(ENTRY), "inference"],
                         env=container_env(INPUT=str(missing), OUTPUT=str(tmp_path / "out")),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.strip() == f"error: {missing}: input not found"
    assert not (tmp_path / "out").exists()


def test_entry_passes_other_commands_to_the_cli():
    res = subprocess.run(["sh", str(ENTRY), "serve", "detector", "--help"], env=container_env(),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "usage: mouseact serve detector" in res.stdout


def test_entry_config_overrides_are_checked(tmp_path, input_dir):
    """MOUSEACT_SET goes through the pipeline's config: a typo is an error, not silently ignored."""
    res = subprocess.run(["sh", str(ENTRY), "inference"],
                         env=container_env(INPUT=str(input_dir), OUTPUT=str(tmp_path / "out"),
                                           MOUSEACT_SET="postprocess.treshold=0.5"),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "treshold" in last
    assert not (tmp_path / "out").exists()


def test_entry_inference_service_mode(tmp_path):
    """``entrypoint.sh inference-service``: the HTTP inference service, healthy once the model loaded."""
    port = free_port()
    env = container_env(INFERENCE_PORT=str(port), HOST="127.0.0.1", OUTPUT=str(tmp_path / "jobs"))
    log = open(tmp_path / "service.log", "w")
    proc = subprocess.Popen(["sh", str(ENTRY), "inference-service"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # the image's HEALTHCHECK command with the service's port
            hc = subprocess.run([sys.executable, "-m", "mouseact.serve.healthcheck"],
                                env={**env, "MOUSEACT_PORT": str(port)}, capture_output=True, timeout=30)
            if hc.returncode == 0:
                break
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "service.log").read_text()[-2000:]
            time.sleep(0.5)
        status, health, _ = request("GET", f"http://127.0.0.1:{port}/health")
        assert status == 200 and health["service"] == "inference" and health["out_dir"] == str(tmp_path / "jobs")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
