"""Score a run's predictions against ground truth.

Ground truth may be a Supervisely video project (through :mod:`mouseact.sly_io`), a BORIS export
(tabular START/STOP or aggregated; through :mod:`mouseact.preprocess.importers`), an interval CSV
(``video,behavior,start,end`` in frames, or MouseAct's own ``intervals.csv``), MouseAct's own
predictions format (another run, or ``<video>.json`` corrected by hand), or a folder of such files. Videos are matched by file stem; a video present on only one side is an
error naming it. Labels present on only one side are kept (they score 0) and listed, never dropped.

Scores (:mod:`mouseact.metrics`): frame precision/recall/F1 per class and macro (background
excluded from macro), segment P/R/F1 at each tIoU threshold, average precision and mAP, plus a
frame-level confusion matrix with background. Several videos: frame labels are concatenated;
segments are matched per video (never across videos) and AP ranks predictions of all videos.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from mouseact import atomic
from mouseact.config import Config
from mouseact.errors import AnnotationError, MouseActError
from mouseact.export import (META_SUFFIX, VideoPrediction, read_interval_list, read_prediction, read_predictions,
                             video_stem)
from mouseact.intervals import Interval, near_duplicates, to_frame_labels, to_frame_matrix
from pydantic import Field

log = logging.getLogger(__name__)

ANNOTATION_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".npy", ".json")
GT_FORMATS = ("auto", "supervisely", "boris", "csv", "xlsx", "deepethogram", "calms21", "mouseact")


class EvaluateConfig(Config):
    thresholds: list[Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]] = Field(
        [0.3, 0.5, 0.7], min_length=1, description="tIoU thresholds for segment P/R/F1 and mAP (each in (0, 1])")
    gt_format: str = Field(
        "auto", description="ground-truth format: auto, supervisely, boris, csv, xlsx, deepethogram, calms21, "
        "mouseact (a run folder or predictions/<video>.json, e.g. hand-corrected)"
    )
    units: Literal["auto", "frames", "seconds"] = Field(
        "auto", description="units of start/end in an interval CSV (auto: from the column names)"
    )
    ignore_labels: list[str] = Field(
        [],
        description="labels to leave out of scoring, in the predictions and in the ground truth, e.g. "
        "['unknown'] for open-set abstentions or a hand-scored behaviour the model was not trained for "
        "(counted in the report's notes)",
    )
    clamp_gt: bool = Field(
        True,
        description="clip ground-truth bouts that run past the video end (with a warning) instead of failing",
    )


@dataclasses.dataclass
class GroundTruth:
    intervals: dict[str, list[Interval]]  # stem -> bouts (frames of the *predicted* video)
    labels: list[str]  # label set the source declares (or uses)
    source: str  # supervisely | boris | csv
    notes: list[str]


# --------------------------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------------------------
def sniff_csv(path: Path) -> str:
    """``boris`` or ``csv`` from the first lines of a text table."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            head = [next(f, "") for _ in range(40)]
    except OSError as exc:
        raise AnnotationError(f"cannot read: {exc}", path) from None
    text = "".join(head).lower()
    if (
        text.startswith("observation id")
        or "behavior type" in text
        or ",status" in text
        or "\tstatus" in text
    ):
        return "boris"
    first = head[0].lower()
    if "video" in first and ("behavior" in first or "behaviour" in first or "label" in first):
        return "csv"
    if "background" in [c.strip() for c in first.split(",")]:
        return "deepethogram"  # per-frame 0/1 columns, the first behaviour being "background"
    raise AnnotationError(
        "not a BORIS export, DeepEthogram label file nor an interval CSV (need columns "
        "video,behavior,start,end)",
        path,
    )


def sniff_xlsx(path: Path) -> str:
    """``boris`` (an Excel export of BORIS) or ``xlsx`` (an interval table)."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
        rows = list(wb.worksheets[0].iter_rows(max_row=40, values_only=True))
    except Exception as exc:
        raise AnnotationError(f"cannot read as Excel: {str(exc).splitlines()[0][:200]}", path) from None
    text = " ".join(str(c).lower() for r in rows for c in r if c is not None)
    return "boris" if "behavior type" in text or "status" in text or "observation id" in text else "xlsx"


def sniff_json(path: Path) -> str:
    """``mouseact`` for a predictions file (a JSON list of intervals), else ``calms21`` (an
    object). Only the first non-blank character is read: CalMS21 files run to hundreds of MB."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096).lstrip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"cannot read as JSON text: {exc}", path) from None
    return "mouseact" if head.startswith("[") else "calms21"


def detect_format(path: Path) -> str:
    from mouseact import sly_io

    if path.is_dir():
        if sly_io.is_project(path):
            return "supervisely"
        if is_prediction_run(path):
            return "mouseact"
        return "folder"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return sniff_csv(path)
    if suffix == ".xlsx":
        return sniff_xlsx(path)
    if suffix == ".json":
        return sniff_json(path)
    if suffix == ".npy":
        return "calms21"
    raise AnnotationError(
        "unsupported ground truth (a Supervisely project folder; BORIS, interval or DeepEthogram "
        "CSV; .xlsx; CalMS21 .npy/.json; a MouseAct run or predictions/<video>.json)",
        path,
    )


def read_mouseact_truth(path: Path, preds: dict[str, VideoPrediction], notes: list[str]
                        ) -> dict[str, list[Interval]]:
    """Bouts in MouseAct's own predictions format as ground truth: a run folder (e.g. a copy of
    ``predictions/`` a person corrected by hand, or another run to measure agreement) or one
    ``<video>.json``, keyed by its file stem. Frame ranges are on the video's own frame axis; a
    file without its ``.meta.json`` sidecar is checked against the predicted video's length."""
    if path.is_dir():
        found = read_predictions(path)
    else:
        side = path.with_name(path.name[: -len(".json")] + META_SUFFIX)
        if side.is_file():
            found = {path.name[: -len(".json")]: read_prediction(path)}
        else:
            ivs = read_interval_list(path)
            stem = path.name[: -len(".json")]
            found = {stem: VideoPrediction(stem, stem, 0.0, 0, sorted(ivs), [], {})}
    out: dict[str, list[Interval]] = {}
    for stem, vp in found.items():
        pred = preds.get(stem)
        if pred is not None and vp.n_frames and (vp.n_frames != pred.n_frames or abs(vp.fps - pred.fps) > 1e-3 * pred.fps):
            notes.append(f"{stem}: ground truth is for {vp.n_frames} frames at {vp.fps:g} fps, the prediction for "
                         f"{pred.n_frames} at {pred.fps:g} (another cut or recording of the same name?)")
        out[stem] = list(vp.intervals)
    return out


def _annotation_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in ANNOTATION_SUFFIXES and not p.name.startswith(".")
    )


def _is_boris_folder(folder: Path) -> bool:
    files = _annotation_files(folder)
    return bool(files) and all(detect_format(f) == "boris" for f in files)


def record_keys(records) -> list[str]:
    """Video keys of annotation records: the file stem, or ``<dataset>__<stem>`` when the same
    file name is in two datasets (how the batch runner names its outputs)."""
    stems = [video_stem(rec.name) for rec in records]
    keys = []
    for rec, stem in zip(records, stems, strict=True):
        if stems.count(stem) > 1 and getattr(rec, "dataset", None):
            stem = f"{rec.dataset.replace('/', '__')}__{stem}"
        keys.append(stem)
    return keys


def _records_to_intervals(
    records, source: Path, preds: dict[str, VideoPrediction], notes: list[str], per_frame: bool = False
) -> dict[str, list[Interval]]:
    """VideoRecords (frames at the record's fps) -> bouts on the predicted video's frame axis.

    ``per_frame``: the source labels every frame of the video (CalMS21, DeepEthogram), so its
    frame indices are the video's whatever frame rate the file assumes."""
    out: dict[str, list[Interval]] = {}
    for rec, stem in zip(records, record_keys(records), strict=True):
        if stem in out:
            raise AnnotationError(f"video {stem!r} appears twice in the ground truth", source)
        ivs = list(rec.intervals)
        vp = preds.get(stem)
        if not per_frame and vp is not None and rec.fps and abs(rec.fps - vp.fps) > 1e-3 * vp.fps:
            # the annotation tool's frame rate differs (e.g. 30 vs 29.97): go through seconds
            ratio = vp.fps / rec.fps
            ivs = [
                Interval(
                    int(round(iv.start * ratio)),
                    max(int(round(iv.start * ratio)), int(round((iv.end + 1) * ratio)) - 1),
                    iv.label,
                    iv.confidence,
                )
                for iv in ivs
            ]
            notes.append(
                f"{stem}: ground truth at {rec.fps:g} fps, video at {vp.fps:g} fps; bouts converted "
                "through seconds"
            )
        if per_frame and vp is not None and rec.n_frames and rec.n_frames != vp.n_frames:
            notes.append(
                f"{stem}: ground truth labels {rec.n_frames} frames but the video has {vp.n_frames} "
                "(another cut or recording of the same name?)"
            )
        elif vp is not None and rec.n_frames and rec.fps:
            gt_s, pred_s = rec.n_frames / rec.fps, vp.n_frames / vp.fps
            if abs(gt_s - pred_s) > max(1.0, 0.01 * pred_s):
                notes.append(
                    f"{stem}: ground truth covers {gt_s:.1f} s but the video is {pred_s:.1f} s long "
                    "(another cut or recording of the same name?)"
                )
        out[stem] = ivs
    return out


def read_interval_csv_frames(path: Path) -> dict[str, list[Interval]]:
    """Minimal reader: ``video, behavior, start|start_frame, end|end_frame`` (inclusive frames)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        vc = cols.get("video")
        bc = cols.get("behavior") or cols.get("behaviour") or cols.get("label")
        sc = cols.get("start_frame") or cols.get("start")
        ec = cols.get("end_frame") or cols.get("end")
        if not all([vc, bc, sc, ec]):
            raise AnnotationError("interval CSV needs columns video, behavior, start, end (frames)", path)
        out: dict[str, list[Interval]] = {}
        for i, row in enumerate(reader, start=2):
            try:
                s, e = int(float(row[sc])), int(float(row[ec]))
                iv = Interval(s, e, row[bc].strip(), float(row.get(cols.get("confidence", ""), "") or 1.0))
            except (TypeError, ValueError) as exc:
                raise AnnotationError(f"row {i}: {exc}", path) from None
            out.setdefault(video_stem(row[vc].strip()), []).append(iv)
    return out


def _single_fps(preds: dict[str, VideoPrediction], path: Path, strict: bool = True) -> float | None:
    """The videos' one frame rate, for tables that carry none (seconds need it)."""
    rates = sorted({vp.fps for vp in preds.values()})
    if len(rates) == 1:
        return rates[0]
    if strict:
        raise MouseActError(
            f"times in seconds but the videos have different frame rates "
            f"({', '.join(f'{r:g}' for r in rates)}); give frames or a BORIS export",
            path,
        )
    return None


def _read_one_file(
    path: Path, fmt: str, preds: dict[str, VideoPrediction], notes: list[str], units: str = "auto"
) -> dict[str, list[Interval]]:
    if fmt == "mouseact":  # needs no importer
        return read_mouseact_truth(path, preds, notes)
    if fmt == "csv":
        try:
            from mouseact.preprocess.importers import read_interval_csv
        except ImportError:
            notes.append("interval CSV read by the minimal built-in reader (frames only)")
            return read_interval_csv_frames(path)
        fps = _single_fps(preds, path) if units == "seconds" else None
        return _records_to_intervals(read_interval_csv(path, fps=fps, units=units), path, preds, notes)
    try:
        from mouseact.preprocess import importers
    except ImportError:
        raise MouseActError(
            f"reading {fmt} needs mouseact.preprocess.importers, which is not installed", path
        ) from None
    if fmt == "boris":
        return _records_to_intervals(importers.read_boris(path), path, preds, notes)
    if fmt == "xlsx":
        fps = _single_fps(preds, path) if units == "seconds" else None
        records = importers.read_interval_xlsx(path, fps=fps, units=units)
        return _records_to_intervals(records, path, preds, notes)
    if fmt == "deepethogram":
        # per-frame labels: the frame axis is the video's; fps only matters for the record
        records = importers.read_deepethogram(path, fps=_single_fps(preds, path, strict=False))
        return _records_to_intervals(records, path, preds, notes, per_frame=True)
    if fmt == "calms21":
        return _records_to_intervals(importers.read_calms21(path), path, preds, notes, per_frame=True)
    raise AnnotationError(f"unknown ground-truth format {fmt!r}", path)


def load_ground_truth(
    path: str | Path, preds: dict[str, VideoPrediction], fmt: str = "auto", units: str = "auto"
) -> GroundTruth:
    path = Path(path)
    if not path.exists():
        raise MouseActError("ground truth not found", path)
    if fmt not in GT_FORMATS:
        raise MouseActError(f"unknown ground-truth format {fmt!r} (choose from {', '.join(GT_FORMATS)})")
    notes: list[str] = []
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "supervisely":
        from mouseact import sly_io

        records = sly_io.read_project(path, out_of_range="error")
        labels = sly_io.project_classes(path)
        ivs = _records_to_intervals(records, path, preds, notes)
        return GroundTruth(ivs, list(labels), "supervisely", notes)
    if fmt == "folder":
        files = _annotation_files(path)
        if not files:
            raise AnnotationError("folder has no Supervisely meta.json and no annotation files", path)
        ivs: dict[str, list[Interval]] = {}
        kinds = set()
        for f in files:
            kind = detect_format(f)
            kinds.add(kind)
            for stem, v in _read_one_file(f, kind, preds, notes, units).items():
                if stem in ivs:
                    raise AnnotationError(f"video {stem!r} annotated in more than one file", f)
                ivs[stem] = v
        labels = sorted({iv.label for v in ivs.values() for iv in v})
        return GroundTruth(ivs, labels, "+".join(sorted(kinds)), notes)
    ivs = _read_one_file(path, fmt, preds, notes, units)
    labels = sorted({iv.label for v in ivs.values() for iv in v})
    return GroundTruth(ivs, labels, fmt, notes)


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------
def confusion(gt: np.ndarray, pred: np.ndarray, n_ids: int) -> np.ndarray:
    """Frame counts ``[gt_id, pred_id]`` over ids ``0..n_ids-1`` (0 = background)."""
    return np.bincount(gt.astype(np.int64) * n_ids + pred.astype(np.int64), minlength=n_ids * n_ids).reshape(
        n_ids, n_ids
    )


def _clamp(
    ivs: list[Interval], n: int, stem: str, notes: list[str], clamp: bool, source: str
) -> list[Interval]:
    bad = [iv for iv in ivs if iv.start < 0 or iv.end > n - 1]
    if not bad:
        return ivs
    if not clamp:
        raise AnnotationError(
            f"{len(bad)} ground-truth bout(s) of {stem} outside the video's {n} frames, e.g. {bad[0]}", source
        )
    out = []
    for iv in ivs:
        s, e = max(iv.start, 0), min(iv.end, n - 1)
        if s <= e:
            out.append(Interval(s, e, iv.label, iv.confidence))
    dropped = len(ivs) - len(out)
    notes.append(f"{stem}: {len(bad)} ground-truth bout(s) ran past frame {n - 1} (the video's last): "
                 f"{len(bad) - dropped} clipped to it, {dropped} lying wholly outside the video dropped")
    return out


def is_prediction_run(path: Path) -> bool:
    return path.is_dir() and ((path / "predictions").is_dir() or any(path.glob("*.meta.json")))


def load_predictions(path: str | Path, notes: list[str]) -> tuple[dict[str, VideoPrediction], str]:
    """A MouseAct run -- or another annotator's Supervisely project / BORIS export, which carry
    the frame rate and length, so that two people's annotations can be scored against each other
    (inter-rater agreement) with the same report."""
    path = Path(path)
    if not path.exists():
        raise MouseActError("predictions not found", path)
    if is_prediction_run(path):
        return read_predictions(path), "mouseact"
    if path.is_file() and path.name.endswith(".json") and not path.name.endswith(META_SUFFIX) \
            and path.with_name(path.name[: -len(".json")] + META_SUFFIX).is_file():
        vp = read_prediction(path)  # one video of a run: predictions/<video>.json beside its sidecar
        return {vp.stem: vp}, "mouseact"
    fmt = detect_format(path)
    if fmt == "supervisely":
        from mouseact import sly_io

        records, labels = sly_io.read_project(path, out_of_range="error"), sly_io.project_classes(path)
    elif fmt == "boris":
        from mouseact.preprocess.importers import read_boris

        records = read_boris(path)
        labels = sorted({iv.label for r in records for iv in r.intervals})
    elif fmt == "folder" and _is_boris_folder(path):
        from mouseact.preprocess.importers import read_boris

        records = [r for f in _annotation_files(path) for r in read_boris(f)]
        labels = sorted({iv.label for r in records for iv in r.intervals})
        fmt = "boris"
    else:
        raise MouseActError(
            "--pred must be a MouseAct output folder (or one of its predictions/<video>.json), a Supervisely "
            "project or BORIS export(s) "
            "(an interval CSV carries no frame rate or video length)",
            path,
        )
    preds = {}
    for rec, key in zip(records, record_keys(records), strict=True):
        if not rec.fps or not rec.n_frames:
            raise AnnotationError(f"{rec.name}: frame rate or length unknown", path)
        if key in preds:
            raise AnnotationError(f"video {key!r} appears twice", path)
        preds[key] = VideoPrediction(
            rec.name, key, float(rec.fps), int(rec.n_frames), sorted(rec.intervals), list(labels), {}
        )
    notes.append(f"'predictions' are annotations ({fmt}) from {path.name}: scores measure agreement")
    return preds, fmt


def cohen_kappa(counts: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix (chance-corrected frame agreement, background included)."""
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    if n == 0:
        return math.nan
    po = np.trace(counts) / n
    pe = float(np.sum(counts.sum(0) * counts.sum(1))) / n**2
    return 1.0 if pe == 1 else float((po - pe) / (1 - pe))


def evaluate(pred_dir: str | Path, gt_path: str | Path, cfg: EvaluateConfig | None = None) -> dict[str, Any]:
    """All scores as one JSON-able dict (see :func:`write_outputs` for the files)."""
    from mouseact import metrics

    cfg = cfg or EvaluateConfig()
    thresholds = tuple(float(t) for t in cfg.thresholds)
    pred_notes: list[str] = []
    preds, pred_source = load_predictions(pred_dir, pred_notes)
    gt = load_ground_truth(gt_path, preds, cfg.gt_format, cfg.units)
    gt.notes[:0] = pred_notes
    only_pred = sorted(set(preds) - set(gt.intervals))
    only_gt = sorted(set(gt.intervals) - set(preds))
    if only_gt or not set(preds) & set(gt.intervals):
        # a scored video without predictions would drop its misses from the scores: never skipped
        parts = [f"no predictions for {', '.join(only_gt)}"] if only_gt else []
        if only_pred:
            parts.append(f"no ground truth for {', '.join(only_pred)}")
        raise MouseActError("videos do not match: " + "; ".join(parts), gt_path)
    if only_pred:  # e.g. a whole run scored against the few videos labelled by hand
        preds = {stem: vp for stem, vp in preds.items() if stem not in only_pred}
        gt.notes.append(f"{len(only_pred)} predicted video(s) have no ground truth and were not scored: "
                        f"{', '.join(only_pred)} (a video scored by hand with no behaviour at all must still be "
                        "listed in the ground truth, or its false alarms are not counted)")

    if cfg.ignore_labels:
        ignored = set(cfg.ignore_labels)
        n_drop = 0
        for vp in preds.values():
            kept = [iv for iv in vp.intervals if iv.label not in ignored]
            n_drop += len(vp.intervals) - len(kept)
            vp.intervals = kept
            vp.classes = [c for c in vp.classes if c not in ignored]
        n_gt = sum(iv.label in ignored for ivs in gt.intervals.values() for iv in ivs)
        gt.intervals = {stem: [iv for iv in ivs if iv.label not in ignored] for stem, ivs in gt.intervals.items()}
        gt.labels = [c for c in gt.labels if c not in ignored]
        gt.notes.append(
            f"labels {', '.join(sorted(ignored))} left out of scoring (ignore_labels): {n_drop} predicted and "
            f"{n_gt} ground-truth bout(s)"
        )
    # Model classes the ground truth never mentions and the model never predicted say nothing
    # either way; everything that occurs (or that the ground truth declares) is scored.
    model_classes = list(dict.fromkeys(c for vp in preds.values() for c in vp.classes))
    predicted = list(dict.fromkeys(sorted({iv.label for vp in preds.values() for iv in vp.intervals})))
    gt_labels = list(
        dict.fromkeys([*gt.labels, *sorted({iv.label for v in gt.intervals.values() for iv in v})])
    )
    ordered = [*model_classes, *predicted, *gt_labels]
    classes = [c for c in dict.fromkeys(ordered) if c in gt_labels or c in predicted]
    unknown = {
        # predicted bouts of behaviours the ground truth does not know at all
        "only_in_predictions": [c for c in predicted if c not in gt_labels],
        # behaviours annotated in the ground truth that the model cannot output
        "only_in_ground_truth": [c for c in gt_labels if c not in model_classes and c not in predicted],
    }
    notes = list(gt.notes)
    for side, labs in (
        ("predictions", unknown["only_in_predictions"]),
        ("ground truth", unknown["only_in_ground_truth"]),
    ):
        if labs:
            notes.append(f"label(s) only in the {side}: {', '.join(labs)} (scored, not dropped)")
    for same in near_duplicates([*gt_labels, *predicted, *model_classes]):
        notes.append(f"labels {', '.join(repr(c) for c in same)} differ only in case or spacing: scored as different "
                     "behaviours; rename one side if they are the same")

    gt_frames, pred_frames, gt_all, pred_all = [], [], {}, {}
    per_video = []
    from mouseact.progress import bar

    for stem in bar(total=len(preds), desc="scoring", unit="video", iterable=sorted(preds)):
        vp = preds[stem]
        g = _clamp(sorted(gt.intervals[stem]), vp.n_frames, stem, notes, cfg.clamp_gt, str(gt_path))
        gt.intervals[stem] = g
        for side, ivs in (("ground-truth", g), ("predicted", vp.intervals)):
            overlap = int((to_frame_matrix(ivs, vp.n_frames, classes).sum(1) > 1).sum())
            if overlap:
                notes.append(
                    f"{stem}: {overlap} {side} frame(s) carry two behaviours; frame-level scores keep "
                    "the later-starting bout, segment scores keep both"
                )
        gl, pl = to_frame_labels(g, vp.n_frames, classes), to_frame_labels(vp.intervals, vp.n_frames, classes)
        gt_frames.append(gl)
        pred_frames.append(pl)
        gt_all[stem] = g
        # labels the ground truth does not know still count as false alarms of their own class
        pred_all[stem] = list(vp.intervals)
        fs = metrics.frame_scores(gl, pl, classes)
        per_video.append(
            {
                "video": vp.video,
                "stem": stem,
                "fps": vp.fps,
                "n_frames": vp.n_frames,
                "gt_bouts": len(g),
                "pred_bouts": len(vp.intervals),
                "frame_accuracy": float(np.mean(gl == pl)),
                "frame_macro": fs["macro"],
                # frames the detector lost: misses there may be detection, not classification
                "lost_frames": vp.meta.get("lost_frames"),
            }
        )
    g_cat, p_cat = np.concatenate(gt_frames), np.concatenate(pred_frames)
    counts = confusion(g_cat, p_cat, len(classes) + 1)
    frame = metrics.frame_scores(g_cat, p_cat, classes)
    segment = metrics.segment_scores(gt_all, pred_all, classes, thresholds=thresholds)
    m_ap = metrics.ap_table(gt_all, pred_all, classes, thresholds)
    return {
        "pred_dir": str(pred_dir),
        "ground_truth": str(gt_path),
        "gt_format": gt.source,
        "classes": classes,
        "thresholds": list(thresholds),
        "n_videos": len(preds),
        "n_frames": int(g_cat.size),
        "frame_accuracy": float(np.mean(g_cat == p_cat)),
        "frame": frame,
        "segment": segment,
        "map": m_ap,
        "confusion": {
            "labels": ["background", *classes],
            "counts": counts.tolist(),
        },
        "frame_kappa": cohen_kappa(counts),
        "pred_format": pred_source,
        "unknown_labels": unknown,
        "notes": notes,
        "per_video": per_video,
        "_videos": {
            stem: {
                "gt": gt.intervals[stem],
                "pred": preds[stem].intervals,
                "fps": preds[stem].fps,
                "n_frames": preds[stem].n_frames,
                "video": preds[stem].video,
            }
            for stem in sorted(preds)
        },
    }


# --------------------------------------------------------------------------------------------
# flat views for tables
# --------------------------------------------------------------------------------------------
def per_class_rows(result: dict) -> tuple[list[str], list[list]]:
    """One row per class: frame P/R/F1 and frame counts, bout counts, segment P/R/F1 and AP at
    each tIoU threshold (threshold keys as :func:`mouseact.metrics.tkey` writes them)."""
    keys = [f"{float(t):g}" for t in result["thresholds"]]
    header = [
        "class",
        "frame_precision",
        "frame_recall",
        "frame_f1",
        "frames_truth",
        "frames_pred",
        "bouts_truth",
        "bouts_pred",
    ]
    for k in keys:
        header += [f"seg_precision@{k}", f"seg_recall@{k}", f"seg_f1@{k}"]
    header += [f"ap@{k}" for k in keys]
    rows = []
    for c in result["classes"]:
        f = result["frame"]["per_class"].get(c, {})
        seg = result["segment"]["per_class"].get(c, {})
        ap = result["map"]["per_class"].get(c, {})
        first = seg.get(keys[0], {}) if keys else {}
        row = [
            c,
            f.get("precision"),
            f.get("recall"),
            f.get("f1"),
            f.get("support"),
            f.get("n_pred"),
            first.get("n_gt"),
            first.get("n_pred"),
        ]
        for k in keys:
            row += [seg.get(k, {}).get("precision"), seg.get(k, {}).get("recall"), seg.get(k, {}).get("f1")]
        row += [ap.get(k) for k in keys]
        rows.append(["" if x is None else x for x in row])
    return header, rows


def macro_rows(result: dict) -> list[tuple[str, Any]]:
    fm = result["frame"]["macro"]
    out = [
        ("frame accuracy (background included)", _num(result["frame_accuracy"])),
        ("frame Cohen's kappa (background included)", _num(result.get("frame_kappa"))),
        (
            f"frame macro precision / recall / F1 ({fm.get('n_classes')} behaviours)",
            f"{_num(fm.get('precision'))} / {_num(fm.get('recall'))} / {_num(fm.get('f1'))}",
        ),
    ]
    for k, v in result["segment"]["macro"].items():
        out.append(
            (
                f"segment macro precision / recall / F1 @ tIoU {k}",
                f"{_num(v.get('precision'))} / {_num(v.get('recall'))} / {_num(v.get('f1'))}",
            )
        )
    for k, v in result["map"].get("per_threshold", {}).items():
        out.append((f"mAP @ tIoU {k}", _num(v)))
    out.append(
        (f"mAP (mean over {', '.join(result['map'].get('per_threshold', {}))})", _num(result["map"]["mAP"]))
    )
    return out


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.3f}"


def json_safe(x: Any) -> Any:
    """NaN -> None so metrics.json is strict JSON (readable by any tool, not only Python)."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def _fmt(x: Any) -> Any:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else round(x, 4)
    return x


def write_outputs(result: dict, out_dir: str | Path, report: bool = True) -> dict[str, Path]:
    from mouseact.export import _csv_text

    out_dir = Path(out_dir)
    paths = {}
    public = json_safe({k: v for k, v in result.items() if not k.startswith("_")})
    paths["metrics_json"] = atomic.write_json(out_dir / "metrics.json", public)
    header, rows = per_class_rows(result)
    paths["per_class_csv"] = atomic.write_text(
        out_dir / "per_class.csv", _csv_text(header, [[_fmt(x) for x in r] for r in rows])
    )
    from mouseact.evaluation import report as rep

    paths["confusion_png"] = rep.confusion_png(out_dir / "confusion_matrix.png", result)
    if report:
        paths["report_html"] = rep.write_report(out_dir / "report.html", result)
    atomic.remove_stale(out_dir, ["report.html"], paths.values())  # not an earlier run's report beside these
    return paths
