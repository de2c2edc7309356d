"""``mouseact infer`` and ``mouseact demo`` (torch & co. are imported only when a command runs)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

INFER_EPILOG = """\
outputs (in --out DIR):
  predictions/<video>.json   [{"label", "frame_range": [start, end] (inclusive), "confidence"}]
  project/                   Supervisely video project (behaviour tags + mouse boxes)
  intervals/, boris/, ethograms/, tracks/   per-video CSV tables, ethogram PNG, mouse boxes
  candidates/<video>.json    stage 2's segments before post-processing (see `mouseact postprocess`)
  summary.csv/.md, intervals.csv, boris_events.csv   per-batch tables

Re-running with the same --out skips videos already done. A broken video is reported and the
batch goes on; the exit status is then non-zero.

config keys (--set KEY=VALUE, or a YAML file with --config; see --show-config):
  segment_s, dense_stride_s, chunk_size, detector_stride, batch_size, clip_frames, ...
  postprocess.<param>, postprocess.per_class.<behaviour>.<param>   (see --list-postprocess)
examples:
  mouseact infer session1.mp4 --out results/
  mouseact infer videos/ --out results/ --set postprocess.threshold=0.5 \\
      --set postprocess.per_class.itch.min_duration_s=0.1
"""


POSTPROCESS_EPILOG = """\
config keys (--set KEY=VALUE or --config YAML; no "postprocess." prefix here):
  stages, threshold, smooth_s, stitch_gap_s, min_duration_s, nms_sigma, nms_min_score,
  per_class.<behaviour>.<param>   (see --list-postprocess)
examples:
  mouseact postprocess --pred results/ --out results_min05/ --set min_duration_s=0.5
  mouseact postprocess --pred results/ --out strict/ --set per_class.itch.threshold=0.6
"""


def register(subparsers) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = subparsers.add_parser(
        "infer", help="find behaviour bouts in videos (the main job)", formatter_class=HelpFormatter,
        description="Run the pipeline (detect -> localize -> classify candidates -> post-process) on one "
                    "video, a folder of videos or a Supervisely video project.", epilog=INFER_EPILOG)
    p.add_argument("input", nargs="?", help="a video file, a folder of videos, or a Supervisely project directory")
    p.add_argument("--out", help="output directory (created; re-use it to resume)")
    p.add_argument("--model", default=None,
                   help="model bundle directory (pipeline.json + localizer/ + classifier/) or a classifier "
                        "directory; default: the embedded default bundle")
    p.add_argument("--dense", action="store_true",
                   help="skip stage 1: classify every window of the video (slow; for comparison)")
    p.add_argument("--detector", default=None, choices=["classical", "yolo", "rtdetr"],
                   help="stage-0 mouse detector (default: the bundle's, classical = no weights needed)")
    p.add_argument("--detector-model", default=None, metavar="PATH",
                   help="weights of a trained YOLO/RT-DETR detector (mouseact train detector)")
    p.add_argument("--no-resume", action="store_true", help="re-run videos that already have predictions")
    p.add_argument("--list-postprocess", action="store_true",
                   help="print the post-processing stages, their help and current values, and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_args(p, "per_class.itch.threshold=0.6")
    p.set_defaults(func=run_infer)

    pp = subparsers.add_parser(
        "postprocess", help="re-run only the post-processing of a finished run, with other settings",
        formatter_class=HelpFormatter,
        description="Re-apply post-processing (threshold, smoothing, gap stitching, minimum duration, per "
                    "behaviour) to the stage-2 segments a run kept (candidates/<video>.json), starting from "
                    "the settings the run used, and write a complete new run folder: no video is decoded "
                    "and no model is loaded.", epilog=POSTPROCESS_EPILOG)
    pp.add_argument("--pred", metavar="DIR", help="output folder of `mouseact infer` (required)")
    pp.add_argument("--out", metavar="DIR", help="new output folder, written when complete (required)")
    pp.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    pp.add_argument("--no-project", action="store_true", help="skip the Supervisely project")
    pp.add_argument("--list-postprocess", action="store_true",
                    help="print the post-processing stages, their help and default values, and exit")
    add_config_args(pp, "min_duration_s=0.5",
                    show_help="print the settings as YAML and exit: the first video's recorded ones with --pred, "
                              "else the defaults, after --config/--set")
    pp.set_defaults(func=run_postprocess)

    b = subparsers.add_parser(
        "bundle", help="put trained models together into a model bundle for infer (and docker compose)",
        formatter_class=HelpFormatter,
        description="Copy a trained classifier (mouseact train classifier), a localizer (mouseact train "
                    "localizer; default: the embedded one, stage 1 is class-agnostic) and optionally a trained "
                    "detector into one self-contained folder with pipeline.json, the --model of `mouseact "
                    "infer` and the MODEL_DIR of docker compose. Settings start from the embedded bundle's "
                    "(as `infer --model CLASSIFIER_DIR`); the detector and its stride default to those the "
                    "localizer was trained with (its features depend on the boxes); --set/--config change "
                    "any pipeline setting (post-processing thresholds, segment length...), stored in the bundle.",
        epilog="example:\n  mouseact bundle --classifier models/clf --localizer models/loc --out models/bundle "
               "--set postprocess.min_duration_s=0.5\n  mouseact infer videos/ --model models/bundle --out results/")
    b.add_argument("--classifier", metavar="DIR", help="classifier directory (required)")
    b.add_argument("--localizer", metavar="DIR", default=None,
                   help="localizer directory (default: the embedded default bundle's)")
    b.add_argument("--detector-model", metavar="DIR", default=None,
                   help="a trained yolo/rtdetr detector directory (mouseact train detector); default: the "
                        "detector the localizer was trained with (classical needs no weights)")
    b.add_argument("--out", metavar="DIR", help="new bundle directory (required; written when complete)")
    b.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_config_args(b, "postprocess.min_duration_s=0.5",
                    show_help="print the pipeline settings the bundle would hold and exit")
    b.set_defaults(func=run_bundle)

    d = subparsers.add_parser(
        "demo", help="run the pipeline on the shipped B-SOiD sample and score it", formatter_class=HelpFormatter,
        description="Runs `infer` with the default bundle on samples/bsoid_sequence/ (real B-SOiD clips of "
                    "one mouse spliced into one video with known labels), prints where the outputs are "
                    "and the frame F1 against the known labels.")
    d.add_argument("--out", default="mouseact-demo", help="output directory (replaced if it exists)")
    d.add_argument("--sample", default=None, help="sample directory (default: the repository's samples/bsoid_sequence)")
    d.add_argument("--model", default=None, help="model bundle directory (default: the embedded default bundle)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=run_demo)


def _load_config(args, base: dict):
    import copy

    from mouseact import config as config_mod
    from mouseact.inference.pipeline import PipelineConfig

    return config_mod.load(PipelineConfig, yaml_path=args.config, overrides=args.overrides, base=copy.deepcopy(base))


def run_infer(args) -> int:
    from mouseact.errors import MouseActError

    if args.list_postprocess or args.show_config:
        import yaml

        from mouseact import postprocess
        from mouseact.models import DEFAULT_BUNDLE, BUNDLE_FILE, load_bundle

        base = load_bundle(args.model).pipeline if (args.model or (DEFAULT_BUNDLE / BUNDLE_FILE).is_file()) else {}
        cfg = _load_config(args, base)
        if args.list_postprocess:
            print(postprocess.describe(cfg.postprocess, prefix="postprocess."))
        if args.show_config:
            print(yaml.safe_dump(cfg.model_dump(), sort_keys=False).rstrip())
        return 0
    if not args.input or not args.out:
        raise MouseActError("infer needs an INPUT (video, folder or project) and --out DIR")
    from mouseact import atomic

    atomic.check_output_dir(args.out)  # a file or an unwritable place fails before minutes of work
    from mouseact.inference.batch import resolve_inputs, run_batch, summary_table
    from mouseact.inference.pipeline import Predictor

    jobs = resolve_inputs(args.input)  # bad input fails here, before models load
    if len(jobs) == 1:
        from mouseact.video import probe

        probe(jobs[0].path)  # a single unreadable video: its one-line error, nothing written
    t0 = time.perf_counter()
    predictor = Predictor(args.model, detector=args.detector, detector_model=args.detector_model,
                          dense=args.dense, config_path=args.config, overrides=args.overrides,
                          progress_bars=False if args.quiet else None)
    print(f"model: {predictor.bundle.describe()}; {len(predictor.classes)} behaviours; "
          f"{'dense' if args.dense else 'two-stage'}; {len(jobs)} video(s)", file=sys.stderr)
    report = run_batch(predictor, args.input, args.out, resume=not args.no_resume)
    if len(jobs) == 1 and report.failed and not report.done and not report.skipped:
        raise MouseActError(report.failed[0][1])  # one video: its own one-line error
    out = Path(args.out)
    if report.done or report.skipped:
        print(summary_table(out, predictor.classes))
        print(f"outputs: {out.resolve()} (predictions/, project/, summary.csv, ethograms/) "
              f"in {time.perf_counter() - t0:.1f} s")
    if report.failed:
        print(f"{len(report.failed)} of {len(jobs)} video(s) failed:", file=sys.stderr)
        for job, err in report.failed:
            print(f"  {err}", file=sys.stderr)  # names the file (run_batch)
        raise MouseActError(f"{len(report.failed)} of {len(jobs)} video(s) failed (listed above)")
    return 0


def run_bundle(args: argparse.Namespace) -> int:
    import yaml

    from mouseact import config as config_mod
    from mouseact.inference.pipeline import PipelineConfig
    from mouseact.errors import MouseActError
    from mouseact.models import DEFAULT_BUNDLE, load_bundle, make_bundle, training_detector

    default = load_bundle(DEFAULT_BUNDLE)
    localizer = args.localizer or default.localizer_dir
    # the default bundle's settings (as `infer --model CLASSIFIER_DIR` uses), the localizer's training
    # detector, then --config/--set
    base = {**default.pipeline, **training_detector(localizer)}
    # validated against the pipeline's settings; only what was given (and the training detector) is stored
    cfg = config_mod.load(PipelineConfig, args.config, args.overrides, base=base)
    if args.show_config:
        print(yaml.safe_dump(cfg.model_dump(), sort_keys=False).rstrip())
        return 0
    if not args.classifier or not args.out:
        raise MouseActError("bundle needs --classifier DIR and --out DIR")
    out, warnings = make_bundle(args.out, args.classifier, args.localizer, args.detector_model,
                                cfg.model_dump(exclude_unset=True), args.overwrite)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    bundle = load_bundle(out)
    print(f"bundle written to {out}: {bundle.describe()}")
    print(f"  pipeline: {json.dumps(bundle.pipeline)}")
    print(f"  use: mouseact infer VIDEOS --model {out} --out RESULTS")
    return 0


def run_demo(args) -> int:
    from mouseact.inference.demo import run_demo as demo

    return demo(args.out, args.sample, quiet=args.quiet, model_dir=args.model)


def run_postprocess(args: argparse.Namespace) -> int:
    from mouseact import postprocess
    from mouseact.inference.batch import summary_table
    from mouseact.inference.repost import rerun_postprocess

    if args.list_postprocess:
        print(postprocess.describe())
        return 0
    if args.show_config:
        import yaml
        from mouseact import export
        from mouseact.config import load

        base = {}
        if args.pred:
            first = next(iter(export.read_predictions(args.pred).values()))
            base = first.meta.get("postprocess") or {}
        cfg = load(postprocess.PostprocessConfig, args.config, args.overrides, base=base)
        print(yaml.safe_dump(cfg.model_dump(), sort_keys=False), end="")
        return 0
    from mouseact.errors import MouseActError

    if not args.pred or not args.out:
        raise MouseActError("postprocess needs --pred RUN and --out NEW")
    t0 = time.perf_counter()
    report = rerun_postprocess(args.pred, args.out, args.config, args.overrides, overwrite=args.overwrite,
                               project=not args.no_project)
    for row in report["videos"]:
        print(f"{row['video']}: {row['before']} -> {row['after']} bouts", file=sys.stderr)
    print(summary_table(Path(args.out), report["classes"]))
    print(f"outputs: {Path(args.out).resolve()} in {time.perf_counter() - t0:.1f} s")
    return 0
