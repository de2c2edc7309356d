"""``mouseact train localizer``: fit the stage-1 localizer and write its model directory.

Two sources of training data:

* a Supervisely video project (``mouseact.sly_io``) of whole videos with behaviour tags: every
  tagged frame whose label is not in ``--background`` is "action"; each video is one group
  for choosing the operating point (fit on the others, predict it);
* ``--bsoid DIR``: folders of one-behaviour clips (B-SOiD layout, file name = behaviour),
  each sub-folder one animal; spliced into random sequences (see
  ``mouseact.localizer.sequences``), each animal one group.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

DEFAULT_BACKGROUND = "inactive,locomote,idle,background,other,none"


def register_train(train_sub) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = train_sub.add_parser(
        "localizer", help="train the stage-1 localizer (actionness + candidate segments)",
        formatter_class=HelpFormatter,
        description="Fit the cheap stage-1 localizer: per-frame motion/box features (optionally pose), a "
                    "temporal model giving per-frame actionness, and the operating point (hysteresis "
                    "thresholds) that reaches --set target_recall on held-out animals/videos. "
                    "Config keys (--set KEY=VALUE):\n" + _describe())
    p.add_argument("project", nargs="?", help="Supervisely video project with behaviour tags (omit with --bsoid)")
    p.add_argument("--bsoid", metavar="DIR", help="folder of one-behaviour clips (or of one such folder per animal)")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write (replaced if it exists)")
    p.add_argument("--background", default=DEFAULT_BACKGROUND,
                   help="comma-separated labels that count as background (not action)")
    p.add_argument("--sequences", type=int, default=6, help="spliced sequences per animal (--bsoid)")
    p.add_argument("--detector", default="classical", help="detector kind for mouse boxes where none are given")
    p.add_argument("--stride", type=int, default=2, help="run the detector on every n-th frame")
    p.add_argument("--show-config", action="store_true", help="print the effective config and exit")
    add_config_args(p)
    p.set_defaults(func=run)


def _describe() -> str:
    from mouseact.localizer.fit import LocalizerTrainConfig

    return LocalizerTrainConfig.describe()


def _bsoid_groups(root: Path, n_sequences: int, cfg, background: tuple[str, ...]):
    from mouseact.errors import MouseActError
    from mouseact.localizer.sequences import SequenceConfig, bsoid_sequences

    if not root.is_dir():
        raise MouseActError("--bsoid folder not found", root)
    folders = [root] if any(root.glob("*.mp4")) else sorted(d for d in root.iterdir() if d.is_dir()
                                                             and any(d.glob("*.mp4")))
    if not folders:
        raise MouseActError("no clip folders (.mp4 files named by behaviour)", root)
    seq_cfg = SequenceConfig(background=background)
    groups = []
    for i, d in enumerate(folders):
        groups.append(bsoid_sequences(d, n_sequences, seed=cfg.seed + 1000 * i, config=seq_cfg,
                                      feature_config=cfg.features))
    return groups, [d.name for d in folders]


def video_sequence(video_path: Path, labels, boxes, cfg, detector: str = "classical", stride: int = 2):
    """Features of one whole video (+ per-frame action labels), decoded and detected as in inference."""
    import numpy as np
    from mouseact.localizer.features import FeatureConfig, FeatureExtractor
    from mouseact.localizer.sequences import Sequence_
    from mouseact.progress import bar
    from mouseact.video import VideoReader

    with VideoReader(video_path) as vr:
        fps = vr.info.fps
        fx = FeatureExtractor(FeatureConfig(**{**cfg.features.model_dump(), "fps": fps}))
        stream = None
        if boxes is None:
            from mouseact.preprocess.detection import StreamingDetector, make_detector

            stream = StreamingDetector(make_detector(detector), stride=stride, fps=fps)
            stream.prime(video_path)
        feats, all_boxes = [], []
        with bar(vr.info.n_frames, desc=f"features {video_path.name}") as pb:
            for s, frames in vr.iter_chunks(64):
                b = stream.process(s, frames) if stream else boxes[s:s + len(frames)]
                feats.append(fx.process(s, frames, b))
                all_boxes.append(b)
                pb.update(len(frames))
    return Sequence_(np.concatenate(feats), np.asarray(labels), ["action"], np.zeros(0, int), fps, [],
                     np.concatenate(all_boxes))


def _project_groups(project: Path, background: tuple[str, ...], cfg, detector: str, stride: int):
    import numpy as np
    from mouseact import sly_io
    from mouseact.errors import MouseActError

    records = sly_io.read_project(project)
    if not records:
        raise MouseActError("project has no videos", project)
    groups, names = [], []
    for rec in records:
        labels = np.zeros(rec.n_frames, np.int32)
        for iv in rec.intervals:
            if iv.label.lower() not in background:
                labels[max(iv.start, 0): min(iv.end, rec.n_frames - 1) + 1] = 1
        seq = video_sequence(Path(rec.video_path), labels, rec.boxes, cfg, detector, stride)
        if len(seq.features) != rec.n_frames:
            raise MouseActError(f"decoded {len(seq.features)} frames but the project says {rec.n_frames}",
                                rec.video_path)
        groups.append([seq])
        names.append(f"{rec.dataset}/{rec.name}")
    if not any((s.labels > 0).any() for g in groups for s in g):
        raise MouseActError(f"no action tags (all labels are background: {', '.join(background)})", project)
    if len(groups) == 1:  # one video: its two halves in time stand for two groups
        s = groups[0][0]
        h = len(s.labels) // 2
        from mouseact.localizer.sequences import Sequence_

        groups = [[Sequence_(s.features[:h], s.labels[:h], s.classes, s.cuts, s.fps, [], s.boxes[:h])],
                  [Sequence_(s.features[h:], s.labels[h:], s.classes, s.cuts, s.fps, [], s.boxes[h:])]]
        names = [names[0] + " (first half)", names[0] + " (second half)"]
    return groups, names


def run(args: argparse.Namespace) -> int:
    from mouseact import config as config_mod
    from mouseact.errors import MouseActError
    from mouseact.localizer.features import FeatureExtractor
    from mouseact.localizer.fit import LocalizerTrainConfig, train_localizer

    cfg = config_mod.load(LocalizerTrainConfig, args.config, args.overrides)
    if args.show_config:
        print(json.dumps(cfg.model_dump(), indent=2))
        return 0
    if bool(args.project) == bool(args.bsoid):
        raise MouseActError("give either a Supervisely project or --bsoid DIR (exactly one)")
    background = tuple(s.strip().lower() for s in args.background.split(",") if s.strip())
    if args.bsoid:
        groups, names = _bsoid_groups(Path(args.bsoid), args.sequences, cfg, background)
        source = {"bsoid": str(args.bsoid), "group_names": names, "sequences_per_group": args.sequences}
    else:
        groups, names = _project_groups(Path(args.project), background, cfg, args.detector, args.stride)
        source = {"project": str(args.project), "group_names": names}
    source["background_labels"] = list(background)
    source["command"] = "mouseact train localizer " + " ".join(shlex.quote(a) for a in sys.argv[3:]) \
        if sys.argv[1:3] == ["train", "localizer"] else None
    names_f = FeatureExtractor(cfg.features).feature_names
    loc, report = train_localizer(groups, cfg, names_f, provenance=source)
    loc.save(args.out)
    op = report["operating_point"]
    print(f"wrote {args.out}: operating point high={op['proposal_config']['high']:.3f} "
          f"low={op['proposal_config']['low']:.3f}; held-out recall {op['recall_coverage']:.3f} (coverage >= "
          f"{op['tiou']}), {op['recall_tiou']:.3f} (tIoU >= {op['tiou']}) "
          f"proposing {100 * op['frames_proposed']:.1f}% of frames"
          + ("" if op["target_met"] else f" (target recall {op['target_recall']} NOT reached)"))
    return 0
