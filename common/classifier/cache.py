"""On-disk embedding cache: re-training or re-running with the same embedder skips the video work.

Key = SHA-256 of (video content hash, segment start/end, crop rectangles, embedder config).
The video content hash (:func:`mouseact.video.video_hash`) reads the file size plus its first,
middle and last MiB, so keying an hour-long video costs milliseconds while an edited/re-encoded
file still gets a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from mouseact import atomic
from mouseact.video import video_hash

__all__ = ["EmbeddingCache", "segment_key", "video_hash"]


def segment_key(video: str | Path, start: int, end: int, rects: np.ndarray, embedder_config: dict) -> str:
    rect_digest = hashlib.sha256(np.ascontiguousarray(np.asarray(rects, np.int64)).tobytes()).hexdigest()
    payload = json.dumps(
        [video_hash(video), int(start), int(end), rect_digest, embedder_config], sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        p = self._path(key)
        if p.is_file():
            try:
                out = np.load(p)
                self.hits += 1
                return out
            except (OSError, ValueError):
                p.unlink(missing_ok=True)  # damaged entry: recompute
        self.misses += 1
        return None

    def put(self, key: str, vector: np.ndarray) -> None:
        p = self._path(key)
        with atomic.file(p, suffix=".npy") as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(vector, np.float32))
        os.chmod(p, 0o644)
