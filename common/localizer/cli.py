"""``mouseact localize VIDEO --model DIR``: candidate action segments of a video, with scores.

Decodes the video once in 64-frame chunks, finds the mouse (stage 0), computes the cheap
features, then per-frame actionness and the proposals at the model's operating point.
Writes one JSON per video (segments with scores, share of frames proposed) and, with
``--actionness``, the per-frame actionness as CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    from mouseact.cli import HelpFormatter

    p = sub.add_parser("localize", help="find candidate action segments (stage 1)", formatter_class=HelpFormatter,
                       description=__doc__)
    p.add_argument("videos", nargs="+", help="video file(s)")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="localizer model directory (default: the committed default localizer)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for <video>.localize.json (created)")
    p.add_argument("--detector", default="classical", help="detector kind: classical, yolo or rtdetr")
    p.add_argument("--detector-model", default=None, metavar="DIR", help="trained detector (yolo/rtdetr)")
    p.add_argument("--stride", type=int, default=2, help="run the detector on every n-th frame")
    p.add_argument("--actionness", action="store_true", help="also write per-frame actionness <video>.actionness.csv")
    p.add_argument("--high", type=float, default=None, help="override the stored high threshold (more/fewer proposals)")
    p.add_argument("--low", type=float, default=None, help="override the stored low threshold")
    p.set_defaults(func=run)


def localize_video(video: Path, loc, detector: str = "classical", detector_model=None, stride: int = 2,
                   progress: bool = True):
    """``(actionness (N,), segments, info, boxes)`` for one video."""
    import numpy as np
    from mouseact.preprocess.detection import StreamingDetector, make_detector
    from mouseact.progress import bar
    from mouseact.video import VideoReader

    with VideoReader(video) as vr:
        info = vr.info
        fx = loc.feature_extractor(info.fps)
        stream = StreamingDetector(make_detector(detector, model_path=detector_model), stride=stride, fps=info.fps)
        stream.prime(video)
        feats, boxes = [], []
        with bar(info.n_frames, desc=f"localize {video.name}", disable=not progress or None) as pb:
            for start, frames in vr.iter_chunks(64):
                b = stream.process(start, frames)
                feats.append(fx.process(start, frames, b))
                boxes.append(b)
                pb.update(len(frames))
    a = loc.actionness(np.concatenate(feats), info.fps)
    return a, loc.propose(a, info.fps), info, np.concatenate(boxes)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from mouseact import atomic
    from mouseact.localizer import DEFAULT_MODEL_DIR, Localizer
    from mouseact.localizer.proposals import proposed_fraction

    model_dir = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    loc = Localizer.load(model_dir)
    if args.high is not None or args.low is not None:
        upd = {k: v for k, v in (("high", args.high), ("low", args.low)) if v is not None}
        loc.proposal_config = loc.proposal_config.model_copy(update=upd)
    out = Path(args.out)
    for v in args.videos:
        video = Path(v)
        a, segs, info, boxes = localize_video(video, loc, args.detector, args.detector_model, args.stride)
        found = float(np.isfinite(boxes).all(1).mean()) if len(boxes) else 0.0
        result = {
            "video": str(video), "fps": info.fps, "n_frames": info.n_frames,
            "model": str(model_dir), "proposal_config": loc.proposal_config.model_dump(),
            "frames_proposed": round(proposed_fraction(segs, info.n_frames), 4),
            "mouse_found_share": round(found, 4),
            "segments": [s.to_json() for s in segs],
        }
        atomic.write_json(out / f"{video.stem}.localize.json", result)
        if args.actionness:
            atomic.write_text(out / f"{video.stem}.actionness.csv",
                              "frame,actionness\n" + "".join(f"{i},{x:.4f}\n" for i, x in enumerate(a)))
        print(f"{video.name}: {len(segs)} segments, {100 * result['frames_proposed']:.1f}% of frames proposed")
    return 0
