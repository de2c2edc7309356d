"""Labelled clips → training windows → embeddings.

A *clip* is one labelled segment of a video (one behaviour). Training samples are windows of
``window`` consecutive frames cut from each clip every ``stride`` frames (B-SOiD clips are
24–839 frames, so one clip gives 3–200 windows); a clip's prediction is the average of its
windows' probabilities. ``group`` (the animal or the video) keeps validation splits honest.

A window is a fixed number of frames, so what it covers in time depends on the frame rate: the
model stores the rate it was trained at (``frame_rate``) and every video, at training and at
inference, is sampled at about that rate first — every :func:`frame_step`-th frame. Without that a
16-frame window is 1.07 s of a 15-fps training clip but 0.53 s of a 30-fps recording: speeds and
motion per frame halve and the behaviour looks like another one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from mouseact.crop import CropPolicy, crop_boxes
from mouseact.errors import MouseActError
from mouseact.frozen import moving_span
from mouseact.progress import bar
from mouseact.video import VideoReader, list_videos


@dataclasses.dataclass
class Clip:
    video: Path
    label: str
    group: str
    start: int = 0
    end: int | None = None  # inclusive; None = last frame
    boxes: np.ndarray | None = None  # (n_frames_of_video, 4) mouse boxes, or None = whole frame
    split: str = "train"


@dataclasses.dataclass
class Windows:
    x: np.ndarray  # (N, D) embeddings
    y: np.ndarray  # (N,) class index
    clip: np.ndarray  # (N,) index into the clip list
    position: np.ndarray  # (N,) window start relative to its clip, as a share of the clip
    variant: np.ndarray | None = None  # (N,) augmentation tag ("" = plain window), None = all plain

    def variants(self) -> np.ndarray:
        if self.variant is None:
            return np.full(len(self.y), "", dtype=object)
        return np.asarray(self.variant, object)


def bsoid_clips(folder: str | Path) -> list[Clip]:
    """B-SOiD example clips: ``<folder>/<animal>/<behaviour>.mp4`` (or one animal folder), each cut
    to the frames that move (:func:`mouseact.frozen.moving_span`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MouseActError("B-SOiD clip folder not found", folder)
    animals = sorted(p for p in folder.iterdir() if p.is_dir() and list_videos(p))
    if not animals and list_videos(folder):
        animals = [folder]
    clips = []
    for a in animals:
        for v in list_videos(a):
            # a montage panel keeps showing its last picture after its example ends (up to 77 %
            # of a clip): those frames are no behaviour, so the clip stops at its last moving frame
            start, stop, _ = moving_span(v)
            clips.append(Clip(v, v.stem, a.name, start, stop - 1))
    if not clips:
        raise MouseActError("no .mp4 clips found (expected <animal>/<behaviour>.mp4)", folder)
    return clips


def project_idle_label(project_dir: str | Path) -> str | None:
    """The idle label of a ``mouseact preprocess`` project (its ``splits.json``), None for other projects."""
    import json

    split_file = Path(project_dir) / "splits.json"
    if not split_file.is_file():
        return None
    try:
        return json.loads(split_file.read_text()).get("idle_label") or None
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def project_clips(project_dir: str | Path, idle: bool = True) -> list[Clip]:
    """Clips of a Supervisely video project (e.g. the "Training Data" project of ``mouseact preprocess``):
    every behaviour interval is a clip; boxes are used when the project has them. The split comes
    from ``splits.json`` beside the project's datasets when present (else everything is train).
    With ``idle``, each idle clip that ``preprocess`` cut (untagged: no behaviour) is a clip of the
    idle label, so stage 2 learns what "no behaviour" looks like."""
    import json

    from mouseact import sly_io

    project_dir = Path(project_dir)
    records = sly_io.read_project(project_dir)
    split_of: dict[str, str] = {}
    group_of: dict[str, str] = {}
    label_of: dict[str, str] = {}
    split_file = project_dir / "splits.json"
    if split_file.is_file():  # written by `mouseact preprocess`: split and source animal/video per item
        try:
            doc = json.loads(split_file.read_text())
        except json.JSONDecodeError as exc:
            raise MouseActError(f"splits.json is not valid JSON: {exc}", split_file) from None
        videos = doc.get("videos", {})
        for it in doc.get("items", []):
            split_of[it["item"]] = it.get("split", "train")
            label_of[it["item"]] = it.get("label")
            src = it.get("source")
            group_of[it["item"]] = str(videos.get(src, {}).get("group") or src or it["item"])
    idle_label = project_idle_label(project_dir)
    clips = []
    for rec in records:
        key = f"{rec.dataset}/{rec.name}"
        split = split_of.get(key, "train")
        if split == "test" or rec.dataset == "test":
            continue  # whole test videos are for `mouseact evaluate`, not for fitting
        group = group_of.get(key, key)
        if idle and idle_label and label_of.get(key) == idle_label and not rec.intervals:
            clips.append(Clip(Path(rec.video_path), idle_label, group, 0, int(rec.n_frames) - 1, rec.boxes,
                              split if split in ("train", "val") else "train"))
        for iv in rec.intervals:
            clips.append(
                Clip(
                    Path(rec.video_path),
                    iv.label,
                    group,
                    int(iv.start),
                    int(iv.end),
                    rec.boxes,
                    split if split in ("train", "val") else "train",
                )
            )
    if not clips:
        raise MouseActError("project has no behaviour intervals to train on", project_dir)
    return clips


def clip_rects(clip: Clip, n_frames: int, width: int, height: int, policy: CropPolicy) -> np.ndarray:
    """Per-frame crop rectangles for the whole video of a clip (whole frame without boxes)."""
    if clip.boxes is None:
        return np.repeat(np.array([[0, 0, width, height]], np.int64), n_frames, 0)
    boxes = np.asarray(clip.boxes, np.float64)
    if len(boxes) != n_frames:
        raise MouseActError(f"{len(boxes)} boxes for {n_frames} frames", clip.video)
    return crop_boxes(boxes, width, height, policy)


def frame_step(video_fps: float | None, frame_rate: float | None) -> int:
    """Take every n-th frame of a ``video_fps`` video to see it at about ``frame_rate`` (the rate a
    classifier was trained at): the nearest whole step, at least 1. ``frame_rate`` None (models
    from before frame rates were recorded) or an unknown video rate: every frame."""
    if not frame_rate or not video_fps or video_fps <= 0:
        return 1
    return max(1, int(round(float(video_fps) / float(frame_rate))))


def lowest_frame_rate(clips: list[Clip]) -> float:
    """The lowest frame rate among the clips' videos (each video opened once): training samples
    every clip at that rate, so a window means the same span of time in all of them."""
    rates = {}
    for clip in clips:
        if clip.video not in rates:
            with VideoReader(clip.video) as vr:
                rates[clip.video] = float(vr.info.fps)
    return round(min(rates.values()), 3)


def window_starts(n: int, window: int, stride: int) -> list[int]:
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if n < window:
        return []
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] != n - window:
        starts.append(n - window)
    return starts


def embed_clip_windows(
    clips: list[Clip],
    classes: list[str],
    embedder,
    window: int,
    stride: int,
    policy: CropPolicy,
    cache=None,
    batch: int = 32,
    desc: str = "embedding",
    frame_rate: float | None = None,
) -> Windows:
    """Embed every window of every clip (through the cache when given). With ``frame_rate`` each
    clip is first sampled at about that rate (every :func:`frame_step`-th frame); ``window`` and
    ``stride`` count sampled frames."""
    from mouseact.classifier.cache import segment_key

    index = {c: i for i, c in enumerate(classes)}
    xs, ys, owners, pos = [], [], [], []
    with bar(total=len(clips), desc=desc, unit="clip") as progress:
        for ci, clip in enumerate(clips):
            with VideoReader(clip.video) as vr:
                info = vr.info
                step = frame_step(info.fps, frame_rate)
                end = info.n_frames - 1 if clip.end is None else min(clip.end, info.n_frames - 1)
                frame_ids = np.arange(clip.start, end + 1, step)  # the clip's frames at the model's rate
                n = len(frame_ids)
                starts = window_starts(n, window, stride)
                if not starts:
                    progress.update(1)
                    continue  # shorter than one window: reported by the caller (count of skipped clips)
                rects_all = clip_rects(clip, info.n_frames, info.width, info.height, policy)[frame_ids]
                # the step keys the cache only when it is not 1, so caches of 1-step windows stay valid
                key_config = embedder.config if step == 1 else {**embedder.config, "frame_step": step}
                keys = (
                    [
                        segment_key(
                            clip.video,
                            int(frame_ids[s]),
                            int(frame_ids[s + window - 1]),
                            rects_all[s : s + window],
                            key_config,
                        )
                        for s in starts
                    ]
                    if cache
                    else [None] * len(starts)
                )
                vecs: list[np.ndarray | None] = [cache.get(k) if cache else None for k in keys]
                todo = [j for j, v in enumerate(vecs) if v is None]
                if todo:
                    frames = vr.get_frames(frame_ids.tolist())
                    for b in range(0, len(todo), batch):
                        part = todo[b : b + batch]
                        out = embedder.embed_batch(
                            [
                                (
                                    frames[starts[j] : starts[j] + window],
                                    rects_all[starts[j] : starts[j] + window],
                                )
                                for j in part
                            ]
                        )
                        for j, v in zip(part, out):
                            vecs[j] = v
                            if cache:
                                cache.put(keys[j], v)
            xs += vecs
            ys += [index[clip.label]] * len(starts)
            owners += [ci] * len(starts)
            pos += [s / max(n - window, 1) for s in starts]
            progress.update(1)
    if not xs:
        raise MouseActError(f"no clip is at least {window} frames long: nothing to embed")
    return Windows(np.stack(xs).astype(np.float32), np.asarray(ys), np.asarray(owners), np.asarray(pos))
