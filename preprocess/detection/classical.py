"""The default detector: background model + foreground mask + largest blob. No weights, CPU only.

Why it is built this way:

* It works on frames shrunk to ``work_width`` (320 px by default): a mouse is tens of pixels
  wide in a 640x480 frame, so halving the resolution costs little accuracy and makes every
  OpenCV call ~4x cheaper (detection must not be the bottleneck next to decoding).
* The background is the per-pixel **median** of frames sampled across the video
  (:meth:`ClassicalDetector.fit_background`, called by ``detect_video``) so a mouse that sits
  still for minutes is not part of it as long as it moves at some point in the recording.
* While streaming, the background keeps learning (slow lighting drift) from a ring of frames
  sampled every ``bg_sample_every`` frames, but the pixels under the current detection are
  never learnt (*selective update*): a mouse that stops keeps being found.
* A global gain (median frame / median background) is divided out first, so a lamp that
  dims or a camera that re-exposes does not turn the whole floor into foreground.
* Polarity is automatic: ``|frame - background|`` finds a dark mouse on a light floor and a
  light/agouti mouse on a dark floor alike. After ``polarity_lock_after`` confident detections
  with one sign, the detector keeps only that sign, which rejects the opposite-signed "ghost" a
  mouse leaves where the background still shows it, and light reflections of a dark mouse.
* The threshold adapts to the frame's noise (a robust sigma of the difference image), and a
  blob must cover ``min_area_frac`` of the frame: a frame with no mouse gives no box.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from mouseact.config import Config


class ClassicalConfig(Config):
    work_width: int = Field(320, ge=32, description="frames are shrunk to this width before detection (px)")
    min_threshold: float = Field(20.0, ge=1, description="smallest grey-level difference that counts as foreground")
    noise_k: float = Field(6.0, ge=0, description="threshold = max(min_threshold, noise_k x robust noise sigma)")
    min_area_frac: float = Field(0.0006, ge=0, description="smallest blob (share of the frame area) that is a mouse")
    max_area_frac: float = Field(0.5, gt=0, le=1, description="blobs larger than this share of the frame are lighting changes, not a mouse")
    open_px: int = Field(1, ge=0, description="opening radius at work resolution: removes noise and the thin tail")
    close_px: int = Field(2, ge=0, description="closing radius at work resolution: joins a mouse split by a light patch")
    polarity: str = Field("auto", pattern="^(auto|dark|light|both)$",
                          description="mouse darker or lighter than the floor; auto decides from the first detections")
    polarity_lock_after: int = Field(60, ge=0, description="detections needed before auto polarity locks (0 = never lock)")
    bg_samples: int = Field(24, ge=3, description="frames in the median background ring")
    bg_sample_every: int = Field(64, ge=1, description="frames between two background samples while streaming")
    bg_mask_pad: float = Field(0.5, ge=0, description="pad of the detection box (share of its size) kept out of background updates")
    gain_compensation: bool = Field(True, description="divide out global brightness changes before differencing")
    strong_factor: float = Field(2.5, ge=1, description="pixels beyond this x threshold count as 'strong' when ranking blobs")
    border_penalty: float = Field(0.3, ge=0, le=1, description="rank weight of blobs touching the frame border (things outside the arena)")
    merge_near: float = Field(0.3, ge=0, description="also take blobs touching the main blob's box padded by this share (split bodies)")
    merge_min_area: float = Field(0.15, ge=0, description="...if they have at least this share of the main blob's area")


class ClassicalDetector:
    """Stateful background-subtraction detector; feed it frames in order (see module docstring)."""

    kind = "classical"

    def __init__(self, config: ClassicalConfig | None = None, **cfg):
        import cv2  # noqa: F401  (fail early if OpenCV is broken)

        self.config = config or ClassicalConfig(**cfg)
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        self._size: tuple[int, int] | None = None      # (H, W) of input frames
        self._work: tuple[int, int] | None = None      # (h, w) at work resolution
        self._ring: np.ndarray | None = None           # (S, h, w) uint8 background samples
        self._ring_next = 0
        self._ring_filled = 0
        self._bg: np.ndarray | None = None             # (h, w) float32 median background
        self._bg_median = 1.0
        self._since_sample = 0
        self._last_box_work: np.ndarray | None = None  # last detection at work resolution
        self._sign_votes = [0, 0]                      # detections darker / lighter than background
        self._locked: str | None = None

    @property
    def has_background(self) -> bool:
        return self._bg is not None

    @property
    def locked_polarity(self) -> str | None:
        return self._locked

    def _setup(self, frame_shape: tuple[int, ...]) -> None:
        h0, w0 = int(frame_shape[0]), int(frame_shape[1])
        if self._size == (h0, w0):
            return
        w = min(self.config.work_width, w0)
        h = max(8, int(round(h0 * w / w0)))
        self._size, self._work = (h0, w0), (h, w)
        self._ring, self._bg = None, None
        self._ring_next = self._ring_filled = 0

    def to_work(self, frame: np.ndarray) -> np.ndarray:
        """One RGB (or grey) frame -> grey uint8 at work resolution."""
        import cv2

        h, w = self._work
        small = frame if frame.shape[:2] == (h, w) else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        return small

    def fit_background(self, frames: np.ndarray, frame_size: tuple[int, int] | None = None) -> None:
        """Learn the background from frames sampled across the video (median per pixel).

        ``frame_size`` (H, W) is the size of the frames :meth:`detect` will see, when the
        samples were decoded smaller (cheaper) than that.
        """
        frames = np.asarray(frames)
        if len(frames) == 0:
            return
        self._setup(frame_size or frames.shape[1:3])
        small = np.stack([self.to_work(f) for f in frames])
        s = self.config.bg_samples
        idx = np.linspace(0, len(small) - 1, min(s, len(small))).round().astype(int)
        self._ring = np.zeros((s,) + self._work, np.uint8)
        self._ring[: len(idx)] = small[idx]
        self._ring_filled = len(idx)
        self._ring_next = len(idx) % s
        # the median of *all* given frames is the best estimate; the ring keeps a subset for updates
        self._set_bg(np.median(small, axis=0))

    def _set_bg(self, bg: np.ndarray) -> None:
        self._bg = bg.astype(np.float32)
        # intensity bins of the background, for the per-brightness exposure correction
        self._bg_bins = np.clip(self._bg, 0, 255).astype(np.uint8) >> 3          # 32 bins
        self._bg_bins_sub = self._bg_bins[::2, ::2].ravel()
        self._bin_counts = np.bincount(self._bg_bins_sub, minlength=32).astype(np.float32)

    def _update_ring(self, small: np.ndarray, box_work: np.ndarray | None) -> None:
        sample = small.copy()
        if box_work is not None and self._bg is not None:
            # selective update: where the mouse is, keep what the background already says
            x1, y1, x2, y2 = box_work
            pw, ph = (x2 - x1) * self.config.bg_mask_pad, (y2 - y1) * self.config.bg_mask_pad
            h, w = self._work
            xa, xb = int(max(0, x1 - pw)), int(min(w, np.ceil(x2 + pw)))
            ya, yb = int(max(0, y1 - ph)), int(min(h, np.ceil(y2 + ph)))
            sample[ya:yb, xa:xb] = np.clip(self._bg[ya:yb, xa:xb], 0, 255).astype(np.uint8)
        s = self.config.bg_samples
        self._ring[self._ring_next] = sample
        self._ring_next = (self._ring_next + 1) % s
        self._ring_filled = min(s, self._ring_filled + 1)
        self._set_bg(np.median(self._ring[: self._ring_filled], axis=0))

    # -- detection -----------------------------------------------------------------------------
    def detect(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(T, 4)`` float32 xyxy in input-frame pixels (NaN rows = no mouse), scores ``(T,)``."""
        frames = np.asarray(frames)
        if frames.ndim == 3 and frames.shape[-1] not in (1, 3):  # (T, H, W) grey
            pass
        elif frames.ndim == 3:
            frames = frames[None]
        t = len(frames)
        boxes = np.full((t, 4), np.nan, np.float32)
        scores = np.zeros(t, np.float32)
        if t == 0:
            return boxes, scores
        self._setup(frames.shape[1:3])
        if self._bg is None:
            # no background learnt from the whole video: bootstrap from the frames at hand
            self.fit_background(frames)
        sy = self._size[0] / self._work[0]
        sx = self._size[1] / self._work[1]
        for i in range(t):
            small = self.to_work(frames[i])
            box, score = self._detect_one(small)
            if box is not None:
                boxes[i] = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
                scores[i] = score
            self._since_sample += 1
            if self._since_sample >= self.config.bg_sample_every:
                self._since_sample = 0
                self._update_ring(small, box)
        return boxes, scores

    def foreground(self, small: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Signed difference (frame - background), the foreground mask and the threshold used."""
        import cv2

        cfg = self.config
        diff = small.astype(np.float32) - self._bg
        if cfg.gain_compensation:
            # exposure/lighting changes are not one gain: bright and dark parts of the scene
            # shift differently (saturation, auto-exposure curves). Subtract the mean shift of
            # each background-brightness bin; the mouse is too small a part of any bin to move
            # it much, and clipping limits its pull further.
            sub = np.clip(diff[::2, ::2].ravel(), -40, 40)
            sums = np.bincount(self._bg_bins_sub, weights=sub, minlength=32)
            offset = (sums / np.maximum(self._bin_counts, 1)).astype(np.float32)
            offset[self._bin_counts < 20] = 0  # too few pixels to estimate a shift
            diff -= offset[self._bg_bins]
        sigma = 1.4826 * float(np.median(np.abs(diff[::4, ::4])))
        thr = max(cfg.min_threshold, cfg.noise_k * sigma)
        pol = self._locked or cfg.polarity
        if pol == "dark":
            mask = diff < -thr
        elif pol == "light":
            mask = diff > thr
        else:
            mask = np.abs(diff) > thr
        mask = mask.astype(np.uint8)
        if cfg.open_px:
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.open_px + 1,) * 2)
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
        if cfg.close_px:
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.close_px + 1,) * 2)
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k)
        return diff, mask, thr

    def _detect_one(self, small: np.ndarray) -> tuple[np.ndarray | None, float]:
        import cv2

        cfg = self.config
        diff, mask, thr = self.foreground(small)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return None, 0.0
        area_px = float(mask.shape[0] * mask.shape[1])
        areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
        ok = (areas >= cfg.min_area_frac * area_px) & (areas <= cfg.max_area_frac * area_px)
        if not ok.any():
            return None, 0.0
        cand = np.flatnonzero(ok)
        if len(cand) == 1:
            main = cand[0]
        else:
            # rank blobs by their *strong* pixels (|diff| well above the threshold): a mouse
            # stands out by far more than a shifted cloth edge or a shadow, which are big but
            # faint. Blobs touching the frame border are mostly things outside the arena.
            strong = (np.abs(diff) > cfg.strong_factor * thr).ravel()
            counts = np.bincount(labels.ravel(), weights=strong, minlength=n)[1:]
            x, y, w, h = (stats[1:, k] for k in range(4))
            border = (x == 0) | (y == 0) | (x + w >= mask.shape[1]) | (y + h >= mask.shape[0])
            rank = counts * np.where(border, cfg.border_penalty, 1.0)
            if self._last_box_work is not None:
                # the blob at the last position keeps the track unless another is far stronger
                lb = self._last_box_work
                lx, ly = (lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2
                here = (x <= lx) & (lx <= x + w) & (y <= ly) & (ly <= y + h)
                rank = rank * np.where(here, 2.0, 1.0)
            main = cand[np.argmax(rank[cand])]
        x, y, w, h = (float(v) for v in stats[main + 1, :4])
        box = np.array([x, y, x + w, y + h])
        # take in nearby pieces of a body split by a light patch / the threshold
        px, py = w * cfg.merge_near, h * cfg.merge_near
        members = [main]
        for j in cand:
            if j == main or areas[j] < cfg.merge_min_area * areas[main]:
                continue
            jx, jy, jw, jh = (float(v) for v in stats[j + 1, :4])
            if jx <= box[2] + px and jx + jw >= box[0] - px and jy <= box[3] + py and jy + jh >= box[1] - py:
                box = np.array([min(box[0], jx), min(box[1], jy), max(box[2], jx + jw), max(box[3], jy + jh)])
                members.append(j)
        fg_total = float(areas[cand].sum())
        comp = np.isin(labels, np.asarray(members) + 1)
        mean_diff = float(diff[comp].mean())
        # score: how much of the foreground is this one mouse x how clearly it stands out
        score = (areas[members].sum() / fg_total) * min(1.0, abs(mean_diff) / (2 * thr))
        self._vote(mean_diff)
        self._last_box_work = box
        return box, float(score)

    def _vote(self, mean_diff: float) -> None:
        cfg = self.config
        if cfg.polarity != "auto" or self._locked or not cfg.polarity_lock_after:
            return
        self._sign_votes[0 if mean_diff < 0 else 1] += 1
        total = sum(self._sign_votes)
        if total >= cfg.polarity_lock_after:
            dark, light = self._sign_votes
            if dark >= 0.95 * total:
                self._locked = "dark"
            elif light >= 0.95 * total:
                self._locked = "light"
