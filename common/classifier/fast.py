"""The fast default embedder: motion and shape of the mouse silhouette over time (numpy + OpenCV).

No weights, no GPU: a 16-frame window costs a few milliseconds on one core.

Two steps, so the result hardly depends on how loose the given crop is (a whole frame or a
detector's padded square give nearly the same vector):

1. *find*: the given crop at ``find_size`` px; the mouse is the largest component darker than
   the background (median grey of the crop minus ``dark_margin``). Gives a per-frame box.
2. *describe*: the original frames re-cropped (same ``apply_crop``) around the union of those
   boxes at ``describe_size`` px; per frame: silhouette area, elongation, orientation, centroid,
   brightness, motion energy inside/around the body; then temporal statistics over the window
   and the power of the motion signal in three frequency bands (grooming and itching are
   rhythmic; locomotion moves the centroid; rearing changes area and brightness from below).

Speeds are in body lengths per frame (body length = sqrt of the median silhouette area), so
the vector does not depend on the camera's distance. Segments longer than ``n_frames`` are
cut into windows of ``n_frames`` consecutive frames (half overlap) whose vectors are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mouseact.classifier.embedders import Item, embed_each, pop_features_version, window_starts
from mouseact.config import Config
from mouseact.crop import apply_crop
from pydantic import Field

FEATURES_VERSION = 3  # bump when the features change (old cache entries and models then differ)
PER_FRAME = [
    "rel_area",
    "elongation",
    "turn",
    "turn_signed",
    "speed",
    "dx_body",
    "brightness",
    "motion_in",
    "motion_around",
    "motion_ends",
    "motion_side",
    "area_change",
    "spread",
    "solidity",
    "paw_frac",
    "paw_dist",
    "paw_motion",
]
STATS = ["mean", "std", "p10", "p90", "absdiff"]
BANDS = ["low", "mid", "high"]
# What each feature describes, by meaning (fixed before any group was measured, issue 6 session 3).
# A group = per-frame series (all 5 statistics of each) or whole-window scalars. Covers all 96 dims.
FEATURE_GROUPS: dict[str, list[str]] = {
    # size and outline of the silhouette: posture, but also the animal's build and the camera
    "shape": ["rel_area", "elongation", "spread", "solidity"],
    # how the animal looks: brightness change, pink bare skin (paws/snout; depends on coat and
    # lighting), and how often a silhouette was found at all
    "appearance": ["brightness", "paw_frac", "paw_dist", "paw_motion", "found_frac"],
    # how the body moves and turns (body lengths / radians per frame)
    "kinematics": ["turn", "turn_signed", "speed", "dx_body", "area_change"],
    # grey-level change inside/around the body and where on the body it is
    "body_motion": ["motion_in", "motion_around", "motion_ends", "motion_side"],
    # rhythm: power of the motion and area series in three frequency bands
    "bands": [f"motion_{b}" for b in BANDS] + [f"area_{b}" for b in BANDS],
    # where the centroid went during the window (body lengths)
    "path": ["extent_x", "extent_y", "path_len", "net_disp"],
}
MOTION_GROUPS = ["kinematics", "body_motion", "bands", "path"]  # "keep motion only"


class FastEmbedderConfig(Config):
    n_frames: int = Field(16, ge=4, description="frames per window (consecutive frames of the video)")
    find_size: int = Field(128, ge=32, description="side (px) of the crop used to find the silhouette")
    describe_size: int = Field(64, ge=16, description="side (px) of the mouse-centred crop described")
    dark_margin: float = Field(
        25.0, description="mouse score (darker + more coloured than the floor, grey levels) threshold"
    )
    max_windows: int = Field(16, ge=1, description="at most this many windows per segment (evenly spaced)")


def feature_names(config: FastEmbedderConfig | None = None) -> list[str]:
    names = [f"{f}_{s}" for f in PER_FRAME for s in STATS]
    names += [f"motion_{b}" for b in BANDS] + [f"area_{b}" for b in BANDS]
    names += ["extent_x", "extent_y", "path_len", "net_disp", "found_frac"]
    return names


def feature_group_of(name: str) -> str:
    """The :data:`FEATURE_GROUPS` group of one :func:`feature_names` entry."""
    base = name
    for s in STATS:
        if name.endswith("_" + s) and name[: -len(s) - 1] in PER_FRAME:
            base = name[: -len(s) - 1]
            break
    for group, members in FEATURE_GROUPS.items():
        if base in members:
            return group
    raise KeyError(name)


def group_columns(groups: Sequence[str], config: FastEmbedderConfig | None = None) -> np.ndarray:
    """Boolean mask over :func:`feature_names`: True for the columns of ``groups``."""
    unknown = set(groups) - set(FEATURE_GROUPS)
    if unknown:
        raise ValueError(
            f"unknown feature group(s) {sorted(unknown)}; groups: {', '.join(FEATURE_GROUPS)}"
        )
    return np.array([feature_group_of(n) in groups for n in feature_names(config)])


def _foreground_score(rgb: np.ndarray, bg_rgb: np.ndarray | None = None):
    """How much each pixel looks like mouse: darker than the background grey plus more coloured
    than it (brown/agouti coats are not much darker than a grey floor, but they are not grey).
    ``bg_rgb`` (median colour of the background) defaults to the median of this image.
    uint8 OpenCV ops: this runs on every pixel of every frame."""
    import cv2

    if bg_rgb is None:
        bg_rgb = np.median(rgb[::2, ::2].reshape(-1, 3), axis=0)
    r, g, b = cv2.split(np.ascontiguousarray(rgb))
    chroma = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    bg_gray = round(float(np.mean(bg_rgb)))
    bg_chroma = round(float(np.max(bg_rgb) - np.min(bg_rgb)))
    darker = cv2.subtract(np.full_like(gray, bg_gray), gray)  # saturates at 0
    colour = cv2.subtract(chroma, np.full_like(chroma, bg_chroma))
    return cv2.add(darker, colour), bg_rgb


def _stacked_scores(crops: np.ndarray, bg_rgb: np.ndarray) -> np.ndarray:
    """``_foreground_score`` of each crop ``(T, S, S, 3)`` with one floor colour, in one call on the
    crops stacked into one tall image (every step is per pixel: the same scores, without the
    per-call overhead of ~10 OpenCV calls per frame)."""
    if len(crops) == 0:
        return np.zeros(crops.shape[:3], np.uint8)
    t, h, w = crops.shape[:3]
    return _foreground_score(crops.reshape(t * h, w, 3), bg_rgb)[0].reshape(t, h, w)


def _largest_blob(score: np.ndarray, margin: float):
    """Mask of the strongest connected component with ``score > margin`` (the mouse), or None."""
    import cv2

    # adaptive: a very dark mouse raises the bar so the faint shadow next to it stays out
    flat = score.ravel()
    kth = int(0.99 * (len(flat) - 1))
    if flat.dtype == np.uint8:  # the same order statistic from a histogram (no partition copy)
        hist = cv2.calcHist([np.ascontiguousarray(score)], [0], None, [256], [0, 256]).ravel()  # exact (< 2**24)
        top = float(np.searchsorted(np.cumsum(hist), kth, side="right"))
    else:
        top = float(np.partition(flat, kth)[kth])
    margin = max(margin, 0.4 * top)
    mask = (score > margin).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    if n <= 1:
        return None
    # the component with the most mouse-score mass, not the largest: floor shadows can be big
    # but are only a little darker than the floor; a mouse is much darker or much more coloured
    # (summed over labelled pixels only, in the same order: the same sums as over all pixels)
    lab = labels.ravel()
    on = lab > 0
    mass = np.bincount(lab[on], weights=np.clip(flat[on].astype(np.float32) - margin, 0, None), minlength=n)
    k = 1 + int(np.argmax(mass[1:]))
    return labels == k


def _moments(mask: np.ndarray):
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return None
    cx, cy = xs.mean(), ys.mean()
    # = np.cov(np.stack([xs - cx, ys - cy])), its steps without its argument handling (same values)
    x = np.stack([xs - cx, ys - cy])
    x -= x.mean(axis=1)[:, None]
    cov = np.dot(x, x.T.conj())
    cov *= np.true_divide(1, x.shape[1] - 1)
    ev, evec = np.linalg.eigh(cov)
    ev = np.maximum(ev, 1e-6)
    angle = float(np.arctan2(evec[1, 1], evec[0, 1]))
    return len(xs), cx, cy, float(np.sqrt(ev[1] / ev[0])), angle


def _band_power(x: np.ndarray) -> np.ndarray:
    """Share of the signal's (mean-removed) power in the low/mid/high thirds of its spectrum."""
    x = x - x.mean()
    p = np.abs(np.fft.rfft(x)) ** 2
    p = p[1:]
    if p.sum() <= 1e-12:
        return np.zeros(3)
    thirds = np.array_split(p, 3)
    return np.array([t.sum() for t in thirds]) / p.sum()


class _SharedFind:
    """What overlapping windows of one segment share in ``FastEmbedder._find`` (speed only):
    find-size crops made once per frame, and boxes keyed by (frame, floor-colour key)."""

    def __init__(self, frames: np.ndarray, rects: np.ndarray, size: int):
        self.frames, self.rects, self.size = frames, rects, size
        self._crops: dict[int, np.ndarray] = {}
        self.boxes: dict[tuple, np.ndarray] = {}
        self.offset = 0

    def at(self, offset: int) -> _SharedFind:
        self.offset = offset
        return self

    def crops(self, n: int) -> np.ndarray:
        idx = range(self.offset, self.offset + n)
        todo = [i for i in idx if i not in self._crops]
        if todo:
            for i, crop in zip(todo, apply_crop(self.frames[todo], self.rects[todo], self.size)):
                self._crops[i] = crop
        return np.stack([self._crops[i] for i in idx])


class FastEmbedder:
    kind = "fast"

    def __init__(self, **config):
        pop_features_version(config, FEATURES_VERSION, "fast")
        self.cfg = FastEmbedderConfig(**config)
        # the feature version is part of the config: it keys the embedding cache and the card
        self.config = {"kind": self.kind, "features_version": FEATURES_VERSION, **self.cfg.model_dump()}
        self.min_frames = self.cfg.n_frames
        self.feature_names = feature_names(self.cfg)
        self.dim = len(self.feature_names)

    # -- public --------------------------------------------------------------------------------
    def embed_batch(self, items: Sequence[Item]) -> np.ndarray:
        return embed_each(self, items)

    def embed_segment(self, frames: np.ndarray, rects: np.ndarray) -> np.ndarray:
        n = self.cfg.n_frames
        starts = window_starts(len(frames), n, self.cfg.max_windows)
        # Overlapping windows share frames: each frame's find-size crop is made once per segment,
        # and its silhouette found once per window floor colour (the only window-dependent input
        # of that step). Pure speed: the vectors are the same as window by window.
        shared = _SharedFind(frames, rects, self.cfg.find_size) if len(starts) > 1 else None
        return np.mean(
            [self._window(frames[s : s + n], rects[s : s + n], _shared=shared and shared.at(s)) for s in starts],
            axis=0,
        )

    # -- one window ----------------------------------------------------------------------------
    def _find(self, frames: np.ndarray, rects: np.ndarray, return_floor: bool = False, _shared=None):
        """Per-frame mouse boxes in frame pixels (NaN where nothing was found); with
        ``return_floor`` also the floor colour (median RGB of the crops) used as background."""

        size = self.cfg.find_size
        crops = apply_crop(frames, rects, size) if _shared is None else _shared.crops(len(frames))
        boxes = np.full((len(frames), 4), np.nan)
        bg_rgb = np.median(crops[::4, ::4, ::4].reshape(-1, 3), axis=0)  # floor colour of the whole window
        # what _foreground_score takes from the floor colour (its cache key across windows)
        floor_key = (round(float(np.mean(bg_rgb))), round(float(np.max(bg_rgb) - np.min(bg_rgb))))
        todo = [t for t in range(len(crops))
                if _shared is None or (_shared.offset + t, floor_key) not in _shared.boxes]
        for t in range(len(crops)):
            if t not in todo:
                boxes[t] = _shared.boxes[(_shared.offset + t, floor_key)]
        scores = _stacked_scores(crops[todo], bg_rgb)
        for t, score in zip(todo, scores):
            mask = _largest_blob(score, self.cfg.dark_margin)
            if mask is None:
                if _shared is not None:
                    _shared.boxes[(_shared.offset + t, floor_key)] = boxes[t].copy()
                continue
            ys, xs = np.nonzero(mask)
            x1, y1, x2, y2 = rects[t]
            sx, sy = (x2 - x1) / size, (y2 - y1) / size
            boxes[t] = [
                x1 + xs.min() * sx,
                y1 + ys.min() * sy,
                x1 + (xs.max() + 1) * sx,
                y1 + (ys.max() + 1) * sy,
            ]
            if _shared is not None:
                _shared.boxes[(_shared.offset + t, floor_key)] = boxes[t].copy()
        return (boxes, bg_rgb) if return_floor else boxes

    def _window(self, frames: np.ndarray, rects: np.ndarray, _shared=None) -> np.ndarray:
        import cv2

        h, w = frames.shape[1:3]
        boxes, floor_rgb = self._find(frames, rects, return_floor=True, _shared=_shared)
        found = np.isfinite(boxes).all(1)
        if found.any():
            b = boxes[found]
            x1, y1, x2, y2 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        else:
            x1, y1, x2, y2 = rects[:, 0].min(), rects[:, 1].min(), rects[:, 2].max(), rects[:, 3].max()
        # square, padded union box: context around the body, no aspect distortion
        side = max(x2 - x1, y2 - y1) * 1.3 + 4
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        side = min(side, w, h)
        ux1 = int(np.clip(round(cx - side / 2), 0, w - side))
        uy1 = int(np.clip(round(cy - side / 2), 0, h - side))
        union = np.array([ux1, uy1, ux1 + int(side), uy1 + int(side)])
        size = self.cfg.describe_size
        rgb = apply_crop(frames, union, size)
        # = rgb.astype(np.float32).mean(-1), without the slow length-3 reduction (exact integer
        # sums in float32, then the same correctly rounded division)
        gray = rgb[..., 0].astype(np.float32)
        gray += rgb[..., 1]
        gray += rgb[..., 2]
        gray /= np.float32(3)

        t_len = len(frames)
        rows = np.full((t_len, 6), np.nan)  # area, cx, cy, elong, angle, brightness
        masks = np.zeros((t_len, size, size), bool)
        scores = _stacked_scores(rgb, floor_rgb)
        for t in range(t_len):
            mask = _largest_blob(scores[t], self.cfg.dark_margin)
            if mask is None:
                continue
            m = _moments(mask)
            if m is None:
                continue
            masks[t] = mask
            area, mx, my, elong, angle = m
            rows[t] = [area, mx, my, elong, angle, gray[t][mask].mean()]
        ok = np.isfinite(rows).all(1)
        found_frac = ok.mean()
        if not ok.any():
            return np.zeros(self.dim, np.float32)
        # fill frames without a silhouette by the nearest one (keeps the series length)
        idx = np.arange(t_len)
        src = idx[ok][np.abs(idx[:, None] - idx[ok][None]).argmin(1)]
        rows = rows[src]
        masks = masks[src]
        area = rows[:, 0]
        body = float(np.sqrt(np.median(area)))  # describe px
        cxy = rows[:, 1:3]
        step = np.diff(cxy, axis=0)
        speed = np.linalg.norm(step, axis=1) / body
        ang = rows[:, 4]
        dang_signed = np.angle(np.exp(2j * np.diff(ang))) / 2  # axis angle change, mod pi (left/right turns)
        dang = np.abs(dang_signed)
        # displacement along the body axis (forward/back) vs total
        axis = np.stack([np.cos(ang[:-1]), np.sin(ang[:-1])], 1)
        dx_body = np.abs((step * axis).sum(1)) / body
        diff = np.abs(np.diff(gray, axis=0))  # (T-1, S, S)
        around = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0 for m in masks[1:]])
        motion_in = (diff * masks[1:]).sum((1, 2)) / np.maximum(masks[1:].sum((1, 2)), 1) / 255.0
        motion_around = (diff * around).sum((1, 2)) / np.maximum(around.sum((1, 2)), 1) / 255.0
        area_change = np.abs(np.diff(area)) / np.median(area)
        # where on the body the motion is: the two ends of the long axis (head/rump) vs the
        # middle, and the two flanks; grooming of face, head and body move different parts
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        ends, side = np.zeros(t_len - 1), np.zeros(t_len - 1)
        for t in range(1, t_len):
            a = ang[t]
            u = (xx - cxy[t, 0]) * np.cos(a) + (yy - cxy[t, 1]) * np.sin(a)
            v = -(xx - cxy[t, 0]) * np.sin(a) + (yy - cxy[t, 1]) * np.cos(a)
            d = diff[t - 1] * around[t - 1]
            tot = d.sum() + 1e-6
            ulim = np.abs(u[masks[t]]).max() if masks[t].any() else 1.0
            ends[t - 1] = d[np.abs(u) > 0.5 * ulim].sum() / tot
            side[t - 1] = np.abs(d[v > 0].sum() - d[v <= 0].sum()) / tot
        solidity = np.zeros(t_len)
        for t in range(t_len):
            cnts, _ = cv2.findContours(masks[t].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            if cnts:
                hull = cv2.contourArea(cv2.convexHull(max(cnts, key=cv2.contourArea)))
                solidity[t] = masks[t].sum() / max(hull, 1.0)
        # pink, bare skin (paws, snout, belly) seen from below: how much shows, how far from the
        # body centre, how much it moves (forepaws at the snout while face grooming, a hind paw
        # scratching, paws on the wall while rearing)
        r, g_, b = (rgb[..., k].astype(np.float32) for k in range(3))
        pink = (r > g_ + 25) & (r > b + 10) & (r > 110)
        near = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0 for m in masks])
        pink &= near
        pcount = pink.sum((1, 2)).astype(np.float64)
        paw_frac = pcount / np.maximum(area, 1)
        paw_dist = np.array(
            [
                np.hypot(xx[pink[t]] - cxy[t, 0], yy[pink[t]] - cxy[t, 1]).mean() / body if pcount[t] else 0.0
                for t in range(t_len)
            ]
        )
        paw_motion = (diff * pink[1:]).sum((1, 2)) / np.maximum(pcount[1:], 1) / 255.0
        spread = np.array([np.std(xs) + np.std(ys) for ys, xs in map(np.nonzero, masks)]) / body

        series = {
            "rel_area": area / np.median(area),
            "elongation": rows[:, 3],
            "turn": dang,
            "turn_signed": dang_signed,
            "motion_ends": ends,
            "motion_side": side,
            "solidity": solidity,
            "paw_frac": paw_frac,
            "paw_dist": paw_dist,
            "paw_motion": paw_motion,
            "speed": speed,
            "dx_body": dx_body,
            "brightness": rows[:, 5] / max(np.median(rows[:, 5]), 1.0),  # change, not coat colour
            "motion_in": motion_in,
            "motion_around": motion_around,
            "area_change": area_change,
            "spread": spread,
        }
        feats = []
        arrays = {name: np.asarray(series[name], np.float64) for name in PER_FRAME}
        pct = {}  # 10th/90th percentiles, one call per series length (row by row: the same values)
        for length in {len(x) for x in arrays.values()}:
            names = [k for k in PER_FRAME if len(arrays[k]) == length]
            p = np.percentile(np.stack([arrays[k] for k in names]), [10, 90], axis=1)
            pct.update({k: (p[0, j], p[1, j]) for j, k in enumerate(names)})
        for name in PER_FRAME:
            x = arrays[name]
            p10, p90 = pct[name]
            feats += [
                x.mean(),
                x.std(),
                p10,
                p90,
                np.abs(np.diff(x)).mean() if len(x) > 1 else 0.0,
            ]
        feats += list(_band_power(motion_around)) + list(_band_power(area))
        path = np.linalg.norm(step, axis=1).sum() / body
        net = np.linalg.norm(cxy[-1] - cxy[0]) / body
        ext = (cxy.max(0) - cxy.min(0)) / body
        feats += [ext[0], ext[1], path, net, found_frac]
        return np.nan_to_num(np.asarray(feats, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
