"""Stage 0: find the mouse in every frame and turn the boxes into one track.

    det = make_detector("classical")                 # no weights; or "yolo"/"rtdetr" + model_path
    stream = StreamingDetector(det, stride=2, fps=30)
    stream.prime("video.mp4")                         # optional: background from the whole video
    for start, frames in reader.iter_chunks(64):
        boxes = stream.process(start, frames)         # (T, 4) float32 xyxy, NaN = no mouse
    track = stream.finalize()                         # Track(boxes, scores, lost)

or simply ``detect_video(path) -> Track``. This package imports no torch/ultralytics at
module level; the learned detectors import them when built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from mouseact.errors import ModelError
from mouseact.preprocess.detection.classical import ClassicalConfig, ClassicalDetector
from mouseact.preprocess.detection.streaming import StreamingDetector, detect_video, prime_detector
from mouseact.preprocess.detection.tracking import Track, TrackerConfig, build_track

DETECTOR_KINDS = ("classical", "yolo", "rtdetr")


class Detector(Protocol):
    kind: str

    def detect(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``frames (T,H,W,3) uint8 RGB`` -> ``boxes (T,4) float32 xyxy`` (NaN rows = none), ``scores (T,)``."""

    def reset(self) -> None:
        """Forget per-video state (background model, last position)."""


def detector_key(kind: str, model_path: str | Path | None = None) -> dict:
    """What a run's boxes depend on, the same wherever the detector runs (in the process or as a
    service, whose paths differ): its kind and, for a trained one, a key of its weights' checksums."""
    if not model_path:
        return {"kind": kind, "model_key": None}
    import hashlib
    import json

    try:
        files = json.loads((Path(model_path) / "model_card.json").read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        files = None
    key = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16] if files else str(model_path)
    return {"kind": kind, "model_key": key}


def make_detector(kind: str = "classical", model_path: str | Path | None = None, *,
                  option: str = "--detector-model", **cfg) -> Detector:
    """Build a detector: ``classical`` (default, no weights) or a trained ``yolo``/``rtdetr`` model dir.

    ``option``: the command-line option that gives ``model_path``, named by the error when it is
    missing (``--detector-model`` in localize, train localizer, classify, preprocess, infer;
    ``mouseact detect`` and ``serve detector`` call it ``--model``)."""
    if kind == "classical":
        if model_path is not None:
            raise ModelError("the classical detector takes no model file (use --detector yolo or rtdetr)", model_path)
        return ClassicalDetector(**cfg)
    if kind in ("yolo", "rtdetr"):
        if model_path is None:
            raise ModelError(f"the {kind} detector needs a trained model directory "
                             f"({option} DIR, made by `mouseact train detector`)")
        from mouseact.preprocess.detection.learned import UltralyticsDetector

        return UltralyticsDetector.load(model_path, expect_kind=kind, **cfg)
    raise ModelError(f"unknown detector kind {kind!r} (choose from {', '.join(DETECTOR_KINDS)})")


__all__ = ["DETECTOR_KINDS", "detector_key", "ClassicalConfig", "ClassicalDetector", "Detector", "StreamingDetector", "Track",
           "TrackerConfig", "build_track", "detect_video", "make_detector", "prime_detector"]
