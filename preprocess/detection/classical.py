"""The default detector: background model + foreground mask + best blob. No weights, CPU only.

Why it is built this way:

* **Two resolutions.** The mouse is *found* on frames shrunk to ``search_width`` (160 px): a
  mouse is tens of pixels wide in a 640x480 frame, and every OpenCV call is ~16x cheaper
  there, so detection keeps up with decoding. Its box is then *measured* at ``work_width``
  (320 px) inside a small region around the blob only, which keeps the edges accurate.
* **Background = median of frames sampled across the video** (:meth:`fit_background`, which
  ``detect_video``/``StreamingDetector.prime`` call), so a mouse that sits still for a while is
  not part of it. A mouse that rests in one place for *more than half* of the recording (treated
  or sedated mice) would be: there the median is the mouse. So where the median shows a
  mouse-sized object that a high order statistic of the samples (``bg_quantile``, the floor side
  of the mouse's polarity: high for a dark mouse, low for a light one) shows as floor, that
  statistic is the background (:meth:`_resting_regions`). The polarity is ``polarity``; with
  ``auto`` it is read from the samples themselves (:func:`sample_polarity`).
* **Selective update.** While streaming the background keeps learning (slow lighting drift)
  from a ring of frames sampled every ``bg_sample_every`` frames, but the pixels under the
  current detection are never learnt: a mouse that stops keeps being found.
* **Exposure correction.** Auto-exposure and lamps shift bright and dark parts of the scene by
  different amounts; the mean shift of each background-brightness bin is subtracted first.
* **Auto polarity.** ``|frame - background|`` finds a dark mouse on a light floor and a light or
  agouti mouse on a dark floor alike. After ``polarity_lock_after`` detections of one sign the
  detector keeps only that sign, which rejects the opposite-signed "ghost" a mouse leaves where
  the background still shows it, and light reflections of a dark mouse.
* **Blob choice.** Blobs are ranked by their *strong* pixels (far above the threshold): a mouse
  stands out by much more than a shifted cloth edge or a shadow. Blobs touching the frame border
  are mostly things outside the arena and are down-weighted; the blob at the last position
  keeps the track unless another is much stronger.
* **Body box.** Inside the blob, faint parts (shadow, the mouse's reflection in a wall) and thin
  parts (the tail) are removed before the box is taken (see :meth:`_body_box`).
* The threshold adapts to the frame's noise (a robust sigma of the difference image), and a
  blob must cover ``min_area_frac`` of the frame: a frame with no mouse gives no box.
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import Field

from mouseact.config import Config


class ClassicalConfig(Config):
    search_width: int = Field(160, ge=32,
        description="width (px) of the shrunk frame the mouse is searched in")
    work_width: int = Field(320, ge=32,
        description="width (px) at which the box edges are measured (around the blob only)")
    min_threshold: float = Field(20.0, ge=1,
        description="smallest grey-level difference that counts as foreground")
    noise_k: float = Field(6.0, ge=0,
        description="threshold = max(min_threshold, noise_k x robust noise sigma)")
    min_area_frac: float = Field(0.0006, ge=0,
        description="smallest blob (share of the frame area) that is a mouse")
    max_area_frac: float = Field(0.5, gt=0, le=1,
        description="larger blobs (share of the frame) are lighting changes, not a mouse")
    open_px: int = Field(1, ge=0, description="opening radius (work px) removing noise specks")
    close_px: int = Field(2, ge=0,
        description="closing radius (work px) joining a body split by a light patch")
    polarity: str = Field("auto", pattern="^(auto|dark|light|both)$",
                          description="mouse darker or lighter than the floor; auto decides from the first detections")
    polarity_lock_after: int = Field(60, ge=0,
        description="detections of one sign (95%) before auto polarity locks; 0 = never")
    bg_samples: int = Field(24, ge=3, description="frames in the background ring (selective updates)")
    bg_quantile: float = Field(0.9, ge=0.5, le=1,
        description="per-pixel order statistic of the background samples on the floor side of the mouse "
                    "(high for a dark mouse, low for a light one), used where the median shows a resting "
                    "mouse: 0.9 = the floor wherever the mouse is absent from >= 10 % of the samples "
                    "(a mouse resting up to ~85 % of the video); 0.5 = plain median everywhere")
    bg_sample_every: int = Field(64, ge=1,
        description="frames between two background samples while streaming")
    bg_mask_pad: float = Field(0.5, ge=0,
        description="pad of the detection box (share of its size) kept out of background updates")
    exposure_correction: bool = Field(True,
        description="subtract per-brightness shifts of the whole scene before differencing")
    body_contrast: float = Field(0.4, ge=0, lt=1,
        description="keep blob pixels above this share of its 90th-percentile contrast (drops shadow, reflections); 0 = all")
    tail_trim: float = Field(0.5, ge=0, le=1,
        description="remove blob parts thinner than this share of the body's half-width (tail); 0 = keep")
    box_pad: float = Field(0.04, ge=0,
        description="pad the body box by this share of its size on each side (snout tip)")
    strong_factor: float = Field(2.5, ge=1,
        description="pixels beyond this x threshold count as 'strong' when ranking blobs")
    size_prior: float = Field(0.2, ge=0, le=1,
        description="after 30 detections, blobs smaller than this share of the median mouse area are ignored away from the last position")
    border_penalty: float = Field(0.15, ge=0, le=1,
        description="rank weight of blobs touching the frame border")


def _disc(radius: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` without np.median's overhead (same value: the middle order
    statistic, or the float mean of the two middle ones, as np.median computes it)."""
    v = np.ravel(values)
    k = v.size // 2
    if v.size % 2:
        return float(np.partition(v, k)[k])
    return float(np.mean(np.partition(v, (k - 1, k))[k - 1:k + 1]))


@functools.lru_cache(maxsize=None)
def _sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort comparators for ``n`` items (any ``n``)."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple(pairs)


def _rank_stack(stack: np.ndarray, q: float = 0.5) -> np.ndarray:
    """``np.quantile(stack, q, axis=0)`` (linear interpolation) of a uint8 image stack, float64.

    np.quantile/np.median partition along the stack axis pixel by pixel; a sorting network runs
    whole-image min/max operations instead (24 samples: 132 comparators, 0.6 vs 5.9 ms at 320x240)
    and leaves every order statistic in place, so any quantile costs the same as the median.
    """
    n = len(stack)
    if stack.dtype != np.uint8 or n < 2 or n > 96:
        return np.quantile(stack, q, axis=0)
    rows = [np.array(r, copy=True).ravel() for r in stack]
    tmp = np.empty_like(rows[0])
    for a, b in _sorting_network(n):
        np.minimum(rows[a], rows[b], out=tmp)
        np.maximum(rows[a], rows[b], out=rows[b])
        rows[a], tmp = tmp, rows[a]
    pos = q * (n - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    out = rows[lo].astype(np.float64)
    if frac > 1e-9 and hi != lo:
        out += frac * (rows[hi].astype(np.float64) - out)
    return out.reshape(stack.shape[1:])


def _median_stack(stack: np.ndarray) -> np.ndarray:
    """``np.median(stack, axis=0)`` of a uint8 image stack (same float64 values, see :func:`_rank_stack`)."""
    return _rank_stack(stack, 0.5)


def sample_polarity(samples: np.ndarray, median: np.ndarray, threshold: float = 30.0,
                    min_area_frac: float = 0.0006, max_area_frac: float = 0.05, ratio: float = 2.0
                    ) -> str | None:
    """Is the mouse darker (``"dark"``) or lighter (``"light"``) than the floor? From background samples alone.

    Where a sample differs strongly from the per-pixel median over a compact, mouse-sized blob,
    one of the two images shows the mouse there and the other the floor: a mouse passing over the
    floor (the sample shows it), or the floor seen where the mouse rests most of the time (the
    median shows it). The floor continues its surroundings, the mouse does not: the image whose
    blob differs more from a ring around the blob shows the mouse, and that difference's sign
    votes (weighted by blob area). Both cases therefore vote alike. Blobs outside the size range
    (lighting, another camera position) do not vote. ``None`` when the votes are too few (a mouse
    that never moves) or not ``ratio`` : 1 one way.
    """
    import cv2

    h, w = median.shape
    area_px = float(h * w)
    m = median.astype(np.float32)
    ring_k = _disc(max(2, int(round(0.02 * max(h, w)))))
    min_side = max(3.0, 0.5 * np.sqrt(min_area_frac * area_px))
    votes = [0.0, 0.0]  # dark, light
    for sample in samples:
        s = sample.astype(np.float32)
        d = s - m
        d -= _median(d[::3, ::3])  # global exposure shift of this sample
        strong = (np.abs(d) > threshold).astype(np.uint8)
        n, lab, st, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
        for i in range(1, n):
            area = st[i, cv2.CC_STAT_AREA]
            bw, bh = st[i, cv2.CC_STAT_WIDTH], st[i, cv2.CC_STAT_HEIGHT]
            if not (min_area_frac * area_px <= area <= max_area_frac * area_px) or area < 0.3 * bw * bh \
                    or min(bw, bh) < min_side or max(bw, bh) > 4 * min(bw, bh):
                continue  # not mouse-sized, or a thin or long edge of an object that moved
            x0, y0 = max(0, st[i, 0] - 8), max(0, st[i, 1] - 8)
            x1, y1 = min(w, st[i, 0] + bw + 8), min(h, st[i, 1] + bh + 8)
            blob = (lab[y0:y1, x0:x1] == i).astype(np.uint8)
            ring = (cv2.dilate(blob, ring_k) > 0) & (blob == 0) & (strong[y0:y1, x0:x1] == 0)
            if ring.sum() < 4:
                continue
            inside = blob > 0
            cs = float(s[y0:y1, x0:x1][inside].mean() - s[y0:y1, x0:x1][ring].mean())
            cm = float(m[y0:y1, x0:x1][inside].mean() - m[y0:y1, x0:x1][ring].mean())
            c = cs if abs(cs) > abs(cm) else cm
            if abs(c) >= threshold:  # a mouse stands out from its surroundings (a shifted shade does not)
                votes[0 if c < 0 else 1] += area
    dark, light = votes
    if dark + light < min_area_frac * area_px:
        return None
    if dark >= ratio * light:
        return "dark"
    if light >= ratio * dark:
        return "light"
    return None


def _largest(mask: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected component of a 0/1 mask (None if empty)."""
    import cv2

    n, lab, st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    return (lab == 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)


class ClassicalDetector:
    """Stateful background-subtraction detector; feed it frames in order (see module docstring)."""

    kind = "classical"

    def __init__(self, config: ClassicalConfig | None = None, **cfg):
        import cv2  # noqa: F401  (fail early if OpenCV is broken)

        self.config = config or ClassicalConfig(**cfg)
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        self._size: tuple[int, int] | None = None   # (H, W) of input frames
        self._work: tuple[int, int] = (0, 0)        # (h, w) where boxes are measured
        self._srch: tuple[int, int] = (0, 0)        # (h, w) where the mouse is searched
        self._ring: np.ndarray | None = None        # (S, h, w) uint8 background samples, work size
        self._ring_next = self._ring_filled = 0
        self._bg: np.ndarray | None = None          # (h, w) float32 background, work size
        self._bg_s: np.ndarray | None = None        # the same at search size
        self._since_sample = 0
        self._last_box_s: np.ndarray | None = None  # last detection, search pixels
        self._sign_votes = [0, 0]                   # detections darker / lighter than background
        self._areas: list[float] = []               # recent detected blob areas (search px), size prior
        self._locked: str | None = None
        self._sample_side: str | None = None        # mouse polarity the background samples show (auto)

    @property
    def has_background(self) -> bool:
        return self._bg is not None

    @property
    def locked_polarity(self) -> str | None:
        return self._locked

    def _setup(self, frame_hw: tuple[int, ...]) -> None:
        h0, w0 = int(frame_hw[0]), int(frame_hw[1])
        if self._size == (h0, w0):
            return
        ww = min(self.config.work_width, w0)
        sw = min(self.config.search_width, ww)
        self._size = (h0, w0)
        self._work = (max(8, int(round(h0 * ww / w0))), ww)
        self._srch = (max(8, int(round(h0 * sw / w0))), sw)
        self._ring = self._bg = self._bg_s = None
        self._ring_next = self._ring_filled = 0

    @staticmethod
    def _grey(img: np.ndarray, hw: tuple[int, int], fast: bool = False) -> np.ndarray:
        """RGB/grey image -> grey uint8 of size ``hw``; ``fast`` uses bilinear sampling (10x
        cheaper than area averaging on a whole frame; the search level tolerates the aliasing)."""
        import cv2

        h, w = hw
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR if fast else cv2.INTER_AREA)
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        return img

    def fit_background(self, frames: np.ndarray, frame_size: tuple[int, int] | None = None) -> None:
        """Learn the background from frames sampled across the video: the per-pixel median, except
        where the mouse rests in one place for most of the video (:meth:`_resting_regions`).

        ``frame_size`` (H, W) is the size of the frames :meth:`detect` will see, when the
        samples were decoded smaller (cheaper) than that.
        """
        frames = np.asarray(frames)
        if len(frames) == 0:
            return
        self._setup(frame_size or frames.shape[1:3])
        work = np.stack([self._grey(f, self._work) for f in frames])
        median = _median_stack(work)
        bg = median
        pol = self._locked or self.config.polarity
        sides = [pol] if pol in ("dark", "light") else ["dark", "light"] if pol == "both" else []
        if pol == "auto":
            self._sample_side = self._sample_polarity(work, median)
            sides = [self._sample_side] if self._sample_side else []
        resting = np.zeros(bg.shape, bool)
        for side in sides:
            region, floor = self._resting_regions(work, median, side)
            if region is not None:
                bg = np.where(region, floor, bg)
                resting |= region
        s = self.config.bg_samples
        idx = np.linspace(0, len(work) - 1, min(s, len(work))).round().astype(int)
        ring = work[idx]
        if resting.any():
            # the ring's median must not bring the resting mouse back at the first update: there the
            # samples are replaced by the floor (as the selective update does under a detection)
            ring = np.where(resting[None], np.clip(np.round(bg), 0, 255).astype(np.uint8)[None], ring)
        self._ring = np.zeros((s,) + self._work, np.uint8)
        self._ring[: len(idx)] = ring
        self._ring_filled = len(idx)
        self._ring_next = len(idx) % s
        # the median of *all* given frames is the best estimate; the ring keeps a subset for updates
        self._set_bg(bg)

    def _resting_regions(self, work: np.ndarray, median: np.ndarray, side: str
                         ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Where the median shows a mouse that rests there in more than half of the samples.

        On the floor side of the mouse (high values for a dark mouse), the ``bg_quantile`` order
        statistic of the samples is the floor wherever the mouse is absent from at least
        ``1 - bg_quantile`` of them. A resting place is a mouse-sized blob where that statistic and
        the median differ by more than the detection threshold *and* the median shows an object
        (the blob differs from a ring around it) that the order statistic shows as floor
        (continuing its surroundings), and is not a long strip. Lamp flicker, lighting and objects
        that moved do not pass these tests. Returns the region (grown by a few pixels for the
        mouse's soft edges) and the order-statistic image, or ``(None, None)``.
        """
        import cv2

        cfg = self.config
        q = cfg.bg_quantile if side == "dark" else 1.0 - cfg.bg_quantile
        floor = _rank_stack(work, q)
        sign = -1.0 if side == "dark" else 1.0           # sign of mouse - floor
        thr = max(cfg.min_threshold, 20.0)
        cand = (sign * (median - floor) > thr).astype(np.uint8)
        if not cand.any():
            return None, None
        cand = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, _disc(max(1, cfg.close_px)))
        h, w = median.shape
        area_px = float(h * w)
        n, lab, st, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
        grow = max(2, int(round(0.01 * max(h, w))))
        ring_k = _disc(max(2, int(round(0.02 * max(h, w)))))
        region = np.zeros((h, w), bool)
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in st[i])
            if not (cfg.min_area_frac * area_px <= area <= 0.1 * area_px) or max(bw, bh) > 4 * min(bw, bh):
                continue  # not mouse-sized, or a long strip (a lamp's edge, a shifted wall)
            m = 2 * ring_k.shape[0] + grow
            x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w, x + bw + m), min(h, y + bh + m)
            blob = (lab[y0:y1, x0:x1] == i).astype(np.uint8)
            big = cv2.dilate(blob, _disc(grow))
            ring = (cv2.dilate(big, ring_k) > 0) & (big == 0) & (cand[y0:y1, x0:x1] == 0)
            if ring.sum() < 4:
                continue
            inside = blob > 0
            med, flo = median[y0:y1, x0:x1], floor[y0:y1, x0:x1]
            c_med = sign * float(med[inside].mean() - med[ring].mean())
            c_flo = abs(float(flo[inside].mean() - flo[ring].mean()))
            if c_med > thr and c_flo < 0.5 * c_med:
                region[y0:y1, x0:x1] |= big > 0
        return (region, floor) if region.any() else (None, None)

    def _sample_polarity(self, work: np.ndarray, median: np.ndarray) -> str | None:
        """:func:`sample_polarity` at search size (cheap)."""
        import cv2

        hw = self._srch[::-1]
        small = np.stack([cv2.resize(f, hw, interpolation=cv2.INTER_AREA) for f in work])
        med = cv2.resize(median.astype(np.float32), hw, interpolation=cv2.INTER_AREA)
        return sample_polarity(small, med, max(30.0, self.config.min_threshold), self.config.min_area_frac)

    def _set_bg(self, bg: np.ndarray) -> None:
        import cv2

        self._bg = bg.astype(np.float32)
        self._bg_bins = np.clip(self._bg, 0, 255).astype(np.uint8) >> 3   # 32 brightness bins
        self._bg_s = cv2.resize(self._bg, self._srch[::-1], interpolation=cv2.INTER_AREA)
        self._bg_s_bins = np.clip(self._bg_s, 0, 255).astype(np.uint8) >> 3
        self._bin_counts = np.bincount(self._bg_s_bins.ravel(), minlength=32).astype(np.float64)

    def _learn(self, frame: np.ndarray, box_work: np.ndarray | None) -> None:
        sample = self._grey(frame, self._work).copy()
        if box_work is not None:
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
        self._set_bg(_median_stack(self._ring[: self._ring_filled]))

    # -- detection -----------------------------------------------------------------------------
    def detect(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(T, 4)`` float32 xyxy in input-frame pixels (NaN rows = no mouse), scores ``(T,)``."""
        frames = np.asarray(frames)
        if frames.ndim == 3 and frames.shape[-1] == 3:   # one frame
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
        H, W = self._size
        sx, sy = W / self._work[1], H / self._work[0]
        pad = self.config.box_pad
        for i in range(t):
            box, score = self._detect_one(frames[i])
            if box is not None:
                pw, ph = (box[2] - box[0]) * pad * sx, (box[3] - box[1]) * pad * sy
                boxes[i] = (max(0.0, box[0] * sx - pw), max(0.0, box[1] * sy - ph),
                            min(W, box[2] * sx + pw), min(H, box[3] * sy + ph))
                scores[i] = score
            self._since_sample += 1
            if self._since_sample >= self.config.bg_sample_every:
                self._since_sample = 0
                self._learn(frames[i], box)
        return boxes, scores

    def _exposure_offset(self, diff_s: np.ndarray) -> np.ndarray:
        """Shift of the scene per background-brightness bin (32 values).

        First the median shift of the whole frame (robust to the mouse), then per bin the mean
        of what is left, clipped so the mouse (a small part of any bin) cannot pull it far.
        """
        if not self.config.exposure_correction:
            return np.zeros(32, np.float32)
        overall = _median(diff_s[::3, ::3])
        rest = np.clip(diff_s - overall, -25, 25)
        sums = np.bincount(self._bg_s_bins.ravel(), weights=rest.ravel(), minlength=32)
        offset = (overall + sums / np.maximum(self._bin_counts, 1)).astype(np.float32)
        offset[self._bin_counts < 20] = overall  # too few pixels to estimate their own shift
        return offset

    def _mask(self, diff: np.ndarray, thr: float) -> np.ndarray:
        pol = self._locked or self.config.polarity
        if pol == "dark":
            return (diff < -thr).astype(np.uint8)
        if pol == "light":
            return (diff > thr).astype(np.uint8)
        return (np.abs(diff) > thr).astype(np.uint8)

    def foreground(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """At search size: corrected difference, foreground mask, threshold and exposure offsets."""
        import cv2

        small = self._grey(frame, self._srch, fast=True)
        diff = small.astype(np.float32) - self._bg_s
        offset = self._exposure_offset(diff)
        diff -= offset[self._bg_s_bins]
        sigma = 1.4826 * _median(np.abs(diff[::2, ::2]))
        thr = max(self.config.min_threshold, self.config.noise_k * sigma)
        mask = self._mask(diff, thr)
        # specks of one search pixel are noise; work-size opening/closing happens in _body_box
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _disc(1)) if self.config.open_px else mask
        return diff, mask, thr, offset

    def _detect_one(self, frame: np.ndarray) -> tuple[np.ndarray | None, float]:
        import cv2

        cfg = self.config
        diff, mask, thr, offset = self.foreground(frame)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return None, 0.0
        area_px = float(mask.shape[0] * mask.shape[1])
        areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
        x, y, w, h = (stats[1:, k] for k in range(4))
        border = (x == 0) | (y == 0) | (x + w >= mask.shape[1]) | (y + h >= mask.shape[0])
        ok = (areas >= cfg.min_area_frac * area_px) & (areas <= cfg.max_area_frac * area_px)
        if len(self._areas) >= 30 and self._last_box_s is not None:
            # size prior: once the mouse's size is known, a far smaller blob away from where the
            # mouse was (lamp flicker, a dropping) is not it; near its last place (not on the frame
            # border, where lamps flicker) it may be the mouse half hidden, so it is kept there
            lb = self._last_box_s
            gw, gh = 0.5 * (lb[2] - lb[0]), 0.5 * (lb[3] - lb[1])
            near = (x <= lb[2] + gw) & (x + w >= lb[0] - gw) & (y <= lb[3] + gh) & (y + h >= lb[1] - gh)
            small = areas < cfg.size_prior * _median(np.asarray(self._areas))
            ok &= ~small | (near & ~border)
        if not ok.any():
            return None, 0.0
        strong = (np.abs(diff) > cfg.strong_factor * thr).ravel()
        # strong pixels per blob (few pixels are strong: count only those)
        counts = np.bincount(labels.ravel()[strong], minlength=n)[1:].astype(np.float64)
        rank = (counts + 1e-3 * areas) * np.where(border, cfg.border_penalty, 1.0)
        if self._last_box_s is not None:
            lb = self._last_box_s
            lx, ly = (lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2
            here = (x <= lx) & (lx <= x + w) & (y <= ly) & (ly <= y + h)
            rank = rank * np.where(here, 2.0, 1.0)
        # a faint blob on the frame border (flickering lamp, the cage edge) is never a mouse
        ok &= ~(border & (counts == 0))
        if not ok.any():
            return None, 0.0
        rank[~ok] = -1
        main = int(np.argmax(rank))
        blob = labels == main + 1
        mean_diff = float(diff[blob].mean())
        score = float(counts[main] / max(counts[ok].sum(), 1e-6)) * min(1.0, abs(mean_diff) / (2 * thr))
        bx, by, bw, bh = (int(v) for v in stats[main + 1, :4])
        self._last_box_s = np.array([bx, by, bx + bw, by + bh], np.float64)
        self._vote(mean_diff)
        self._areas.append(float(areas[main]))
        del self._areas[:-200]
        box = self._body_box(frame, self._last_box_s, thr, offset)
        if box is None:
            return None, 0.0
        return box, score

    def _body_box(self, frame: np.ndarray, box_s: np.ndarray, thr: float, offset: np.ndarray
                  ) -> np.ndarray | None:
        """Box of the mouse body at work size, measured in a region around the search blob.

        1. The region is cut from the full frame and shrunk to work size only there.
        2. Faint parts: a mouse differs from the floor far more than its shadow or its
           reflection in a wall, so only pixels above ``body_contrast`` x the blob's
           90th-percentile contrast are kept (never below the detection threshold).
        3. Thin parts: the body's half-width is the largest distance-transform value; an
           opening with a disc of ``tail_trim`` x that radius removes everything thinner (the
           tail), and what lies within that radius of the surviving core is put back, so the
           snout and the tail base are not shaved off.
        """
        import cv2

        cfg = self.config
        H, W = self._size
        hw, ww = self._work
        k = ww / self._srch[1]                        # search px -> work px
        x1, y1, x2, y2 = box_s * k
        m = max(3.0, 0.25 * max(x2 - x1, y2 - y1))    # margin for edges the search size blurred
        xa, ya = int(max(0, np.floor(x1 - m))), int(max(0, np.floor(y1 - m)))
        xb, yb = int(min(ww, np.ceil(x2 + m))), int(min(hw, np.ceil(y2 + m)))
        fx, fy = W / ww, H / hw                       # work px -> frame px
        roi = frame[int(ya * fy): int(np.ceil(yb * fy)), int(xa * fx): int(np.ceil(xb * fx))]
        grey = self._grey(roi, (yb - ya, xb - xa)).astype(np.float32)
        bg = self._bg[ya:yb, xa:xb]
        diff = grey - bg - offset[self._bg_bins[ya:yb, xa:xb]]
        mask = self._mask(diff, thr)
        if cfg.open_px:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _disc(cfg.open_px))
        if cfg.close_px:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disc(cfg.close_px))
        blob = _largest(mask)
        if blob is None:
            return None
        body = blob
        if cfg.body_contrast > 0:
            contrast = np.abs(diff)
            level = max(thr, cfg.body_contrast * float(np.percentile(contrast[blob > 0], 90)))
            body = (contrast > level).astype(np.uint8) & blob
            if cfg.close_px:
                body = cv2.morphologyEx(body, cv2.MORPH_CLOSE, _disc(cfg.close_px)) & blob
            body = _largest(body)
            if body is None:
                body = blob
        if cfg.tail_trim > 0:
            dist = cv2.distanceTransform(body, cv2.DIST_L2, 3)
            r = int(round(float(dist.max()) * cfg.tail_trim))
            if r >= 1:
                core = _largest(cv2.morphologyEx(body, cv2.MORPH_OPEN, _disc(r)))
                if core is not None:
                    body = body & cv2.dilate(core, _disc(r))
        ys, xs = np.nonzero(body)
        return np.array([xa + xs.min(), ya + ys.min(), xa + xs.max() + 1, ya + ys.max() + 1], np.float64)

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
