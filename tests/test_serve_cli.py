"""``mouseact serve detector|inference`` from the command line (as docker runs them): bad input is one
``error:`` line on stderr and exit status 2 — before the server starts for what needs no loading, as
soon as loading fails for a model that cannot be loaded — and the port logged is the port served."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from serve_http import free_port, request

STARTED = "Uvicorn running on"


def fake_detector(root: Path, family: str = "yolo") -> Path:
    """A detector model directory whose card is right but whose weights were replaced after it was
    written: it passes every check that needs no loading and fails to load (checksum)."""
    root.mkdir(parents=True)
    (root / "weights.pt").write_bytes(b"replaced weights")
    card = {"kind": "detector", "family": family, "arch": "yolov8n", "classes": ["mouse"], "input_size": 64,
            "files": {"weights.pt": hashlib.sha256(b"the weights that were trained").hexdigest(),
                      "model.yaml": hashlib.sha256(b"nc: 1\n").hexdigest()}}
    (root / "model.yaml").write_text("nc: 1\n")
    (root / "model_card.json").write_text(json.dumps(card))
    return root


def bundle_copy(tmp_path: Path) -> Path:
    from mouseact.models import DEFAULT_BUNDLE

    return Path(shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle"))


def refused_before_serving(res: subprocess.CompletedProcess, line: str) -> None:
    """Exit 2 with exactly ``error: LINE`` on stderr (``LINE...``: a line that starts so), and no server
    was started."""
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    if line.endswith("..."):
        assert res.stderr.startswith(f"error: {line[:-3]}") and res.stderr.count("\n") == 1, res.stderr[-2000:]
    else:
        assert res.stderr.strip() == f"error: {line}", res.stderr[-2000:]
    assert STARTED not in res.stderr and "Traceback" not in res.stderr


# -- refused before the server starts (nothing to load) ----------------------------------------------
def test_detector_model_problems_refused_before_serving(tmp_path):
    from mouseact.models import DEFAULT_BUNDLE

    port = str(free_port())
    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.mkdir()
    classifier = DEFAULT_BUNDLE / "classifier"
    cases = [
        (["--detector", "yolo"], "the yolo detector needs a trained model directory (--model DIR, made by "
                                 "`mouseact train detector`)"),
        (["--detector", "yolo", "--model", str(missing)], f"{missing}: model directory not found"),
        (["--detector", "rtdetr", "--model", str(empty)], f"{empty}: not a MouseAct model directory (no "
                                                          "model_card.json)"),
        (["--detector", "yolo", "--model", str(classifier)], f"{classifier}: model is a 'classifier', expected "
                                                             "detector"),
        (["--detector", "rtdetr", "--model", str(fake_detector(tmp_path / "det"))],
         f"{tmp_path / 'det'}: this is a yolo detector, not rtdetr (use --detector yolo)"),
        (["--model", str(tmp_path / "det")], f"{tmp_path / 'det'}: the classical detector takes no model (use "
                                             "--detector yolo or rtdetr for a trained one)"),
    ]
    for extra, line in cases:
        refused_before_serving(run_cli("serve", "detector", "--port", port, *extra, timeout=120), line)


def test_inference_model_problems_refused_before_serving(tmp_path):
    port = str(free_port())
    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.mkdir()
    listed = bundle_copy(tmp_path)
    (listed / "classifier" / "model_card.json").write_text("[]")  # a card that is a JSON list
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    (swapped / "pipeline.json").write_text(json.dumps({"classifier": str(listed / "localizer"),
                                                       "localizer": str(listed / "localizer")}))
    cases = [
        (["--model", str(missing)], f"{missing}: model directory not found"),
        (["--model", str(empty)], f"{empty}: not a model bundle (no pipeline.json) nor a classifier directory "
                                  "(no model_card.json of kind 'classifier')"),
        (["--model", str(listed)], f"{listed / 'classifier'}: ..."),  # (the card's reader words the problem)
        (["--model", str(swapped)], f"{listed / 'localizer'}: model is a 'localizer', expected classifier"),
        (["--detector", "yolo"], "the yolo detector needs a trained model directory (--detector-model DIR, made "
                                 "by `mouseact train detector`)"),
        (["--detector-model", str(missing)], f"{missing}: --detector-model is for a trained detector: add "
                                             "--detector yolo or rtdetr"),
    ]
    for extra, line in cases:
        refused_before_serving(run_cli("serve", "inference", "--port", port, "--out", str(tmp_path / "out"),
                                       *extra, timeout=120), line)
    assert not (tmp_path / "out").exists()  # nothing written for a service that never ran


def test_bad_input_root_port_and_out_refused(tmp_path):
    nope = tmp_path / "nope"
    a_file = tmp_path / "video.mp4"
    a_file.write_bytes(b"x")
    for service in ("detector", "inference"):
        res = run_cli("serve", service, "--port", str(free_port()), "--input-root", str(tmp_path),
                      "--input-root", str(nope), timeout=120)
        refused_before_serving(res, f"{nope}: input folder not found (--input-root)")
        res = run_cli("serve", service, "--port", str(free_port()), "--input-root", str(a_file), timeout=120)
        refused_before_serving(res, f"{a_file}: not a folder (--input-root takes folders of videos)")
        for port in ("99999", "0", "65536", "-1"):
            res = run_cli("serve", service, "--port", port, timeout=120)
            assert res.returncode == 2 and STARTED not in res.stderr, res.stderr
            assert res.stderr.strip().splitlines()[-1].endswith(
                f"error: argument --port: {port} is not a TCP port (1-65535)"), res.stderr
    res = run_cli("serve", "inference", "--port", str(free_port()), "--out", str(a_file), timeout=120)
    refused_before_serving(res, f"{a_file}: not a folder (--out is where each job writes its outputs)")


# -- a model that fails to load: the running server says so at once and exits -------------------------
def test_detector_that_fails_to_load_stops_the_service(tmp_path):
    det = fake_detector(tmp_path / "det")
    port = free_port()
    res = run_cli("serve", "detector", "--port", str(port), "--detector", "yolo", "--model", str(det), timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {det}: model file weights.pt does not match its checksum (damaged or replaced)"]
    # the server was up (loading in the background, /health 503) when loading failed, and is gone now
    assert f"{STARTED} http://127.0.0.1:{port}" in res.stderr
    assert "Traceback" not in res.stderr


def test_inference_bundle_that_fails_to_load_stops_the_service(tmp_path):
    bundle = bundle_copy(tmp_path)
    card = json.loads((bundle / "classifier" / "model_card.json").read_text())
    weights = bundle / "classifier" / next(iter(card["files"]))
    weights.write_bytes(weights.read_bytes() + b"tampered")
    res = run_cli("serve", "inference", "--port", str(free_port()), "--model", str(bundle), "--out",
                  str(tmp_path / "out"), timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {bundle / 'classifier'}: model file {weights.name} does not match its checksum "
                      "(damaged or replaced)"]
    assert STARTED in res.stderr and "Traceback" not in res.stderr


# -- the port logged is the port served ---------------------------------------------------------------
def test_logged_port_is_the_port_served(tmp_path):
    port = free_port()
    log = open(tmp_path / "detector.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "mouseact", "serve", "detector", "--port", str(port),
                             "--input-root", str(tmp_path)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while STARTED not in (text := (tmp_path / "detector.log").read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)
        logged = text.split(STARTED, 1)[1].split()[0]
        assert logged == f"http://127.0.0.1:{port}"
        while (status := request("GET", logged + "/health")[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("service", ["detector", "inference"])
def test_port_is_checked_by_argparse(service):
    """``--port`` keeps ``type=int`` (the app form's number field) with its range checked by argparse."""
    from mouseact.apps.server import command_parser

    parser = command_parser(["serve", service])
    port = next(a for a in parser._actions if a.dest == "port")
    assert port.type is int
    assert parser.parse_args(["--port", "65535"]).port == 65535
    with pytest.raises(SystemExit):
        parser.parse_args(["--port", "65536"])


def test_serve_refuses_a_busy_port_a_bad_stride_and_a_bad_detector_url(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "mouseact", "serve", "detector", "--port", str(port)],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(f"error: 127.0.0.1:{port}: cannot listen")
    r = subprocess.run([sys.executable, "-m", "mouseact", "serve", "detector", "--stride", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "must be at least 1" in r.stderr
    r = subprocess.run([sys.executable, "-m", "mouseact", "serve", "inference", "--detector-url", "notaurl"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not an http(s) URL" in r.stderr
