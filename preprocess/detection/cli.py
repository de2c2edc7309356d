"""``mouseact detect``: find the mouse in videos, write boxes, a Supervisely project and pictures."""

from __future__ import annotations


def register(sub) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = sub.add_parser(
        "detect", help="find the mouse in every frame (boxes CSV/JSON, Supervisely project, contact sheet)",
        formatter_class=HelpFormatter,
        description="Detect and track the mouse in a video, a folder of videos or a Supervisely video project.\n\n"
                    "The default 'classical' detector needs no weights and no GPU: it learns the empty arena\n"
                    "from frames sampled across each video and finds the mouse as the strongest blob that\n"
                    "differs from it (dark or light mouse alike). 'yolo'/'rtdetr' use a model trained with\n"
                    "`mouseact train detector`.\n\n"
                    "Writes into OUT: <video>.boxes.csv (frame, time_s, x1, y1, x2, y2, score, lost, and the\n"
                    "square crop the behaviour models see: crop_x1..crop_y2, policy from mouseact.crop),\n"
                    "<video>.track.json (found share, lost segments), <video>.contact.png (frames with boxes),\n"
                    "project/ (Supervisely video project, one `mouse` rectangle per frame) and\n"
                    "detect_summary.json. Detector/tracker settings: --show-config, change with --set.")
    p.add_argument("input", help="video file, folder of videos, or Supervisely video project folder")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (must be new or empty)")
    p.add_argument("--detector", choices=["classical", "yolo", "rtdetr"], default="classical",
                   help="classical = background model, no weights; yolo/rtdetr need --model")
    p.add_argument("--model", metavar="DIR", help="trained detector directory (from `mouseact train detector`)")
    p.add_argument("--stride", type=int, default=2, metavar="N",
                   help="run the detector on every N-th frame and interpolate between (frames where the "
                        "neighbours disagree are detected one by one)")
    p.add_argument("--overlay-seconds", type=float, default=0.0, metavar="S",
                   help="also write <video>.overlay.mp4 with the boxes over the first S seconds")
    p.add_argument("--no-project", action="store_true", help="do not write the Supervisely project")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_args(p, "stride=4")
    p.set_defaults(func=_run)
    _hide_none_defaults(p)


def _run(args) -> int:
    import json

    from mouseact.config import load
    from mouseact.errors import MouseActError
    from mouseact.preprocess.detection.run import DetectConfig, run_detect

    base = {"detector": args.detector, "stride": args.stride, "overlay_seconds": args.overlay_seconds,
            "write_project": not args.no_project}
    if getattr(args, "model", None):
        base["model"] = getattr(args, "model", None)
    cfg = load(DetectConfig, getattr(args, "config", None), args.overrides, base=base)
    if args.show_config:
        print(json.dumps(cfg.model_dump(), indent=2))
        return 0
    if cfg.detector != "classical" and not cfg.model:
        raise MouseActError(f"--detector {cfg.detector} needs --model DIR (train one with `mouseact train detector`)")
    result = run_detect(args.input, args.out, cfg, overwrite=args.overwrite, progress=not args.quiet)
    for row in result["videos"]:
        print(f"{row['video']}: mouse found in {100 * row['found_share']:.1f}% of {row['n_frames']} frames "
              f"-> {args.out}/{row['outputs']}.boxes.csv")
    return 0


def _hide_none_defaults(parser) -> None:
    """No "(default: None)" in --help: an option left out is simply absent (read with getattr)."""
    import argparse

    for action in parser._actions:
        if action.default is None:
            action.default = argparse.SUPPRESS
