"""Two-stage vs --dense on sparse sequences of real B-SOiD clips -> docs/benchmarks/07b-two-stage.md.

The point of stage 1 is to spend stage 2 only where the mouse does something. This benchmark
splices, per mouse, the moving frames of the B-SOiD clips into a recording where the mouse rests
(``inactive``) most of the time and action bouts are sparse (the localizer's sequence plan:
~15 % action, bouts of 1.6-8 s, background stretches between them), renders it to an mp4, and
runs the whole pipeline on it twice, each in its own child process:

* two-stage (default): decode -> detect -> stage-1 features -> proposals -> stage 2 on proposals;
* ``--dense``: decode -> detect -> stage 2 on every window of a regular grid (the seed's way).

Reported: wall seconds of each, speed ratio, the ratio of the stage-2 step alone, segments sent to
stage 2, segment F1@0.5 (macro over the action classes = every class but the localizer's
background) and frame F1. The default bundle's classifier and localizer were trained on these
very clips (both mice), so the F1 values are in-sample: they compare the two modes, they do not
measure generalisation.

    nice -n 10 .venv/bin/python bench/two_stage.py [--model DIR] [--seeds 7,8,9] \
        [--variant "pieces+grow:proposal_windows=pieces;grow_s=2"]

``--variant NAME:k=v;k=v`` adds a two-stage run with those pipeline settings (``--set`` items) next
to the bundle's own (dense runs once per sequence and model: its grid does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BSOID = ROOT.parent / "shared" / "data" / "bsoid_clips"
SECTION = ROOT / "docs" / "benchmarks" / "07b-two-stage.md"
CACHE = Path(tempfile.gettempdir()) / "mouseact-bench-two-stage"
VERSION = 1  # bump when the sequence recipe changes (cache key)
QWEN_S_PER_CLIP = 25.0  # Qwen2.5-VL-3B bf16, 16 frames 224², this CPU kind (DEPENDENCY-NOTES, 06-classifier.md)


def sparse_sequence(mouse: str, seed: int) -> tuple[Path, list[dict], int]:
    """Render one sparse spliced recording of ``mouse``; returns (video, ground truth, n_frames)."""
    import numpy as np
    from mouseact.localizer.sequences import clip_paths, plan_moving_sequence
    from mouseact.video import VideoReader, write_video

    video = CACHE / f"{mouse}_seed{seed}_v{VERSION}.mp4"
    gt_path = video.with_suffix(".json")
    if video.is_file() and gt_path.is_file():
        doc = json.loads(gt_path.read_text())
        return video, doc["intervals"], doc["n_frames"]
    paths = clip_paths(BSOID / mouse)
    pieces, fps = plan_moving_sequence(BSOID / mouse, np.random.default_rng(seed))
    gt: list[dict] = []
    start = 0
    for p in pieces:  # one interval per piece; touching pieces of one behaviour are one bout
        if gt and gt[-1]["label"] == p.clip and gt[-1]["frame_range"][1] == start - 1:
            gt[-1]["frame_range"][1] = start + p.length - 1
        else:
            gt.append({"label": p.clip, "frame_range": [start, start + p.length - 1], "confidence": 1.0})
        start += p.length

    def frames():
        for p in pieces:
            with VideoReader(paths[p.clip]) as vr:
                yield from vr.get_frames(range(p.start, p.stop))

    CACHE.mkdir(parents=True, exist_ok=True)
    write_video(video, frames(), fps=fps, crf=16)
    tmp = gt_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"intervals": gt, "n_frames": start, "pieces": [p.__dict__ for p in pieces]}))
    os.replace(tmp, gt_path)
    return video, gt, start


def child_infer(video: str, mode: str, model: str, overrides: str = "[]") -> dict:
    from mouseact.inference.pipeline import Predictor

    pred = Predictor(model or None, dense=mode == "dense", progress_bars=False, overrides=json.loads(overrides))
    t0 = time.perf_counter()
    res = pred.predict(video)
    return {"seconds": time.perf_counter() - t0, "steps": res.steps_ms_per_frame,
            "timing": res.timing, "n_candidates": res.n_candidates, "classes": pred.classes,
            "intervals": [iv.to_json() for iv in res.intervals]}


def run_child(*args: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def localizer_background(model: str | None) -> list[str]:
    from mouseact.models import load_bundle

    loc = load_bundle(model or None).localizer_dir
    card = json.loads((loc / "model_card.json").read_text()) if loc else {}
    return [b for b in (card.get("training_data") or {}).get("background_labels") or []]


def macro_f1_at(seg: dict, t: float = 0.5) -> float:
    from mouseact.metrics import tkey

    return float(seg["macro"][tkey(t)]["f1"])


def stage2_name(model: str | None) -> str:
    """What stage 2 is in ``model``: its classifier's embedder kind (and the directory if not the default)."""
    from mouseact.models import load_bundle

    bundle = load_bundle(model or None)
    card = json.loads((bundle.classifier_dir / "model_card.json").read_text())
    kind = (card.get("embedder") or {}).get("kind") or "?"
    return f"`{kind}` (default bundle)" if not model else f"`{kind}` ({Path(model).name})"


def compare(mouse: str, seed: int, model: str | None, variants: dict[str, list[str]]) -> list[dict]:
    """One row per variant (two-stage with those settings) against one --dense run."""
    from mouseact import metrics
    from mouseact.intervals import Interval, to_frame_labels

    video, gt_json, n = sparse_sequence(mouse, seed)
    gt = [Interval.from_json(o) for o in gt_json]
    background = set(localizer_background(model))
    base = {"mouse": mouse, "seed": seed, "frames": n,
            "action_share": sum(iv.length for iv in gt if iv.label not in background) / n}

    def run(mode: str, overrides: list[str]) -> dict:
        r = run_child(str(video), mode, model or "", json.dumps(overrides))
        action = [c for c in r["classes"] if c not in background]
        pred = [iv for iv in map(Interval.from_json, r["intervals"]) if iv.label in action]
        truth = [iv for iv in gt if iv.label in action]
        seg = metrics.segment_scores(truth, pred, action, thresholds=(0.5,))
        frame = metrics.frame_scores(to_frame_labels(truth, n, action), to_frame_labels(pred, n, action), action)
        return {"seconds": r["seconds"], "n_candidates": r["n_candidates"], "steps": r["steps"],
                "seg_f1": macro_f1_at(seg), "frame_f1": frame["macro"]["f1"], "n_pred": len(pred)}

    dense = run("dense", [])
    rows = []
    for name, overrides in variants.items():
        a = run("two-stage", overrides)
        stage2 = stage2_name(model) + (f", {name}" if name else "")
        rows.append({**base, "stage2": stage2, "two-stage": a, "dense": dense,
                     "speed_ratio": dense["seconds"] / a["seconds"],
                     "stage2_ratio": dense["steps"]["inference"] / max(a["steps"]["inference"], 1e-9)})
    return rows


def write_section(cmd: str, rows: list[dict], background: list[str], out: Path = SECTION, about: str = "",
                  append: bool = False) -> None:
    L = ["## Two-stage vs --dense (issue 7) on sparse sequences of real B-SOiD clips"
         + (f": {about}" if about else ""), "",
         f"Command: `{cmd}` ({platform.machine()}, {os.cpu_count()} cores shared with other jobs; "
         f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).", "",
         "Per mouse, the moving frames of its B-SOiD clips spliced into a recording where the mouse mostly rests "
         f"(background = {', '.join(f'`{b}`' for b in background) or 'none'}) with sparse action bouts "
         "(`plan_sequence`: ~15 % action, bouts 1.6-8 s), 15 fps, each piece's behaviour its ground truth. "
         "Each mode runs in its own child process with the default bundle. **In-sample**: the default models "
         "were trained on these clips, so F1 compares the two modes, it does not measure generalisation. "
         "Goals: speed ratio >= 5x; two-stage segment F1@0.5 >= dense - 0.02. Stage-2 ratio = dense / two-stage "
         "ms/frame of the inference step (localize + read + embed + classify); the wall ratio also carries "
         "the decode + detection pass both modes share (and stage 1's features). F1 = macro over the action "
         "classes (all but the background).", "",
         "| stage 2 (, two-stage settings) | mouse (seed) | frames | action share | two-stage s | dense s | speed ratio (wall) | stage-2 ratio | "
         "segments to stage 2: two-stage / dense | seg F1@0.5 two-stage | seg F1@0.5 dense | frame F1 two-stage | "
         "frame F1 dense | ms/frame two-stage: preprocess / inference | ms/frame dense: preprocess / inference |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, d = r["two-stage"], r["dense"]
        L.append(f"| {r['stage2']} | {r['mouse']} ({r['seed']}) | {r['frames']} | {100 * r['action_share']:.0f} % | {a['seconds']:.1f} | "
                 f"{d['seconds']:.1f} | **{r['speed_ratio']:.1f}x** | {r['stage2_ratio']:.1f}x | "
                 f"{a['n_candidates']} / {d['n_candidates']} | {a['seg_f1']:.3f} | {d['seg_f1']:.3f} | "
                 f"{a['frame_f1']:.3f} | {d['frame_f1']:.3f} | {a['steps']['preprocess']:.2f} / "
                 f"{a['steps']['inference']:.2f} | {d['steps']['preprocess']:.2f} / {d['steps']['inference']:.2f} |")
    L += ["", f"When stage 2 is the expensive model the design is for, its cost dominates and the speed ratio tends "
          "to the ratio of segments sent to stage 2. Projected from the measured segment counts and preprocessing "
          f"times with Qwen2.5-VL-3B at {QWEN_S_PER_CLIP:.0f} s/clip on this CPU (DEPENDENCY-NOTES; float32 is ~42 s):", "",
          "| from stage 2 (, settings) | mouse (seed) | segments dense / two-stage | projected speed ratio with Qwen2.5-VL-3B stage 2 |",
          "|---|---|---|---|"]
    for r in rows:
        a, d = r["two-stage"], r["dense"]
        pa = a["steps"]["preprocess"] * r["frames"] / 1000 + a["n_candidates"] * QWEN_S_PER_CLIP
        pd = d["steps"]["preprocess"] * r["frames"] / 1000 + d["n_candidates"] * QWEN_S_PER_CLIP
        L.append(f"| {r['stage2']} | {r['mouse']} ({r['seed']}) | {d['n_candidates']} / {a['n_candidates']} | {pd / pa:.1f}x |")
    import numpy as np

    for name in dict.fromkeys(r["stage2"] for r in rows):
        sub = [r for r in rows if r["stage2"] == name]
        mean = {k: float(np.mean([r[k] for r in sub])) for k in ("speed_ratio", "stage2_ratio")}
        f1 = {m: float(np.mean([r[m]["seg_f1"] for r in sub])) for m in ("two-stage", "dense")}
        seg_ratio = [r["dense"]["n_candidates"] / max(r["two-stage"]["n_candidates"], 1) for r in sub]
        f1_ok = sum(r["two-stage"]["seg_f1"] >= r["dense"]["seg_f1"] - 0.02 for r in sub)
        L += ["", f"Over the {len(sub)} sequences, stage 2 {name}: wall speed ratio {mean['speed_ratio']:.1f}x "
              f"(stage 2 alone {mean['stage2_ratio']:.1f}x); segments to stage 2 {np.mean(seg_ratio):.1f}x fewer "
              f"(min {min(seg_ratio):.1f}x, >= 5x in {sum(x >= 5 for x in seg_ratio)} of {len(sub)}); segment F1@0.5 "
              f"two-stage {f1['two-stage']:.3f} vs dense {f1['dense']:.3f} (mean), two-stage >= dense - 0.02 in "
              f"{f1_ok} of {len(sub)}."]
    L.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    before = out.read_text().rstrip() + "\n\n" if append and out.is_file() else ""
    tmp.write_text(before + "\n".join(L) + "\n")
    os.replace(tmp, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="", help="comma-separated model bundles or classifier directories, each "
                                                "measured (empty item = the embedded default; default: it alone)")
    ap.add_argument("--seeds", default="7,8,9", help="comma-separated sequence seeds (one sequence per mouse each)")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME:key=value;key=value — also run two-stage with these pipeline settings (repeatable)")
    ap.add_argument("--mice", default="mouse1,mouse2")
    ap.add_argument("--out", type=Path, default=SECTION, help="report file (replaced whole unless --append)")
    ap.add_argument("--about", default="", help="text added to the report's heading (e.g. what stage 2 is)")
    ap.add_argument("--append", action="store_true", help="add the section after the report's existing text")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child_infer(*args.child)))
        return
    cmd = "nice -n 10 .venv/bin/python bench/two_stage.py " + shlex.join(sys.argv[1:])
    variants = {"": []}
    for v in args.variant:
        name, _, sets = v.partition(":")
        variants[name] = [x for x in sets.split(";") if x]
    rows = []
    for model in args.model.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for mouse in args.mice.split(","):
                for r in compare(mouse, seed, model or None, variants):
                    rows.append(r)
                    print(f"{r['stage2']}, {mouse} seed {seed}: {r['frames']} frames, speed {r['speed_ratio']:.1f}x "
                          f"(stage 2 {r['stage2_ratio']:.1f}x), seg F1 {r['two-stage']['seg_f1']:.3f} vs "
                          f"{r['dense']['seg_f1']:.3f}", flush=True)
    write_section(cmd, rows, localizer_background(args.model.split(",")[0] or None), args.out, args.about,
                  args.append)


if __name__ == "__main__":
    main()
