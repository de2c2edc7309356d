"""Per-video detection results on disk: a boxes CSV (one row per frame) and a JSON summary.

CSV columns: ``frame, time_s, x1, y1, x2, y2, score, lost`` -- empty box cells where the mouse
is lost. Readable by a person in a spreadsheet and by :func:`read_boxes_csv`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from mouseact import atomic
from mouseact.errors import AnnotationError
from mouseact.preprocess.detection.tracking import Track

CSV_COLUMNS = ["frame", "time_s", "x1", "y1", "x2", "y2", "score", "lost"]
CROP_COLUMNS = ["crop_x1", "crop_y1", "crop_x2", "crop_y2"]


def write_boxes_csv(path: str | Path, track: Track, fps: float, crop_rects: np.ndarray | None = None) -> Path:
    """One row per frame; ``crop_rects`` (N, 4) int adds the crop the models see (``mouseact.crop``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS + (CROP_COLUMNS if crop_rects is not None else []))
    for i, (b, s, lost) in enumerate(zip(track.boxes, track.scores, track.lost)):
        cells = ["" if not np.isfinite(v) else f"{v:.1f}" for v in b]
        crop = [int(v) for v in crop_rects[i]] if crop_rects is not None else []
        w.writerow([i, f"{i / fps:.3f}", *cells, f"{s:.3f}", int(bool(lost)), *crop])
    return atomic.write_text(path, buf.getvalue())


def read_boxes_csv(path: str | Path) -> Track:
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise AnnotationError(f"cannot read boxes CSV: {exc.strerror}", path) from None
    if not rows or any(c not in rows[0] for c in ("x1", "y1", "x2", "y2")):
        raise AnnotationError("not a boxes CSV (needs columns x1, y1, x2, y2)", path)

    def num(v: str) -> float:
        return float(v) if v not in ("", None) else np.nan

    boxes = np.array([[num(r[c]) for c in ("x1", "y1", "x2", "y2")] for r in rows], np.float32)
    scores = np.array([num(r.get("score", "")) for r in rows], np.float32)
    lost = np.array([str(r.get("lost", "0")).strip() in ("1", "True", "true") for r in rows], bool)
    lost |= ~np.isfinite(boxes).all(1)
    return Track(boxes, np.nan_to_num(scores), lost)


def track_summary(track: Track, info, detector: dict, raw_found: float | None = None) -> dict:
    """What a person (and the app) wants to know about one video's detection."""
    lost_runs = _runs(track.lost)
    return {
        "video": str(info.path),
        "fps": info.fps,
        "n_frames": len(track),
        "width": info.width,
        "height": info.height,
        "detector": detector,
        "found_share": round(track.found_share, 4),
        "raw_detected_share": None if raw_found is None else round(raw_found, 4),
        "lost_segments": [{"start": s, "end": e} for s, e in lost_runs[:1000]],
        "median_box_size": _median_size(track),
    }


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    from mouseact.intervals import runs

    return runs(mask)


def _median_size(track: Track) -> list[float] | None:
    ok = ~track.lost
    if not ok.any():
        return None
    b = track.boxes[ok]
    return [round(float(np.median(b[:, 2] - b[:, 0])), 1), round(float(np.median(b[:, 3] - b[:, 1])), 1)]
