"""The streaming inference pipeline: one decode pass per video, memory flat in video length.

    decode (chunks) -> detect/track -> stage-1 features          }  preprocess  (one pass)
    actionness -> proposals -> stage-2 only on candidates         }  inference
    named post-processing stages                                  }  postprocess

Per frame only small arrays are kept (a box, a feature row, a timestamp). The pass decodes with
PyAV (decord buffers ahead without bound when its consumer is slower than decoding) in a child
process, into a small ring of shared chunk buffers (:class:`ProcessChunks`); the detector runs
here while a second child computes the stage-1 features one chunk behind
(:class:`FeatureProcess`): three processes that do not share a GIL, on the machine's cores.
(``decode_process=false`` / ``feature_process=false``: a decode thread and in-process features.)
Stage 2 needs the pixels of the candidate segments after the pass. The pass keeps a generous
region around the mouse of every sampled frame on disk (:mod:`mouseact.inference.cropstore`,
``keep_crops``); a segment whose exact crop union lies inside what was kept is cut from there,
the others are **re-read**: neighbouring segments in one sequential read (decoding through short
gaps beats seeking back to a key frame), each segment cut at once to the union of its crop
rectangles; with the pass's frame timestamps the read seeks exactly and converts only the
mouse's region of the frames it needs (:func:`read_segment_crops_av`). Both give the same pixels,
so the same embeddings. (The exact crop cannot be kept during the pass: it is ``crop_boxes`` of
the *smoothed* track, a 15-frame union window, known only after it.) ``stage2_workers`` forked
processes read and embed contiguous runs of segments in parallel. ``bench/pipeline.py`` measures
what reading costs (``read_clips``) and how many segments were re-read.

``dense=True`` skips stage 1 and sends every window of a regular grid through stage 2 (the
seed's way), for comparison.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import numpy as np
from pydantic import Field

from mouseact import postprocess
from mouseact.postprocess import PostprocessConfig
from mouseact.config import Config
from mouseact.crop import CropPolicy, crop_boxes
from mouseact.errors import ModelError, MouseActError, VideoError
from mouseact.intervals import Interval, merge
from mouseact.progress import bar
from mouseact.timing import StageTimer
from mouseact.video import VideoInfo, VideoReader

# The Predictor's three timed steps and the timer stages each one sums.
STEPS = {
    "preprocess": ("decode", "detect", "features", "keep_crops"),
    "inference": ("localize", "read_clips", "embed", "classify"),
    "postprocess": ("postprocess",),
}


class PipelineConfig(Config):
    """Settings of one inference run (defaults overridden by the bundle's pipeline.json, then --set)."""

    chunk_size: int = Field(64, ge=1, description="frames decoded per chunk of the streaming pass")
    stream_backend: str = Field("av", description="decoder of the streaming pass: av (flat memory) or decord "
                                                  "(faster, but buffers ahead without bound when the "
                                                  "pipeline is slower than decoding)")
    detector: Literal["classical", "yolo", "rtdetr"] = Field("classical", description="stage-0 detector kind: classical | yolo | rtdetr")
    detector_model: str | None = Field(None, description="weights of a trained yolo/rtdetr detector")
    detector_stride: int = Field(2, ge=1, description="run the detector every N frames, interpolate between")
    segment_s: float = Field(1.0, gt=0, description="stage-2 segment length, seconds (the window of the grid "
                                                     "that --dense and proposal_windows=grid use; pieces are "
                                                     "about this long)")
    dense_stride_s: float = Field(0.5, gt=0, description="step between the grid's windows, seconds (--dense and "
                                                                "proposal_windows=grid)")
    min_proposal_s: float = Field(0.0, ge=0, description="ignore stage-1 proposals shorter than this, seconds")
    proposal_windows: Literal["grid", "pieces"] = Field(
        "grid", description="how stage-1 proposals become stage-2 segments: 'grid' = the windows of --dense's "
                            "grid (segment_s long, every dense_stride_s) whose centre lies in a proposal, so "
                            "inside proposals stage 2 sees exactly what --dense sees and overlapping windows "
                            "vote on each frame; 'pieces' = each proposal cut into non-overlapping pieces of "
                            "about segment_s (fewer segments; a bout whose pieces get different labels "
                            "breaks up)")
    grow_s: float = Field(0.0, ge=0, description="two-stage: after stage 2, extend every candidate it labelled "
                                                 "as an action outward, half a segment at a time, while stage 2 "
                                                 "labels the neighbouring window as an action too, up to this "
                                                 "many seconds per side (0 = off). Stage 1 is tuned to touch "
                                                 "nearly every bout, not to cover it whole; growth lets stage 2 "
                                                 "find where a bout ends. Worth it with a strong stage 2 (B-SOiD "
                                                 "sequences, EfficientNet stage 2: frame F1 0.72 -> 0.77, dense "
                                                 "0.78, for ~35 % more segments); with the fast default it only "
                                                 "added segments (docs/notes/issue-7-pipeline.md)")
    clip_frames: int | None = Field(None, ge=1, description="minimum frames per stage-2 segment (default: the "
                                                          "classifier's window at its training frame rate, "
                                                          "e.g. 16 sampled frames = 32 frames of a 30-fps "
                                                          "video for a model trained at 15 fps)")
    background_frames: int = Field(32, ge=0, description="frames sampled across the video to prime the "
                                                          "classical detector's background (0 = learn as it goes)")
    read_gap_frames: int = Field(250, ge=0, description="stage 2: decode through gaps up to this many "
                                                         "frames instead of seeking (~ the key-frame interval)")
    read_group_mb: float = Field(128, gt=0, description="stage 2: MB of mouse crops held per sequential read "
                                                         "(two reads in flight); bounds memory")
    prefetch_chunks: int = Field(2, ge=0, description="chunks decoded ahead in the background while "
                                                      "the previous one is processed (0 = no thread)")
    decode_process: bool = Field(True, description="streaming pass: decode in a child process into a shared "
                                                   "ring of chunk buffers (no GIL contention with detection; "
                                                   "Linux fork only, else a thread)")
    feature_process: bool = Field(True, description="streaming pass (with decode_process): stage-1 features in "
                                                    "another child process, one chunk behind the detector")
    stage2_workers: int = Field(2, ge=0, description="stage 2: worker processes that re-read and embed the "
                                                     "candidate segments (0 = in this process, reading in a thread)")
    keep_crops: bool = Field(True, description="streaming pass: keep a generous region around the mouse of every "
                                               "frame stage 2 may embed in a temporary file, so stage 2 reads "
                                               "candidates from there instead of decoding the video again "
                                               "(segments whose crop is not inside what was kept are re-read; "
                                               "same pixels either way). Disk, not memory: ~100 KB per kept "
                                               "frame of a 640x480 video (~0.5 GB for 5.5 min at 30 fps), "
                                               "deleted after the video")
    crop_store_dir: str | None = Field(None, description="directory for keep_crops' temporary file (default: the "
                                                         "system's temporary directory)")
    crop_store_max_gb: float = Field(4.0, gt=0, description="keep_crops: stop keeping past this size or half the "
                                                            "free space of crop_store_dir (later segments are "
                                                            "re-read)")
    batch_size: int = Field(8, ge=1, description="segments per stage-2 batch")
    keep_unknown: bool = Field(False, description="keep segments the open-set classifier calls 'unknown'")
    postprocess: PostprocessConfig = Field(default_factory=PostprocessConfig)


SHORT_VIDEO_S = 20.0  # below this, a video may hold too little rest for stage 1's per-video resting level

# settings that change only speed, memory or where temporary files go, never a result: a batch resumed
# with other values of these is still the same run
SPEED_ONLY_KEYS = frozenset({"chunk_size", "read_gap_frames", "read_group_mb", "prefetch_chunks", "decode_process",
                             "feature_process", "stage2_workers", "keep_crops", "crop_store_dir",
                             "crop_store_max_gb", "batch_size"})


def bundle_fingerprint(bundle) -> str:
    """Short content key of a model bundle: its pipeline settings and the model cards of its stages
    (each card holds the checksums of its weight files), so a retrained model in the same folder differs."""
    import hashlib
    import json

    h = hashlib.sha256(json.dumps(bundle.pipeline, sort_keys=True, default=str).encode())
    for d in (bundle.localizer_dir, bundle.classifier_dir):
        card = Path(d) / "model_card.json" if d else None
        h.update(card.read_bytes() if card is not None and card.is_file() else b"-")
    return h.hexdigest()[:16]


@dataclasses.dataclass
class VideoResult:
    """One video's outcome (what ``mouseact.export`` writes)."""

    video_path: Path
    name: str                     # file name, used for output names
    info: VideoInfo
    intervals: list[Interval]
    track: Any                    # mouseact.preprocess.detection.Track
    timing: dict[str, dict[str, float]]
    n_candidates: int = 0         # segments sent through stage 2
    n_reread: int = 0             # of those, segments stage 2 decoded again (not inside the kept crops)
    dataset: str | None = None
    steps_ms_per_frame: dict[str, float] = dataclasses.field(default_factory=dict)
    candidates: list[Interval] = dataclasses.field(default_factory=list)  # stage 2's, before post-processing

    def timing_line(self) -> str:
        parts = [f"{k} {v:.2f}" for k, v in self.steps_ms_per_frame.items()]
        return "ms/frame: " + ", ".join(parts)


def split_segment(start: int, end: int, piece: int) -> list[tuple[int, int]]:
    """Cut ``[start, end]`` into near-equal pieces of about ``piece`` frames (at least one)."""
    length = end - start + 1
    n = max(1, int(round(length / max(piece, 1))))
    edges = np.linspace(start, end + 1, n + 1).round().astype(int)
    return [(int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def dense_windows(n_frames: int, window: int, stride: int) -> list[tuple[int, int]]:
    """A regular grid of windows covering ``[0, n_frames-1]`` (the last one ends at the video's end)."""
    window = max(1, min(window, n_frames))
    starts = list(range(0, max(n_frames - window, 0) + 1, max(stride, 1)))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return [(s, s + window - 1) for s in starts]


def prefetch(iterator: Iterator, depth: int) -> Iterator:
    """Run ``iterator`` in a background thread, ``depth`` items ahead (bounded: memory stays flat).

    Decoding (decord/FFmpeg, which releases the GIL) then overlaps detection and feature
    extraction on the second core. Exceptions (e.g. a truncated file) re-raise in the consumer.
    """
    if depth <= 0:
        yield from iterator
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="mouseact-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def die_with_parent(parent_pid: int) -> None:
    """In a forked helper process of ``parent_pid``: be sent SIGTERM when the parent dies, even by SIGKILL
    (Linux ``PR_SET_PDEATHSIG``), so a killed ``infer`` leaves no decoding or embedding processes behind."""
    import ctypes
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's "stop cleanly" handler: just end
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the daemon flag still ends helpers on a normal exit
        return
    if os.getppid() != parent_pid:  # the parent died before the call took effect
        os._exit(1)


def stop_child(proc, ask_to_stop: Callable[[], object], conns) -> None:
    """End a helper process: ask it to stop (its pipe may already be closed), give it 2 s, then
    terminate it; close its pipes."""
    if proc.is_alive():
        try:
            ask_to_stop()
        except OSError:
            pass
        proc.join(timeout=2)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=2)
    for conn in conns:
        conn.close()


class ProcessChunks:
    """``VideoReader.iter_chunks`` decoded in a child process into a ring of shared chunk buffers.

    With decoding in a thread, its Python side (one call per frame) and the detector's many
    small numpy/OpenCV calls take turns on the GIL; in a child process decoding runs on the
    other core undisturbed. Frames are decoded straight into an anonymous shared mapping of
    ``depth + hold`` chunk slots (memory fixed: ~60 MB per 64-frame 640x480 chunk; ``depth`` is
    lowered for large frames so the ring stays under ``ring_mb`` when it can), so nothing is
    pickled. A yielded chunk is a view into its slot and stays valid until ``hold`` more
    chunks have been yielded (the feature extractor keeps references to a few past frames), or
    until :meth:`close`. Errors in the child re-raise here as :class:`VideoError`.
    """

    def __init__(self, path: str | Path, info: VideoInfo, chunk_size: int, depth: int, backend: str = "av",
                 keep_frames: int = 16, hold_extra: int = 0, ring_mb: float = 512):
        import mmap
        import multiprocessing as mp

        self.path, self.chunk_size, self.backend = Path(path), int(chunk_size), backend
        self.hold = 1 + int(np.ceil(keep_frames / self.chunk_size)) + int(hold_extra)
        # decode fewer chunks ahead for large frames: the ring stays under ~0.5 GB when it can
        slot_bytes = self.chunk_size * info.height * info.width * 3
        depth = max(1, min(depth, int(ring_mb * 2**20 // slot_bytes) - self.hold))
        self.n_slots = depth + self.hold
        self.shape = (self.n_slots, self.chunk_size, info.height, info.width, 3)
        self.pts: list[int] | None = []  # every frame's timestamp (PyAV), for exact seeks in stage 2
        self.last_slot = -1  # slot of the chunk yielded last (a FeatureProcess reads it from there)
        self._mm = mmap.mmap(-1, int(np.prod(self.shape)))  # MAP_SHARED|MAP_ANONYMOUS: inherited by fork
        self.buf = np.frombuffer(self._mm, np.uint8).reshape(self.shape)
        ctx = mp.get_context("fork")
        # two one-way pipes: free slot numbers to the child, filled (slot, start, n) back
        self._free_r, self._free_w = ctx.Pipe(duplex=False)
        self._full_r, self._full_w = ctx.Pipe(duplex=False)
        for k in range(self.n_slots):
            self._free_w.send(k)
        self._parent_pid = os.getpid()
        self._proc = ctx.Process(target=self._work, name="mouseact-decode", daemon=True)
        self._proc.start()

    @staticmethod
    def available() -> bool:
        import multiprocessing as mp

        return "fork" in mp.get_all_start_methods()

    def _work(self) -> None:  # in the child
        from mouseact.video import VideoReader

        die_with_parent(self._parent_pid)
        try:
            with VideoReader(self.path, backend=self.backend) as vr:
                slot, k, start, pts = None, 0, 0, []
                for frame, ts in vr.iter_frames_pts():
                    if slot is None:
                        slot = self._free_r.recv()
                        if slot is None:  # the consumer stopped early
                            return
                    if frame.shape != self.shape[2:]:
                        raise VideoError(f"frame size changed mid-stream to {frame.shape[1]}x{frame.shape[0]}",
                                         self.path)
                    self.buf[slot, k] = frame
                    pts.append(ts)
                    k += 1
                    if k == self.chunk_size:
                        self._full_w.send((slot, start, k, pts))
                        slot, start, k, pts = None, start + k, 0, []
                if k:
                    self._full_w.send((slot, start, k, pts))
            self._full_w.send(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._full_w.send(("error", str(exc)))

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        import collections

        held: collections.deque = collections.deque()
        while True:
            while not self._full_r.poll(1.0):  # a child that died sends nothing
                if not self._proc.is_alive() and not self._full_r.poll(0):
                    raise VideoError(f"decoder process died (exit code {self._proc.exitcode})", self.path)
            msg = self._full_r.recv()
            if msg is None:
                return
            if msg[0] == "error":
                raise VideoError(f"decoding in the background failed: {msg[1]}", self.path)
            slot, start, n, pts = msg
            self.last_slot = slot
            if self.pts is not None:
                if any(t is None for t in pts):
                    self.pts = None
                else:
                    self.pts.extend(pts)
            while len(held) >= self.hold:
                self._free_w.send(held.popleft())
            held.append(slot)
            yield start, self.buf[slot, :n]

    def close(self) -> None:
        if self._proc is not None:
            stop_child(self._proc, lambda: [self._free_w.send(None) for _ in range(self.n_slots)],
                       (self._free_r, self._free_w, self._full_r, self._full_w))
            self._proc = None
        self.buf = None  # the mapping is freed when the last view of it is gone

    def __enter__(self) -> "ProcessChunks":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FeatureProcess:
    """Stage-1 features of the chunks of a :class:`ProcessChunks` in another forked process.

    The detector and the feature extractor are both many small numpy/OpenCV calls: in one
    process they take turns on one core. Here the consumer detects chunk ``k`` while this
    process computes the features of chunk ``k-1`` from the same shared buffers (it keeps
    references to past frames there: the source must hold ``lag`` chunks more, see
    ``ProcessChunks(hold_extra=...)``). Results come back in order; the same extractor object,
    so the same numbers as in-process.
    """

    lag = 1  # chunks in flight

    def __init__(self, extractor, source: ProcessChunks, writer=None):
        import multiprocessing as mp

        self.extractor, self.source, self.writer = extractor, source, writer
        ctx = mp.get_context("fork")
        self._job_r, self._job_w = ctx.Pipe(duplex=False)
        self._res_r, self._res_w = ctx.Pipe(duplex=False)
        self._parent_pid = os.getpid()
        self._proc = ctx.Process(target=self._work, name="mouseact-features", daemon=True)
        self._proc.start()
        self.pending = 0
        self.seconds = 0.0  # the worker's own time

    def _work(self) -> None:  # in the child
        import time

        die_with_parent(self._parent_pid)

        try:
            while True:
                job = self._job_r.recv()
                if job is None:
                    return
                if job == "finish":  # the pass is over: write the last kept crops, then answer
                    t0 = time.perf_counter()
                    self.writer.finish()
                    self._res_w.send((self.writer.bytes_written, time.perf_counter() - t0))
                    continue
                slot, start, n, boxes = job
                t0 = time.perf_counter()
                frames = self.source.buf[slot, :n]
                out = np.asarray(self.extractor.process(start, frames, boxes), np.float32)
                if self.writer is not None:
                    self.writer.add(start, frames, boxes)
                self._res_w.send((out, time.perf_counter() - t0))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            try:
                self._res_w.send(("error", f"{type(exc).__name__}: {exc}"))
            except OSError:
                pass

    def submit(self, start: int, n: int, boxes: np.ndarray) -> None:
        self._job_w.send((self.source.last_slot, start, n, np.asarray(boxes)))
        self.pending += 1

    def finish_writer(self) -> None:
        """Have the child write its last kept crops (and wait until it has)."""
        self._job_w.send("finish")
        self.pending += 1
        self.result()

    def result(self) -> np.ndarray:
        while not self._res_r.poll(1.0):
            if not self._proc.is_alive() and not self._res_r.poll(0):
                raise RuntimeError(f"feature process died (exit code {self._proc.exitcode})")
        msg = self._res_r.recv()
        self.pending -= 1
        if isinstance(msg[0], str):
            raise RuntimeError(f"feature extraction failed in the background: {msg[1]}")
        self.seconds += msg[1]
        return msg[0]

    def close(self) -> None:
        if self._proc is not None:
            stop_child(self._proc, lambda: self._job_w.send(None),
                       (self._job_r, self._job_w, self._res_r, self._res_w))
            self._proc = None


def sample_indices(start: int, end: int, n: int) -> np.ndarray:
    return np.linspace(start, end, n).round().astype(np.int64)


def widen(start: int, end: int, min_len: int, n_frames: int) -> tuple[int, int]:
    """Grow ``[start, end]`` symmetrically to at least ``min_len`` frames, inside the video."""
    length = end - start + 1
    if length >= min_len or n_frames < min_len:
        return start, end
    start = max(0, start - (min_len - length) // 2)
    start = min(start, n_frames - min_len)
    return start, start + min_len - 1


def read_groups(segments: list[tuple[int, int]], max_gap: int, max_cost: float, cost=None):
    """Group sorted segments into sequential reads.

    Decoding through a gap of up to ``max_gap`` frames is cheaper than seeking (a seek decodes
    from the previous key frame: up to one GOP, 250 frames in the arena video). A group's summed
    ``cost(segment)`` (default: its frame count; the pipeline uses the bytes of its crops) stays
    under ``max_cost`` unless one segment alone exceeds it, which bounds memory.
    """
    cost = cost or (lambda seg: seg[1] - seg[0] + 1)
    group: list[tuple[int, int]] = []
    hi = -1
    kept = 0.0
    for seg in segments:
        s, e = seg
        c = cost(seg)
        if group and (s - hi - 1 > max_gap or kept + c > max_cost):
            yield group
            group, kept, hi = [], 0.0, -1
        group.append(seg)
        kept += c
        hi = max(hi, e)
    if group:
        yield group


def sampled_frames(start: int, end: int, step: int) -> range:
    """The frames of ``[start, end]`` stage 2 embeds: the multiples of ``step`` (the video at the
    classifier's training rate). On one grid for the whole video, not from each segment's start, so
    overlapping segments share their frames and each is read and converted once. A segment of
    ``k * step`` frames holds exactly ``k`` of them."""
    return range(start + (-start) % step, end + 1, step)


def _group_buffers(group: list[tuple[int, int]], rects_all: np.ndarray, step: int = 1):
    """For one read over ``group``: its frame range, each segment's union rectangle and empty crop
    array (one row per sampled frame, :func:`sampled_frames`), and the segments' first sampled frames
    and ends."""
    lo, hi = min(s for s, _ in group), max(e for _, e in group)
    unions, crops = [], []
    for s, e in group:
        r = rects_all[s:e + 1]
        u = np.array([r[:, 0].min(), r[:, 1].min(), r[:, 2].max(), r[:, 3].max()])
        unions.append(u)
        crops.append(np.empty((len(sampled_frames(s, e, step)), u[3] - u[1], u[2] - u[0], 3), np.uint8))
    firsts = np.array([sampled_frames(s, e, step).start for s, e in group])
    return lo, hi, unions, crops, firsts, np.array([e for _, e in group])


def _segments_at(i: int, firsts: np.ndarray, ends: np.ndarray, step: int) -> np.ndarray:
    """Segments that keep frame ``i``: a sampled frame inside them."""
    if i % step:
        return np.empty(0, np.int64)
    return np.flatnonzero((firsts <= i) & (ends >= i))


def _shifted_rects(group, unions, rects_all: np.ndarray, step: int) -> list[np.ndarray]:
    return [rects_all[sampled_frames(s, e, step)] - np.array([u[0], u[1], u[0], u[1]])
            for u, (s, e) in zip(unions, group)]


def read_segment_crops(vr: VideoReader, group: list[tuple[int, int]], rects_all: np.ndarray,
                       step: int = 1) -> list:
    """One sequential read over ``group``; each segment's frames cut to the union of its crop rects.

    Returns ``[(crops (T, h, w, 3), rects shifted into the crop (T, 4)), ...]`` in group order:
    exactly the pixels the embedder would crop from the full frames, without holding full frames.
    ``step``: keep only the multiples of ``step`` (:func:`sampled_frames`; the classifier's training
    frame rate).
    """
    lo, hi, unions, crops, firsts, ends = _group_buffers(group, rects_all, step)
    for i, frame in enumerate(vr.iter_frames(lo, hi + 1), start=lo):
        for k in _segments_at(i, firsts, ends, step):
            x1, y1, x2, y2 = unions[k]
            crops[k][(i - firsts[k]) // step] = frame[y1:y2, x1:x2]
    return list(zip(crops, _shifted_rects(group, unions, rects_all, step)))


def split_tasks(segments: list[tuple[int, int]], n_workers: int, max_per_task: int = 64
                ) -> list[list[tuple[int, int]]]:
    """Sorted ``segments`` cut into contiguous runs for ``n_workers`` stage-2 processes.

    At least 4 runs per worker (so the last one to finish does not idle the others long) and at
    most ``max_per_task`` segments per run; each run costs one extra seek (at most one GOP of
    decoding) over a single sequential read.
    """
    segments = sorted(segments)
    if not segments:
        return []
    n = max(min(len(segments), 4 * max(n_workers, 1)), int(np.ceil(len(segments) / max_per_task)))
    edges = np.linspace(0, len(segments), n + 1).round().astype(int)
    return [segments[a:b] for a, b in zip(edges[:-1], edges[1:]) if b > a]


# set by Predictor._classify_in_workers just before its pool forks; read by _stage2_task in the workers
_STAGE2: dict[str, Any] = {}


def _stage2_task(task: list[tuple[int, int]]) -> tuple[np.ndarray, float, float, int]:
    """In a worker process: read one run of segments (kept crops, or grouped sequential re-reads)
    and embed it. Returns the embeddings, read and embed seconds, and segments re-read."""
    import time

    st = _STAGE2
    rects_all, embedder, bs = st["rects"], st["embedder"], st["batch_size"]
    out, t_read, t_embed, n_reread = [], 0.0, 0.0, 0
    for group in read_groups(task, st["read_gap"], st["max_bytes"], st["cost"]):
        t0 = time.perf_counter()
        items, n = read_group(st["video"], group, rects_all, st["pts"], st["step"], st["store"])
        t1 = time.perf_counter()
        n_reread += n
        for b in range(0, len(items), bs):
            out.append(embedder.embed_batch(items[b:b + bs]))
        t_read, t_embed = t_read + t1 - t0, t_embed + time.perf_counter() - t1
        del items
    return np.concatenate(out), t_read, t_embed, n_reread


def read_segment_crops_av(video: str | Path, group: list[tuple[int, int]], rects_all: np.ndarray,
                          pts: Sequence[int], step: int = 1) -> list:
    """:func:`read_segment_crops` with PyAV, seeking by the streaming pass's frame timestamps.

    Cheaper than decoding full RGB frames: frames in the gaps between segments (and those the frame
    step skips) are decoded but never converted, and of the others only a region holding the crop
    unions needed there is converted (:func:`mouseact.video.crop_rgb`). The region has one size for
    the whole read (even-aligned, moved with the mouse): the converter is set up again whenever the
    size changes, which cost more than the conversion itself. The first frame of every read is also
    converted whole and compared: if the region conversion ever differs, the read converts whole
    frames.
    """
    from av.video.reformatter import VideoReformatter

    from mouseact.video import crop_rgb, iter_av_range

    lo, hi, unions, crops, firsts, ends = _group_buffers(group, rects_all, step)
    u_all = np.array(unions)
    needed = {}  # frame -> (segments that keep it, bounding box of their unions)
    for i in range(lo + (-lo) % step, hi + 1, step):
        ks = _segments_at(i, firsts, ends, step)
        if len(ks):
            needed[i] = (ks, u_all[ks, :2].min(0), u_all[ks, 2:].max(0))
    if not needed:
        return list(zip(crops, _shifted_rects(group, unions, rects_all, step)))
    sizes = np.array([b - a for _, a, b in needed.values()])
    # one even region size for the read; +1 so an even-aligned corner still reaches the far edge
    rw, rh = (int(v) + 1 + (int(v) + 1) % 2 for v in sizes.max(0))
    exact: bool | None = None  # region conversion checked against the whole frame?
    conv = VideoReformatter()  # one converter for the whole read (a new one per frame costs ~5x)
    for i, frame in iter_av_range(video, pts, lo, hi + 1):
        if i not in needed:
            continue  # a gap frame (or one the frame step skips): decoded on the way, never converted
        ks, (ax1, ay1), (ax2, ay2) = needed[i]
        W, H = frame.width, frame.height
        if rw <= W and rh <= H and W % 2 == 0 and H % 2 == 0:
            bx1, by1 = min(int(ax1) & ~1, W - rw), min(int(ay1) & ~1, H - rh)
            bx2, by2 = bx1 + rw, by1 + rh
        else:  # odd frame size or a region as large as the frame: this frame's own box
            bx1, by1, bx2, by2 = int(ax1), int(ay1), int(ax2), int(ay2)
        if exact is None:
            full = VideoReformatter().reformat(frame, format="rgb24").to_ndarray()
            exact = np.array_equal(crop_rgb(frame, bx1, by1, bx2, by2, conv), full[by1:by2, bx1:bx2])
            region = full[by1:by2, bx1:bx2]
        elif exact:
            region = crop_rgb(frame, bx1, by1, bx2, by2, conv)
        else:
            region = conv.reformat(frame, format="rgb24").to_ndarray()[by1:by2, bx1:bx2]
        for k in ks:
            x1, y1, x2, y2 = unions[k]
            crops[k][(i - firsts[k]) // step] = region[y1 - by1:y2 - by1, x1 - bx1:x2 - bx1]
    return list(zip(crops, _shifted_rects(group, unions, rects_all, step)))


def read_segment_crops_stored(store, group: list[tuple[int, int]], rects_all: np.ndarray, step: int = 1) -> list:
    """:func:`read_segment_crops` from the regions the streaming pass kept (``store``, a
    :class:`~mouseact.inference.cropstore.CropStore` that :meth:`covers` every segment of ``group``):
    each sampled frame's region read once, every segment's union cut from it."""
    lo, hi, unions, crops, firsts, ends = _group_buffers(group, rects_all, step)
    for i in range(lo + (-lo) % step, hi + 1, step):
        ks = _segments_at(i, firsts, ends, step)
        if not len(ks):
            continue
        pixels, (rx1, ry1, _, _) = store.region_pixels(i)
        for k in ks:
            x1, y1, x2, y2 = unions[k]
            crops[k][(i - firsts[k]) // step] = pixels[y1 - ry1:y2 - ry1, x1 - rx1:x2 - rx1]
    return list(zip(crops, _shifted_rects(group, unions, rects_all, step)))


def read_group(video: str | Path, group: list[tuple[int, int]], rects_all: np.ndarray,
               pts: Sequence[int] | None = None, step: int = 1, store=None) -> tuple[list, int]:
    """One group's crops (every ``step``-th frame of each segment) and how many segments were
    decoded again: from the streaming pass's kept regions (``store``) for the segments inside
    them; the others re-read by timestamp with PyAV when the pass recorded them, else (or when that
    fails) with a fresh :class:`VideoReader`, closed before the embedder runs (an open decord
    reader keeps decoding ahead meanwhile: unbounded memory)."""
    if store is None:
        return _reread_group(video, group, rects_all, pts, step), len(group)
    ok = store.covers(group, rects_all)
    out: list = [None] * len(group)
    for want, read in ((True, lambda g: read_segment_crops_stored(store, g, rects_all, step)),
                       (False, lambda g: _reread_group(video, g, rects_all, pts, step))):
        pos = [k for k in range(len(group)) if ok[k] == want]
        if pos:
            for k, item in zip(pos, read([group[k] for k in pos])):
                out[k] = item
    return out, int((~ok).sum())


def _reread_group(video: str | Path, group: list[tuple[int, int]], rects_all: np.ndarray,
                  pts: Sequence[int] | None = None, step: int = 1) -> list:
    if pts is not None:
        try:
            return read_segment_crops_av(video, group, rects_all, pts, step)
        except VideoError:
            pass
    with VideoReader(video) as vr:
        return read_segment_crops(vr, group, rects_all, step)


class Predictor:
    """Load a bundle once, then ``predict(video)`` any number of videos."""

    def __init__(self, model_dir: str | Path | None = None, detector: Any = None,
                 detector_model: str | Path | None = None, dense: bool = False,
                 config: PipelineConfig | None = None, overrides: Sequence[str] = (),
                 config_path: str | Path | None = None, progress_bars: bool | None = None):
        """``detector``: a kind (``classical``/``yolo``/``rtdetr``) or a ready Detector object
        (e.g. the detector service client); ``None`` takes the config's. ``overrides`` are
        ``--set key=value`` items on top of the bundle's pipeline.json."""
        from mouseact import config as config_mod
        from mouseact.models import load_bundle

        self.bundle = load_bundle(model_dir)
        if config is None:
            config = config_mod.load(PipelineConfig, yaml_path=config_path, overrides=overrides,
                                     base=copy.deepcopy(self.bundle.pipeline))
        if isinstance(detector, str):
            config = config.model_copy(update={"detector": detector})
            detector = None
        if detector_model:
            config = config.model_copy(update={"detector_model": str(detector_model)})
        if detector is None and config.detector != "classical" and not config.detector_model:
            raise ModelError(f"the {config.detector} detector needs --detector-model DIR "
                             "(made by `mouseact train detector`)")
        if detector is None and config.detector == "classical" and config.detector_model:
            raise ModelError("the classical detector takes no model (detector_model is set: choose --detector yolo "
                             "or rtdetr, or drop it)", config.detector_model)
        self._trained_detector = None
        if detector is None and config.detector != "classical":
            from mouseact.preprocess.detection import make_detector

            # loaded once: a bad model fails now, not per video, and the weights are not read again per
            # video (a trained detector keeps no state between videos)
            self._trained_detector = make_detector(config.detector, model_path=config.detector_model)
        if detector is not None and hasattr(detector, "info"):
            # a detector service must run the detector the settings ask for: replacing a bundle's trained
            # detector by another one silently would change every box and so every result
            runs = detector.info().get("detector")
            if runs != config.detector:
                raise ModelError(f"the detector service at {getattr(detector, 'base_url', '?')} runs the {runs} "
                                 f"detector but the pipeline settings ask for {config.detector}: start the service "
                                 f"with that detector, or set detector={runs} to use the service's",
                                 self.bundle.root)
        self.config = config
        self.detector_object = detector
        self.dense = dense
        self.progress_bars = progress_bars
        self._n_reread = 0  # stage-2 segments decoded again in the current predict()
        self._load_models()
        postprocess.validate(self.config.postprocess, self.classes)
        store_dir = self.config.crop_store_dir
        if self.config.keep_crops and store_dir and not Path(store_dir).is_dir():
            raise MouseActError("crop_store_dir is not an existing directory", store_dir)

    # -- models ------------------------------------------------------------------------------
    def _load_models(self) -> None:
        from mouseact.classifier import Classifier

        self.classifier = Classifier.load(self.bundle.classifier_dir)
        self.classes = list(self.classifier.behaviours)  # what the outputs list (no idle/background class)
        self.crop_policy = getattr(self.classifier, "crop_policy", None) or CropPolicy.from_dict(
            (getattr(self.classifier, "card", None) or {}).get("crop_policy"))
        # the embedder needs at least this many (sampled) frames per segment
        self.min_frames = _embedder_min_frames(self.classifier)
        self.localizer = None
        if not self.dense:
            if self.bundle.localizer_dir is None:
                raise ModelError("the model has no stage-1 localizer; use --dense or a bundle with one",
                                 self.bundle.root)
            from mouseact.localizer import Localizer

            self.localizer = Localizer.load(self.bundle.localizer_dir)
            from mouseact.models import training_detector

            trained = training_detector(self.localizer.card)
            now = {"detector": self.config.detector, "detector_stride": self.config.detector_stride}
            differ = [f"{k} {now[k]} (trained with {trained[k]})" for k in trained if trained[k] != now[k]]
            if differ:  # stage 1's features are computed from the boxes: other boxes shift them
                logging.getLogger(__name__).warning(
                    "the localizer was trained on boxes of another detector setting than this run's: %s; "
                    "set them as in training (mouseact bundle does) unless you measured the difference",
                    ", ".join(differ))

    def run_settings(self) -> dict:
        """What this predictor's results depend on, besides the video and the post-processing (recorded in
        each video's sidecar; a resumed batch must match it): the model, the detector and every pipeline
        setting that is not about speed or memory."""
        from mouseact.preprocess.detection import detector_key

        det = self.detector_object
        if det is not None and hasattr(det, "info"):  # a detector service: what it says it runs
            service = det.info()
            detector = {"kind": service.get("detector"), "model_key": service.get("model_key")}
        elif det is not None:  # a detector object handed in by a program
            detector = {"kind": getattr(det, "kind", type(det).__name__), "model_key": None}
        else:
            detector = detector_key(self.config.detector, self.config.detector_model)
        config = self.config.model_dump(mode="json", exclude={*SPEED_ONLY_KEYS, "postprocess", "detector",
                                                              "detector_model"})
        return {"model": str(self.bundle.root), "model_key": bundle_fingerprint(self.bundle),
                "mode": "dense" if self.dense else "two-stage", "detector": detector, "pipeline": config,
                "background_classes": self.classifier.background_classes}

    def _make_detector(self, info: VideoInfo):
        from mouseact.preprocess.detection import StreamingDetector, make_detector

        if self.detector_object is not None:
            det = self.detector_object
            if hasattr(det, "reset"):
                det.reset()  # a stateful (background-model) detector must not carry over videos
        elif self._trained_detector is not None:
            det = self._trained_detector
            det.reset()
        else:
            det = make_detector(self.config.detector)  # classical: its background model is per video
        stream = StreamingDetector(det, self.config.detector_stride, fps=info.fps)
        # the classical detector learns its background from frames sampled across the video
        # (a few dozen small random reads) so the first frames are detected as well as the rest
        stream.prime(info.path, self.config.background_frames)
        return stream

    # -- one video -----------------------------------------------------------------------------
    def predict(self, video: str | Path, name: str | None = None, dataset: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> VideoResult:
        """Run the whole pipeline on one video. ``progress(done_frames, n_frames)`` is called
        after every decoded chunk (for services; the terminal gets a progress bar anyway)."""
        video = Path(video)
        timer = StageTimer()
        cfg = self.config
        # The streaming pass decodes with PyAV: decord's reader keeps decoding ahead in a
        # background thread whenever its consumer is slower than the decoder, so its memory
        # grows with video length (dmlc/decord#157, #208; measured: 2.4 GB after 7,700 frames
        # of the arena video). PyAV decodes only what is asked for.
        store = None
        self._n_reread = 0
        try:
            with VideoReader(video, backend=cfg.stream_backend) as vr:
                info = vr.info
                if not self.dense and info.n_frames < SHORT_VIDEO_S * info.fps:
                    # stage 1 scores frames against the video's own resting level (its quiet 10 %): a clip
                    # of a few seconds may have no rest, and then nothing stands out as action
                    logging.getLogger(__name__).warning(
                        "%s is %.1f s long: stage 1 may find no candidates in a clip this short (it needs some "
                        "rest to compare with); --dense classifies every window", Path(video).name,
                        info.n_frames / info.fps)
                if cfg.keep_crops and info.n_frames >= self.window_frames(info.fps):
                    from mouseact.inference.cropstore import CropStore

                    store = CropStore(info.n_frames, self.classifier.frame_step(info.fps), info.width,
                                      info.height, cfg.crop_store_dir, max_gb=cfg.crop_store_max_gb)
                track, features, pts = self._streaming_pass(vr, timer, progress, store)
                n, fps = info.n_frames, info.fps
                if self.dense:
                    segments = dense_windows(n, self.segment_frames(fps), max(1, int(round(cfg.dense_stride_s * fps))))
                else:
                    with timer.stage("localize"):
                        segments = self._proposals(features, fps)
            del features
            candidates = self._classify_segments(video, segments, track, info, timer, pts, store)
            if not self.dense and cfg.grow_s > 0:
                grown, more = self._grow(video, candidates, track, info, timer, pts, store, segments)
                candidates += grown
                segments = segments + more
        finally:
            if store is not None:
                store.close()
        with timer.stage("postprocess"):
            intervals = postprocess.run(candidates, n, fps, cfg.postprocess, self.classifier.classes,
                                        background=self.classifier.background_classes)
        steps = {step: round(1000 * sum(timer.seconds.get(s, 0.0) for s in parts) / n, 3)
                 for step, parts in STEPS.items()}
        return VideoResult(video, name or video.name, info, intervals, track, timer.report(n),
                           len(segments), self._n_reread, dataset, steps, sorted(candidates))

    def _streaming_pass(self, vr: VideoReader, timer: StageTimer, progress=None, store=None):
        """Decode once; detect, (two-stage mode) compute stage-1 features and (with ``store``) keep
        the mouse's neighbourhood of the sampled frames for stage 2, chunk by chunk."""
        info = vr.info
        with timer.stage("detect"):
            detector = self._make_detector(info)
        extractor = None if self.dense else self.localizer.feature_extractor(info.fps)
        writer = None
        if store is not None:
            from mouseact.inference.cropstore import CropStoreWriter

            writer = CropStoreWriter.for_policy(store, self.crop_policy, self.segment_frames(info.fps))
        features: list[np.ndarray] = []
        cfg = self.config
        source = fproc = None
        if cfg.decode_process and cfg.prefetch_chunks and ProcessChunks.available():
            vr.close()  # the child opens its own reader
            use_fproc = extractor is not None and cfg.feature_process
            # the writer keeps one chunk more (it writes a chunk once the next one's boxes are known)
            source = ProcessChunks(info.path, info, cfg.chunk_size, cfg.prefetch_chunks, cfg.stream_backend,
                                   hold_extra=(FeatureProcess.lag if use_fproc else 0) + (writer is not None))
            chunks = iter(source)
            if use_fproc:
                fproc = FeatureProcess(extractor, source, writer)
                writer = None  # the feature process writes
        else:
            chunks = prefetch(vr.iter_chunks(cfg.chunk_size), cfg.prefetch_chunks)
        try:
            with bar(info.n_frames, f"{Path(info.path).name}: detect+features", disable=self._no_bar()) as pbar:
                while True:
                    with timer.stage("decode"):
                        item = next(chunks, None)
                    if item is None:
                        break
                    start, frames = item
                    with timer.stage("detect"):
                        boxes = detector.process(start, frames)
                    if fproc is not None:
                        with timer.stage("features"):  # waiting for the previous chunk's features
                            if fproc.pending >= FeatureProcess.lag:
                                features.append(fproc.result())
                            fproc.submit(start, len(frames), boxes)
                    elif extractor is not None:
                        with timer.stage("features"):
                            features.append(np.asarray(extractor.process(start, frames, boxes), np.float32))
                    if writer is not None:
                        with timer.stage("keep_crops"):
                            writer.add(start, frames, boxes)
                    pbar.update(len(frames))
                    if progress is not None:
                        progress(start + len(frames), info.n_frames)
                    del frames, item
                if fproc is not None:
                    with timer.stage("features"):
                        while fproc.pending:
                            features.append(fproc.result())
                        if fproc.writer is not None:
                            fproc.finish_writer()
                    timer.add("features (worker)", fproc.seconds)
                if writer is not None:
                    with timer.stage("keep_crops"):
                        writer.finish()
        finally:
            if fproc is not None:
                fproc.close()
            if extractor is not None:
                extractor.reset()  # drops its references to past frames (views of the shared buffers)
            if source is not None:
                source.close()
        with timer.stage("detect"):
            track = detector.finalize()
        feats = np.concatenate(features) if features else None
        pts = source.pts if source is not None else None
        if pts is not None and (len(pts) != info.n_frames or np.any(np.diff(pts) <= 0)):
            pts = None  # not one increasing timestamp per frame: stage 2 reads without seeking by them
        return track, feats, pts

    def window_frames(self, fps: float) -> int:
        """Frames of a ``fps`` video one classifier window spans: its frame count at the frame rate it
        was trained at (every ``frame_step``-th frame is embedded), or ``clip_frames`` if longer."""
        return max(self.min_frames * self.classifier.frame_step(fps), self.config.clip_frames or 0)

    def segment_frames(self, fps: float) -> int:
        """Stage-2 segment length in frames: ``segment_s``, but never below one classifier window."""
        return max(self.window_frames(fps), int(round(self.config.segment_s * fps)))

    def _proposals(self, features: np.ndarray, fps: float) -> list[tuple[int, int]]:
        n = len(features)
        actionness = self.localizer.actionness(features, fps)
        proposals = self.localizer.propose(actionness, fps)
        min_len = int(round(self.config.min_proposal_s * fps))
        piece = self.segment_frames(fps)
        # the union: nested proposals (the localizer's TAG levels) add no frames, and a short nested one
        # must not pull in a grid window of its own
        kept = [p for p in merge(proposals) if p.length >= max(min_len, 1)]
        if self.config.proposal_windows == "grid":
            grid = dense_windows(n, piece, max(1, int(round(self.config.dense_stride_s * fps))))
            centres = np.array([(s + e) // 2 for s, e in grid])
            out = set()
            for p in kept:
                inside = np.flatnonzero((centres >= p.start) & (centres <= p.end))
                if not len(inside):  # shorter than the grid's step: the window centred nearest
                    inside = [int(np.argmin(np.abs(centres - (p.start + p.end) // 2)))]
                out.update(grid[i] for i in inside)
            return sorted(out)
        out: list[tuple[int, int]] = []
        for p in kept:
            for s, e in split_segment(max(p.start, 0), min(p.end, n - 1), piece):
                out.append(widen(s, e, self.window_frames(fps), n))
        return sorted(set(out))

    def _background_labels(self) -> set[str]:
        """Classifier labels the localizer was trained to call background (its card's), and the classifier's
        own background classes (a preprocess project's idle clips)."""
        card = getattr(self.localizer, "card", None) or {}
        localizer_bg = set((card.get("training_data") or {}).get("background_labels") or [])
        return (localizer_bg & set(self.classes)) | set(self.classifier.background_classes)

    def _grow(self, video: Path, candidates: list[Interval], track, info: VideoInfo, timer: StageTimer,
              pts=None, store=None, sent_before: Sequence[tuple[int, int]] = ()
              ) -> tuple[list[Interval], list[tuple[int, int]]]:
        """Extend action candidates outward through stage 2, one segment per side and round.

        Every round classifies, for each candidate labelled as an action in the previous round, a
        window of one segment reaching half a segment past its left and its right end; the ones
        stage 2 also calls an action grow further in the next round. A side stops at background,
        at an open-set 'unknown', at frames already classified, at the video's ends or after
        ``grow_s``. ``sent_before``: every segment stage 2 already saw (the candidates lack those it
        called 'unknown'; they count as classified too). Returns the new labelled candidates (all labels, as from
        :meth:`_classify_segments`) and every segment sent through stage 2 on the way."""
        n, fps = info.n_frames, info.fps
        piece, min_len = self.segment_frames(fps), self.window_frames(fps)
        half = max(1, piece // 2)
        rounds = int(np.ceil(self.config.grow_s * fps / half))
        background = self._background_labels()
        covered = np.zeros(n, bool)
        classified = {(iv.start, iv.end) for iv in candidates} | set(sent_before)
        for s, e in classified:
            covered[s:e + 1] = True
        frontier = [iv for iv in candidates if iv.label not in background and iv.label in self.classes]
        out: list[Interval] = []
        sent: list[tuple[int, int]] = []
        for _ in range(rounds):
            new: dict[tuple[int, int], tuple[int, int]] = {}  # segment -> the frames it adds
            for iv in frontier:
                for side in (-1, 1):
                    edge = iv.start - 1 if side < 0 else iv.end + 1
                    if not 0 <= edge < n or covered[edge]:
                        continue
                    # a window reaching half a segment past the edge and overlapping the candidate
                    # by the rest, as the dense grid's windows straddle a bout's ends
                    if side < 0:
                        lo = max(0, iv.start - half)
                        seg = widen(lo, min(n - 1, lo + piece - 1), min_len, n)
                        outside = (lo, iv.start - 1)
                    else:
                        hi = min(n - 1, iv.end + half)
                        seg = widen(max(0, hi - piece + 1), hi, min_len, n)
                        outside = (iv.end + 1, hi)
                    if seg not in classified and not covered[outside[0]:outside[1] + 1].all():
                        new[seg] = outside
            if not new:
                break
            grown = self._classify_segments(video, sorted(new), track, info, timer, pts, store)
            sent += sorted(new)
            for seg, (a, b) in new.items():  # segments dropped as 'unknown' count too: no growth there
                classified.add(seg)
                covered[a:b + 1] = True
            out += grown
            frontier = [iv for iv in grown if iv.label not in background]
        return out, sent

    def _classify_segments(self, video: Path, segments: list[tuple[int, int]], track, info: VideoInfo,
                           timer: StageTimer, pts: Sequence[int] | None = None, store=None) -> list[Interval]:
        """Stage 2 on each segment: its frames from the regions the streaming pass kept
        (``store``), or re-read by random access where the segment's crop is not inside them.

        Crop rectangles are the training ones: ``crop_boxes`` of the track with the classifier's
        crop policy, frame by frame. Each segment's frames are cut down at once to the union of
        its rectangles (rectangles shifted to match), which gives the embedder exactly the
        pixels it would crop from the full frames while holding only the mouse's neighbourhood.
        Only every ``frame_step``-th frame is kept: the video at the classifier's training rate.
        """
        if not segments:
            return []
        if info.n_frames < self.window_frames(info.fps):
            return []  # shorter than one stage-2 window: nothing can be classified
        step = self.classifier.frame_step(info.fps)
        rate = self.classifier.frame_rate
        if rate and info.fps and info.fps < 0.75 * rate:
            # frames are never repeated to reach the training rate: a window then spans more time
            logging.getLogger(__name__).warning(
                "%s: %.3g fps is below the %.3g fps the classifier was trained at; its windows span "
                "%.1fx the time they spanned in training", info.path, info.fps, rate, rate / info.fps)
        with timer.stage("read_clips"):
            rects_all = crop_boxes(np.asarray(track.boxes, np.float64), info.width, info.height, self.crop_policy)

        def crop_bytes(seg):
            r = rects_all[seg[0]:seg[1] + 1]
            return len(range(seg[0], seg[1] + 1, step)) * 3 * float(r[:, 2].max() - r[:, 0].min()) * float(r[:, 3].max() - r[:, 1].min())

        # forked workers only for the numpy/OpenCV fast embedder: a torch embedder's thread pool
        # does not survive fork reliably
        if (self.config.stage2_workers > 0 and len(segments) > 1 and ProcessChunks.available()
                and getattr(self.classifier.embedder, "kind", None) == "fast"):
            return self._classify_in_workers(video, segments, rects_all, crop_bytes, info, timer, pts, step, store)
        done: list[tuple[int, int]] = []
        embedded: list[np.ndarray] = []
        bs = self.config.batch_size
        with bar(len(segments), f"{Path(info.path).name}: classify", unit="segment",
                 disable=self._no_bar()) as pbar:
            def read(group):
                items, n_reread = read_group(video, group, rects_all, pts, step, store)
                self._n_reread += n_reread
                return group, items

            groups = read_groups(sorted(segments), self.config.read_gap_frames,
                                 self.config.read_group_mb * 2**20, crop_bytes)
            # the next group is decoded in a background thread while this one is embedded
            # (one group ahead: memory stays bounded by two groups of mouse crops)
            reads = prefetch((read(g) for g in groups), self.config.prefetch_chunks and 1)
            while True:
                with timer.stage("read_clips"):
                    item = next(reads, None)
                if item is None:
                    break
                group, items = item
                for b in range(0, len(group), bs):
                    batch = group[b:b + bs]
                    with timer.stage("embed"):
                        embedded.append(self.classifier.embedder.embed_batch(items[b:b + bs]))
                    done += batch
                    pbar.update(len(batch))
                del items
        return self._classify_embedded(done, embedded, timer)

    def _classify_embedded(self, segments, embedded: list[np.ndarray], timer: StageTimer) -> list[Interval]:
        """Label every embedded segment of one video at once: a classifier trained with per-video
        standardisation (``needs_video_statistics``) is given the video's segment embeddings as its
        statistics — in two-stage mode those are the candidates only (the resting stretches stage 1
        skipped are not embedded), in --dense mode the whole video."""
        if not segments:
            return []
        with timer.stage("classify"):
            emb = np.concatenate(embedded)
            video = emb if getattr(self.classifier, "needs_video_statistics", False) else None
            labels, confs = self.classifier.predict(emb, video_embeddings=video)
        return self._labelled(segments, labels, confs)

    def _labelled(self, segments, labels, confs) -> list[Interval]:
        return [Interval(int(s), int(e), str(label), float(conf)) for (s, e), label, conf in zip(segments, labels, confs)
                if label in self.classifier.classes or self.config.keep_unknown]

    def _classify_in_workers(self, video: Path, segments: list[tuple[int, int]], rects_all: np.ndarray,
                             crop_bytes, info: VideoInfo, timer: StageTimer, pts=None, step: int = 1,
                             store=None) -> list[Interval]:
        """Stage 2 in ``stage2_workers`` forked processes: each re-reads a contiguous run of the
        candidate segments and embeds it (the embedder is Python-heavy: threads would share one
        core through the GIL). Same segments, same order, same embeddings as in-process; each
        worker holds at most one read group (``read_group_mb``) of mouse crops.

        Timing: ``embed`` is the wall time spent waiting for the workers (reading and embedding
        overlap there); the workers' own summed times are reported as ``read_clips (workers)``
        and ``embed (workers)``.
        """
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        cfg = self.config
        tasks = split_tasks(segments, cfg.stage2_workers)
        _STAGE2.update(video=str(video), rects=rects_all, embedder=self.classifier.embedder, pts=pts, step=step, store=store,
                       batch_size=cfg.batch_size, read_gap=cfg.read_gap_frames,
                       max_bytes=cfg.read_group_mb * 2**20, cost=crop_bytes)
        done: list[tuple[int, int]] = []
        embedded: list[np.ndarray] = []
        # One OpenCV thread per worker: the workers already fill the cores, and OpenCV's pool in each of
        # them only oversubscribes (fast embedder: 8.1 ms CPU per 6.2 ms wall window with 2 threads,
        # 5.5 / 5.5 ms with 1). Set here, before the fork: setNumThreads inside a forked child whose
        # parent had started OpenCV's pool hangs.
        import cv2

        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        # a worker that dies (e.g. killed for memory) raises BrokenProcessPool here instead of hanging
        pool = ProcessPoolExecutor(min(cfg.stage2_workers, len(tasks)), mp_context=mp.get_context("fork"),
                                   initializer=die_with_parent, initargs=(os.getpid(),))
        try:
            with bar(len(segments), f"{Path(info.path).name}: classify", unit="segment",
                     disable=self._no_bar()) as pbar:
                results = pool.map(_stage2_task, tasks)  # in task order: same output order as in-process
                for task in tasks:
                    with timer.stage("embed"):
                        emb, t_read, t_embed, n_reread = next(results)
                    self._n_reread += n_reread
                    timer.add("read_clips (workers)", t_read)
                    timer.add("embed (workers)", t_embed)
                    embedded.append(emb)
                    done += task
                    pbar.update(len(task))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _STAGE2.clear()
            cv2.setNumThreads(cv_threads)
        return self._classify_embedded(done, embedded, timer)

    def _no_bar(self) -> bool | None:
        return None if self.progress_bars is None else not self.progress_bars


def _embedder_min_frames(classifier) -> int:
    """Consecutive frames the classifier's embedder needs per segment (its window)."""
    emb = classifier.embedder
    for value in (getattr(emb, "min_frames", None), (getattr(emb, "config", None) or {}).get("n_frames"),
                  ((getattr(classifier, "card", None) or {}).get("training") or {}).get("window")):
        if value:
            return int(value)
    return 16
