"""``mouseact demo``: the default bundle on the shipped sample, scored against its known labels.

The sample (``samples/bsoid_sequence/``) is a Supervisely project holding one video spliced from
real B-SOiD clips of one mouse, each clip's behaviour as a frame-range tag. The demo runs the
same code path as ``mouseact infer`` and then scores frames with ``mouseact.metrics``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mouseact import atomic
from mouseact.errors import MouseActError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE = REPO / "samples" / "bsoid_sequence"

HONESTY = (
    "Note: the default classifier was trained on B-SOiD clips of both mice, including the clips this\n"
    "sample is made of, so this F1 is in-sample: it shows the pipeline runs end to end, not how well it\n"
    "generalises. The leave-one-mouse-out figure (train on one mouse, test on the other) is in\n"
    "docs/benchmarks.md."
)


def find_project(sample: Path) -> Path:
    from mouseact import sly_io

    if sly_io.is_project(sample):
        return sample
    found = sorted(p.parent for p in sample.glob("*/meta.json"))
    if not found:
        raise MouseActError("no Supervisely project (meta.json) in the demo sample", sample)
    return found[0]


def run_demo(out: str | Path = "mouseact-demo", sample: str | Path | None = None, quiet: bool = False,
             model_dir: str | Path | None = None) -> int:
    from mouseact import export, metrics, sly_io
    from mouseact.inference.batch import run_batch, summary_table
    from mouseact.inference.pipeline import Predictor
    from mouseact.intervals import to_frame_labels

    t0 = time.perf_counter()
    sample = Path(sample) if sample else DEFAULT_SAMPLE
    if not sample.is_dir():
        raise MouseActError("demo sample not found", sample)
    project = find_project(sample)
    records = sly_io.read_project(project)
    print(f"[demo] sample: {project} ({len(records)} video(s), "
          f"{sum(r.n_frames for r in records)} frames)", file=sys.stderr)
    print("[demo] loading the default model bundle ...", file=sys.stderr)
    predictor = Predictor(model_dir, progress_bars=False if quiet else None)
    out = Path(out).resolve()
    # a fresh run every time (no resume), replacing the previous demo output only on success
    with atomic.directory(out, overwrite=True) as tmp:
        report = run_batch(predictor, project, tmp, resume=False)
        if report.failed:
            raise MouseActError(f"demo failed: {report.failed[0][1]}")
    classes = predictor.classes
    preds = export.read_predictions(out)
    print()
    print(summary_table(out, classes))
    print()
    total_f1 = []
    for rec in records:
        stem = export.video_stem(rec.name)
        if stem not in preds:
            continue
        gt = to_frame_labels([iv for iv in rec.intervals if iv.label in classes], rec.n_frames, classes)
        pred = to_frame_labels(preds[stem].intervals, rec.n_frames, classes)
        scores = metrics.frame_scores(gt, pred, classes)
        macro = scores["macro"]
        total_f1.append(macro["f1"])
        print(f"frame scores vs known labels ({rec.name}, {rec.n_frames} frames):")
        print(f"  macro F1 {macro['f1']:.3f}  precision {macro['precision']:.3f}  recall {macro['recall']:.3f}")
        for c, row in scores["per_class"].items():
            if row.get("support"):
                print(f"    {c:<12} F1 {row['f1']:.3f}  (support {int(row['support'])} frames)")
    print()
    print(HONESTY)
    print()
    print(f"outputs: {out}")
    print("  predictions/  project/ (Supervisely)  ethograms/  summary.csv  boris_events.csv")
    # the same scores and more (segments at tIoU 0.3/0.5/0.7, mAP, confusion matrix, HTML report)
    print(f"full evaluation: mouseact evaluate --pred {out} --gt {project} --out {out / 'evaluation'}")
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0
