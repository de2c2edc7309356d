"""Benchmark `mouseact preprocess`: cutting speed against decode-only, resume cost, frame accuracy.

    nice -n 10 .venv/bin/python bench/preprocess.py

Writes docs/benchmarks/04-preprocess.md. Bouts on the arena video are synthetic (seeded);
what is measured is the cost of cutting, not accuracy of any label.
"""

from __future__ import annotations

import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ARENA = DATA / "tracktor_arena" / "mouse_video.mp4"
OPENFIELD = DATA / "openfield_dlc" / "videos" / "m3v1mp4.mp4"


def synthetic_bouts(n_frames: int, fps: float, seed: int = 0):
    from mouseact.intervals import Interval

    rng = np.random.default_rng(seed)
    out, t = [], int(rng.integers(0, 5 * fps))
    while True:
        length = int(rng.uniform(1, 8) * fps)
        if t + length >= n_frames:
            break
        out.append(Interval(t, t + length - 1, str(rng.choice(["groom", "rear", "itch"]))))
        t += length + int(rng.uniform(5, 20) * fps)
    return out


def decode_seconds(path: Path) -> tuple[float, int]:
    from mouseact.video import VideoReader

    t0 = time.perf_counter()
    with VideoReader(path) as r:
        n = sum(1 for _ in r.iter_frames())
    return time.perf_counter() - t0, n


def frame_accuracy(n_clips: int = 12, length: int = 24, seed: int = 1) -> tuple[int, int]:
    """Clips cut from the B-frame open-field video: how many frames best match their own source
    frame (offset 0) among offsets -2..2 of a sequential decode."""
    from mouseact.preprocess.clips.cut import cut_clip
    from mouseact.video import VideoReader

    rng = np.random.default_rng(seed)
    with VideoReader(OPENFIELD) as r:
        ref = np.stack(list(r.iter_frames())).astype(np.int16)
    good = total = 0
    with tempfile.TemporaryDirectory() as tmp, VideoReader(OPENFIELD) as r:
        for k in range(n_clips):
            s = int(rng.integers(2, len(ref) - length - 2))
            out = Path(tmp) / f"c{k}.mp4"
            cut_clip(r, s, s + length - 1, out, short_side=0, crf=18)
            clip = VideoReader(out).get_clip(0, length - 1).astype(np.int16)
            for i in range(length):
                diffs = [np.abs(clip[i] - ref[s + i + o]).mean() for o in range(-2, 3)]
                good += int(np.argmin(diffs) == 2)
                total += 1
    return good, total


def main() -> None:
    from mouseact import sly_io
    from mouseact.preprocess.clips import PreprocessConfig, preprocess
    from mouseact.video import probe

    info = probe(ARENA)
    bouts = synthetic_bouts(info.n_frames, info.fps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rec = sly_io.VideoRecord(ARENA, "arena.mp4", "ds0", info.fps, info.n_frames, info.width, info.height,
                                 bouts, None)
        proj = sly_io.write_project(tmp / "in", [rec], sorted({b.label for b in bouts}))
        t_decode, n = decode_seconds(ARENA)
        cfg = PreprocessConfig(detector="none", val_fraction=0, test_fraction=0)
        t0 = time.perf_counter()
        report = preprocess(proj, tmp / "out", cfg, progress=False)
        t_cut = time.perf_counter() - t0
        clip_frames = sum(v["train"]["frames"] for v in report["clips"].values())
        clips = sum(v["train"]["clips"] for v in report["clips"].values())
        t0 = time.perf_counter()
        preprocess(proj, tmp / "out", cfg, progress=False)
        t_noop = time.perf_counter() - t0
        rows.append(("cut, detector none", t_cut, clips, clip_frames))
        t_det = None
        try:
            import mouseact.preprocess.detection  # noqa: F401

            cfg_det = PreprocessConfig(detector="classical", val_fraction=0, test_fraction=0)
            t0 = time.perf_counter()
            preprocess(proj, tmp / "out_det", cfg_det, progress=False)
            t_det = time.perf_counter() - t0
        except ImportError:
            pass
        shutil.rmtree(tmp / "out", ignore_errors=True)
    good, total = frame_accuracy()

    cmd = "nice -n 10 .venv/bin/python bench/preprocess.py"
    lines = [
        "## Preprocessing (clip cutting, idle balancing)", "",
        f"Command: `{cmd}` ({platform.machine()}, {date.today().isoformat()}). Input: "
        f"`tracktor_arena/mouse_video.mp4` ({n} frames, {info.width}x{info.height}, {info.fps:g} fps) with "
        f"{len(bouts)} synthetic bouts (1–8 s, seeded); defaults (max 5 s clips, idle 1:1, short side 480), "
        "no split (all train). Same run: sequential decode-only of the whole video "
        f"{t_decode:.1f} s = {n / t_decode:.0f} frames/s.", "",
        "| step | wall s | ratio to decode-only | clips | clip frames | clip frames/s |",
        "|---|---:|---:|---:|---:|---:|",
        f"| preprocess, detector none | {t_cut:.1f} | {t_cut / t_decode:.2f} | {clips} | {clip_frames} | "
        f"{clip_frames / t_cut:.0f} |",
        f"| re-run, nothing to do (manifest) | {t_noop:.1f} | {t_noop / t_decode:.2f} | 0 | 0 | — |",
    ]
    if t_det is not None:
        lines.append(f"| preprocess, classical detector (full-video track) | {t_det:.1f} | {t_det / t_decode:.2f} | "
                     f"{clips} | {clip_frames} | {clip_frames / t_det:.0f} |")
    lines += [
        "", f"Frame accuracy on `openfield_dlc/videos/m3v1mp4.mp4` (H.264 yuv444p with B-frames): of {total} frames "
        f"in 12 random 24-frame clips, {good} ({100 * good / total:.1f}%) match their own source frame better "
        "than the frames 1–2 before or after (sequential decode as reference).", "",
        "Reading: cutting re-encodes only the clip frames (about half the video at a 1:1 idle ratio with "
        "bouts every ~10 s), so its cost is dominated by encoding; a re-run with nothing new reads the "
        "project and the manifest and skips all clips. With the classical detector the whole video is tracked once (boxes for every frame, cached in `.work/tracks`), which costs more than the cutting itself; boxes already in the project skip it.",
    ]
    out = ROOT / "docs" / "benchmarks" / "04-preprocess.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
