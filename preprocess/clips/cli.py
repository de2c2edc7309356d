"""``mouseact preprocess PROJECT --out DIR``: cut, balance and split training clips (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = sub.add_parser(
        "preprocess", help="cut training clips from a labelled project (idle balancing, split by video)",
        formatter_class=HelpFormatter,
        description="Turn a labelled Supervisely video project into training data: behaviour clips "
                    "(merged, padded, split at max_clip_s), idle clips spread over each whole video, "
                    "a train/val/test split by video (or animal), written as the Supervisely project "
                    "'<out>/Training Data' (one dataset per class + idle, and 'test' with whole "
                    "videos) plus report.json/report.md.\n\n"
                    "Resumable: stop it at any moment and run the same command again; add videos to "
                    "the project and re-run to process only those.",
        epilog="examples:\n"
               "  mouseact preprocess my_project --out training/\n"
               "  mouseact preprocess my_project --out training/ --idle-ratio 2 --seed 1 \\\n"
               "      --set group_regex='^(mouse\\d+)_'   # keep each mouse in one split\n"
               "  mouseact preprocess --show-config")
    p.add_argument("project", nargs="?", type=Path, help="input Supervisely video project")
    p.add_argument("--out", type=Path, help="output folder (Training Data project, report, .work cache)")
    p.add_argument("--detector", choices=["none", "classical", "yolo", "rtdetr"],
                   help="mouse detector for videos without boxes (config detector; default classical)")
    p.add_argument("--detector-model", help="model directory for --detector yolo/rtdetr")
    p.add_argument("--idle-ratio", type=float, help="idle frames per behaviour frame (config idle_ratio; default 1)")
    p.add_argument("--seed", type=int, help="seed of the split and idle positions (config seed; default 0)")
    p.add_argument("--restart", action="store_true", help="discard finished work in --out and start over")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_args(p, "min_frames=5")
    p.set_defaults(func=run)


def describe(config) -> str:
    """``--show-config``: every setting's effective value, one ``key: value  # meaning`` line each;
    the output is a YAML file ``--config`` reads back (values written as JSON, which YAML reads)."""
    import json

    return "\n".join(f"{name}: {json.dumps(getattr(config, name))}  # {field.description or ''}".rstrip(" #")
                     for name, field in type(config).model_fields.items())


def run(args: argparse.Namespace) -> int:
    from mouseact.config import load
    from mouseact.errors import MouseActError
    from mouseact.preprocess.clips.config import PreprocessConfig

    overrides = list(args.overrides)
    for key, value in (("detector", args.detector), ("detector_model", args.detector_model),
                       ("idle_ratio", args.idle_ratio), ("seed", args.seed)):
        if value is not None:
            overrides.append(f"{key}={value}")
    config = load(PreprocessConfig, args.config, overrides)
    if args.show_config:  # the effective values: defaults <- --config <- --set <- the options above
        print(describe(config))
        return 0
    if args.project is None or args.out is None:
        raise MouseActError("give the input PROJECT and --out DIR (see mouseact preprocess --help)")
    from mouseact.preprocess.clips.run import preprocess
    from mouseact.preprocess.clips.report import to_markdown

    from mouseact import atomic

    atomic.check_output_dir(args.out)  # a mistyped --out fails now, not after cutting clips
    report = preprocess(args.project, args.out, config, restart=args.restart, progress=not args.quiet)
    print(to_markdown(report))
    return 0
