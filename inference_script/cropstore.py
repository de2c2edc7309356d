"""The mouse's neighbourhood of every sampled frame, kept on disk during the streaming pass.

Stage 2 needs, for each candidate segment, the pixels of its crop union in every sampled frame
(every ``frame_step``-th frame, the classifier's training rate). That union comes from the
*smoothed* track's ``crop_boxes`` (a 15-frame union window), known only after the pass, and the
segments are known only after stage 1 — so without this store stage 2 decodes the video a second
time (on the arena video the localizer proposes 91 % of it: the re-read cost as much as the
embedding).

While the pass has the frames, :class:`CropStoreWriter` keeps a generous square around the raw
detections of the frames near each sampled frame (the union of the boxes ``reach`` frames either
side, padded more than the crop policy pads) and appends its pixels to one file; a small shared
index holds each frame's region and file offset. After the pass, :meth:`CropStore.covers` checks
exactly, segment by segment, whether every sampled frame's stored region contains the segment's
crop union; those segments are cut from the store (the same pixels a re-read would give, so the
same embeddings), the others are re-read from the video as before. Nothing is approximated.

Disk, not memory: the file grows with the video (~100 KB per sampled frame for the 640x480 arena
video, ~0.5 GB for its 5.5 minutes), the process memory does not; it stops growing at ``max_gb``
or half the free space (later frames are re-read). The file lives in a temporary directory that
:meth:`CropStore.close` deletes.
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mouseact.crop import CropPolicy


class CropStore:
    """Index (shared anonymous mapping, inherited by forked processes) + data file of kept regions.

    ``regions[j]`` = ``x1, y1, x2, y2`` (exclusive) of sampled frame ``j * step`` (``-1`` = not
    kept), ``offsets[j]`` its byte offset in the data file.
    """

    def __init__(self, n_frames: int, step: int, frame_w: int, frame_h: int, directory: str | Path | None = None,
                 max_region_frac: float = 0.5, max_gb: float = 4.0):
        self.step, self.frame_w, self.frame_h = max(1, int(step)), int(frame_w), int(frame_h)
        self.max_region_frac = float(max_region_frac)
        n = (int(n_frames) + self.step - 1) // self.step
        self.n_sampled = n
        self._mm = mmap.mmap(-1, max(1, n) * 5 * 8)  # MAP_SHARED|MAP_ANONYMOUS: the writer may be a forked child
        table = np.frombuffer(self._mm, np.int64).reshape(max(1, n), 5)
        self.regions, self.offsets = table[:, :4], table[:, 4]
        self.regions[:] = -1
        _remove_orphans(directory)
        # the owner's pid in the name: a store left by a killed run is removed by the next one
        self.dir = Path(tempfile.mkdtemp(prefix=f"mouseact-crops-{os.getpid()}-", dir=directory))
        self.path = self.dir / "crops.u8"
        self.path.touch()
        # never fill the disk (the outputs go somewhere too): at most max_gb and half of what is free;
        # frames past the limit are simply not kept (their segments are re-read)
        self.max_bytes = int(min(max_gb * 2**30, shutil.disk_usage(self.dir).free // 2))
        self._fd: int | None = None

    # -- reading ---------------------------------------------------------------------------
    def covers(self, segments: list[tuple[int, int]], rects_all: np.ndarray) -> np.ndarray:
        """Per segment: True when every sampled frame of it was kept with a region that contains
        the segment's crop union (so :meth:`crops` gives exactly what a re-read gives)."""
        out = np.zeros(len(segments), bool)
        for k, (s, e) in enumerate(segments):
            r = rects_all[s:e + 1]
            u = (r[:, 0].min(), r[:, 1].min(), r[:, 2].max(), r[:, 3].max())
            j = np.arange(s + (-s) % self.step, e + 1, self.step) // self.step
            reg = self.regions[j]
            out[k] = bool(len(j)) and bool(np.all((reg[:, 0] >= 0) & (reg[:, 0] <= u[0]) & (reg[:, 1] <= u[1])
                                                  & (reg[:, 2] >= u[2]) & (reg[:, 3] >= u[3])))
        return out

    def region_pixels(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Kept pixels ``(h, w, 3)`` of sampled frame ``i`` and their region in the frame."""
        j = i // self.step
        if not 0 <= j < self.n_sampled or i % self.step or self.regions[j, 0] < 0:
            raise KeyError(f"frame {i} was not kept")
        x1, y1, x2, y2 = (int(v) for v in self.regions[j])
        n = (y2 - y1) * (x2 - x1) * 3
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        data = os.pread(self._fd, n, int(self.offsets[j]))
        if len(data) != n:
            raise OSError(f"{self.path}: short read for frame {i}")
        return np.frombuffer(data, np.uint8).reshape(y2 - y1, x2 - x1, 3), self.regions[j].copy()

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "CropStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CropStoreWriter:
    """Fills a :class:`CropStore` chunk by chunk, one chunk behind (the region of a frame near a
    chunk's end needs the boxes of the next chunk).

    ``add(start, frames, boxes)`` must be called with consecutive chunks; the previous chunk's
    ``frames`` must still be valid when the next one is added (a :class:`ProcessChunks` ring holds
    it: ``hold_extra``). ``finish()`` writes the last chunk. Used by whichever process has the
    frames: the feature process, or the main one without it.

    ``reach``: frames either side whose boxes the region covers (the crop policy's half window +
    the longest stage-2 segment); ``pad_ratio``: margin on each side as a share of the side (the
    policy's plus slack for the smoothing and the per-frame squares).
    """

    def __init__(self, store: CropStore, reach: int, pad_ratio: float, min_side: int):
        self.store, self.reach = store, int(reach)
        self.pad_ratio, self.min_side = float(pad_ratio), int(min_side)
        self._prev: tuple[int, np.ndarray] | None = None  # (start, frames) of the chunk not yet written
        self._boxes: list[np.ndarray] = []  # raw boxes of the last frames seen (enough for ``reach``)
        self._boxes_start = 0
        self._f = None
        self.bytes_written = 0  # = the data file's size (the next region's offset)
        self.failed: str | None = None  # why keeping stopped (e.g. disk full): stage 2 then re-reads all

    @classmethod
    def for_policy(cls, store: CropStore, policy: CropPolicy, segment_frames: int) -> "CropStoreWriter":
        return cls(store, policy.window // 2 + int(segment_frames), policy.pad_ratio + 0.25, policy.min_side)

    def add(self, start: int, frames: np.ndarray, boxes: np.ndarray) -> None:
        self._boxes.append(np.asarray(boxes, np.float64).reshape(-1, 4))
        if self._prev is not None:
            self._write_safely(*self._prev)
        self._prev = (int(start), frames)
        # keep only the boxes the next write can need: from (next chunk to write's start - reach)
        keep_from = int(start) - self.reach
        while len(self._boxes) > 1 and self._boxes_start + len(self._boxes[0]) <= keep_from:
            self._boxes_start += len(self._boxes.pop(0))

    def finish(self) -> None:
        if self._prev is not None:
            self._write_safely(*self._prev)
            self._prev = None
        if self._f is not None:
            try:
                self._f.close()
            except OSError as exc:
                self._give_up(exc)
            self._f = None

    def _write_safely(self, start: int, frames: np.ndarray) -> None:
        """A failed write (disk full, directory gone) must not stop the run: the store is only a
        shortcut. Everything kept is dropped (buffered data may be lost) and stage 2 re-reads."""
        if self.failed is not None:
            return
        try:
            self._write(start, frames)
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        import logging

        self.failed = f"{type(exc).__name__}: {exc}"
        self.store.regions[:] = -1
        logging.getLogger(__name__).warning("%s: keeping crops for stage 2 stopped (%s); stage 2 decodes "
                                            "the video again", self.store.path, self.failed)
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None

    def regions(self, frames: np.ndarray) -> np.ndarray:
        """Regions ``(len(frames), 4)`` of the given frame numbers from the boxes seen so far (``-1``
        rows where no box is near)."""
        allb = np.concatenate(self._boxes)
        base = self._boxes_start
        out = np.full((len(frames), 4), -1, np.int64)
        W, H = self.store.frame_w, self.store.frame_h
        for t, i in enumerate(frames):
            b = allb[max(0, i - self.reach - base): max(0, i + self.reach + 1 - base)]
            b = b[np.isfinite(b).all(1)]
            if not len(b):
                continue
            x1, y1, x2, y2 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
            side = max(x2 - x1, y2 - y1) * (1 + 2 * self.pad_ratio) + 4
            side = max(side, self.min_side * (1 + self.pad_ratio))
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            rx1, ry1 = int(max(0, np.floor(cx - side / 2))), int(max(0, np.floor(cy - side / 2)))
            rx2, ry2 = int(min(W, np.ceil(cx + side / 2))), int(min(H, np.ceil(cy + side / 2)))
            if (rx2 - rx1) * (ry2 - ry1) > self.store.max_region_frac * W * H:
                continue  # the mouse moved across much of the frame: cheaper to re-read than to keep
            out[t] = rx1, ry1, rx2, ry2
        return out

    def _write(self, start: int, frames: np.ndarray) -> None:
        st = self.store
        first = start + (-start) % st.step
        idx = np.arange(first, start + len(frames), st.step)
        if not len(idx):
            return
        if self._f is None:
            self._f = open(st.path, "ab", buffering=1 << 20)
        for i, (x1, y1, x2, y2) in zip(idx, self.regions(idx)):
            if x1 < 0 or self.bytes_written + (y2 - y1) * (x2 - x1) * 3 > st.max_bytes:
                continue
            data = np.ascontiguousarray(frames[i - start, y1:y2, x1:x2])
            self._f.write(memoryview(data).cast("B"))
            j = i // st.step
            st.offsets[j] = self.bytes_written
            st.regions[j] = x1, y1, x2, y2
            self.bytes_written += data.nbytes


def _remove_orphans(directory: str | Path | None) -> None:
    """Delete crop stores whose process is gone (a run killed with SIGKILL cannot clean up after itself)."""
    root = Path(directory or tempfile.gettempdir())
    for d in root.glob("mouseact-crops-*-*"):
        try:
            pid = int(d.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # someone else's live process
