"""Cheap per-frame features for the stage-1 localizer, computed in the decoding pass.

The extractor is streaming: ``process(start, frames, boxes)`` is called once per decoded
chunk (usually 64 frames) with the detector's boxes for that chunk, and keeps the few past
frames and boxes it needs across chunk borders, so features do not depend on the chunk size.

Why these features: grooming, itching and rearing are motion *inside* the mouse's box while
the box itself barely moves; locomotion and orienting move the box. So we measure both:

* box kinematics (centre speed, acceleration, size and aspect changes), in box sides per
  second so a small far mouse and a large near one give the same numbers;
* motion energy inside a square crop around the box at three scales (64, 32, 16 px), as
  mean absolute difference between the crop of frame ``t`` and the *same rectangle* of frame
  ``t - lag`` (same rectangle: box jitter never shows up as motion), divided by the crop's
  contrast so dark and bright rigs compare;
* Farneback optical flow on a 32 px crop: mean and 90th-percentile magnitude, the global
  translation part, the residual (non-rigid) part, divergence and curl.

``lag`` is ``round(fps * motion_lag_s)`` frames (1/15 s by default) so a 30 fps and a 15 fps
video see the same time step. Work is on small grey crops only (no full-frame conversion),
which keeps the cost at a fraction of decoding.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from mouseact.config import Config
from pydantic import Field

# Bump when a feature's computation changes: training caches (mouseact.localizer.cache) key on it.
# 2: flow magnitudes by numpy (cv2.magnitude was not bit-reproducible between runs)
FEATURES_VERSION = 2
BOX_FEATURES = ["box_missing", "box_speed", "box_accel", "box_size_rate", "box_aspect_rate",
                "box_log_aspect"]
MOTION_FEATURES = ["motion_64", "motion_32", "motion_16", "motion_long_32", "changed_frac"]
FLOW_FEATURES = ["flow_mag_mean", "flow_mag_p90", "flow_translation", "flow_residual",
                 "flow_divergence", "flow_curl"]


class FeatureConfig(Config):
    fps: float = Field(30.0, description="frame rate of the video (sets the time step of all rates)")
    crop_size: int = Field(64, description="side in px of the grey crop motion energy is measured on")
    flow_size: int = Field(32, description="side in px of the crop optical flow runs on (0 = no flow)")
    pad_ratio: float = Field(0.25, description="margin around the mouse box, as a share of its side")
    min_side: int = Field(32, description="never crop smaller than this many frame pixels")
    motion_lag_s: float = Field(1 / 15, description="time step of frame differences and flow, seconds")
    long_lag_s: float = Field(4 / 15, description="time step of the slow motion-energy feature, seconds")
    changed_threshold: float = Field(0.25, description="a pixel 'changed' if |diff| > this x crop std")


def _magnitude(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sqrt(x^2 + y^2) in float32, the same bits on every run (IEEE operations, no fused steps)."""
    return np.sqrt(np.square(x) + np.square(y))


def _lag_frames(fps: float, seconds: float) -> int:
    return max(1, int(round(fps * seconds)))


class FeatureExtractor:
    """Streaming per-frame features; the same object is used in training and inference."""

    def __init__(self, config: FeatureConfig | dict | None = None):
        if config is None:
            config = FeatureConfig()
        elif isinstance(config, dict):
            config = FeatureConfig(**config)
        self.config = config
        self.lag = _lag_frames(config.fps, config.motion_lag_s)
        self.long_lag = max(self.lag + 1, _lag_frames(config.fps, config.long_lag_s))
        names = BOX_FEATURES + MOTION_FEATURES
        if config.flow_size:
            names = names + FLOW_FEATURES
        self.feature_names: list[str] = names
        self.reset()

    def reset(self) -> None:
        """Forget the past (start of a new video)."""
        self._frames: deque[np.ndarray] = deque(maxlen=self.long_lag + 1)  # past frames (refs)
        self._centres: deque[np.ndarray] = deque(maxlen=self.lag + 1)
        self._sides: deque[np.ndarray] = deque(maxlen=self.lag + 1)
        self._speeds: deque[float] = deque(maxlen=self.lag + 1)
        self._last_box: np.ndarray | None = None
        self._next = 0

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    # -- per frame ------------------------------------------------------------------------
    def _rect(self, box: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
        x1, y1, x2, y2 = box
        side = max(x2 - x1, y2 - y1) * (1 + 2 * self.config.pad_ratio)
        side = min(max(side, self.config.min_side), w, h)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        rx = int(round(min(max(cx - side / 2, 0), w - side)))
        ry = int(round(min(max(cy - side / 2, 0), h - side)))
        s = int(round(side))
        return rx, ry, min(rx + s, w), min(ry + s, h)

    @staticmethod
    def _grey(frame: np.ndarray, rect, size: int) -> np.ndarray:
        import cv2

        x1, y1, x2, y2 = rect
        # INTER_LINEAR: ~5x cheaper than INTER_AREA on odd scale factors; the motion measures
        # are pooled afterwards, which removes most of the aliasing.
        crop = cv2.resize(frame[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)

    def _frame_features(self, frame: np.ndarray, box: np.ndarray, out: np.ndarray) -> None:
        import cv2

        cfg = self.config
        h, w = frame.shape[:2]
        missing = not np.isfinite(box).all()
        if missing:
            box = self._last_box if self._last_box is not None else np.array([0, 0, w - 1, h - 1], np.float64)
        else:
            box = np.asarray(box, np.float64)
            self._last_box = box
        bw, bh = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = np.sqrt(bw * bh)
        self._centres.append((cx, cy))
        self._sides.append((bw, bh))
        (pcx, pcy), (pbw, pbh) = self._centres[0], self._sides[0]
        steps = len(self._centres) - 1
        per_s = cfg.fps / max(steps, 1)
        speed = float(np.hypot(cx - pcx, cy - pcy) / side * per_s) if steps else 0.0
        self._speeds.append(speed)
        out[0] = float(missing)
        out[1] = speed
        out[2] = abs(speed - self._speeds[0]) * per_s if steps else 0.0
        out[3] = abs(np.log(bw * bh / (pbw * pbh))) * per_s if steps else 0.0
        out[4] = abs(np.log((bw / bh) / (pbw / pbh))) * per_s if steps else 0.0
        out[5] = np.log(bw / bh)

        rect = self._rect(box, w, h)
        self._frames.append(frame)
        n_past = len(self._frames) - 1
        lag = min(self.lag, n_past)
        size = cfg.crop_size
        cur8 = self._grey(frame, rect, size)
        old8 = self._grey(self._frames[-1 - lag], rect, size) if n_past else cur8
        old_long8 = self._grey(self._frames[-1 - min(self.long_lag, n_past)], rect, size) if n_past else cur8
        cur, old = cur8.astype(np.float32), old8.astype(np.float32)
        _, std = cv2.meanStdDev(cur8)
        contrast = float(std[0, 0]) + 4.0  # + a few grey levels: a flat crop must not blow up
        # Motion energy at three scales: differences of the images pooled to 64, 32, 16 px.
        # Coarse scales keep only coherent (body-part sized) motion, fine ones also fur flicker.
        cur2, old2 = cv2.pyrDown(cur), cv2.pyrDown(old)
        cur4, old4 = cv2.pyrDown(cur2), cv2.pyrDown(old2)
        diff = cv2.absdiff(cur, old)
        out[6] = cv2.mean(diff)[0] / contrast
        out[7] = cv2.mean(cv2.absdiff(cur2, old2))[0] / contrast
        out[8] = cv2.mean(cv2.absdiff(cur4, old4))[0] / contrast
        out[9] = cv2.mean(cv2.absdiff(cur2, cv2.pyrDown(old_long8.astype(np.float32))))[0] / contrast
        out[10] = cv2.countNonZero((diff > cfg.changed_threshold * contrast).view(np.uint8)) / diff.size
        if cfg.flow_size:
            fs = cfg.flow_size
            a = cv2.resize(old8, (fs, fs), interpolation=cv2.INTER_AREA) if fs != size // 2 else old2.astype(np.uint8)
            b = cv2.resize(cur8, (fs, fs), interpolation=cv2.INTER_AREA) if fs != size // 2 else cur2.astype(np.uint8)
            # one pyramid level, small window: ~60 us on a 32 px crop; enough for a motion summary
            flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 1, 5, 1, 5, 1.1, 0)
            fx_, fy_ = flow[..., 0], flow[..., 1]
            # numpy, not cv2.magnitude: OpenCV's result differed in the last bit between runs on the
            # same input (3-5 of 1,000 frames), enough to move a trained localizer's threshold
            mag = _magnitude(fx_, fy_)
            mx, my = float(fx_.mean()), float(fy_.mean())
            resid = _magnitude(fx_ - mx, fy_ - my)
            dudx = cv2.Sobel(fx_, cv2.CV_32F, 1, 0, ksize=1)
            dvdy = cv2.Sobel(fy_, cv2.CV_32F, 0, 1, ksize=1)
            dudy = cv2.Sobel(fx_, cv2.CV_32F, 0, 1, ksize=1)
            dvdx = cv2.Sobel(fy_, cv2.CV_32F, 1, 0, ksize=1)
            # flow is in crop pixels per lag; report it as crop sides per second
            scale = cfg.fps / max(lag, 1) / fs
            flat = mag.ravel()
            k90 = int(0.9 * (flat.size - 1))
            out[11] = cv2.mean(mag)[0] * scale
            out[12] = float(np.partition(flat, k90)[k90]) * scale
            out[13] = np.hypot(mx, my) * scale
            out[14] = cv2.mean(resid)[0] * scale
            out[15] = cv2.mean(cv2.absdiff(dudx, -dvdy))[0] * scale * fs / 2
            out[16] = cv2.mean(cv2.absdiff(dvdx, dudy))[0] * scale * fs / 2

    # -- streaming ----------------------------------------------------------------------------
    def process(self, start: int, frames: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
        """Features ``(T, F)`` float32 for ``frames`` (``(T,H,W,3)`` uint8 RGB) starting at ``start``.

        Chunks must come in order without gaps (``start`` is checked) — the extractor carries
        the previous frames across chunk borders. ``boxes`` ``(T,4)`` x1,y1,x2,y2; NaN rows (or
        ``None``) mean no mouse found: the last known box is used, else the whole frame, and
        ``box_missing`` is 1.
        """
        if start != self._next:
            if start == 0:
                self.reset()
            else:
                raise ValueError(f"chunks must be consecutive: expected frame {self._next}, got {start}")
        t = len(frames)
        if boxes is None:
            boxes = np.full((t, 4), np.nan, np.float32)
        boxes = np.asarray(boxes)
        if boxes.shape != (t, 4):
            raise ValueError(f"boxes must be ({t}, 4) for {t} frames, got {boxes.shape}")
        out = np.zeros((t, self.n_features), np.float32)
        for i in range(t):
            self._frame_features(frames[i], boxes[i], out[i])
        self._next = start + t
        return out


def extract_video(path, boxes: np.ndarray | None = None, config: FeatureConfig | dict | None = None,
                  chunk_size: int = 64, progress: bool = True) -> np.ndarray:
    """Features of a whole video file (convenience for training and tests)."""
    from mouseact.progress import bar
    from mouseact.video import VideoReader

    with VideoReader(path) as vr:
        cfg = FeatureConfig(**{**(dict(config) if isinstance(config, dict) else
                                  (config.model_dump() if config else {})), "fps": vr.info.fps})
        fx = FeatureExtractor(cfg)
        n = vr.info.n_frames
        if boxes is not None and len(boxes) != n:
            raise ValueError(f"{len(boxes)} boxes for {n} frames")
        parts = []
        with bar(n, desc=f"features {path.name if hasattr(path, 'name') else path}", disable=not progress) as pb:
            for s, frames in vr.iter_chunks(chunk_size):
                parts.append(fx.process(s, frames, None if boxes is None else boxes[s:s + len(frames)]))
                pb.update(len(frames))
    return np.concatenate(parts) if parts else np.zeros((0, fx.n_features), np.float32)
