"""``mouseact localize VIDEO --model DIR``: candidate action segments of a video, with scores.

Decodes the video once in 64-frame chunks, finds the mouse (stage 0), computes the cheap
features, then per-frame actionness and the proposals at the model's operating point.
Writes one JSON per video (segments with scores, share of frames proposed) and, with
``--actionness``, the per-frame actionness as CSV. ``segments`` never overlap; a model with
temporal actionness grouping levels (``proposal_config.levels``) also finds tighter segments at
higher thresholds, each inside one of them: ``nested_segments``.

Pose (DeepLabCut CSV/.h5, SLEAP analysis .h5, CalMS21): a model trained with pose
(``mouseact train localizer ... --pose`` or ``--pose-labels``) needs it here too:
``--pose FILE`` per video (same order) or ``--pose DIR`` (matched by video stem). The pose must
have exactly the video's frame count. A model trained on pose alone runs without a video:
``mouseact localize --pose FILE --fps 30 --model DIR --out OUT`` (output named after the pose
file). A model refuses inputs of another kind than it was trained on (one-line error).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mouseact.cli import positive_int
from mouseact.localizer.sequences import DETECTOR_STRIDE


def threshold(text: str) -> float:
    """argparse type: an actionness threshold, a finite number in [0, 1]."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def override_thresholds(config, high: float | None, low: float | None):
    """``config`` (a :class:`~mouseact.localizer.proposals.ProposalConfig`) with ``--high``/``--low``.

    A lone ``--high`` below the stored low threshold takes the low threshold down with it (what
    :func:`~mouseact.localizer.proposals.propose` would do anyway); ``--low`` above the high
    threshold in use is an error, as is ``--low`` above ``--high``.
    """
    from mouseact.errors import MouseActError
    from mouseact.localizer.proposals import ProposalConfig
    from pydantic import ValidationError

    upd = {}
    if high is not None:
        upd["high"] = high
    if low is not None:
        upd["low"] = low
    new_high = upd.get("high", config.high)
    if low is None and config.low > new_high:
        upd["low"] = new_high
    elif low is not None and low > new_high:
        said = "--high" if high is not None else "the model's high threshold"
        raise MouseActError(f"--low {low:g} is above {said} {new_high:g}: the low threshold (where a segment "
                            "ends) must be <= the high one (where it starts)")
    try:
        return ProposalConfig.model_validate({**config.model_dump(), **upd})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MouseActError(f"--high/--low: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def register(sub) -> None:
    from mouseact.cli import HelpFormatter

    p = sub.add_parser("localize", help="find candidate action segments (stage 1)", formatter_class=HelpFormatter,
                       description=__doc__)
    p.add_argument("videos", nargs="*", help="video file(s) (omit for a pose-only model: give --pose and --fps)")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="localizer model directory (default: the committed default localizer)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for <video>.localize.json (<pose file>.localize.json without video; created)")
    p.add_argument("--pose", action="append", default=None, metavar="FILE|DIR",
                   help="pose of the video(s), for models trained with pose: one FILE per video in the same "
                        "order (repeat --pose), or one DIR with <video stem>.csv/.h5/.json/.npy or "
                        "<video stem>DLC_*.csv; without videos: the pose file(s) to localize (needs --fps)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of pose-only input (no video); ignored when videos are given")
    p.add_argument("--detector", default="classical", help="detector kind: classical, yolo or rtdetr")
    p.add_argument("--detector-model", default=None, metavar="DIR", help="trained detector (yolo/rtdetr)")
    p.add_argument("--stride", type=positive_int, default=DETECTOR_STRIDE,
                   help="run the detector on every n-th frame (default: as the default bundle and training)")
    p.add_argument("--actionness", action="store_true",
                   help="also write per-frame actionness <video>.actionness.csv")
    p.add_argument("--high", type=threshold, default=None,
                   help="override the stored high threshold, in [0, 1] (lower: more proposals); the low "
                        "threshold follows it down if it was above")
    p.add_argument("--low", type=threshold, default=None,
                   help="override the stored low threshold, in [0, 1] and <= the high one")
    p.set_defaults(func=run)


def localize_video(video: Path, loc, detector: str = "classical", detector_model=None, stride: int = DETECTOR_STRIDE,
                   progress: bool = True, pose=None):
    """``(actionness (N,), segments, info, boxes)`` for one video.

    ``pose``: a :class:`~mouseact.localizer.pose.Pose` of the video, for models trained with pose
    (its frame count is checked against the video's before decoding).
    """
    import numpy as np
    from mouseact.localizer.pose import check_frame_count
    from mouseact.preprocess.detection import StreamingDetector, make_detector
    from mouseact.progress import bar
    from mouseact.video import VideoReader

    loc.check_inputs(video=True, pose=pose is not None)
    with VideoReader(video) as vr:
        info = vr.info
        pose_f = None
        if pose is not None:
            check_frame_count(pose, info.n_frames, pose.source)
            pose_f = loc.pose_features(pose, info.fps)
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
    feats = np.concatenate(feats)
    if pose is not None:
        check_frame_count(pose, len(feats), pose.source, against=f"the decoded video ({video.name})")
    a = loc.actionness(loc.combine(feats, pose_f), info.fps)
    return a, loc.propose(a, info.fps), info, np.concatenate(boxes)


def _pose_paths(args, videos: list[Path]) -> list[Path | None]:
    """One pose path (or None) per video."""
    from mouseact.errors import MouseActError
    from mouseact.localizer.pose import find_pose_file

    if not args.pose:
        return [None] * len(videos)
    if len(args.pose) == 1 and Path(args.pose[0]).is_dir():
        return [find_pose_file(args.pose[0], v.stem) for v in videos]
    if len(args.pose) != len(videos):
        raise MouseActError(f"{len(args.pose)} --pose file(s) for {len(videos)} video(s): give one per video "
                            "in the same order, or one folder")
    return [Path(p) for p in args.pose]


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from mouseact import atomic
    from mouseact.errors import MouseActError
    from mouseact.localizer import DEFAULT_MODEL_DIR, Localizer
    from mouseact.localizer.pose import read_pose
    from mouseact.localizer.proposals import proposed_fraction

    if not args.videos and not args.pose:
        raise MouseActError("give video file(s), or --pose FILE --fps FPS for a pose-only model")
    if not args.videos and (args.fps is None or args.fps <= 0):
        raise MouseActError("pose without video needs the frame rate: --fps FPS")
    model_dir = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    loc = Localizer.load(model_dir)
    loc.check_inputs(video=bool(args.videos), pose=bool(args.pose))
    if args.high is not None or args.low is not None:
        loc.proposal_config = override_thresholds(loc.proposal_config, args.high, args.low)
    out = Path(args.out)
    if args.videos:
        videos = [Path(v) for v in args.videos]
        jobs = list(zip(videos, _pose_paths(args, videos)))
    else:
        jobs = [(None, Path(p)) for p in args.pose]
    poses = [read_pose(p) if p is not None else None for _, p in jobs]  # bad pose files fail before decoding
    for (video, pose_path), pose in zip(jobs, poses):
        if video is not None:
            a, segs, info, boxes = localize_video(video, loc, args.detector, args.detector_model, args.stride,
                                                  pose=pose)
            fps, n_frames, name = info.fps, info.n_frames, video
            found = round(float(np.isfinite(boxes).all(1).mean()), 4) if len(boxes) else 0.0
        else:
            fps, n_frames, name = float(args.fps), pose.n_frames, pose_path
            a = loc.actionness(loc.combine(None, loc.pose_features(pose, fps)), fps)
            segs = loc.propose(a, fps)
            found = None
        result = {
            "video": str(video) if video is not None else None,
            "pose": str(pose_path) if pose_path is not None else None,
            "inputs": loc.inputs, "fps": fps, "n_frames": n_frames,
            "model": str(model_dir), "proposal_config": loc.proposal_config.model_dump(),
            "frames_proposed": round(proposed_fraction(segs, n_frames), 4),
            "mouse_found_share": found,
            **_split_nested(segs),
        }
        atomic.write_json(out / f"{name.stem}.localize.json", result)
        if args.actionness:
            atomic.write_text(out / f"{name.stem}.actionness.csv",
                              "frame,actionness\n" + "".join(f"{i},{x:.4f}\n" for i, x in enumerate(a)))
        nested = f" (+{len(result['nested_segments'])} nested)" if result["nested_segments"] else ""
        print(f"{name.name}: {len(result['segments'])} segments{nested}, "
              f"{100 * result['frames_proposed']:.1f}% of frames proposed")
    return 0


def _split_nested(segs) -> dict:
    """The outermost, non-overlapping segments and those nested inside them (TAG levels), as JSON."""
    outer, nested, reach = [], [], -1
    for s in sorted(segs, key=lambda s: (s.start, -s.end)):
        if s.end > reach:
            outer.append(s)
            reach = s.end
        else:
            nested.append(s)
    return {"segments": [s.to_json() for s in outer], "nested_segments": [s.to_json() for s in nested]}
