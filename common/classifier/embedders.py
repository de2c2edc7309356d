"""The embedder interface shared by every stage-2 backbone.

An embedder turns segments into fixed-length vectors: ``embed_batch(items) -> (N, D)`` where
each item is ``(frames (T, H, W, 3) uint8 RGB full frames, crop_rects (4,) or (T, 4))``.
Cropping always goes through :func:`mouseact.crop.apply_crop` (the one crop implementation).
``config`` is a plain dict saved in the model card; ``make_embedder(kind, **config)`` rebuilds
the same embedder at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from mouseact.errors import MouseActError

Item = tuple[np.ndarray, np.ndarray]
KINDS = ("fast", "appearance", "qwen", "hf")


class Embedder(Protocol):
    kind: str
    config: dict

    def embed_batch(self, items: Sequence[Item]) -> np.ndarray: ...


def pop_features_version(config: dict, current: int, kind: str) -> None:
    """Refuse a model card whose embedder computed another feature version than this code does
    (its head would silently score features it was never trained on)."""
    version = config.pop("features_version", current)
    if version != current:
        from mouseact.errors import ModelError

        raise ModelError(
            f"model was trained on {kind}-embedder features v{version}; this MouseAct computes "
            f"v{current}: retrain it (mouseact train classifier)"
        )


def window_starts(n_total: int, window: int, max_windows: int) -> list[int]:
    """Starts of half-overlapping windows covering ``n_total`` frames (last one flush with the end),
    thinned evenly to at most ``max_windows`` so a long segment costs a bounded amount."""
    starts = list(range(0, n_total - window + 1, max(1, window // 2)))
    if starts[-1] != n_total - window:
        starts.append(n_total - window)
    if len(starts) > max_windows:
        starts = [starts[j] for j in np.linspace(0, len(starts) - 1, max_windows).round().astype(int)]
    return starts


def embed_each(embedder, items: Sequence[Item]) -> np.ndarray:
    """``embed_batch`` for embedders that embed one checked segment at a time."""
    out = np.zeros((len(items), embedder.dim), np.float32)
    for i, (frames, rects) in enumerate(items):
        frames, rects = check_item(frames, rects, embedder.min_frames, i)
        out[i] = embedder.embed_segment(frames, rects)
    return out


def check_item(
    frames: np.ndarray, rects: np.ndarray, min_frames: int, index: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one item; short clips are a user error (named), not a silent zero vector."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise MouseActError(
            f"segment {index}: frames must be uint8 RGB (T, H, W, 3), got "
            f"{frames.dtype} {tuple(frames.shape)}"
        )
    if len(frames) < min_frames:
        raise MouseActError(
            f"segment {index}: {len(frames)} frames is shorter than the {min_frames} "
            "frames the embedder needs (use a longer segment or a model with fewer frames)"
        )
    rects = np.asarray(rects)
    if rects.ndim == 1:
        rects = np.repeat(rects[None], len(frames), 0)
    if rects.shape != (len(frames), 4):
        raise MouseActError(f"segment {index}: crop_rects must be (4,) or (T, 4), got {tuple(rects.shape)}")
    h, w = frames.shape[1:3]
    rects = np.round(rects).astype(np.int64)
    rects[:, [0, 2]] = np.clip(rects[:, [0, 2]], 0, w)
    rects[:, [1, 3]] = np.clip(rects[:, [1, 3]], 0, h)
    bad = (rects[:, 2] - rects[:, 0] < 2) | (rects[:, 3] - rects[:, 1] < 2)
    if bad.any():
        raise MouseActError(
            f"segment {index}: empty crop rectangle {rects[bad][0].tolist()} for a {w}x{h} frame"
        )
    return frames, rects


def whole_frame_rect(frames: np.ndarray) -> np.ndarray:
    """The crop rectangle of the full frame (when no mouse box is known)."""
    h, w = np.asarray(frames).shape[1:3]
    return np.array([0, 0, w, h], dtype=np.int64)


def uniform_indices(n_available: int, n_wanted: int) -> np.ndarray:
    return np.linspace(0, n_available - 1, n_wanted).round().astype(int)


def embedder_config_model(kind: str) -> type:
    """The pydantic config class of an embedder kind (its defaults, without building the embedder)."""
    import importlib

    modules = {"fast": ("fast", "FastEmbedderConfig"), "appearance": ("appearance", "AppearanceEmbedderConfig"),
               "qwen": ("qwen", "QwenEmbedderConfig"), "hf": ("hf", "HFEmbedderConfig")}
    if kind not in modules:
        raise MouseActError(f"unknown embedder kind {kind!r} (choose from {', '.join(KINDS)})")
    module, name = modules[kind]
    return getattr(importlib.import_module(f"mouseact.classifier.{module}"), name)


def make_embedder(kind: str, **config) -> Embedder:
    """Build an embedder by kind: ``fast`` (default, CPU), ``qwen`` (Qwen2/2.5-VL), ``hf`` (any HF video model)."""
    if kind == "fast":
        from mouseact.classifier.fast import FastEmbedder

        return FastEmbedder(**config)
    if kind == "appearance":
        from mouseact.classifier.appearance import AppearanceEmbedder

        return AppearanceEmbedder(**config)
    if kind == "qwen":
        from mouseact.classifier.qwen import QwenEmbedder

        return QwenEmbedder(**config)
    if kind == "hf":
        from mouseact.classifier.hf import HFVideoEmbedder

        return HFVideoEmbedder(**config)
    raise MouseActError(f"unknown embedder kind {kind!r} (choose from {', '.join(KINDS)})")
