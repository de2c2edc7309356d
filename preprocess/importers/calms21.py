"""CalMS21 (``.npy`` or ``.json``) → VideoRecords.

Layout (Sun et al. 2021): ``{group: {sequence_id: {"keypoints": (T, 2 mice, 2 xy, 7),
"scores": (T, 2, 7), "annotations": (T,) int, "metadata": {"vocab": {name: id}}}}}``; the
``.npy`` is that dict pickled by ``np.save``. Each sequence becomes one record named after the
last part of its id (``task1/train/mouse001_task1_annotator1`` → ``mouse001_task1_annotator1``);
the ``other`` class is background. The box of one animal (``animal``, default 0 = resident)
is derived from its keypoints, so clips can be cropped around it.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from mouseact.errors import AnnotationError
from mouseact.intervals import runs
from mouseact.preprocess.importers.records import FRAMES, Span, build_record

DEFAULT_VOCAB = {"attack": 0, "investigation": 1, "mount": 2, "other": 3}


def load_calms21(path: Path) -> dict:
    if not path.is_file():
        raise AnnotationError("file not found", path)
    try:
        if path.suffix.lower() == ".npy":
            # CalMS21 ships a pickled dict: allow_pickle is required (only open files you trust)
            data = np.load(path, allow_pickle=True)
            data = data.item() if data.dtype == object and data.shape == () else data
        else:
            data = json.loads(path.read_text())
    except (ValueError, OSError, EOFError, json.JSONDecodeError, pickle.UnpicklingError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"cannot read CalMS21 file: {(str(exc).splitlines() or [type(exc).__name__])[0]}",
                              path) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise AnnotationError("not a CalMS21 file: expected {group: {sequence: {...}}}", path)
    return data


def keypoint_boxes(keypoints: np.ndarray, animal: int) -> np.ndarray:
    """(T, 4) x1,y1,x2,y2 around one animal's keypoints; NaN where it has none."""
    kp = np.asarray(keypoints, dtype=np.float32)[:, animal]  # (T, 2, L)
    with warnings.catch_warnings():  # all-NaN frames (animal not tracked) give NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        boxes = np.stack([np.nanmin(kp[:, 0], 1), np.nanmin(kp[:, 1], 1),
                          np.nanmax(kp[:, 0], 1), np.nanmax(kp[:, 1], 1)], axis=1)
    return boxes.astype(np.float32)


def read_calms21(path: str | Path, fps: float = 30.0, videos: str | Path | None = None,
                 behaviors: Sequence[str] | None = None, dataset: str = "calms21",
                 background: str = "other", animal: int | None = 0, out_of_range: str = "error"):
    """Read a CalMS21 file; one VideoRecord per sequence (fps 30 as recorded in CalMS21)."""
    path = Path(path)
    data = load_calms21(path)
    records = []
    seq_no = 0
    for group, sequences in data.items():
        for seq_id, seq in sequences.items():
            seq_no += 1
            where = f"sequence {seq_id!r}"
            if "annotations" not in seq:
                raise AnnotationError(f"{where} has no 'annotations' (unlabelled test split?)", path)
            ann = np.asarray(seq["annotations"]).reshape(-1)
            if ann.size and not np.issubdtype(ann.dtype, np.number):
                raise AnnotationError(f"{where}: annotations are not class ids", path)
            ann = ann.astype(np.int64)
            vocab = (seq.get("metadata") or {}).get("vocab") or DEFAULT_VOCAB
            id_to_name = {int(v): str(k) for k, v in vocab.items()}
            unknown = sorted(set(np.unique(ann).tolist()) - set(id_to_name))
            if unknown:
                raise AnnotationError(f"{where}: class ids {unknown} not in the vocabulary {vocab}", path)
            spans = []
            for cid, name in sorted(id_to_name.items()):
                if name == background:
                    continue
                spans += [Span(name, s, e, FRAMES, None) for s, e in runs(ann == cid)]
            spans.sort(key=lambda s: (s.start, s.label))
            boxes = None
            if animal is not None and "keypoints" in seq:
                kp = np.asarray(seq["keypoints"], dtype=np.float32)
                if kp.ndim != 4 or kp.shape[0] != len(ann) or kp.shape[2] != 2:
                    raise AnnotationError(f"{where}: keypoints shaped {kp.shape}, expected "
                                          f"({len(ann)}, animals, 2, landmarks)", path)
                if animal >= kp.shape[1]:
                    raise AnnotationError(f"{where}: no animal {animal} (has {kp.shape[1]})", path)
                boxes = keypoint_boxes(kp, animal)
            name = str(seq_id).replace("\\", "/").rstrip("/").split("/")[-1]
            rec = build_record(path, name, spans, dataset=dataset,
                               videos_dir=Path(videos) if videos else None, fps=fps, n_frames=len(ann),
                               behaviors=behaviors, out_of_range=out_of_range, boxes=boxes)
            if videos and rec.n_frames != len(ann):
                raise AnnotationError(f"{where}: {len(ann)} labelled frames but video {rec.video_path} "
                                      f"has {rec.n_frames}", path)
            records.append(rec)
    if not records:
        raise AnnotationError("no sequences", path)
    return records
