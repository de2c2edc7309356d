"""Annotation importers: every format becomes ``list[mouseact.sly_io.VideoRecord]``.

    records = read_boris("session1.csv", videos="videos/")
    write_records(records, "my_project")        # a Supervisely project everything downstream reads

Readers (see docs/architecture.md, "Importers"): :func:`read_boris`, :func:`read_interval_csv`,
:func:`read_interval_xlsx`, :func:`read_deepethogram`, :func:`read_calms21`,
:func:`read_supervisely`. Intervals are in frames with inclusive ends; errors are
:class:`~mouseact.errors.AnnotationError` naming the file and row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from mouseact.errors import AnnotationError
from mouseact.preprocess.importers.boris import read_boris
from mouseact.preprocess.importers.calms21 import read_calms21
from mouseact.preprocess.importers.deepethogram import read_deepethogram
from mouseact.preprocess.importers.records import seconds_to_frames
from mouseact.preprocess.importers.supervisely import map_tag, read_supervisely
from mouseact.preprocess.importers.tables import read_interval_csv, read_interval_xlsx

FORMATS = ("supervisely", "boris", "csv", "xlsx", "deepethogram", "calms21")

__all__ = ["FORMATS", "read_boris", "read_calms21", "read_deepethogram", "read_interval_csv",
           "read_interval_xlsx", "read_supervisely", "map_tag", "seconds_to_frames", "write_records",
           "merge_records",
           "collect_classes"]


def collect_classes(records: Iterable, classes: Sequence[str] | None = None) -> list[str]:
    """``classes`` if given (checked to cover every label), else the labels seen, sorted."""
    seen = sorted({iv.label for r in records for iv in r.intervals})
    if classes is None:
        return seen
    missing = [c for c in seen if c not in classes]
    if missing:
        raise AnnotationError(f"labels {missing} are not among the classes {list(classes)}")
    return list(classes)


def merge_records(records: Iterable) -> list:
    """One record per video: annotation files for the same video (e.g. one BORIS export per
    behaviour) are combined; overlapping bouts of one behaviour become one."""
    import dataclasses

    from mouseact.intervals import merge

    out: dict[str, object] = {}
    for r in records:
        prev = out.get(r.key)
        if prev is None:
            out[r.key] = r
            continue
        if Path(prev.video_path).resolve() != Path(r.video_path).resolve():
            raise AnnotationError(f"two different videos are both named {r.name!r} in dataset "
                                  f"{r.dataset!r}", r.video_path)
        boxes = prev.boxes if prev.boxes is not None else r.boxes
        out[r.key] = dataclasses.replace(prev, intervals=merge(list(prev.intervals) + list(r.intervals)),
                                         boxes=boxes)
    return list(out.values())


def write_records(records: Sequence, out_project: str | Path, classes: Sequence[str] | None = None,
                  name: str = "MouseAct", overwrite: bool = False) -> Path:
    """Write imported records as a Supervisely video project (every video must exist)."""
    from mouseact import sly_io

    records = list(records)
    if not records:
        raise AnnotationError("nothing to write: no annotated videos", out_project)
    for r in records:
        if not Path(r.video_path).is_file():
            raise AnnotationError(f"video for {r.name!r} not found: pass --videos DIR holding it",
                                  r.video_path)
    records = merge_records(records)
    return sly_io.write_project(out_project, records, collect_classes(records, classes), name=name,
                                overwrite=overwrite)
