#!/usr/bin/env python
"""Build samples/bsoid_sequence/: real B-SOiD clips of one mouse spliced into one video with known labels.

    .venv/bin/python scripts/make_demo_sample.py [--data ../shared/data] [--out samples/bsoid_sequence]

Source: ``<data>/bsoid_clips/mouse2/<behaviour>.mp4`` (YttriLab/B-SOID, GPL-3.0; one behaviour per
clip). The clips are concatenated in a fixed shuffled order (every behaviour once, the short
``itch`` and ``orient_L`` twice, never the same behaviour twice in a row so bouts stay separate),
each clip cut to the frames that move (``mouseact.frozen``: montage panels repeat their last
picture after the example ends), ``body_groom`` to its first 12 s, and re-encoded as one
H.264 video (15 fps, 30-frame keyframe interval) with ``mouseact.video.write_video``.

Written (atomically, the directory replaced as a whole):

* ``project/`` a Supervisely video project (``mouseact.sly_io``): one video
  ``bsoid_mouse2/video/bsoid_sequence.mp4`` with one tag per clip and its inclusive frame range;
* ``ground_truth.json`` the same labels as ``[{"label", "frame_range", "confidence"}]`` (the
  format of ``mouseact infer`` predictions), so scoring needs no SDK;
* ``sequence.json`` provenance: each segment's source file, SHA-256, the source frames used,
  and the command that built it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The behaviour names of the B-SOiD bottom-up examples (issue 2's label set, this order).
BEHAVIOURS = ["body_groom", "face_groom", "head_groom", "itch", "rear_plus", "rear_minus",
              "locomote", "inactive", "investigate", "orient_L", "orient_R"]
REPEATED = ["itch", "orient_L"]          # short clips shown twice: more than one bout of a class
MAX_FRAMES = {"body_groom": 180}         # 839 frames (56 s) alone would dominate the demo
SEED = 7
FPS = 15
DATASET = "bsoid_mouse2"
VIDEO_NAME = "bsoid_sequence.mp4"


def sequence_order(seed: int = SEED) -> list[str]:
    """The fixed shuffled order: a seeded shuffle, redrawn until no behaviour follows itself."""
    rng = random.Random(seed)
    items = BEHAVIOURS + REPEATED
    while True:
        rng.shuffle(items)
        if all(a != b for a, b in zip(items, items[1:])):
            return list(items)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(data_dir: Path, out_dir: Path, crf: int = 20) -> Path:
    from mouseact import atomic, sly_io
    from mouseact.errors import MouseActError
    from mouseact.frozen import moving_span
    from mouseact.intervals import Interval
    from mouseact.progress import bar
    from mouseact.video import VideoReader, probe, write_video

    src_dir = data_dir / "bsoid_clips" / "mouse2"
    if not src_dir.is_dir():
        raise MouseActError("B-SOiD clips not found (expected bsoid_clips/mouse2/ in the data folder)", src_dir)
    order = sequence_order()
    segments, start = [], 0
    for label in order:
        src = src_dir / f"{label}.mp4"
        info = probe(src)
        if abs(info.fps - FPS) > 1e-3:
            raise MouseActError(f"expected {FPS} fps, found {info.fps}", src)
        # only the frames that move: a montage panel repeats its last picture after its example
        # ends (mouse2's itch moves for 26 of 95 frames), and a repeated picture is no behaviour
        first, stop, _ = moving_span(src)
        n = min(stop - first, MAX_FRAMES.get(label, stop - first))
        segments.append({"label": label, "frame_range": [start, start + n - 1],
                         "source": f"bsoid_clips/mouse2/{label}.mp4", "source_sha256": _sha256(src),
                         "source_frames": [first, first + n - 1], "source_n_frames": info.n_frames})
        start += n
    n_total = start

    def frames():
        with bar(n_total, desc="encoding sample") as progress:
            for seg in segments:
                with VideoReader(src_dir / f"{seg['label']}.mp4") as vr:
                    for frame in vr.iter_frames(seg["source_frames"][0], seg["source_frames"][1] + 1):
                        progress.update(1)
                        yield frame

    intervals = [Interval(s["frame_range"][0], s["frame_range"][1], s["label"], 1.0) for s in segments]
    with atomic.directory(out_dir, overwrite=True) as tmp:
        video = write_video(tmp / VIDEO_NAME, frames(), fps=FPS, crf=crf, gop=30)
        info = probe(video)
        if info.n_frames != n_total:
            raise MouseActError(f"encoded {info.n_frames} frames, expected {n_total}", video)
        record = sly_io.VideoRecord(video, VIDEO_NAME, DATASET, info.fps, info.n_frames, info.width,
                                    info.height, intervals, None)
        sly_io.write_project(tmp / "project", [record], BEHAVIOURS, name="MouseAct demo: B-SOiD mouse2 sequence")
        video.unlink()  # the project holds the one copy
        atomic.write_json(tmp / "ground_truth.json", [iv.to_json() for iv in intervals])
        atomic.write_json(tmp / "sequence.json", {
            "video": f"project/{DATASET}/video/{VIDEO_NAME}",
            "fps": FPS, "n_frames": n_total, "width": info.width, "height": info.height,
            "classes": BEHAVIOURS,
            "segments": segments,
            "encoding": {"codec": "libx264", "crf": crf, "gop": 30, "pix_fmt": "yuv420p"},
            "source": "YttriLab/B-SOID bsoid_figs/examples/behavioral_videos/ (GPL-3.0), one panel per "
                      "clip as cut in ../shared/data/bsoid_clips (see NOTICE.md)",
            "labels_are": "the B-SOiD authors' names of their discovered clusters, one per clip "
                          "(clip-level, not frame-level human annotation)",
            "command": "python scripts/make_demo_sample.py" + (f" --crf {crf}" if crf != 20 else ""),
            "seed": SEED,
        })
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                        help="the real-data folder holding bsoid_clips/mouse2/")
    parser.add_argument("--out", type=Path, default=REPO / "samples" / "bsoid_sequence",
                        help="sample directory to (re)build")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality (lower = bigger, better)")
    args = parser.parse_args(argv)
    from mouseact.errors import MouseActError

    try:
        out = build(args.data, args.out, args.crf)
    except MouseActError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    seq = json.loads((out / "sequence.json").read_text())
    print(f"wrote {out} ({size / 1e6:.2f} MB, {seq['n_frames']} frames, {seq['n_frames'] / seq['fps']:.1f} s, "
          f"{len(seq['segments'])} segments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
