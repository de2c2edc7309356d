"""``mouseact evaluate`` and ``mouseact compare`` (cheap to import: heavy work is lazy)."""

from __future__ import annotations

import argparse
import json
import sys

from mouseact.cli import positive_seconds, seconds


def register(subparsers) -> None:
    from mouseact.cli import HelpFormatter
    from mouseact.config import add_config_args

    p = subparsers.add_parser(
        "evaluate",
        formatter_class=HelpFormatter,
        help="score predictions against ground truth (frame/segment P/R/F1, mAP, HTML report)",
        description="Score a run's predictions against ground truth and write metrics.json, per_class.csv,\n"
        "confusion_matrix.png and a self-contained report.html (ethograms of truth vs prediction).\n"
        "Videos are matched by file stem; a video on one side only is an error. Labels on one\n"
        "side only are scored (0) and listed, never dropped.",
    )
    p.add_argument(
        "--pred",
        required=True,
        metavar="PATH",
        help="output folder of `mouseact infer` (or its predictions/ folder); or another annotator's "
        "Supervisely project / BORIS export to measure agreement",
    )
    p.add_argument(
        "--gt",
        required=True,
        metavar="PATH",
        help="ground truth: Supervisely video project folder, BORIS export (.csv/.tsv/.xlsx), interval "
        "table (.csv/.xlsx: video,behavior,start,end), DeepEthogram *_labels.csv, CalMS21 .npy/.json, "
        "MouseAct's own predictions format (another run's folder, or <video>.json: a list of "
        "{label, frame_range}, e.g. predictions corrected by hand), or a folder of such files",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the metrics and report")
    p.add_argument(
        "--gt-format",
        choices=["auto", "supervisely", "boris", "csv", "xlsx", "deepethogram", "calms21"],
        default=None,
        help="ground-truth format (default: detect)",
    )
    p.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=None,
        metavar="TIOU",
        help="tIoU thresholds for segment scores and mAP (default 0.3 0.5 0.7)",
    )
    p.add_argument(
        "--units",
        choices=["auto", "frames", "seconds"],
        default=None,
        help="units of start/end in an interval-CSV ground truth (default auto: from the column names)",
    )
    p.add_argument(
        "--ignore-labels",
        nargs="+",
        default=None,
        metavar="LABEL",
        help="labels to leave out of scoring, predicted and hand-scored (e.g. unknown, or a behaviour the "
        "model was not trained for); counted in the notes",
    )
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    add_config_args(p, "thresholds=[0.5]")
    p.set_defaults(func=_evaluate)
    _hide_none_defaults(p)

    c = subparsers.add_parser(
        "compare",
        formatter_class=HelpFormatter,
        help="per-behaviour statistics between conditions (e.g. pre/post treatment)",
        description="Compare per-behaviour measures (bouts, total_s, mean_bout_s, per_minute,\n"
        "share_of_time) between conditions: Mann-Whitney U + rank-biserial r for independent\n"
        "groups, Wilcoxon signed-rank + matched-pairs rank-biserial r when every video has a\n"
        "subject (paired); exact p for small samples. p-values corrected per measure (Holm and\n"
        "Benjamini-Hochberg). Writes stats.csv, stats.md, values.csv and a box/strip plot per\n"
        "measure. Warns when n is too small to reach alpha.",
    )
    c.add_argument(
        "--pred",
        required=True,
        nargs="+",
        metavar="PATH",
        help="output folder(s) of `mouseact infer` (several: e.g. pre and post run separately); "
        "hand-scored sessions work too: a Supervisely project, BORIS export(s) or a folder of them",
    )
    c.add_argument(
        "--groups",
        required=True,
        metavar="CSV",
        help="CSV with columns video, condition and optionally subject (paired design); "
        "video = file name or stem",
    )
    c.add_argument("--out", required=True, metavar="DIR", help="folder for the tables and plots")
    c.add_argument("--alpha", type=float, default=None, help="significance level (default 0.05)")
    c.add_argument(
        "--correction",
        choices=["holm", "bh"],
        default=None,
        help="which corrected p decides 'significant' (default holm)",
    )
    c.add_argument(
        "--measures",
        nargs="+",
        default=None,
        metavar="M",
        help="measures to compare (default: all of bouts total_s mean_bout_s per_minute share_of_time)",
    )
    c.add_argument(
        "--paired",
        choices=["auto", "yes", "no"],
        default=None,
        help="auto: paired when the CSV gives a subject for every video (default auto)",
    )
    c.add_argument(
        "--start-s",
        type=float,
        default=None,
        metavar="S",
        help="use only the part of each video from S seconds on",
    )
    c.add_argument(
        "--end-s",
        type=float,
        default=None,
        metavar="S",
        help="use only the part of each video before S seconds (e.g. 600 = first 10 min)",
    )
    c.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_config_args(c)
    c.set_defaults(func=_compare)
    _hide_none_defaults(c)

    s = subparsers.add_parser(
        "summarize",
        formatter_class=HelpFormatter,
        help="per-behaviour summary tables of a run, optionally for a time window or in time bins",
        description="Rebuild summary.csv / summary.md / summary.xlsx (bouts, total_s, mean_bout_s,\n"
        "per_minute, share_of_time per video x behaviour) from a run's predictions, e.g. for the\n"
        "first 10 minutes only (--end-s 600) or as a time course (--bin-s 60 -> summary_bins.csv).",
    )
    s.add_argument(
        "--pred",
        required=True,
        metavar="PATH",
        help="output folder of `mouseact infer` (or a Supervisely project / BORIS export(s))",
    )
    s.add_argument("--out", required=True, metavar="DIR", help="folder for the tables (may be --pred)")
    s.add_argument("--start-s", type=seconds, default=None, metavar="S", help="window start in seconds")
    s.add_argument("--end-s", type=seconds, default=None, metavar="S", help="window end in seconds")
    s.add_argument(
        "--bin-s", type=positive_seconds, default=None, metavar="S",
        help="also write a time course in bins of S s (a bout crossing a bin edge counts in both bins, with its "
             "part in each: bins add up to more bouts than the whole video)"
    )
    s.set_defaults(func=_summarize)
    _hide_none_defaults(s)


def _hide_none_defaults(parser) -> None:
    """No "(default: None)" in --help: an option left out is simply absent (read with getattr)."""
    for action in parser._actions:
        if action.default is None:
            action.default = argparse.SUPPRESS


def _overrides(args, names: dict[str, str]) -> list[str]:
    out = list(args.overrides)
    for attr, key in names.items():
        v = getattr(args, attr, None)
        if v is not None:
            # JSON is YAML: keeps strings like "no" from turning into booleans
            out.append(f"{key}={json.dumps(list(v) if isinstance(v, (list, tuple)) else v)}")
    return out


def _evaluate(args: argparse.Namespace) -> int:
    from mouseact.config import load
    from mouseact.evaluation.evaluate import EvaluateConfig, evaluate, macro_rows, write_outputs

    if args.show_config:
        print(EvaluateConfig.describe())
        return 0
    cfg = load(
        EvaluateConfig,
        getattr(args, "config", None),
        _overrides(
            args,
            {
                "gt_format": "gt_format",
                "thresholds": "thresholds",
                "ignore_labels": "ignore_labels",
                "units": "units",
            },
        ),
    )
    result = evaluate(args.pred, args.gt, cfg)
    paths = write_outputs(result, args.out, report=not args.no_report)
    for note in result["notes"]:
        print(f"warning: {note}", file=sys.stderr)
    print(f"{result['n_videos']} video(s), {result['n_frames']} frames, {len(result['classes'])} behaviours")
    for name, value in macro_rows(result):
        print(f"{name}: {value}")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from mouseact.config import load
    from mouseact.evaluation.compare import CompareConfig, compare, write_outputs

    if args.show_config:
        print(CompareConfig.describe())
        return 0
    cfg = load(
        CompareConfig,
        getattr(args, "config", None),
        _overrides(
            args,
            {
                "alpha": "alpha",
                "correction": "correction",
                "measures": "measures",
                "paired": "paired",
                "start_s": "start_s",
                "end_s": "end_s",
            },
        ),
    )
    result = compare(args.pred, args.groups, cfg)
    paths = write_outputs(result, args.out, cfg, plots=not args.no_plots)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    design = "paired (Wilcoxon signed-rank)" if result.paired else "independent (Mann-Whitney U)"
    print(
        f"{len(result.conditions)} conditions ({', '.join(result.conditions)}), "
        f"{len(result.behaviors)} behaviours, "
        f"{design}"
    )
    sig = [s for s in result.stats if s["significant"]]
    print(f"{len(sig)} of {len(result.stats)} comparisons significant ({cfg.correction} p < {cfg.alpha:g})")
    for s in sig:
        p_corr = f"p_{cfg.correction} {s['p_holm'] if cfg.correction == 'holm' else s['p_bh']:.3g}"
        if s["condition_a"] == "all":  # omnibus row (three or more conditions)
            what = f"differs across conditions ({s['test']}): {p_corr}, effect {s['effect_size']:.2f}"
        else:
            what = (
                f"{s['condition_a']} -> {s['condition_b']}: median {s['median_a']:g} -> {s['median_b']:g}, "
                f"{p_corr}, r {s['effect_size']:+.2f}"
            )
        print(f"  {s['measure']:<13} {s['behavior']:<14} {what}")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _summarize(args: argparse.Namespace) -> int:
    from mouseact import export

    from mouseact.evaluation.evaluate import load_predictions

    preds, _ = load_predictions(args.pred, [])  # a run, or hand-scored BORIS / Supervisely sessions
    warnings: list[str] = []
    paths = export.write_summary(
        args.out,
        preds,
        start_s=getattr(args, "start_s", None),
        end_s=getattr(args, "end_s", None),
        bin_s=getattr(args, "bin_s", None),
        warnings=warnings,
    )
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{len(preds) - len(warnings)} video(s) summarised")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
