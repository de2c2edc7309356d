"""Supervisely video projects → VideoRecords, with tag names mapped onto behaviour names.

Annotators write tag names their own way (``Grooming``, ``groom_face``, ``REAR 2``…). As the
seed app did, a tag belongs to a behaviour when the tag name *starts with* the behaviour name,
case-insensitively; the longest matching behaviour wins (``face_groom`` before ``face``). The
mapping is returned (and printed by the CLI) so the user sees what was merged; a tag matching
no behaviour is an error naming the annotation file, unless ``unmatched="drop"``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from mouseact.errors import AnnotationError
from mouseact.intervals import merge


def map_tag(tag: str, behaviors: Sequence[str]) -> str | None:
    low = tag.strip().lower()
    best = None
    for b in behaviors:
        if low.startswith(b.lower()) and (best is None or len(b) > len(best)):
            best = b
    return best


def read_supervisely(project_dir: str | Path, behaviors: Sequence[str] | None = None,
                     unmatched: str = "error", out_of_range: str = "error",
                     dataset: str | None = None) -> tuple[list, dict[str, str | None]]:
    """Read a project; returns ``(records, {tag name: behaviour or None})``.

    Without ``behaviors`` tag names are kept as they are. ``dataset`` renames every record's
    dataset (``None`` keeps the project's datasets).
    """
    from mouseact import sly_io

    project_dir = Path(project_dir)
    records = sly_io.read_project(project_dir, out_of_range=out_of_range)
    if not records:
        raise AnnotationError("project has no videos", project_dir)
    mapping: dict[str, str | None] = {}
    out = []
    for rec in records:
        intervals = []
        for iv in rec.intervals:
            if iv.label not in mapping:
                mapping[iv.label] = iv.label if behaviors is None else map_tag(iv.label, behaviors)
            label = mapping[iv.label]
            if label is None:
                if unmatched == "drop":
                    continue
                ann = project_dir / rec.dataset.replace("/", "/datasets/") / "ann" / f"{rec.name}.json"
                raise AnnotationError(f"tag {iv.label!r} matches none of the behaviours "
                                      f"{', '.join(behaviors)} (case-insensitive prefix)", ann)
            intervals.append(dataclasses.replace(iv, label=label))
        out.append(dataclasses.replace(rec, intervals=merge(intervals),
                                       dataset=dataset or rec.dataset))
    return out, dict(sorted(mapping.items()))
