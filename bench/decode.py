#!/usr/bin/env python
"""Decode speed of mouseact.video on the 5.5-minute arena video; writes docs/benchmarks/01-decode.md.

    nice -n 10 .venv/bin/python bench/decode.py [--video ../shared/data/tracktor_arena/mouse_video.mp4]
                                                [--frames N] [--chunk 64]

Each reader streams the video in chunks with ``VideoReader.iter_chunks`` (what the pipeline
does); every configuration runs once, back to back in one process, and speeds are also given as
a ratio to decord at full size measured in the same run (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # not needed when installed; harmless otherwise

CONFIGS = [
    # (name, VideoReader kwargs)
    ("decord, full size (640x480)", {"backend": "decord"}),
    ("decord, resize on decode to 320 wide", {"backend": "decord", "width": 320}),
    ("PyAV fallback, full size", {"backend": "av"}),
    ("PyAV fallback, resize to 320 wide", {"backend": "av", "width": 320}),
]


def stream(path: Path, n_frames: int | None, chunk: int, **kw) -> tuple[int, float, tuple]:
    from mouseact.video import VideoReader

    t0 = time.perf_counter()
    n, shape, checksum = 0, None, 0
    with VideoReader(path, **kw) as vr:
        for _, frames in vr.iter_chunks(chunk, 0, n_frames):
            n += len(frames)
            shape = frames.shape[1:]
            checksum += int(frames[:, ::97, ::89].sum())  # touch the data so nothing is skipped
    return n, time.perf_counter() - t0, shape


def stream_then_resize(path: Path, n_frames: int | None, chunk: int, width: int = 320) -> tuple[int, float, tuple]:
    """decord at full size, then cv2.resize per frame: what resize-on-decode replaces."""
    import cv2

    from mouseact.video import VideoReader

    t0 = time.perf_counter()
    n, shape = 0, None
    with VideoReader(path, backend="decord") as vr:
        h = round(vr.info.height * width / vr.info.width)
        for _, frames in vr.iter_chunks(chunk, 0, n_frames):
            small = np.stack([cv2.resize(f, (width, h), interpolation=cv2.INTER_AREA) for f in frames])
            n += len(small)
            shape = small.shape[1:]
    return n, time.perf_counter() - t0, shape


def random_clips(path: Path, n_clips: int, clip_len: int, seed: int = 0) -> float:
    from mouseact.video import VideoReader

    with VideoReader(path) as vr:
        rng = np.random.default_rng(seed)
        starts = rng.integers(0, vr.info.n_frames - clip_len, n_clips)
        t0 = time.perf_counter()
        for s in starts:
            vr.get_clip(int(s), int(s) + clip_len - 1)
        return time.perf_counter() - t0


def _row(name, fn):
    n, sec, shape = fn()
    print(f"{name:48s} {n:6d} frames {sec:7.2f} s {n / sec:7.1f} fps {shape}", flush=True)
    return n, sec, shape


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, default=ROOT.parent / "shared/data/tracktor_arena/mouse_video.mp4",
                    help="video to decode")
    ap.add_argument("--compare-frames", type=int, default=3000,
                    help="frames per configuration in each interleaved comparison round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved comparison rounds (median reported)")
    ap.add_argument("--chunk", type=int, default=64, help="frames per chunk")
    ap.add_argument("--clips", type=int, default=20, help="random 16-frame clips for the random-access line")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/01-decode.md", help="section file to write")
    args = ap.parse_args(argv)

    from mouseact import atomic, video

    info = video.probe(args.video)
    load_before = os.getloadavg()
    configs = [(name, (lambda kw=kw, n=None: stream(args.video, n, args.chunk, **kw))) for name, kw in CONFIGS]
    configs.append(("decord full size, then cv2.resize to 320 wide",
                    lambda n=None: stream_then_resize(args.video, n, args.chunk)))

    # 1. the whole video, start to end, with the default reader and the fallback
    print("whole video:")
    full = [(CONFIGS[0][0], _row(CONFIGS[0][0], lambda: stream(args.video, None, args.chunk, **CONFIGS[0][1]))),
            (CONFIGS[2][0], _row(CONFIGS[2][0], lambda: stream(args.video, None, args.chunk, **CONFIGS[2][1])))]
    # 2. interleaved rounds on the first frames: ratios from the same moments of machine load
    fps: dict[str, list[float]] = {name: [] for name, _ in configs}
    shapes = {}
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}:")
        for name, fn in configs:
            n, sec, shape = _row(name, lambda fn=fn: fn(n=args.compare_frames))
            fps[name].append(n / sec)
            shapes[name] = shape
    med = {name: float(np.median(v)) for name, v in fps.items()}
    base = med[configs[0][0]]
    clip_s = random_clips(args.video, args.clips, 16)
    print(f"random 16-frame clips: {args.clips / clip_s:.1f} clips/s")
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_after = os.getloadavg()

    cmd = "nice -n 10 .venv/bin/python bench/decode.py" + "".join(f" {a}" for a in sys.argv[1:])
    lines = [
        "## Decode speed (`mouseact.video`)",
        "",
        f"Video: `{Path(args.video).name}` (tracktor arena, {info.width}x{info.height}, {info.fps:g} fps, "
        f"{info.n_frames} frames = {info.duration_s / 60:.1f} min, H.264), streamed with "
        f"`VideoReader.iter_chunks({args.chunk})` (what the pipeline does).",
        "",
        "Whole video, start to end:",
        "",
        "| reader | frames | seconds | frames/s |",
        "|---|---:|---:|---:|",
    ]
    for name, (n, sec, shape) in full:
        lines.append(f"| {name} | {n} | {sec:.1f} | {n / sec:.0f} |")
    lines += [
        "",
        f"Comparison: {args.rounds} interleaved rounds of the first {args.compare_frames} frames per "
        "configuration (median frames/s; the ratio is to decord at full size in the same rounds):",
        "",
        "| reader | output | frames/s (median) | per round | vs decord full size |",
        "|---|---|---:|---|---:|",
    ]
    for name, _ in configs:
        h, w = shapes[name][:2]
        per = ", ".join(f"{v:.0f}" for v in fps[name])
        lines.append(f"| {name} | {w}x{h} | {med[name]:.0f} | {per} | {med[name] / base:.2f}x |")
    lines += [
        "",
        f"Random access: {args.clips} random 16-frame clips with `get_clip` (decord, full size): "
        f"{args.clips / clip_s:.1f} clips/s ({1000 * clip_s / args.clips:.0f} ms per clip; keyframes in this "
        "video are up to 250 frames apart and each clip decodes from the keyframe before it).",
        "",
        f"Peak memory of the whole benchmark process: {max_rss_mb:.0f} MB (the whole video decoded at once "
        f"would be {info.n_frames * info.width * info.height * 3 / 1e9:.1f} GB).",
        f"Load average (1 min) before/after: {load_before[0]:.1f} / {load_after[0]:.1f} on "
        f"{os.cpu_count()} cores shared with other jobs.",
        "",
        f"Command: `{cmd}`",
        "",
    ]
    atomic.write_text(args.out, "\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
