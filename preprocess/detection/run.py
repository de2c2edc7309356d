"""``mouseact detect`` as a library call: videos/folder/project in, boxes + project + pictures out.

Output folder (written atomically: it appears complete or not at all)::

    OUT/<video stem>.boxes.csv       per frame: frame, time_s, x1, y1, x2, y2, score, lost, and the
                                     square crop the behaviour models see (crop_x1..crop_y2)
    OUT/<video stem>.track.json      summary: found share, lost segments, detector config
    OUT/<video stem>.contact.png     12 frames with their boxes, for a person to check
    OUT/<video stem>.overlay.mp4     (with overlay_seconds > 0) the first seconds with boxes
    OUT/project/                     Supervisely video project: a `mouse` rectangle per frame
                                     (behaviour tags of an input project are kept)
    OUT/detect_summary.json          one line per video + the command's settings
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from pydantic import Field

from mouseact import atomic
from mouseact.config import Config
from mouseact.errors import MouseActError
from mouseact.preprocess.detection.classical import ClassicalConfig
from mouseact.preprocess.detection.tracking import TrackerConfig


class DetectConfig(Config):
    detector: str = Field("classical", pattern="^(classical|yolo|rtdetr)$", description="detector kind")
    model: str | None = Field(None, description="trained detector directory (yolo/rtdetr)")
    stride: int = Field(2, ge=1,
        description="run the detector every N frames, interpolate between (refined where unsure)")
    chunk_size: int = Field(64, ge=1, description="frames decoded per chunk")
    background_frames: int = Field(32, ge=0,
        description="frames sampled across each video for the classical background")
    overlay_seconds: float = Field(0.0, ge=0,
        description="also write an overlay MP4 of the first N seconds (0 = none)")
    contact_tiles: int = Field(12, ge=0, description="frames in the PNG contact sheet (0 = none)")
    write_project: bool = Field(True, description="write a Supervisely project with the boxes")
    classical: ClassicalConfig = Field(default_factory=ClassicalConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    crop: dict = Field(default_factory=dict,
        description="crop policy fields (mouseact.crop.CropPolicy: window, pad_ratio, square, min_side, out_size) for the crop columns")
    learned_conf: float = Field(0.25, ge=0, le=1, description="score threshold of the learned detector")


@dataclasses.dataclass
class InputVideo:
    path: Path
    name: str           # item name in the output project
    dataset: str
    stem: str           # file stem for the per-video outputs (unique)
    intervals: list     # behaviour intervals kept from an input project


def collect_inputs(source: str | Path) -> tuple[list[InputVideo], list[str]]:
    """A video file, a folder of videos or a Supervisely video project -> inputs, behaviour classes."""
    from mouseact.video import is_video_file, list_videos

    source = Path(source)
    if not source.exists():
        raise MouseActError("input not found", source)
    if source.is_file():
        if not is_video_file(source):
            raise MouseActError("not a video file (expected one of .mp4 .avi .mov .mkv ...)", source)
        return [InputVideo(source, source.name, "videos", source.stem, [])], []
    from mouseact import sly_io

    if sly_io.is_project(source):
        records = sly_io.read_project(source)
        classes = sly_io.project_classes(source)
        used: set[str] = set()
        out = []
        for r in records:
            stem = _unique(f"{r.dataset.replace('/', '__')}__{Path(r.name).stem}", used)
            out.append(InputVideo(Path(r.video_path), r.name, r.dataset, stem, list(r.intervals)))
        if not out:
            raise MouseActError("the project has no videos", source)
        return out, classes
    videos = list_videos(source)
    if not videos:
        raise MouseActError("no video files in this folder", source)
    used = set()
    return [InputVideo(v, v.name, "videos", _unique(v.stem, used), []) for v in videos], []


def _unique(stem: str, used: set[str]) -> str:
    s, k = stem, 1
    while s in used:
        k += 1
        s = f"{stem}_{k}"
    used.add(s)
    return s


def run_detect(source: str | Path, out_dir: str | Path, config: DetectConfig | None = None,
               overwrite: bool = False, progress: bool = True) -> dict:
    """Detect the mouse in every input video and write the outputs (see module docstring)."""
    from mouseact import sly_io
    from mouseact.crop import CropPolicy, crop_boxes
    from mouseact.preprocess.detection import detect_video, make_detector
    from mouseact.preprocess.detection.boxes_io import track_summary, write_boxes_csv
    from mouseact.preprocess.detection.overlay import contact_sheet, overlay_video

    cfg = config or DetectConfig()
    out_dir = Path(out_dir)
    inputs, classes = collect_inputs(source)
    try:
        policy = CropPolicy(**cfg.crop)
    except TypeError as exc:
        raise MouseActError(f"crop policy: {exc} (fields: window, pad_ratio, square, min_side, out_size)") from None
    if out_dir.exists() and not out_dir.is_dir():
        raise MouseActError("output exists and is not a folder", out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise MouseActError("output folder is not empty (use --overwrite)", out_dir)
    if cfg.detector == "classical":
        detector = make_detector("classical", config=cfg.classical)
    else:
        detector = make_detector(cfg.detector, model_path=cfg.model, option="--model", conf=cfg.learned_conf)
    det_desc = {"kind": cfg.detector, "model": cfg.model, "stride": cfg.stride,
                "config": detector.config.model_dump() if hasattr(detector.config, "model_dump") else detector.config}
    rows, records = [], []
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()  # an empty folder the user made: atomic.directory puts the result there
    with atomic.directory(out_dir, overwrite=overwrite) as tmp:
        for item in inputs:
            track, raw, _, info = detect_video(item.path, detector=detector, stride=cfg.stride,
                                               chunk_size=cfg.chunk_size, tracker=cfg.tracker,
                                               bg_frames=cfg.background_frames, progress=progress, return_raw=True)
            raw_found = float(np.isfinite(raw).all(1).mean()) if len(raw) else 0.0
            # the square crop every behaviour model sees, by the one shared policy (mouseact.crop)
            crops = crop_boxes(track.boxes, info.width, info.height, policy) if len(track) else None
            write_boxes_csv(tmp / f"{item.stem}.boxes.csv", track, info.fps, crops)
            summary = track_summary(track, info, det_desc, raw_found)
            atomic.write_json(tmp / f"{item.stem}.track.json", summary)
            if cfg.contact_tiles:
                contact_sheet(item.path, track.boxes, tmp / f"{item.stem}.contact.png", track.lost, cfg.contact_tiles,
                              crops=crops)
            if cfg.overlay_seconds > 0:
                overlay_video(item.path, track.boxes, tmp / f"{item.stem}.overlay.mp4", track.lost,
                              n_frames=int(round(cfg.overlay_seconds * info.fps)))
            rows.append({"video": str(item.path), "outputs": item.stem, "n_frames": len(track),
                         "found_share": summary["found_share"], "raw_detected_share": summary["raw_detected_share"]})
            if cfg.write_project:
                boxes = np.where(track.lost[:, None], np.nan, track.boxes).astype(np.float32)
                n = info.n_frames
                if len(boxes) != n:  # decoded count differs from the container's: align
                    fixed = np.full((n, 4), np.nan, np.float32)
                    fixed[: min(n, len(boxes))] = boxes[:n]
                    boxes = fixed
                records.append(sly_io.VideoRecord(item.path, _sly_name(item.name), item.dataset, info.fps, n,
                                                  info.width, info.height, item.intervals, boxes))
        if cfg.write_project and records:
            sly_io.write_project(tmp / "project", records, classes, name="MouseAct detections")
        result = {"source": str(source), "config": cfg.model_dump(), "videos": rows}
        atomic.write_json(tmp / "detect_summary.json", result)
    return result


def _sly_name(name: str) -> str:
    """Supervisely accepts fewer containers than we read; keep the name, add .mp4 if needed."""
    from mouseact.sly_io import SLY_VIDEO_EXTENSIONS

    return name if Path(name).suffix.lower() in SLY_VIDEO_EXTENSIONS else name + ".mp4"


__all__ = ["DetectConfig", "collect_inputs", "run_detect"]
