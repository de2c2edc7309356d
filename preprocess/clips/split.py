"""Train/val/test split **by video** (or by animal/session id), seeded and stable when videos are added.

A clip-level split puts clips of one video (one animal, one session, one lighting) on both
sides and inflates validation scores; here every video — or every group of videos sharing an
animal/session id — lands in exactly one split. Groups are visited in a seeded order and each
new group fills the split furthest below its target count, so the groups assigned by an
earlier run keep their split when new videos arrive.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Iterable, Mapping

from mouseact.errors import MouseActError
from mouseact.preprocess.clips.plan import stable_seed

SPLITS = ("train", "val", "test")


def load_group_map(path: str | Path) -> dict[str, str]:
    """``{video name or stem: group}`` from JSON or a two-column CSV (``video,group``)."""
    path = Path(path)
    if not path.is_file():
        raise MouseActError("group map file not found", path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise MouseActError(f"invalid JSON: {exc}", path) from None
        if not isinstance(data, dict):
            raise MouseActError("group map JSON must be an object {video: group}", path)
        return {str(k): str(v) for k, v in data.items()}
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for i, row in enumerate(csv.reader(f), start=1):
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) < 2:
                raise MouseActError(f"row {i}: expected video,group", path)
            if i == 1 and row[0].strip().lower() in ("video", "name", "file"):
                continue
            out[row[0].strip()] = row[1].strip()
    return out


def group_of(video_name: str, regex: str | None = None, mapping: Mapping[str, str] | None = None,
             source: str | None = None) -> str:
    """The animal/session id of a video (the video itself when neither option is given)."""
    stem = Path(video_name).stem
    if mapping is not None:
        for key in (video_name, stem):
            if key in mapping:
                return mapping[key]
        raise MouseActError(f"video {video_name!r} is not in the group map", source)
    if regex:
        try:
            m = re.search(regex, video_name)
        except re.error as exc:
            raise MouseActError(f"invalid group_regex {regex!r}: {exc}") from None
        if not m:
            raise MouseActError(f"group_regex {regex!r} does not match video {video_name!r}", source)
        return m.group(1) if m.groups() else m.group(0)
    return video_name


def target_counts(n: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Whole groups per split; with ≥2 groups a non-zero test share gets at least one, with ≥3
    a non-zero val share too, and train always keeps at least one."""
    test = round(test_fraction * n)
    val = round(val_fraction * n)
    if test_fraction > 0 and n >= 2:
        test = max(test, 1)
    if val_fraction > 0 and n >= 3:
        val = max(val, 1)
    while test + val > n - 1 and (test or val):
        if val >= test and val:
            val -= 1
        else:
            test -= 1
    return {"train": n - test - val, "val": val, "test": test}


def assign_splits(groups: Iterable[str], previous: Mapping[str, str], val_fraction: float,
                  test_fraction: float, seed: int) -> dict[str, str]:
    """``{group: split}`` keeping every group already in ``previous``."""
    groups = sorted(set(groups))
    out = {g: previous[g] for g in groups if g in previous}
    new = sorted((g for g in groups if g not in out), key=lambda g: stable_seed(seed, "split", g))
    target = target_counts(len(groups), val_fraction, test_fraction)
    counts = {s: sum(1 for v in out.values() if v == s) for s in SPLITS}
    for g in new:
        # the split furthest below its target; test first, then val, on ties (the small ones)
        deficits = {s: target[s] - counts[s] for s in ("test", "val", "train")}
        best = max(deficits, key=lambda s: deficits[s])
        split = best if deficits[best] > 0 else "train"
        out[g] = split
        counts[split] += 1
    return out
