"""``mouseact classify <clip.mp4> [--model DIR]``: the behaviour of one short clip, as JSON."""

from __future__ import annotations

import argparse

from mouseact.cli import positive_int


def register(sub) -> None:
    from mouseact.cli import HelpFormatter

    p = sub.add_parser(
        "classify",
        help="classify one short clip (prints JSON label, confidence, scores)",
        description="Classify one short clip that shows one behaviour. The clip is sampled at the model's "
        "training frame rate (every n-th frame of a faster video) and cut into windows of the "
        "model's frame count; window probabilities are averaged. Prints JSON "
        '{"label", "confidence", "scores"} ("unknown" when the clip is far from every class).',
        formatter_class=HelpFormatter,
    )
    p.add_argument("clip", help="video file of the clip")
    p.add_argument(
        "--model",
        metavar="DIR",
        default=None,
        help="classifier model directory (default: the model shipped with MouseAct)",
    )
    p.add_argument(
        "--model-path",
        metavar="DIR",
        default=None,
        help="local weights directory for qwen/hf embedders (overrides the path in the card)",
    )
    p.add_argument("--start", type=int, default=0, help="first frame of the clip inside the video")
    p.add_argument("--end", type=int, default=None, help="last frame (inclusive); default: the last frame")
    p.add_argument(
        "--detect",
        choices=["none", "classical", "yolo", "rtdetr"],
        default="none",
        help="crop around the mouse found by this detector (crop policy from the model card); "
        "none = whole frames, enough where the mouse is the darkest thing on a plain floor "
        "(the fast embedder finds it itself)",
    )
    p.add_argument("--detector-model", metavar="PATH", default=None, help="weights for --detect yolo/rtdetr")
    p.add_argument(
        "--stride",
        type=positive_int,
        default=None,
        help="sampled frames between window starts (default: half the model's window)",
    )
    p.set_defaults(func=run)


def classify_clip(
    model, path, start: int = 0, end: int | None = None, stride: int | None = None, boxes=None
) -> dict:
    """Average window probabilities over one clip. ``boxes`` (per video frame, NaN = no mouse)
    give crops through the model's crop policy; without them whole frames are used."""
    import numpy as np
    from mouseact.classifier.data import window_starts
    from mouseact.classifier.embedders import whole_frame_rect
    from mouseact.errors import MouseActError
    from mouseact.video import VideoReader

    n = int(model.embedder.config.get("n_frames", 16))
    if stride is not None and stride < 1:
        raise MouseActError(f"stride must be at least 1, got {stride}")
    with VideoReader(path) as vr:
        last = vr.info.n_frames - 1 if end is None else end
        if start < 0 or last >= vr.info.n_frames or last < start:
            raise MouseActError(
                f"frame range {start}..{last} outside the video's 0..{vr.info.n_frames - 1}", path
            )
        step = model.frame_step(vr.info.fps)
        frame_ids = np.arange(start, last + 1, step)  # the clip at the model's training frame rate
        frames = vr.get_frames(frame_ids.tolist())
    if len(frames) < n:
        raise MouseActError(
            f"clip has {last - start + 1} frames ({len(frames)} at the model's "
            f"{model.frame_rate or 'training'} fps); the model needs at least {n}",
            path,
        )
    if boxes is None:
        rects = np.repeat(whole_frame_rect(frames)[None], len(frames), 0)
    else:
        from mouseact.crop import crop_boxes

        h, w = frames.shape[1:3]
        # crop rects from every frame's box (the policy smooths over frames), then sampled
        rects = crop_boxes(np.asarray(boxes, np.float64)[start : last + 1], w, h, model.crop_policy)
        rects = rects[frame_ids - start]
    starts = window_starts(len(frames), n, stride if stride is not None else max(n // 2, 1))
    emb = model.embedder.embed_batch([(frames[s : s + n], rects[s : s + n]) for s in starts])
    proba = model.predict_proba(emb).mean(0)
    labels, _ = model.predict(emb)
    best = int(np.argmax(proba))
    label = model.classes[best]
    from mouseact.classifier.heads import UNKNOWN

    if labels and sum(lab == UNKNOWN for lab in labels) > len(labels) / 2:
        label = UNKNOWN
    return {
        "label": label,
        "confidence": round(float(proba[best]), 4),
        "scores": {c: round(float(v), 4) for c, v in zip(model.classes, proba)},
    }


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from mouseact.classifier.model import Classifier

    overrides = {"model_path": args.model_path} if args.model_path else {}
    model = Classifier.load(args.model, **overrides)
    boxes = None
    if args.detect != "none":
        from mouseact.preprocess.detection import detect_video

        boxes = detect_video(Path(args.clip), detector=args.detect, model_path=args.detector_model).boxes
    result = classify_clip(model, Path(args.clip), args.start, args.end, args.stride, boxes)
    print(json.dumps(result))
    return 0
