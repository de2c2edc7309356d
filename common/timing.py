"""Milliseconds per named stage, as ultralytics' predictor reports preprocess/inference/postprocess."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from typing import Iterator


class StageTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0
            self.calls[name] += 1

    def add(self, name: str, seconds: float, calls: int = 1) -> None:
        """Time measured elsewhere (e.g. in a worker process) under ``name``."""
        self.seconds[name] += float(seconds)
        self.calls[name] += int(calls)

    def report(self, n_frames: int | None = None) -> dict[str, dict[str, float]]:
        out = {}
        for name, s in self.seconds.items():
            row = {"total_s": round(s, 3)}
            if n_frames:
                row["ms_per_frame"] = round(1000 * s / n_frames, 3)
            out[name] = row
        return out

    def line(self, n_frames: int) -> str:
        parts = [f"{name} {1000 * s / max(n_frames, 1):.2f}" for name, s in self.seconds.items()]
        return "ms/frame: " + ", ".join(parts)
