"""Serving benchmarks -> docs/benchmarks/70-serving.md.

What does going through the HTTP services cost compared with calling the library in-process?

1. Stage 0 over HTTP: the classical detector on the first N frames of the arena video, called
   (a) in-process and (b) through ``RemoteDetector`` → ``mouseact serve detector`` in its own
   process (as in docker-compose). Ratio of frames/s, measured in the same run, plus the same
   frames' decode-only rate for scale.
2. The whole pipeline as a service: predict + outputs in-process vs ``POST /jobs`` + polling
   ``GET /jobs/{id}`` on ``mouseact serve inference`` (own process), and in-process with stage 0 on
   the detector service (the docker-compose arrangement), for the same video. Ratios > 1 = faster.

    nice -n 10 .venv/bin/python bench/serving.py                 # defaults
    nice -n 10 .venv/bin/python bench/serving.py --frames 600 --video PATH
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ARENA = DATA / "tracktor_arena" / "mouse_video.mp4"
CLIP = DATA / "bsoid_clips" / "mouse2" / "body_groom.mp4"
WARMUP = DATA / "bsoid_clips" / "mouse2" / "orient_L.mp4"
SECTION = ROOT / "docs" / "benchmarks" / "70-serving.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(args: list[str]) -> tuple[subprocess.Popen, str]:
    from mouseact.serve.client import wait_healthy

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mouseact", "serve", *args, "--port", str(port),
                             "--log-level", "warning"], start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, timeout=300)
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def bench_detector(video: Path, n_frames: int, chunk: int) -> dict:
    import numpy as np

    from mouseact.preprocess.detection import make_detector
    from mouseact.serve.client import RemoteDetector
    from mouseact.video import VideoReader

    t0 = time.perf_counter()
    chunks = []
    with VideoReader(video) as vr:
        for _, frames in vr.iter_chunks(chunk, 0, n_frames):
            chunks.append(frames)
    decode_s = time.perf_counter() - t0
    n = sum(len(c) for c in chunks)

    def run(det) -> tuple[float, np.ndarray]:
        t = time.perf_counter()
        boxes = np.concatenate([det.detect(c)[0] for c in chunks])
        return time.perf_counter() - t, boxes

    local_s, local_boxes = run(make_detector("classical"))
    proc, url = start_service(["detector"])
    try:
        remote_s, remote_boxes = run(RemoteDetector(url))
    finally:
        stop(proc)
    same = bool(np.allclose(local_boxes, remote_boxes, atol=0.01, equal_nan=True))
    return {"frames": n, "chunk": chunk, "decode_fps": n / decode_s, "local_fps": n / local_s,
            "remote_fps": n / remote_s, "ratio": local_s / remote_s, "identical": same,
            "mb_per_chunk": chunks[0].nbytes / 1e6}


def bench_inference(video: Path, warmup: Path) -> dict:
    import tempfile

    from mouseact.inference.pipeline import Predictor
    from mouseact.serve.client import RemoteDetector, get_json, post_json
    from mouseact.serve.inference_service import run_prediction

    def timed_local(pred) -> tuple[float, dict]:
        with tempfile.TemporaryDirectory() as tmp:  # the service's own job function, in-process
            run_prediction(pred, warmup, Path(tmp) / "warm")  # first-call imports (matplotlib, ...) not timed
            t0 = time.perf_counter()
            out = run_prediction(pred, video, Path(tmp) / "run")
            return time.perf_counter() - t0, out

    direct_s, direct = timed_local(Predictor(None, progress_bars=False))
    det_proc, det_url = start_service(["detector"])
    try:
        remote_det_s, remote_det = timed_local(Predictor(None, detector=RemoteDetector(det_url), progress_bars=False))
    finally:
        stop(det_proc)

    def job(url: str, path: Path) -> dict:
        status, body = post_json(url + "/jobs", {"video": str(path)})
        assert status == 202, body
        while True:
            status, snap = get_json(url + body["status_url"])
            if snap["status"] in ("done", "failed", "cancelled"):
                return snap
            time.sleep(0.2)

    proc, url = start_service(["inference"])
    try:
        job(url, warmup)
        t0 = time.perf_counter()
        snap = job(url, video)
        service_s = time.perf_counter() - t0
    finally:
        stop(proc)
    assert snap["status"] == "done", snap["error"]
    return {"frames": direct["n_frames"], "direct_s": direct_s, "service_s": service_s,
            "ratio": direct_s / service_s, "identical": snap["result"]["intervals"] == direct["intervals"],
            "remote_det_s": remote_det_s, "remote_det_ratio": direct_s / remote_det_s,
            "remote_det_identical": remote_det["intervals"] == direct["intervals"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(ARENA), help="video for the detector benchmark")
    ap.add_argument("--frames", type=int, default=640, help="frames for the detector benchmark")
    ap.add_argument("--chunk", type=int, default=64, help="frames per HTTP request (the pipeline's chunk)")
    ap.add_argument("--clip", default=str(CLIP), help="video for the inference-service benchmark")
    ap.add_argument("--warmup", default=str(WARMUP), help="short video run once first (imports, caches)")
    args = ap.parse_args()
    det = bench_detector(Path(args.video), args.frames, args.chunk)
    inf = bench_inference(Path(args.clip), Path(args.warmup))
    cmd = "nice -n 10 .venv/bin/python bench/serving.py" + "".join(
        f" --{k} {v}" for k, v in (("frames", args.frames), ("chunk", args.chunk)) if v != ap.get_default(k))
    lines = [
        "## Serving overhead (HTTP services vs in-process)",
        "",
        f"Command: `{cmd}` ({platform.node() or 'build machine'}, {os.cpu_count()} CPUs, same run for every ratio).",
        "",
        f"**Stage 0 over HTTP** — classical detector, first {det['frames']} frames of `{Path(args.video).name}`, "
        f"{det['chunk']} frames ({det['mb_per_chunk']:.1f} MB raw RGB) per request, service in its own process:",
        "",
        "| path | frames/s | ratio to in-process |",
        "|---|---:|---:|",
        f"| decode only (for scale) | {det['decode_fps']:.0f} | |",
        f"| detector in-process | {det['local_fps']:.0f} | 1.00 |",
        f"| `RemoteDetector` → `mouseact serve detector` | {det['remote_fps']:.0f} | {det['ratio']:.2f} |",
        "",
        f"Boxes identical to in-process: **{det['identical']}**.",
        "",
        f"**Pipeline as a service** — `{Path(args.clip).name}` ({inf['frames']} frames), default bundle:",
        "",
        "| path | wall s | ratio to in-process |",
        "|---|---:|---:|",
        f"| predict + write outputs in-process (`run_prediction`) | {inf['direct_s']:.2f} | 1.00 |",
        f"| `POST /jobs` + poll on `mouseact serve inference` | {inf['service_s']:.2f} | {inf['ratio']:.2f} |",
        f"| in-process, stage 0 on the detector service (`RemoteDetector`, as in compose) | "
        f"{inf['remote_det_s']:.2f} | {inf['remote_det_ratio']:.2f} |",
        "",
        f"Intervals with the remote detector identical to local: **{inf['remote_det_identical']}**.",
        "",
        f"Intervals identical: **{inf['identical']}**. Both write the same per-video outputs (predictions, "
        "CSVs, ethogram PNG); the service adds HTTP, the job queue and up to one 0.2 s poll interval. "
        f"Machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(other jobs share the cores, so read ratios, not absolute rates).",
        "",
    ]
    SECTION.parent.mkdir(parents=True, exist_ok=True)
    SECTION.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
