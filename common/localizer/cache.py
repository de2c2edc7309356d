"""On-disk cache of stage-1 training features (``mouseact train localizer --cache DIR``).

Training decodes every video, runs the detector and computes the per-frame features -- about a
minute per hour of video on 2 cores -- before seconds of fitting. Researchers re-train with other
settings (target recall, background labels, ``--span``, the temporal model), none of which
changes the features, so one video's (or one spliced sequence's) features and boxes are kept on
disk, keyed by everything that does change them: the videos' content, the frames taken from
them, the detector, its config and stride, boxes given by the project, the feature config and
:data:`~mouseact.localizer.features.FEATURES_VERSION`. A training run that stopped part-way
starts again at the first video not yet done. Entries are written atomically; a damaged one is
recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mouseact import __version__, atomic
from mouseact.cachedir import user_cache_dir
from mouseact.localizer.features import FEATURES_VERSION
from mouseact.video import video_hash


def default_cache_dir() -> Path:
    """~/.cache/mouseact/features (XDG_CACHE_HOME respected)."""
    return user_cache_dir("features")


def feature_key(videos: list[str | Path], **parts: Any) -> str:
    """Key of the features computed from ``videos`` (content-hashed) under ``parts`` (JSON-able:
    configs as dicts, arrays as :func:`array_digest`)."""
    payload = {"videos": [video_hash(v) for v in videos], "features_version": FEATURES_VERSION,
               "mouseact": __version__, **parts}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def cached_features(cache: "FeatureCache | None", videos: list[str | Path],
                    compute: Callable[[], tuple[np.ndarray, np.ndarray]], **parts: Any
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(features, boxes)`` from ``cache`` under :func:`feature_key` ``(videos, **parts)``; on a miss
    (or without a cache) ``compute()``, stored when there is a cache."""
    if cache is None:
        return compute()
    key = feature_key(videos, **parts)
    hit = cache.get(key)
    if hit is not None:
        return hit
    features, boxes = compute()
    cache.put(key, features, boxes)
    return features, boxes


def array_digest(a: np.ndarray | None) -> str | None:
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    return hashlib.sha256(str((a.dtype.str, a.shape)).encode() + a.tobytes()).hexdigest()


def detector_config(det) -> dict | None:
    """The detector's settings for a key, None for a detector without any.

    The classical detector's pydantic config; a trained (yolo/rtdetr) detector's settings and the
    checksums of its model files (``--detector-model DIR``): another model, or one re-trained into
    the same folder, gives other boxes and so other features. Its folder's path is left out (a
    moved or copied model keeps its cache)."""
    config = getattr(det, "config", None)
    if hasattr(config, "model_dump"):
        return config.model_dump()
    if isinstance(config, dict):
        out = {k: v for k, v in config.items() if k != "model"}
        files = (getattr(det, "card", None) or {}).get("files")
        if files is not None:
            out["model_files"] = dict(files)
        return out
    return None


class FeatureCache:
    """``get(key)`` / ``put(key, features, boxes)``; counts hits and misses for the run's summary."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        p = self._path(key)
        if p.is_file():
            try:
                with np.load(p) as z:
                    out = z["features"], z["boxes"]
                self.hits += 1
                return out
            except (OSError, ValueError, KeyError):
                p.unlink(missing_ok=True)  # damaged entry: recompute
        self.misses += 1
        return None

    def put(self, key: str, features: np.ndarray, boxes: np.ndarray) -> None:
        p = self._path(key)
        with atomic.file(p, suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, features=np.asarray(features, np.float32), boxes=np.asarray(boxes, np.float32))
        os.chmod(p, 0o644)

    def summary(self) -> str:
        return f"features: {self.hits} from the cache, {self.misses} computed ({self.root})"
