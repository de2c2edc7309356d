"""Benchmark of the stage-1 localizer → docs/benchmarks/05-localizer.md.

    nice -n 10 .venv/bin/python bench/localizer.py [--sequences 6] [--cache /tmp/loc.pkl]
    nice -n 10 .venv/bin/python bench/localizer.py --speed-only   # section 3 alone, rewritten in place

1. Cross-animal recall on spliced B-SOiD sequences: train on mouse1, test on mouse2 and the
   reverse, for each estimator. The operating point is chosen on the *training* animal
   (its sequences split in halves), then applied unchanged to the test animal. Reported:
   recall of true segments at tIoU 0.5 and share of frames proposed (stored point + curve),
   frame ROC-AUC, and the same recall with the features of cut frames replaced by
   interpolation (does the model merely detect splices?), plus the mean actionness at
   background→background cuts against other background frames.
   One more row per direction: the opt-in budget selection (frame_budget 0.25, gap/pad candidates), and one
   for the opt-in boundary refinement (refine_window_s 0.33).
2. Pose branch: frame F1 for `interact` on the two-mouse DLC pose with human BORIS bouts,
   first 60 % of the recording for training, last 40 % for testing.
3. Feature speed: decode-only fps vs decode + classical detection (bundle stride) + features, in
   one run, on real videos.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "benchmarks" / "05-localizer.md"


def build_groups(n_seq: int, cache: Path | None, background: tuple[str, ...]):
    from mouseact.localizer.fit import LocalizerTrainConfig
    from mouseact.localizer.sequences import SequenceConfig, bsoid_sequences

    if cache and cache.is_file():
        return pickle.loads(cache.read_bytes())
    cfg = LocalizerTrainConfig()
    groups = [bsoid_sequences(DATA / "bsoid_clips" / m, n_seq, seed=cfg.seed + 1000 * i,
                              config=SequenceConfig(background=background),
                              feature_config=cfg.features, progress=False)
              for i, m in enumerate(["mouse1", "mouse2"])]
    if cache:
        cache.write_bytes(pickle.dumps(groups))
    return groups


def uncut(seq, lag_frames: int = 2):
    """Features with the frames at and just after each cut replaced by linear interpolation."""
    f = seq.features.copy()
    bad = np.zeros(len(f), bool)
    for c in seq.cuts:
        bad[max(c - 1, 0): c + lag_frames + 1] = True
    idx = np.arange(len(f))
    for j in range(f.shape[1]):
        f[bad, j] = np.interp(idx[bad], idx[~bad], f[~bad, j])
    return f


ALL_FEATURES = ("box_missing",)  # the ablation: every feature but box_missing scored (the old default)


# the opt-in operating-point choice of 2026-11-22 session 4: within 25 % of frames the best tIoU recall, with the
# stitching gap and padding chosen among candidates (LocalizerTrainConfig.frame_budget); default: fewest frames
BUDGET_SELECTION = {"frame_budget": 0.25, "max_gap_s": (0.25, 0.5, 1.0, 1.5), "pad_s": (0.0, 0.1, 0.25)}
# opt-in boundary refinement of 2026-12-06 session 5: proposals' ends trimmed with a 0.33 s-window actionness model,
# the trimming threshold chosen among candidates on the training mouse (LocalizerTrainConfig.refine_window_s)
REFINEMENT = {"refine_window_s": 0.33}
# the proposals before 2026-12-07 session 6: base segments only (no temporal-actionness-grouping levels)
NO_LEVELS = {"levels": 0}
# opt-in grouping tolerance of 2026-12-07 session 7: base segments also stitched across 1 s gaps (ProposalConfig.group_levels)
GROUPING = {"group_levels": 1}


def cross_animal(groups, estimator: str, ignore: tuple[str, ...] | None = None, selection: dict | None = None):
    from mouseact.localizer.features import FeatureExtractor
    from mouseact.localizer.fit import LocalizerTrainConfig, train_localizer
    from mouseact.localizer.proposals import evaluate, operating_curve
    from sklearn.metrics import roc_auc_score

    cfg = LocalizerTrainConfig(estimator=estimator, **({} if ignore is None else {"ignore_features": ignore}),
                               **(selection or {}))
    feature_set = (("motion (default)" if ignore is None else "all")
                   + ("" if not selection else " · boundary refinement" if "refine_window_s" in selection
                      else " · no TAG levels" if selection == NO_LEVELS
                      else " · grouping 1 s gaps" if selection == GROUPING else " · budget selection"))
    names = FeatureExtractor(cfg.features).feature_names
    rows = []
    for tr, te, tag in ((0, 1, "mouse1 → mouse2"), (1, 0, "mouse2 → mouse1")):
        t0 = time.perf_counter()
        loc, rep = train_localizer([groups[tr]], cfg, names)
        fit_s = time.perf_counter() - t0
        test = groups[te]
        acts = [loc.actionness(s.features, s.fps) for s in test]
        labels = [s.labels for s in test]
        fps = [s.fps for s in test]
        bounds = [loc.boundary(s.features, s.fps) for s in test] if loc.refiner is not None else None
        res = evaluate(acts, labels, fps, loc.proposal_config, boundary_list=bounds)
        acts_uncut = [loc.actionness(uncut(s), s.fps) for s in test]
        bounds_uncut = [loc.boundary(uncut(s), s.fps) for s in test] if loc.refiner is not None else None
        res_uncut = evaluate(acts_uncut, labels, fps, loc.proposal_config, boundary_list=bounds_uncut)
        y = np.concatenate(labels) > 0
        auc = roc_auc_score(y, np.concatenate(acts))
        # actionness at background→background cuts vs all other background frames
        at_cut, bg_all = [], []
        for s, a in zip(test, acts):
            bgmask = s.labels == 0
            for c in s.cuts:
                if c > 0 and s.labels[c - 1] == 0 and s.labels[c] == 0:
                    at_cut.append(a[c: c + 3].max())
            bg_all.append(a[bgmask])
        curve = operating_curve(acts, labels, fps, loc.proposal_config,
                                low_ratios=(loc.proposal_config.low / max(loc.proposal_config.high, 1e-9),),
                                boundary_list=bounds)
        rows.append({"direction": tag, "estimator": estimator, "features": feature_set, "train_point": rep["operating_point"],
                     "test": res, "test_uncut": res_uncut, "auc": auc, "fit_s": fit_s,
                     "cut_bg_actionness": float(np.mean(at_cut)) if at_cut else float("nan"),
                     "bg_actionness": float(np.mean(np.concatenate(bg_all))),
                     "n_bg_cuts": len(at_cut), "curve": curve, "high": loc.proposal_config.high,
                     "low": loc.proposal_config.low, "gap": loc.proposal_config.max_gap_s,
                     "pad": loc.proposal_config.pad_s, "refine": loc.proposal_config.refine_threshold,
                     "levels": loc.proposal_config.levels,
                     "group_levels": loc.proposal_config.group_levels})
    return rows


def pose_branch():
    from mouseact.localizer.fit import LocalizerTrainConfig, fit_estimator
    from mouseact.localizer.model import window_features
    from mouseact.localizer.pose import check_frame_count, pose_features, read_pose
    from mouseact.localizer.sequences import Sequence_
    from mouseact.metrics import frame_scores
    from mouseact.preprocess.importers import read_boris

    pose_csv = next((DATA / "social_pose_boris" / "dlc").glob("*.csv"))
    boris = DATA / "social_pose_boris" / "boris" / "e3v813a-20210610T122332-122642_reencode.csv"
    rec = read_boris(boris, fps=30.0)[0]
    pose = read_pose(pose_csv)
    check_frame_count(pose, rec.n_frames, pose_csv)
    feats, names = pose_features(pose, rec.fps)
    y = np.zeros(rec.n_frames, np.int32)
    for iv in rec.intervals:
        if iv.label == "interact":
            y[iv.start: iv.end + 1] = 1
    cut = int(0.6 * len(y))
    out = []
    for est in ("logreg", "hgb"):
        cfg = LocalizerTrainConfig(estimator=est)
        train = Sequence_(feats[:cut], y[:cut], ["interact"], np.zeros(0, int), rec.fps, [], np.zeros((cut, 4)))
        model = fit_estimator([train], cfg)
        # threshold: best F1 on the training part (no peeking at the test part)
        a_tr = model.predict(window_features(feats[:cut], rec.fps, cfg.windows_s, cfg.relative_features))
        a_te = model.predict(window_features(feats[cut:], rec.fps, cfg.windows_s, cfg.relative_features))
        grid = np.linspace(0.05, 0.95, 19)
        f1s = [frame_scores(y[:cut], (a_tr >= t).astype(int), ["interact"])["per_class"]["interact"]["f1"]
               for t in grid]
        thr = float(grid[int(np.argmax(f1s))])
        sc = frame_scores(y[cut:], (a_te >= thr).astype(int), ["interact"])["per_class"]["interact"]
        out.append({"estimator": est, "threshold": thr, **sc, "train_share": float(y[:cut].mean()),
                    "test_share": float(y[cut:].mean())})
    return out, len(names), len(rec.intervals)


def speed():
    from mouseact.localizer.features import FeatureConfig, FeatureExtractor
    from mouseact.localizer.sequences import DETECTOR_STRIDE
    from mouseact.preprocess.detection import StreamingDetector, make_detector
    from mouseact.video import VideoReader

    rows = []
    for path, n in ((DATA / "tracktor_arena" / "mouse_video.mp4", 3000),
                    (DATA / "openfield_dlc" / "videos" / "m3v1mp4.mp4", 2330),
                    (DATA / "bsoid_clips" / "mouse2" / "body_groom.mp4", 839)):
        with VideoReader(path) as vr:
            fps = vr.info.fps
            t0 = time.perf_counter()
            for _ in vr.iter_chunks(64, stop=n):
                pass
            dec = time.perf_counter() - t0
        with VideoReader(path) as vr:
            det = StreamingDetector(make_detector("classical"), stride=DETECTOR_STRIDE, fps=fps)
            t0 = time.perf_counter()
            det.prime(path)
            t_det = t_feat = 0.0
            fx = FeatureExtractor(FeatureConfig(fps=fps))
            for s, frames in vr.iter_chunks(64, stop=n):
                t1 = time.perf_counter()
                b = det.process(s, frames)
                t2 = time.perf_counter()
                fx.process(s, frames, b)
                t3 = time.perf_counter()
                t_det += t2 - t1
                t_feat += t3 - t2
            total = time.perf_counter() - t0
        rows.append({"video": f"{path.parent.name}/{path.name}", "frames": n, "size": f"{vr.info.width}x{vr.info.height}",
                     "decode_fps": n / dec, "full_fps": n / total, "ratio": dec / total,
                     "feat_ms": 1000 * t_feat / n, "det_ms": 1000 * t_det / n, "dec_ms": 1000 * dec / n})
    return rows


SPEED_HEADING = "### Feature extraction speed"


def speed_runs(repeats: int) -> list[dict]:
    """:func:`speed` ``repeats`` times; per video the run with the median ratio, plus every ratio."""
    runs = [speed() for _ in range(repeats)]
    out = []
    for k in range(len(runs[0])):
        rows = sorted((r[k] for r in runs), key=lambda r: r["ratio"])
        best = dict(rows[len(rows) // 2])
        best["ratios"] = [r["ratio"] for r in rows]
        out.append(best)
    return out


def speed_section(rows: list[dict], cmd: str | None, stride: int) -> list[str]:
    L = [f"{SPEED_HEADING} (ratios measured in one process, median of {len(rows[0]['ratios'])} runs)", ""]
    if cmd:
        L += [f"Command: `{cmd}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).", ""]
    L += [f"Decode-only vs decode + classical detection (stride {stride}, background primed) + localizer "
          "features, same process, sequential 64-frame chunks, one core (the pipeline spreads the same work over "
          "three processes: `docs/benchmarks/07-pipeline.md`).", "",
          "| video | size | frames | decode-only fps | decode+detect+features fps | ratio (goal ≥ 0.5) | "
          "all runs | ms/frame decode / detect / features |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['video']} | {r['size']} | {r['frames']} | {r['decode_fps']:.0f} | {r['full_fps']:.0f} | "
                 f"{r['ratio']:.2f} | {', '.join(f'{v:.2f}' for v in r['ratios'])} | "
                 f"{r['dec_ms']:.2f} / {r['det_ms']:.2f} / {r['feat_ms']:.2f} |")
    return L


FRAMINGS = {
    "inactive": "background = `inactive` only (the project's choice: locomotion is a behaviour stage 2 must see; "
                "see common/localizer/sequences.py)",
    "inactive,locomote": "background = `inactive` + `locomote` (the issue's first suggestion)",
}


def cross_animal_section(framing: str, args, estimators: list[str]) -> list[str]:
    from mouseact.localizer.sequences import SequenceConfig

    background = tuple(framing.split(","))
    cache = args.cache.with_name(f"{args.cache.stem}-{framing.replace(',', '+')}{args.cache.suffix}") if args.cache else None
    t0 = time.perf_counter()
    cached = bool(cache and cache.is_file())
    groups = build_groups(args.sequences, cache, background)
    build_s = time.perf_counter() - t0
    rows = [r for est in estimators for r in cross_animal(groups, est)]
    rows += cross_animal(groups, "logreg", selection=NO_LEVELS)
    rows += cross_animal(groups, "logreg", selection=GROUPING)
    rows += cross_animal(groups, "logreg", ALL_FEATURES)
    rows += cross_animal(groups, "logreg", selection=BUDGET_SELECTION)
    rows += cross_animal(groups, "logreg", selection=REFINEMENT)
    from mouseact.localizer.proposals import gt_segments

    n_frames = [sum(len(s.labels) for s in g) for g in groups]
    n_segs = [sum(len(gt_segments(s.labels)) for s in g) for g in groups]
    share = [float(np.mean(np.concatenate([s.labels for s in g]) > 0)) for g in groups]
    L = [f"### Cross-animal recall on spliced B-SOiD sequences — {FRAMINGS.get(framing, 'background = ' + framing)}", "",
         f"Sequences: {args.sequences} per mouse spliced from the moving frames of the one-behaviour B-SOiD clips "
         f"(mouse1: {n_frames[0]} frames, {n_segs[0]} action segments, {100 * share[0]:.0f} % action; "
         f"mouse2: {n_frames[1]} frames, {n_segs[1]} segments, {100 * share[1]:.0f} % action). "
         f"Background: {', '.join(f'`{b}`' for b in background)}; its footage is reused many times. "
         f"Boxes from the classical detector (every {SequenceConfig().detector_stride}th frame, as the default bundle) primed on frames of all "
         "clips of the mouse, features in 64-frame chunks exactly as in the pipeline. Features scored: "
         "`motion (default)` = the motion features only (box speed/acceleration, motion energy, changed pixels, "
         "flow magnitude/translation/residual); `box_missing` and the shape/camera features (box size, aspect and "
         "their rates, signed flow divergence/curl) are extracted but not scored (`ignore_features`); `all` = "
         "everything but `box_missing` (the default before 2026-11-22 session 3). "
         "**The sequences are spliced: every piece boundary is a cut** (background→background too). "
         "Operating point chosen on the training mouse (its sequences split in halves; target recall 0.95, "
         "a segment counting as found when proposals cover ≥ 50 % of it; the fewest frames that reach it, stitching "
         "gap 0.5 s, pad 0.25 s), applied unchanged to the other mouse. `budget selection` (opt-in: "
         "`--set frame_budget=0.25 --set 'max_gap_s=[0.25,0.5,1,1.5]' --set 'pad_s=[0,0.1,0.25]'`, 2026-11-22 "
         "session 4): within 25 % of frames the point with the best tIoU "
         "recall, stitching gap (0.25/0.5/1/1.5 s) and pad (0/0.1/0.25 s) chosen among candidates on the training "
         "mouse too. `boundary refinement` (opt-in: `--set refine_window_s=0.33`, 2026-12-06 session 5): each "
         "proposal's ends trimmed to the frames whose 0.33 s-window actionness (a second logistic model) reaches a "
         "threshold chosen on the training mouse among none/0.3/0.5/0.7/0.9 (best tIoU recall at each candidate's "
         "usual point); stored column: `trim t`. `levels k` (default 2 since 2026-12-07 session 6; `no TAG levels` = "
         "0, as before): the segments at k higher thresholds are proposed too, nested inside the base ones (temporal "
         "actionness grouping): same frames and coverage, tighter segments for tIoU; proposals per minute shown. "
         "`grouping 1 s gaps` (opt-in: `--set group_levels=1`, 2026-12-07 session 7): the base segments are also "
         "stitched across gaps up to 1 s and the joined ones proposed too (more frames: the bridged gaps). "
         "Both recalls are shown: coverage ≥ 0.5 and the strict one-proposal tIoU ≥ 0.5.", "",
         "| train → test | estimator | features | stored high/low, gap/pad s | recall, coverage ≥ 0.5 (test) | "
         "recall, tIoU ≥ 0.5 (test) | frames proposed (test) | proposals / min (test) | same, cut frames "
         "interpolated: coverage / tIoU / frames | frame AUC | actionness at bg→bg cuts / other bg | fit s |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['direction']} | {r['estimator']} | {r['features']} | {r['high']:.3f}/{r['low']:.3f}, "
                 f"{r['gap']:g}/{r['pad']:g}" + ("" if r.get("refine") is None else f", trim {r['refine']:g}")
                 + (f", levels {r['levels']}" if r.get("levels") else "")
                 + (f", groups {r['group_levels']}" if r.get("group_levels") else "") + " | "
                 f"{r['test']['recall_coverage']:.3f} ({r['test']['segments']} seg.) | {r['test']['recall_tiou']:.3f} | "
                 f"{100 * r['test']['frames_proposed']:.1f} % | {r['test']['proposals_per_min']:.1f} | "
                 f"{r['test_uncut']['recall_coverage']:.3f} / "
                 f"{r['test_uncut']['recall_tiou']:.3f} / {100 * r['test_uncut']['frames_proposed']:.1f} % | {r['auc']:.3f} | "
                 f"{r['cut_bg_actionness']:.3f} / {r['bg_actionness']:.3f} (n={r['n_bg_cuts']}) | {r['fit_s']:.1f} |")
    L += ["", "Best recall reachable within a budget of frames proposed on the test mouse (threshold sweep, "
          "same low/high ratio, gap and pad as the stored point), coverage / tIoU criterion:", "",
          "| train → test | estimator | features | " + " | ".join(f"≤{p} % frames" for p in (10, 15, 20, 25, 35, 50)) + " |",
          "|---|---|---|" + "---|" * 6]
    for r in rows:
        cells = []
        for p in (10, 15, 20, 25, 35, 50):
            ok = [c for c in r["curve"] if c["frames_proposed"] <= p / 100]
            cells.append(f"{max(c['recall_coverage'] for c in ok):.2f} / {max(c['recall_tiou'] for c in ok):.2f}"
                         if ok else "–")
        L.append(f"| {r['direction']} | {r['estimator']} | {r['features']} | " + " | ".join(cells) + " |")
    L += ["", f"Sequences loaded from {cache} (built by an earlier run of this script)." if cached else
          f"Building the sequences (decode + detect + features) took {build_s:.0f} s.", ""]
    return L


def main() -> None:
    from mouseact.localizer.sequences import DETECTOR_STRIDE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=6, help="spliced sequences per mouse")
    ap.add_argument("--cache", type=Path, default=None,
                    help="pickle of the built sequences (one file per background framing, reused if present)")
    ap.add_argument("--estimators", default="logreg,hgb")
    ap.add_argument("--framings", default="inactive;inactive,locomote",
                    help="';'-separated background label sets to measure (each builds its own sequences)")
    ap.add_argument("--speed-only", action="store_true",
                    help="measure only the feature speed (3 runs, median) and replace that section of the "
                         "existing report; the other sections keep their own command and date")
    args = ap.parse_args()
    cmd = "nice -n 10 .venv/bin/python bench/localizer.py " + " ".join(sys.argv[1:])
    if args.speed_only:
        text = OUT.read_text()
        head = text[:text.index(SPEED_HEADING)] if SPEED_HEADING in text else text
        OUT.write_text(head + "\n".join(speed_section(speed_runs(3), cmd, DETECTOR_STRIDE)) + "\n")
        print(OUT.read_text()[len(head):])
        return

    L = ["## Stage-1 localizer (issue 5)", "",
         f"Command: `{cmd}` (from the repository root; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).", "",
         "Clips are cut to their moving frames first: a montage panel repeats its last picture after its example "
         "ends (up to 77 % of a mouse2 clip; `mouseact.frozen`), and those frames show no behaviour.", ""]
    for framing in args.framings.split(";"):
        L += cross_animal_section(framing, args, args.estimators.split(","))
    pose_rows, n_pose_feats, n_bouts = pose_branch()
    speed_rows = speed_runs(3)
    L += [
          "### Pose branch: `interact` on two-mouse DLC pose + human BORIS bouts", "",
          f"`social_pose_boris`: 5700 frames at 30 fps, {n_bouts} human `interact` bouts; {n_pose_feats} pose "
          "features (per-animal speeds, spread, turn rate, unseen share; pair distances, closing speed, "
          "facing). Split by time: first 60 % train (threshold = best train F1), last 40 % test. "
          "Scores from `mouseact.metrics.frame_scores`.", "",
          "| estimator | threshold | test precision | test recall | test F1 | interact share train/test |",
          "|---|---|---|---|---|---|"]
    for r in pose_rows:
        L.append(f"| {r['estimator']} | {r['threshold']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                 f"{r['f1']:.3f} | {100 * r['train_share']:.0f} % / {100 * r['test_share']:.0f} % |")
    L += [""] + speed_section(speed_rows, None, DETECTOR_STRIDE)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
