"""DeepEthogram label files → VideoRecords.

DeepEthogram stores one CSV per video (``<video>_labels.csv``): a frame-index column, then one
0/1 column per behaviour, the first being ``background``. ``-1`` marks frames nobody labelled
yet (treated as no behaviour). Several behaviours may be 1 on the same frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mouseact.errors import AnnotationError
from mouseact.intervals import runs
from mouseact.preprocess.importers.records import FRAMES, Span, build_record
from mouseact.preprocess.importers.tables import csv_rows


def media_name(path: Path) -> str:
    stem = path.stem
    for suffix in ("_labels", "_label"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def read_deepethogram(path: str | Path, fps: float | None = None, videos: str | Path | None = None,
                      behaviors: Sequence[str] | None = None, dataset: str = "deepethogram",
                      background: str = "background", out_of_range: str = "error"):
    """Read one DeepEthogram ``*_labels.csv``; returns a one-element list of VideoRecord."""
    path = Path(path)
    rows = [r for r in csv_rows(path) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise AnnotationError("no label rows", path)
    header = [c.strip() for c in rows[0]]
    if background not in header:
        raise AnnotationError(f"not a DeepEthogram label file: no {background!r} column "
                              f"(columns: {', '.join(header)})", path)
    first_label = header.index(background)
    names = header[first_label:]
    n_cols = len(header)
    values = np.zeros((len(rows) - 1, len(names)), dtype=np.int8)
    for i, r in enumerate(rows[1:]):
        if len(r) != n_cols:
            raise AnnotationError(f"row {i + 2}: {len(r)} cells, header has {n_cols}", path)
        for j, text in enumerate(r[first_label:]):
            t = text.strip()
            if t not in ("0", "1", "-1", "0.0", "1.0", "-1.0"):
                raise AnnotationError(f"row {i + 2}: column {names[j]!r} must be 0, 1 or -1, not {t!r}", path)
            values[i, j] = int(float(t))
    spans = []
    for j, name in enumerate(names):
        if name == background:
            continue
        for s, e in runs(values[:, j] == 1):
            spans.append(Span(name, s, e, FRAMES, s + 2))  # row of the bout's first frame
    spans.sort(key=lambda s: (s.start, s.label))
    rec = build_record(path, media_name(path), spans, dataset=dataset,
                       videos_dir=Path(videos) if videos else None, fps=fps, n_frames=len(values),
                       behaviors=behaviors, out_of_range=out_of_range)
    if videos and rec.n_frames != len(values):
        raise AnnotationError(f"{len(values)} label rows but the video {rec.video_path} has "
                              f"{rec.n_frames} frames (labels for another video?)", path)
    return [rec]
