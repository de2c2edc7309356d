"""``preprocess(project, out, config)``: a labelled video project → the "Training Data" project.

Output (``<out>/``):

* ``Training Data/`` — Supervisely video project: one dataset per behaviour and one for idle
  clips (train + val clips; a clip's class is its dataset), a ``test`` dataset of the whole
  test videos with all their annotations, and ``splits.json`` (every item's split, label and
  source range, plus the seed and the video/group → split table);
* ``report.json`` / ``report.md`` / ``report.csv`` — clips, frames and seconds per class and split;
* ``.work/`` — the manifest and finished clips; keep it to resume or add videos later.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from mouseact import atomic
from mouseact.errors import AnnotationError, MouseActError
from mouseact.intervals import Interval
from mouseact.preprocess.clips.config import PreprocessConfig
from mouseact.preprocess.clips.manifest import Manifest, fingerprint
from mouseact.preprocess.clips.plan import idle_clips, positive_clips, stable_seed
from mouseact.preprocess.clips.split import assign_splits, group_of, load_group_map

PROJECT_NAME = "Training Data"
TEST_DATASET = "test"
WORK = ".work"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def video_id(key: str) -> str:
    """``dataset/name.mp4`` → ``dataset__name``: unique, file-name safe, stable across runs."""
    return "__".join(_safe(p) for p in str(Path(key).with_suffix("")).split("/"))


def clip_id(vid: str, label: str, start: int, end: int) -> str:
    return f"{vid}__{_safe(label)}__{start:06d}-{end:06d}"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _record_fingerprint(rec) -> str:
    size = Path(rec.video_path).stat().st_size
    boxes = None
    if rec.boxes is not None:  # edited boxes in the project must re-cut that video's clips
        boxes = hashlib.sha256(np.nan_to_num(np.asarray(rec.boxes, np.float32), nan=-1.0).tobytes()).hexdigest()
    return fingerprint([rec.n_frames, round(rec.fps, 4), size, [iv.to_json() for iv in rec.intervals], boxes])


def _classes(project_dir: Path, records, config: PreprocessConfig) -> list[str]:
    from mouseact import sly_io

    if config.classes:
        classes = list(config.classes)
    else:
        seen = {iv.label for r in records for iv in r.intervals}
        classes = [c for c in sly_io.project_classes(project_dir) if c in seen]
    datasets = [_safe(c) for c in classes]
    if len(set(datasets)) != len(datasets):
        raise AnnotationError(f"behaviours {classes} give clashing dataset names {datasets}; rename the tags",
                              project_dir)
    for c in classes:
        if _safe(c) in (_safe(config.idle_label), TEST_DATASET):
            raise AnnotationError(f"behaviour {c!r} has the name of a reserved dataset "
                                  f"({config.idle_label!r}, {TEST_DATASET!r}); rename the tag or set idle_label",
                                  project_dir)
    return classes


def _check_detector(config: PreprocessConfig, needed: bool):
    """Check the detector options in preprocess's own option names before anything is planned or
    written; load a learned (yolo/rtdetr) model now when a video needs boxes (its directory is
    checked, and it is loaded once for all videos). Returns that detector, else None."""
    if config.detector in ("yolo", "rtdetr") and config.detector_model is None:
        raise MouseActError(f"--detector {config.detector} needs --detector-model DIR (a model made by "
                            "`mouseact train detector`), or use --detector classical")
    if config.detector in ("none", "classical") and config.detector_model is not None:
        raise MouseActError(f"--detector-model is for --detector yolo or rtdetr, not {config.detector}",
                            config.detector_model)
    if not needed or config.detector in ("none", "classical"):
        return None  # the classical detector costs nothing to build: one per video in _track
    try:
        from mouseact.preprocess.detection import make_detector
    except ImportError as exc:
        raise MouseActError(f"the mouse detector is not available ({exc}); run with --detector none "
                            "(clips without boxes) or import boxes with the project") from None
    return make_detector(config.detector, model_path=config.detector_model)


def _track(rec, vid: str, config: PreprocessConfig, work: Path, progress: bool = True,
           detector=None) -> np.ndarray | None:
    """Mouse boxes of a video: the project's, else the detector's (cached in .work/tracks)."""
    if rec.boxes is not None:
        return np.asarray(rec.boxes, dtype=np.float32)
    if config.detector == "none":
        return None
    cache = work / "tracks" / f"{vid}.npy"
    if cache.is_file():
        boxes = np.load(cache)
        if boxes.shape == (rec.n_frames, 4):
            return boxes
    try:
        from mouseact.preprocess.detection import detect_video, make_detector
    except ImportError as exc:
        raise MouseActError(f"the mouse detector is not available ({exc}); run with --detector none "
                            "(clips without boxes) or import boxes with the project", rec.video_path) from None

    if detector is None:
        detector = make_detector(config.detector, model_path=config.detector_model)
    _say(f"detecting the mouse in {rec.key} ({config.detector})")
    track = detect_video(rec.video_path, detector=detector, progress=progress)
    boxes = np.asarray(track.boxes, dtype=np.float32)
    if len(boxes) != rec.n_frames:  # detector decodes the real frame count; align to the annotation
        fixed = np.full((rec.n_frames, 4), np.nan, dtype=np.float32)
        n = min(len(boxes), rec.n_frames)
        fixed[:n] = boxes[:n]
        boxes = fixed
    with atomic.file(cache, suffix=".npy") as tmp:
        np.save(tmp, boxes)
    return boxes


def _plan_video(rec, vid: str, split: str, config: PreprocessConfig, classes: list[str]) -> dict:
    fps = rec.fps
    entry = {"key": rec.key, "id": vid, "split": split, "fps": fps, "n_frames": rec.n_frames,
             "clips": [], "idle_shortfall_frames": 0}
    if split == "test":
        return entry
    intervals = [iv for iv in rec.intervals if iv.label in classes]
    max_frames = max(1, int(round(config.max_clip_s * fps)))
    min_frames = min(max_frames, max(1, int(round(config.min_clip_s * fps))))
    pos = positive_clips(intervals, rec.n_frames, max_frames, min_frames)
    idle, short = ([], 0)
    if config.idle_ratio > 0 and pos:
        idle, short = idle_clips(intervals, pos, rec.n_frames, ratio=config.idle_ratio,
                                 clip_frames=max(1, int(round(config.idle_clip_s * fps))),
                                 min_frames=min_frames, margin=int(round(config.idle_margin_s * fps)),
                                 seed=stable_seed(config.seed, "idle", rec.key), label=config.idle_label)
    entry["clips"] = [{"id": clip_id(vid, c.label, c.start, c.end), **c.to_json()} for c in pos + idle]
    entry["idle_shortfall_frames"] = int(short)
    return entry


def _clip_intervals(intervals, start: int, end: int) -> list[Interval]:
    out = []
    for iv in intervals:
        s, e = max(iv.start, start), min(iv.end, end)
        if s <= e:
            out.append(Interval(s - start, e - start, iv.label, iv.confidence))
    return out


def _cut_one(rec, reader, clip: dict, boxes, config: PreprocessConfig, clips_dir: Path, classes) -> None:
    from mouseact.preprocess.clips.cut import cut_clip, scale_boxes

    mp4 = clips_dir / f"{clip['id']}.mp4"
    n, w, h, sx, sy = cut_clip(reader, clip["start"], clip["end"], mp4, config.short_side, config.crf)
    expected = clip["end"] - clip["start"] + 1
    if n != expected:
        raise MouseActError(f"decoded {n} frames for {clip['id']}, expected {expected}", rec.video_path)
    clip_boxes = None if boxes is None else scale_boxes(boxes[clip["start"]: clip["end"] + 1], sx, sy, w, h)
    meta = {
        "name": f"{clip['id']}.mp4", "label": clip["label"], "source": rec.key,
        "source_range": [clip["start"], clip["end"]], "fps": rec.fps, "n_frames": n, "width": w, "height": h,
        "intervals": [iv.to_json() for iv in _clip_intervals(
            [iv for iv in rec.intervals if iv.label in classes], clip["start"], clip["end"])],
        "boxes": None if clip_boxes is None else
        [[None if not np.isfinite(v) else round(float(v), 2) for v in row] for row in clip_boxes],
    }
    atomic.write_json(clips_dir / f"{clip['id']}.json", meta, indent=None)


def _clip_record(clips_dir: Path, clip_id_: str):
    from mouseact.sly_io import VideoRecord

    meta = json.loads((clips_dir / f"{clip_id_}.json").read_text())
    boxes = None
    if meta["boxes"] is not None:
        boxes = np.array([[np.nan if v is None else v for v in row] for row in meta["boxes"]], np.float32)
    return VideoRecord(video_path=clips_dir / f"{clip_id_}.mp4", name=meta["name"],
                       dataset=_safe(meta["label"]), fps=meta["fps"], n_frames=meta["n_frames"],
                       width=meta["width"], height=meta["height"],
                       intervals=[Interval.from_json(x) for x in meta["intervals"]], boxes=boxes), meta


def preprocess(project_dir: str | Path, out_dir: str | Path, config: PreprocessConfig | None = None,
               restart: bool = False, progress: bool = True) -> dict:
    """Cut, balance, split and write the training project; resumable. Returns the report."""
    from mouseact import sly_io
    from mouseact.progress import bar
    from mouseact.video import VideoReader

    config = config or PreprocessConfig()
    project_dir, out_dir = Path(project_dir).resolve(), Path(out_dir).resolve()
    if out_dir == project_dir or project_dir in out_dir.parents:
        raise MouseActError("--out must not be inside the input project", out_dir)
    records = sly_io.read_project(project_dir, known_labels=config.classes, out_of_range=config.out_of_range)
    if not records:
        raise AnnotationError("project has no videos", project_dir)
    classes = _classes(project_dir, records, config)
    if not any(iv.label in classes for r in records for iv in r.intervals):
        raise AnnotationError("project has no behaviour bouts (no frame-range tags): nothing to learn from",
                              project_dir)

    # every usage error before anything is written to --out (nothing left behind)
    mapping = load_group_map(config.group_map) if config.group_map else None
    group = {r.key: group_of(r.name, config.group_regex, mapping, source=r.video_path) for r in records}
    detector = _check_detector(config, needed=any(r.boxes is None for r in records))

    work = out_dir / WORK
    if restart and work.exists():
        shutil.rmtree(work)
    # the settings, not the class list: a new video may bring a new behaviour without a restart
    manifest = Manifest(work, config.plan_settings())  # refuses other settings before writing
    _remove_leftovers(out_dir)
    clips_dir = work / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)

    splits = assign_splits(group.values(), manifest.groups, config.val_fraction, config.test_fraction,
                           config.seed)
    manifest.data["groups"] = splits

    # (re)plan new or changed videos; forget the ones no longer in the project
    keys = {r.key for r in records}
    for key in [k for k in manifest.videos if k not in keys]:
        _forget(manifest, manifest.videos.pop(key), clips_dir)
    new = 0
    for rec in records:
        vid, split = video_id(rec.key), splits[group[rec.key]]
        fp = _record_fingerprint(rec)
        entry = manifest.videos.get(rec.key)
        if entry is not None and entry.get("fingerprint") == fp and entry["split"] == split:
            continue
        if entry is not None:
            _forget(manifest, entry, clips_dir)
        entry = _plan_video(rec, vid, split, config, classes)
        entry["fingerprint"], entry["group"] = fp, group[rec.key]
        manifest.videos[rec.key] = entry
        new += 1
    manifest.save()

    todo = [(rec, c) for rec in records for c in manifest.videos[rec.key]["clips"]
            if not _is_done(manifest, clips_dir, c["id"])]
    total = sum(len(manifest.videos[r.key]["clips"]) for r in records)
    _say(f"{len(records)} videos ({new} new or changed), {total} clips planned, {len(todo)} to cut")
    with bar(total=len(todo), desc="cutting clips", unit="clip", disable=not progress) as pbar:
        by_video: dict[str, list] = {}
        for rec, c in todo:
            by_video.setdefault(rec.key, []).append(c)
        for rec in records:
            if rec.key not in by_video:
                continue
            boxes = _track(rec, video_id(rec.key), config, work, progress, detector)
            with VideoReader(rec.video_path) as reader:
                for c in by_video[rec.key]:
                    _cut_one(rec, reader, c, boxes, config, clips_dir, classes)
                    manifest.done[c["id"]] = True
                    manifest.save_soon()
                    pbar.update(1)
            manifest.save()

    test_boxes = {r.key: _track(r, video_id(r.key), config, work, progress, detector)
                  for r in records if manifest.videos[r.key]["split"] == "test"}
    report = _assemble(out_dir, records, manifest, clips_dir, classes, config, test_boxes)
    return report


def _remove_leftovers(out_dir: Path) -> None:
    """Temporary files of a killed run (atomic writes name them ``.<name>.<random>…``)."""
    ours = (f".{PROJECT_NAME}.", ".report.")  # in --out only our own temp names: it may hold user files
    for folder in (out_dir, out_dir / WORK, out_dir / WORK / "clips", out_dir / WORK / "tracks"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if folder == out_dir and not p.name.startswith(ours):
                continue
            if p.name.startswith(".") and p.name != WORK:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _is_done(manifest: Manifest, clips_dir: Path, cid: str) -> bool:
    return (manifest.done.get(cid) and (clips_dir / f"{cid}.mp4").is_file()
            and (clips_dir / f"{cid}.json").is_file())


def _forget(manifest: Manifest, entry: dict, clips_dir: Path) -> None:
    for c in entry.get("clips", []):
        manifest.done.pop(c["id"], None)
        for ext in (".mp4", ".json"):
            (clips_dir / f"{c['id']}{ext}").unlink(missing_ok=True)


def _assemble(out_dir: Path, records, manifest: Manifest, clips_dir: Path, classes, config, test_boxes) -> dict:
    import dataclasses

    from mouseact import sly_io
    from mouseact.preprocess.clips.report import build_report, write_report

    items, entries = [], []
    for rec in records:
        entry = manifest.videos[rec.key]
        if entry["split"] == "test":
            name = rec.name if sum(r.name == rec.name for r in records) == 1 else f"{entry['id']}{Path(rec.name).suffix}"
            items.append(dataclasses.replace(
                rec, name=name, dataset=TEST_DATASET, boxes=test_boxes.get(rec.key),
                intervals=[iv for iv in rec.intervals if iv.label in classes]))
            entries.append({"item": f"{TEST_DATASET}/{name}", "split": "test", "label": None,
                            "source": rec.key, "source_range": [0, rec.n_frames - 1],
                            "n_frames": rec.n_frames, "fps": rec.fps,
                            "intervals": [iv.to_json() for iv in items[-1].intervals]})
            continue
        for c in entry["clips"]:
            item, meta = _clip_record(clips_dir, c["id"])
            items.append(item)
            entries.append({"item": f"{item.dataset}/{item.name}", "split": entry["split"], "label": c["label"],
                            "source": rec.key, "source_range": meta["source_range"],
                            "n_frames": item.n_frames, "fps": item.fps})
    splits_doc = {
        "seed": config.seed, "classes": classes, "idle_label": config.idle_label,
        "videos": {r.key: {"split": manifest.videos[r.key]["split"], "group": manifest.videos[r.key]["group"],
                           "idle_shortfall_frames": manifest.videos[r.key]["idle_shortfall_frames"]}
                   for r in records},
        "items": entries,
    }
    report = build_report(splits_doc, config)
    state = fingerprint([splits_doc, config.plan_settings()])
    project = out_dir / PROJECT_NAME
    if manifest.data.get("assembled") != state or not (project / "splits.json").is_file():
        sly_io.write_project(project, items, classes, name=PROJECT_NAME, overwrite=True)
        atomic.write_json(project / "splits.json", splits_doc)
        manifest.data["assembled"] = state
        manifest.save()
        _say(f"wrote {project} ({len(items)} items)")
    else:
        _say(f"{project} is up to date")
    write_report(out_dir, report)
    if report["idle_shortfall_frames"]:
        _say(f"note: {len(report['idle_shortfall_frames'])} video(s) had no room for all idle frames "
             "(idle_shortfall_frames in report.json); lower idle_margin_s/idle_clip_s or add unlabelled video")
    return report
