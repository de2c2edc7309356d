"""Training sequences with known frame labels, spliced from one-behaviour clips.

The B-SOiD example clips (``bsoid_clips/mouse1|mouse2``) each show one behaviour. A
sequence is made by cutting them into pieces and concatenating the pieces in a random order
so that background (``inactive``: the mouse resting; see ``BSOID_BACKGROUND``) fills most of
the time and action bouts are sparse, as in a real recording:

* every action clip contributes one or more pieces per sequence (a long clip such as the
  839-frame ``body_groom`` is cut into several bouts);
* between two action bouts there is usually a background stretch made of 1-4 background
  pieces (so cuts also happen background→background and cannot by themselves signal an
  action); with a small probability two action bouts touch (action→action cut);
* the background footage is reused (only 228 and 47 moving ``inactive`` frames exist), at
  random offsets and lengths;
* only frames that move are used: a montage panel's frozen tail (the last picture repeated after
  its example ended, up to 77 % of a mouse2 clip, see :mod:`mouseact.frozen`) is left out.

Frames are decoded piece by piece and fed through the detector and the
:class:`FeatureExtractor` exactly as the inference pipeline does (64-frame chunks), with the
background model primed from frames of all the mouse's clips. (Priming from frames spread over
the spliced sequence, as the pipeline primes a video, was tried: the resting mouse, one spot for
~80 % of the sequence, then enters the background and is lost, so "box missing" alone separated
rest from action — an artefact of splicing, not something that carries to real videos.)
The indices of the cut frames are returned so that benchmarks can show the model does not
merely detect cuts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from mouseact.config import Config
from mouseact.errors import MouseActError
from mouseact.localizer.features import FeatureConfig, FeatureExtractor
from pydantic import Field

# Background = the mouse resting. Locomotion is *not* background: it is a behaviour researchers
# compare between conditions (time spent moving, bout counts), the classifier has a class for it,
# and whatever stage 1 calls background can never reach the outputs. Stage 1 answers "is the
# mouse doing something?", stage 2 says what. (The issue's first suggestion, inactive + locomote,
# is still measured in bench/localizer.py.)
BSOID_BACKGROUND = ("inactive",)
# The default bundle's detector stride (common/models/default/pipeline.json). Train at the stride the
# pipeline runs: between detections boxes are interpolated, which smooths box jitter, and box
# kinematics of a resting mouse differ by 40x between stride 2 and 4 (docs/notes/issue-5-localizer.md).
DETECTOR_STRIDE = 4


class SequenceConfig(Config):
    action_share: float = Field(0.15, gt=0, lt=1, description="target share of action frames per sequence")
    action_piece_s: tuple[float, float] = Field((1.6, 8.0), description="action bout length range, seconds")
    background_piece_s: tuple[float, float] = Field((1.0, 6.0), description="background piece length range, s")
    touch_prob: float = Field(0.15, ge=0, le=1, description="chance that two action bouts are spliced back to back")
    background: tuple[str, ...] = Field(BSOID_BACKGROUND, description="clip labels that count as background")
    detector_stride: int = Field(DETECTOR_STRIDE, ge=1, description="run the detector on every n-th frame, as "
                                                                    "the pipeline will (its boxes shape the features)")


@dataclasses.dataclass(frozen=True)
class Piece:
    clip: str   # clip label (file stem)
    start: int  # first frame in the clip
    stop: int   # one past the last frame

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclasses.dataclass
class Sequence_:
    features: np.ndarray   # (N, F) float32
    labels: np.ndarray     # (N,) int: 0 background, i = classes[i-1]
    classes: list[str]
    cuts: np.ndarray       # frame indices where a new piece starts (excluding 0)
    fps: float
    pieces: list[Piece]
    boxes: np.ndarray      # (N, 4)

    @property
    def action(self) -> np.ndarray:
        return (self.labels > 0).astype(np.int8)


def clip_paths(folder: str | Path) -> dict[str, Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise MouseActError("clip folder not found", folder)
    clips = {p.stem: p for p in sorted(folder.glob("*.mp4"))}
    if not clips:
        raise MouseActError("no .mp4 clips (one behaviour per clip, file name = behaviour)", folder)
    return clips


def _need_both(clips, background: Sequence[str]) -> str:
    """The error when a clip folder lacks background or action clips: what is needed, what was found."""
    return (f"need both background clips ({', '.join(background)}) and action clips; the clips here are "
            f"{', '.join(clips) or 'none'} (see --background)")


def plan_sequence(lengths: dict[str, int], fps: float, rng: np.random.Generator,
                  config: SequenceConfig = SequenceConfig(), where: str | Path | None = None) -> list[Piece]:
    """A random order of pieces; action clips cut into bouts, background filling the gaps.
    ``where``: the clip folder, named by the error when it lacks background or action clips."""
    bg = [c for c in lengths if c in config.background]
    acts = [c for c in lengths if c not in config.background]
    if not bg or not acts:
        raise MouseActError(_need_both(lengths, config.background), where)
    lo, hi = (int(round(s * fps)) for s in config.action_piece_s)
    bouts: list[Piece] = []
    for c in acts:
        n = lengths[c]
        pos = int(rng.integers(0, max(1, n - hi))) if n > 2 * hi else 0
        # cut the clip from a random start into consecutive bouts of random length
        while pos < n:
            ln = int(rng.integers(lo, hi + 1))
            stop = n if n - (pos + ln) < lo else min(n, pos + ln)
            bouts.append(Piece(c, pos, stop))
            pos = stop
            if len(bouts) and rng.random() < 0.35:  # keep only part of long clips per sequence
                break
    rng.shuffle(bouts)
    n_action = sum(b.length for b in bouts)
    n_bg = n_action * (1 - config.action_share) / config.action_share
    gaps = len(bouts) + 1
    blo, bhi = (int(round(s * fps)) for s in config.background_piece_s)
    pieces: list[Piece] = []

    def background_stretch(total: int) -> None:
        left = total
        while left > blo:
            c = bg[int(rng.integers(len(bg)))]
            ln = min(int(rng.integers(blo, bhi + 1)), lengths[c], left)
            s = int(rng.integers(0, lengths[c] - ln + 1))
            pieces.append(Piece(c, s, s + ln))
            left -= ln

    for i, b in enumerate(bouts):
        if i == 0 or rng.random() >= config.touch_prob:
            background_stretch(int(rng.uniform(0.5, 1.5) * n_bg / gaps))
        pieces.append(b)
    background_stretch(int(rng.uniform(0.5, 1.5) * n_bg / gaps))
    return pieces


def _iter_piece_chunks(readers, pieces: Sequence[Piece], chunk: int) -> Iterator[np.ndarray]:
    """Frames of the spliced sequence in chunks of ``chunk`` frames."""
    buf: list[np.ndarray] = []
    n = 0
    for p in pieces:
        for frame in readers[p.clip].iter_frames(p.start, p.stop):
            buf.append(frame)
            n += 1
            if n == chunk:
                yield np.stack(buf)
                buf, n = [], 0
    if buf:
        yield np.stack(buf)


def prime_on_clips(detector, paths: Sequence[Path], per_clip: int = 6) -> None:
    """Background model from frames across all clips of one camera (= across 'the video')."""
    from mouseact.video import VideoReader

    if not hasattr(detector, "fit_background"):
        return
    frames, size = [], None
    for p in paths:
        with VideoReader(p) as full:
            size = (full.info.height, full.info.width)
            n = full.info.n_frames
        work_w = min(getattr(detector.config, "work_width", size[1]), size[1])
        with VideoReader(p, width=work_w, height=-1) as vr:
            frames.append(vr.get_frames(np.linspace(0, n - 1, per_clip).round().astype(int)))
    detector.fit_background(np.concatenate(frames), frame_size=size)


def build_sequence(folder: str | Path, pieces: Sequence[Piece], classes: Sequence[str],
                   feature_config: FeatureConfig | dict | None = None, detector: str = "classical",
                   stride: int = DETECTOR_STRIDE, chunk: int = 64, background: Sequence[str] = BSOID_BACKGROUND,
                   progress: bool = False, cache=None, detector_model: str | Path | None = None) -> Sequence_:
    """Decode, detect and extract features for one planned sequence, as the pipeline would. With
    ``cache`` (a :class:`~mouseact.localizer.cache.FeatureCache`) a sequence built before from the
    same clips, plan, detector and feature config is read back instead. ``detector_model``: the
    trained model directory of a ``yolo``/``rtdetr`` detector."""
    from mouseact.localizer.cache import cached_features, detector_config
    from mouseact.preprocess.detection import StreamingDetector, make_detector
    from mouseact.progress import bar
    from mouseact.video import VideoReader

    paths = clip_paths(folder)
    readers = {c: VideoReader(p) for c, p in paths.items()}
    try:
        fps = next(iter(readers.values())).info.fps
        fc = FeatureConfig(**{**(feature_config.model_dump() if isinstance(feature_config, FeatureConfig)
                                 else dict(feature_config or {})), "fps": fps})
        det = make_detector(detector, model_path=detector_model)

        def compute() -> tuple[np.ndarray, np.ndarray]:
            fx = FeatureExtractor(fc)
            prime_on_clips(det, list(paths.values()))
            stream = StreamingDetector(det, stride=stride, fps=fps)
            parts, part_boxes = [], []
            start = 0
            total = sum(p.length for p in pieces)
            with bar(total, desc="sequence", disable=not progress) as pb:
                for frames in _iter_piece_chunks(readers, pieces, chunk):
                    b = stream.process(start, frames)
                    parts.append(fx.process(start, frames, b))
                    part_boxes.append(b)
                    start += len(frames)
                    pb.update(len(frames))
            return np.concatenate(parts), np.concatenate(part_boxes)

        # every clip of the folder primes the detector's background, so all of them are in the key
        feats, boxes = cached_features(cache, list(paths.values()), compute, source="spliced", clips=list(paths),
                                       chunk=chunk, pieces=[dataclasses.astuple(p) for p in pieces],
                                       features=fc.model_dump(), detector=detector, stride=stride,
                                       detector_config=detector_config(det))
    finally:
        for r in readers.values():
            r.close()
    index = {c: i + 1 for i, c in enumerate(classes)}
    labels = np.concatenate([np.full(p.length, 0 if p.clip in background else index[p.clip], np.int32)
                             for p in pieces])
    cuts = np.cumsum([p.length for p in pieces])[:-1]
    return Sequence_(feats, labels, list(classes), cuts, fps, list(pieces), boxes)


def plan_moving_sequence(folder: str | Path, rng: np.random.Generator,
                         config: SequenceConfig = SequenceConfig()) -> tuple[list[Piece], float]:
    """One :func:`plan_sequence` over the frames that move in each clip of ``folder`` (a montage
    panel's frozen tail is no behaviour, see :mod:`mouseact.frozen`); returns (pieces, fps)."""
    from mouseact.frozen import moving_span
    from mouseact.video import probe

    paths = clip_paths(folder)
    spans = {c: moving_span(p)[:2] for c, p in paths.items()}  # cached per file
    fps = probe(next(iter(paths.values()))).fps
    plan = plan_sequence({c: stop - start for c, (start, stop) in spans.items()}, fps, rng, config, where=folder)
    return [Piece(p.clip, p.start + spans[p.clip][0], p.stop + spans[p.clip][0]) for p in plan], fps


def bsoid_sequences(folder: str | Path, n_sequences: int, seed: int = 0,
                    config: SequenceConfig = SequenceConfig(), feature_config=None,
                    progress: bool = True, cache=None, detector: str = "classical",
                    detector_model: str | Path | None = None) -> list[Sequence_]:
    """``n_sequences`` random spliced sequences from one mouse's clip folder (``cache``, ``detector``,
    ``detector_model``: see :func:`build_sequence`)."""
    clips = clip_paths(folder)
    wanted = {b.lower() for b in config.background}  # labels match clip names whatever their case
    background = tuple(c for c in clips if c.lower() in wanted)
    classes = [c for c in clips if c not in background]
    if not classes or not background:  # before any decoding
        raise MouseActError(_need_both(clips, config.background), folder)
    config = config.model_copy(update={"background": background})
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sequences):
        plan, _ = plan_moving_sequence(folder, rng, config)
        out.append(build_sequence(folder, plan, classes, feature_config, background=config.background,
                                  stride=config.detector_stride, progress=progress, cache=cache,
                                  detector=detector, detector_model=detector_model))
    return out
