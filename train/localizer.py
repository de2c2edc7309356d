"""``mouseact train localizer``: fit the stage-1 localizer and write its model directory.

Two sources of training data:

* a Supervisely video project (``mouseact.sly_io``) of whole videos with behaviour tags: every
  tagged frame whose label is not in ``--background`` is "action"; each video is one group
  for choosing the operating point (fit on the others, predict it);
* ``--bsoid DIR``: folders of one-behaviour clips (B-SOiD layout, file name = behaviour),
  each sub-folder one animal; spliced into random sequences (see
  ``mouseact.localizer.sequences``), each animal one group;
* ``--pose-labels POSE LABELS`` (repeatable): pose-only recordings, no video: a keypoint file
  (DeepLabCut CSV/.h5, SLEAP analysis .h5, CalMS21) and its behaviour intervals (a BORIS export
  or an interval CSV); each recording one group.

Pose: with a project, ``--pose DIR`` adds pose features to every video's features (the pose
file matched by video stem, see ``mouseact.localizer.pose.find_pose_file``). The card records
``inputs`` (video, video+pose, pose) and ``pose_feature_names``, so the model refuses inputs of
another kind. ``--span FROM:TO`` trains on a part of every video/recording only (fractions of
its length), leaving the rest to check the model.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from mouseact.cli import positive_int
from mouseact.localizer.sequences import DETECTOR_STRIDE

# the mouse resting; locomotion is a behaviour stage 2 must see (see mouseact.localizer.sequences)
DEFAULT_BACKGROUND = "inactive,idle,background,other,none"


def register_train(train_sub) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = train_sub.add_parser(
        "localizer", help="train the stage-1 localizer (actionness + candidate segments)",
        formatter_class=HelpFormatter,
        description="Fit the cheap stage-1 localizer: per-frame motion/box features (optionally pose), a "
                    "temporal model giving per-frame actionness, and the operating point (hysteresis "
                    "thresholds) that reaches --set target_recall on held-out animals/videos. It learns from "
                    "whole labelled videos (a Supervisely video project, e.g. from `mouseact import`: untagged "
                    "frames are background), not from the clip project of `mouseact preprocess`. "
                    "Config keys (--set KEY=VALUE):\n" + _describe())
    p.add_argument("project", nargs="?",
                   help="Supervisely video project with behaviour tags (omit with --bsoid or --pose-labels)")
    p.add_argument("--bsoid", metavar="DIR", help="folder of one-behaviour clips (or of one such folder per animal)")
    p.add_argument("--pose", metavar="DIR",
                   help="with a project: folder of pose files, one per video, matched by video stem "
                        "(<stem>.csv/.h5/.json/.npy or DeepLabCut's <stem>DLC_*.csv); pose features "
                        "(DeepLabCut CSV/.h5, SLEAP analysis .h5, CalMS21) are added to the video features, "
                        "and the model then needs the pose at `mouseact localize --pose` too")
    p.add_argument("--pose-labels", nargs=2, action="append", metavar=("POSE", "LABELS"),
                   help="pose-only training (no video): a pose file and its behaviour intervals (BORIS "
                        "export or interval CSV video,behavior,start,end, see --labels-format); repeat for "
                        "more recordings (each one group for the operating point)")
    p.add_argument("--labels-format", choices=["boris", "csv"], default="boris",
                   help="format of the --pose-labels LABELS files")
    p.add_argument("--fps", type=float, default=None,
                   help="--pose-labels: frame rate of the recordings when the labels file gives none "
                        "(overrides the file's)")
    p.add_argument("--span", default=None, metavar="FROM:TO",
                   help="train on this part of every video/recording only, as fractions of its length "
                        "(e.g. 0:0.6 = the first 60 %%; the rest can be used to check the model)")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write (written when complete)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--background", default=DEFAULT_BACKGROUND,
                   help="comma-separated labels that count as background (not action)")
    p.add_argument("--sequences", type=positive_int, default=6, help="spliced sequences per animal (--bsoid)")
    p.add_argument("--detector", default="classical",
                   help="detector kind for mouse boxes where none are given: classical, or yolo/rtdetr with "
                        "--detector-model (localize and infer must then run the same detector)")
    p.add_argument("--detector-model", default=None, metavar="DIR",
                   help="the trained detector for --detector yolo/rtdetr (a model directory made by "
                        "`mouseact train detector`)")
    p.add_argument("--stride", type=positive_int, default=DETECTOR_STRIDE,
                   help="run the detector on every n-th frame (default: the default bundle's; train at the "
                        "stride the pipeline will run)")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="keep each video's stage-1 features here, so re-training with other settings (target "
                        "recall, background labels, --span) skips decoding, and a stopped run resumes "
                        "(default: ~/.cache/mouseact/features)")
    p.add_argument("--no-cache", action="store_true", help="compute every video's features afresh, store nothing")
    add_config_args(p, "target_recall=0.9")
    p.set_defaults(func=run)


def _describe() -> str:
    from mouseact.localizer.fit import LocalizerTrainConfig

    return LocalizerTrainConfig.describe()


def _bsoid_groups(root: Path, n_sequences: int, cfg, background: tuple[str, ...], stride: int = DETECTOR_STRIDE,
                  cache=None, detector: str = "classical", detector_model: str | Path | None = None):
    from mouseact.errors import MouseActError
    from mouseact.localizer.sequences import SequenceConfig, bsoid_sequences

    if not root.is_dir():
        raise MouseActError("--bsoid folder not found", root)
    folders = [root] if any(root.glob("*.mp4")) else sorted(d for d in root.iterdir() if d.is_dir()
                                                             and any(d.glob("*.mp4")))
    if not folders:
        raise MouseActError("no clip folders (.mp4 files named by behaviour)", root)
    seq_cfg = SequenceConfig(background=background, detector_stride=stride)
    groups = []
    for i, d in enumerate(folders):
        groups.append(bsoid_sequences(d, n_sequences, seed=cfg.seed + 1000 * i, config=seq_cfg,
                                      feature_config=cfg.features, cache=cache, detector=detector,
                                      detector_model=detector_model))
    return groups, [d.name for d in folders]


def video_sequence(video_path: Path, labels, boxes, cfg, detector: str = "classical", stride: int = DETECTOR_STRIDE,
                   cache=None, detector_model: str | Path | None = None):
    """Features of one whole video (+ per-frame action labels), decoded and detected as in inference.
    ``detector_model``: the model directory of a trained ``yolo``/``rtdetr`` detector.
    With ``cache`` (a :class:`~mouseact.localizer.cache.FeatureCache`) a video seen before with the
    same detector (and detector model), stride, boxes and feature config is not decoded again."""
    import numpy as np
    from mouseact.localizer.cache import array_digest, cached_features, detector_config
    from mouseact.localizer.features import FeatureConfig, FeatureExtractor
    from mouseact.localizer.sequences import Sequence_
    from mouseact.progress import bar
    from mouseact.video import VideoReader

    chunk = 64
    with VideoReader(video_path) as vr:
        fps = vr.info.fps
        fc = FeatureConfig(**{**cfg.features.model_dump(), "fps": fps})
        det = None
        if boxes is None:
            from mouseact.preprocess.detection import make_detector

            det = make_detector(detector, model_path=detector_model)

        def compute():
            fx = FeatureExtractor(fc)
            stream = None
            if det is not None:
                from mouseact.preprocess.detection import StreamingDetector

                stream = StreamingDetector(det, stride=stride, fps=fps)
                stream.prime(video_path)
            parts, part_boxes = [], []
            with bar(vr.info.n_frames, desc=f"features {video_path.name}") as pb:
                for s, frames in vr.iter_chunks(chunk):
                    b = stream.process(s, frames) if stream else boxes[s:s + len(frames)]
                    parts.append(fx.process(s, frames, b))
                    part_boxes.append(b)
                    pb.update(len(frames))
            return np.concatenate(parts), np.concatenate(part_boxes)

        feats, all_boxes = cached_features(
            cache, [video_path], compute, source="video", chunk=chunk, features=fc.model_dump(),
            boxes=array_digest(None if boxes is None else np.asarray(boxes, np.float32)),
            detector=None if det is None else detector, stride=None if det is None else stride,
            detector_config=detector_config(det))
    return Sequence_(feats, np.asarray(labels), ["action"], np.zeros(0, int), fps, [], all_boxes)


def _read_pose_features(path: Path, n_frames: int, fps: float, cfg, against: str = "the video"):
    """``(features (T, P), names, pose)`` of one pose file, its frame count checked."""
    from mouseact.localizer.pose import check_frame_count, pose_features, read_pose

    pose = read_pose(path)
    check_frame_count(pose, n_frames, path, against=against)
    feats, names = pose_features(pose, fps, cfg.pose)
    return feats, names, pose


def _pose_description(poses: list, names_per: list[list[str]]) -> dict:
    """Card entry for the pose used in training; all files must give the same features."""
    from mouseact.errors import AnnotationError
    from mouseact.localizer.pose import positional_names

    first = positional_names(names_per[0], poses[0].animals)
    for pose, names in zip(poses[1:], names_per[1:]):
        if positional_names(names, pose.animals) != first:
            raise AnnotationError(f"pose has {len(pose.animals)} animal(s) ({', '.join(pose.animals)}) but "
                                  f"{poses[0].source} has {len(poses[0].animals)}: train on pose files with "
                                  "the same number of animals", pose.source)
    return {"feature_names": names_per[0], "format": sorted({p.format for p in poses}),
            "animals": poses[0].animals, "bodyparts": poses[0].bodyparts, "files": [p.source for p in poses]}


def _project_groups(project: Path, background: tuple[str, ...], cfg, detector: str, stride: int,
                    pose_dir: Path | None = None, cache=None, detector_model: str | Path | None = None):
    import numpy as np
    from mouseact import sly_io
    from mouseact.errors import MouseActError
    from mouseact.localizer.pose import find_pose_file

    from mouseact.classifier.data import project_idle_label

    if project_idle_label(project) is not None:  # preprocess's clips: short, mostly action, rest cut away
        raise MouseActError("this is the clip project of `mouseact preprocess` (training data for the classifier): "
                            "train the localizer on the labelled video project it was made from (stage 1 "
                            "learns from whole videos where the mouse also rests)", project)
    records = sly_io.read_project(project)
    if not records:
        raise MouseActError("project has no videos", project)
    groups, names, poses, pose_names = [], [], [], []
    pose_files = {}
    if pose_dir is not None:  # every video's pose found and its frame count checked before any decoding
        from mouseact.localizer.pose import check_frame_count, read_pose

        for rec in records:
            path = find_pose_file(pose_dir, Path(rec.video_path).stem)
            pose = read_pose(path)
            check_frame_count(pose, rec.n_frames, path)
            pose_files[rec.video_path] = (path, pose)
    for rec in records:
        labels = np.zeros(rec.n_frames, np.int32)
        for iv in rec.intervals:
            if iv.label.lower() not in background:
                labels[max(iv.start, 0): min(iv.end, rec.n_frames - 1) + 1] = 1
        seq = video_sequence(Path(rec.video_path), labels, rec.boxes, cfg, detector, stride, cache, detector_model)
        if len(seq.features) != rec.n_frames:
            raise MouseActError(f"decoded {len(seq.features)} frames but the project says {rec.n_frames}",
                                rec.video_path)
        if pose_dir is not None:
            from mouseact.localizer.pose import pose_features

            path, pose = pose_files[rec.video_path]
            pf, pnames = pose_features(pose, seq.fps, cfg.pose)
            seq.features = np.concatenate([seq.features, pf], axis=1)
            poses.append(pose)
            pose_names.append(pnames)
        groups.append([seq])
        names.append(f"{rec.dataset}/{rec.name}")
    pose = _pose_description(poses, pose_names) if pose_dir is not None else None
    return groups, names, pose


def _pose_label_groups(pairs, labels_format: str, fps: float | None, background: tuple[str, ...], cfg):
    """Pose-only recordings: ``(groups, names, pose description)``."""
    import numpy as np
    from mouseact.errors import AnnotationError
    from mouseact.localizer.sequences import Sequence_
    from mouseact.preprocess.importers import read_boris, read_interval_csv

    groups, names, poses, pose_names = [], [], [], []
    for pose_path, labels_path in pairs:
        pose_path, labels_path = Path(pose_path), Path(labels_path)
        if not labels_path.is_file():
            raise AnnotationError("labels file not found", labels_path)
        records = (read_boris(labels_path, fps=fps) if labels_format == "boris"
                   else read_interval_csv(labels_path, fps=fps))
        if len(records) > 1:  # a file coding several media: the one whose name starts the pose file's
            match = [r for r in records if pose_path.stem.startswith(Path(r.name).stem)]
            if len(match) != 1:
                raise AnnotationError(f"labels cover {len(records)} media ({', '.join(r.name for r in records)}); "
                                      f"cannot tell which one is {pose_path.name}: give one labels file per "
                                      "recording", labels_path)
            records = match
        rec = records[0]
        if not rec.fps or rec.fps <= 0:
            raise AnnotationError("no frame rate in the labels file: pass --fps", labels_path)
        if labels_format == "boris":  # BORIS states the media length: it must be the pose's
            feats, pnames, pose = _read_pose_features(pose_path, rec.n_frames, rec.fps, cfg,
                                                      against=f"the labels file {labels_path.name}")
        else:  # an interval table has no length: its bouts must lie within the pose
            from mouseact.localizer.pose import pose_features, read_pose

            pose = read_pose(pose_path)
            last = max((iv.end for iv in rec.intervals), default=-1)
            if last >= pose.n_frames:
                raise AnnotationError(f"labels run to frame {last} but the pose has {pose.n_frames} frames: "
                                      f"is {labels_path.name} for this recording (same frame rate)?", pose_path)
            feats, pnames = pose_features(pose, rec.fps, cfg.pose)
        labels = np.zeros(pose.n_frames, np.int32)
        for iv in rec.intervals:
            if iv.label.lower() not in background:
                labels[max(iv.start, 0): min(iv.end, pose.n_frames - 1) + 1] = 1
        n = len(labels)
        groups.append([Sequence_(feats, labels, ["action"], np.zeros(0, int), rec.fps, [], np.zeros((n, 4)))])
        names.append(pose_path.name)
        poses.append(pose)
        pose_names.append(pnames)
    return groups, names, _pose_description(poses, pose_names)


def _parse_span(text: str) -> tuple[float, float]:
    from mouseact.errors import MouseActError

    try:
        a, b = (float(x) if x.strip() else d for x, d in zip(text.split(":"), (0.0, 1.0), strict=True))
    except ValueError:
        raise MouseActError(f"--span must be FROM:TO fractions like 0:0.6, got {text!r}") from None
    if not 0 <= a < b <= 1:
        raise MouseActError(f"--span needs 0 <= FROM < TO <= 1, got {text!r}")
    return a, b


def _cut(s, a: int, b: int):
    from mouseact.localizer.sequences import Sequence_

    return Sequence_(s.features[a:b], s.labels[a:b], s.classes, s.cuts[(s.cuts >= a) & (s.cuts < b)] - a, s.fps,
                     [], s.boxes[a:b])


def _finish_groups(groups, names, span, background, where):
    """Keep ``span`` of every sequence; a single video/recording: its two halves in time as two groups."""
    from mouseact.errors import MouseActError

    if span is not None:
        groups = [[_cut(s, int(round(span[0] * len(s.labels))), int(round(span[1] * len(s.labels)))) for s in g]
                  for g in groups]
        names = [f"{n} (span {span[0]:g}:{span[1]:g})" for n in names]
    if not any((s.labels > 0).any() for g in groups for s in g):
        raise MouseActError(f"no action labels (all labels are background: {', '.join(background)})", where)
    if len(groups) == 1 and len(groups[0]) == 1:  # one video: its two halves in time stand for two groups
        s = groups[0][0]
        h = len(s.labels) // 2
        groups = [[_cut(s, 0, h)], [_cut(s, h, len(s.labels))]]
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
    if sum(map(bool, (args.project, args.bsoid, args.pose_labels))) != 1:
        raise MouseActError("give either a Supervisely project, --bsoid DIR or --pose-labels POSE LABELS "
                            "(exactly one)")
    if Path(args.out).exists() and not args.overwrite:  # before minutes of training, not after
        raise MouseActError("output directory exists (use --overwrite)", args.out)
    if args.pose and not args.project:
        raise MouseActError("--pose DIR goes with a Supervisely project (pose-only recordings: "
                            "--pose-labels POSE LABELS)")
    if not args.pose and not args.pose_labels:  # pose feature names are known once the pose is read
        cfg.check_ignore_features()
    if args.pose_labels:
        if args.detector_model or args.detector != "classical":
            raise MouseActError("--detector/--detector-model do not apply to pose-only training (--pose-labels "
                                "decodes no video)")
    else:  # a wrong detector or model fails here, not after minutes of decoding
        from mouseact.preprocess.detection import make_detector

        make_detector(args.detector, model_path=args.detector_model)
    span = _parse_span(args.span) if args.span else None
    background = tuple(s.strip().lower() for s in args.background.split(",") if s.strip())
    pose = None
    cache = None
    if not args.no_cache and not args.pose_labels:  # pose-only training decodes no video
        from mouseact.localizer.cache import FeatureCache, default_cache_dir

        cache = FeatureCache(Path(args.cache) if args.cache else default_cache_dir())
    if args.bsoid:
        groups, names = _bsoid_groups(Path(args.bsoid), args.sequences, cfg, background, args.stride, cache,
                                      args.detector, args.detector_model)
        source = {"bsoid": str(args.bsoid), "group_names": names, "sequences_per_group": args.sequences}
        where = Path(args.bsoid)
    elif args.pose_labels:
        groups, names, pose = _pose_label_groups(args.pose_labels, args.labels_format, args.fps, background, cfg)
        source = {"pose_labels": [list(p) for p in args.pose_labels], "labels_format": args.labels_format}
        where = Path(args.pose_labels[0][1])
    else:
        groups, names, pose = _project_groups(Path(args.project), background, cfg, args.detector, args.stride,
                                              Path(args.pose) if args.pose else None, cache, args.detector_model)
        source = {"project": str(args.project), **({"pose_dir": str(args.pose)} if args.pose else {})}
        where = Path(args.project)
    if cache is not None:
        print(cache.summary(), file=sys.stderr)
    groups, names = _finish_groups(groups, names, span, background, where)
    source["group_names"] = names
    if span is not None:
        source["span"] = list(span)
    source["background_labels"] = list(background)
    inputs = "pose" if args.pose_labels else "video+pose" if args.pose else "video"
    if inputs != "pose":  # the detector's boxes shaped the features: run it the same way at inference
        source["detector"], source["detector_stride"] = args.detector, args.stride
        source["detector_model"] = str(Path(args.detector_model).resolve()) if args.detector_model else None
    source["command"] = "mouseact train localizer " + " ".join(shlex.quote(a) for a in sys.argv[3:]) \
        if sys.argv[1:3] == ["train", "localizer"] else None
    video_names = FeatureExtractor(cfg.features).feature_names if inputs != "pose" else []
    names_f = video_names + (pose["feature_names"] if pose else [])
    loc, report = train_localizer(groups, cfg, names_f, provenance=source, inputs=inputs, pose=pose)
    loc.save(args.out)
    op = report["operating_point"]
    pc = op["proposal_config"]
    print(f"wrote {args.out} ({inputs} features): operating point high={pc['high']:.3f} low={pc['low']:.3f} "
          f"gap={pc['max_gap_s']:g}s min={pc['min_duration_s']:g}s pad={pc['pad_s']:g}s; held-out recall {op['recall_coverage']:.3f} (coverage >= "
          f"{op['tiou']}), {op['recall_tiou']:.3f} (tIoU >= {op['tiou']}) "
          f"proposing {100 * op['frames_proposed']:.1f}% of frames"
          + ("" if op["target_met"] else f" (target recall {op['target_recall']} NOT reached)"))
    return 0
