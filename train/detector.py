"""``mouseact train detector``: train a YOLO / RT-DETR mouse detector offline (no downloads)."""

from __future__ import annotations


def register_train(sub) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = sub.add_parser(
        "detector", help="train a YOLO/RT-DETR mouse detector offline",
        formatter_class=HelpFormatter,
        description="Train a learned mouse detector on CPU with no network: the architecture is built from\n"
                    "ultralytics' bundled yaml (yolov8n, yolo11n, rtdetr-l; random init, nothing downloaded).\n\n"
                    "Training boxes come from SOURCE -- a Supervisely video project with `mouse` rectangles,\n"
                    "or a CSV of images with columns image,x1,y1,x2,y2 -- and/or from the classical\n"
                    "detector's confident boxes on --bootstrap-from-classical VIDEOS (self-training).\n"
                    "The last --set val_frac of each source's frames is held out; the model card gets its\n"
                    "mAP50, mean IoU and CPU ms/frame. Use the result with `mouseact detect --detector yolo\n"
                    "--model OUT`. Settings: --show-config, change with --set (e.g. --set epochs=50).")
    p.add_argument("source", nargs="?", help="Supervisely video project folder, or an images CSV (image,x1,y1,x2,y2)")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--bootstrap-from-classical", nargs="+", metavar="VIDEO", default=[],
                   help="videos (or folders of videos) whose confident classical detections are used as boxes")
    p.add_argument("--image-root", metavar="DIR", help="folder the images CSV paths are relative to (default: its folder)")
    p.add_argument("--arch", choices=["yolov8n", "yolo11n", "rtdetr-l"], default="yolov8n",
                   help="architecture (rtdetr-l is ~15x slower to train and run on CPU)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs")
    p.add_argument("--imgsz", type=int, default=320, help="square input size in pixels")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    add_config_args(p, "epochs=50")
    p.set_defaults(func=_run)
    _hide_none_defaults(p)


def _run(args) -> int:
    import json
    from pathlib import Path

    from mouseact.config import load
    from mouseact.errors import MouseActError
    from mouseact.preprocess.detection.fit import (DetectorTrainConfig, frames_from_classical, frames_from_image_csv,
                                                   frames_from_project, merge, train_detector)
    from mouseact.video import is_video_file, list_videos

    cfg = load(DetectorTrainConfig, getattr(args, "config", None), args.overrides,
               base={"arch": args.arch, "epochs": args.epochs, "imgsz": args.imgsz})
    if args.show_config:
        print(json.dumps(cfg.model_dump(), indent=2))
        return 0
    if not getattr(args, "source", None) and not args.bootstrap_from_classical:
        raise MouseActError("give a SOURCE (project or images CSV) and/or --bootstrap-from-classical VIDEOS")
    from mouseact import atomic

    out = atomic.check_output_dir(args.out)  # a file or an unwritable place fails now, not after training
    if out.exists() and not args.overwrite:
        raise MouseActError("output model directory already exists (use --overwrite)", out)
    parts = []
    if getattr(args, "source", None):
        src = Path(getattr(args, "source", None))
        if not src.exists():
            raise MouseActError("training source not found", src)
        if src.is_file() and src.suffix.lower() == ".csv":
            parts.append(frames_from_image_csv(src, getattr(args, "image_root", None), cfg.val_frac))
        elif src.is_dir():
            parts.append(frames_from_project(src, cfg))
        else:
            raise MouseActError("SOURCE must be a Supervisely project folder or an images CSV", src)
    if args.bootstrap_from_classical:
        videos = []
        for v in map(Path, args.bootstrap_from_classical):
            if v.is_dir():
                videos.extend(list_videos(v))
            elif v.is_file() and is_video_file(v):
                videos.append(v)
            else:
                raise MouseActError("not a video or a folder of videos", v)
        if not videos:
            raise MouseActError("no videos to bootstrap from")
        parts.append(frames_from_classical(videos, cfg))
    data = parts[0] if len(parts) == 1 else merge(parts)
    card = train_detector(data, out, cfg, overwrite=args.overwrite)
    m = card.get("metrics", {})
    print(f"{out}: {card['arch']} trained on {card['data']['n_train']} frames in {card['train_seconds']:.0f} s; "
          f"held-out mAP50 {m.get('val_map50')}, mean IoU {m.get('val_mean_iou')}, "
          f"{m.get('cpu_ms_per_frame')} ms/frame at {card['input_size']} px")
    return 0


def _hide_none_defaults(parser) -> None:
    """No "(default: None)" in --help: an option left out is simply absent (read with getattr)."""
    import argparse

    for action in parser._actions:
        if action.default is None:
            action.default = argparse.SUPPRESS
