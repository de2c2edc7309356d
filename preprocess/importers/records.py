"""Turn parsed annotation rows into :class:`mouseact.sly_io.VideoRecord` objects.

Every importer parses its format into :class:`Span` rows (times in seconds or frames, with the
source row number), then :func:`build_record` converts them with the *real* video's frame rate
when the video is available — the frame rate written in an annotation file can be rounded,
missing or several values joined by ``;`` — and checks every range against the video length,
so a bad row is reported with its file and row number instead of becoming a silent shift.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Iterable, Sequence

from mouseact.errors import AnnotationError
from mouseact.intervals import Interval, merge

SECONDS = "seconds"
FRAMES = "frames"


@dataclasses.dataclass(frozen=True)
class Span:
    """One annotated bout as written in the source: ``end`` is a stop *time* for seconds,
    an *inclusive* frame for frames (the Supervisely convention)."""

    label: str
    start: float
    end: float
    unit: str            # SECONDS or FRAMES
    row: int | None      # 1-based row/line in the source file, for error messages
    confidence: float = 1.0


TIME_PRECISION_S = 0.0005  # BORIS and most tools write times to the millisecond: true times lie within +-0.5 ms


def seconds_to_frames(start_s: float, stop_s: float, fps: float) -> tuple[int, int]:
    """Frame ``i`` shows ``[i/fps, (i+1)/fps)``: a bout runs from the frame showing its start
    time to the last frame that begins before its stop time (inclusive end, never before the
    start, so a BORIS POINT event is the one frame showing it). Times written to the millisecond
    are taken as the frame boundary they round: at 15 fps the boundary of frame 500 (33.3333 s) is
    written 33.333 s, which must not fall into frame 499 (half a millisecond of slack, plus 1e-6 for
    float noise such as ``2.0 * 30 = 60.00000000001``)."""
    slack = TIME_PRECISION_S * fps + 1e-6
    start = int(math.floor(start_s * fps + slack))
    end = int(math.ceil(stop_s * fps - slack)) - 1
    return start, max(start, end)


def find_video(media: str, videos_dir: Path | None, source: Path) -> Path | None:
    """The video in ``videos_dir`` whose stem matches ``media`` (a name or a path written by
    another tool, possibly on another OS). ``None`` when no folder is given."""
    if videos_dir is None:
        return None
    from mouseact.video import is_video_file

    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise AnnotationError("videos folder not found", videos_dir)
    stem = Path(str(media).replace("\\", "/")).stem.lower()
    matches = sorted(p for p in videos_dir.iterdir()
                     if p.is_file() and is_video_file(p) and p.stem.lower() == stem)
    if not matches:
        raise AnnotationError(f"annotations are for media {media!r} but {videos_dir} has no video "
                              f"named {stem}.* (annotation file for another video?)", source)
    if len(matches) > 1:
        raise AnnotationError(f"several videos match media {media!r}: "
                              f"{', '.join(p.name for p in matches)}", source)
    return matches[0]


def build_record(source: Path, media: str, spans: Sequence[Span], *, dataset: str,
                 videos_dir: Path | None = None, fps: float | None = None,
                 n_frames: int | None = None, behaviors: Sequence[str] | None = None,
                 out_of_range: str = "error", boxes=None, fps_note: str = ""):
    """A VideoRecord for one media file from its spans.

    ``fps``/``n_frames`` are what the annotation file says; a real video found in
    ``videos_dir`` overrides both. ``behaviors`` (if given) is the closed list of allowed
    labels. ``out_of_range``: ``"error"`` or ``"clamp"`` for spans past the video's end.
    """
    from mouseact.sly_io import VideoRecord

    source = Path(source)
    video = find_video(media, videos_dir, source)
    width = height = 0
    if video is not None:
        from mouseact.video import probe

        info = probe(video)
        fps, n_frames, width, height = info.fps, info.n_frames, info.width, info.height
    needs_fps = any(s.unit == SECONDS for s in spans)
    if needs_fps and not (fps and fps > 0):
        raise AnnotationError(f"no usable frame rate for media {media!r}{fps_note}: pass --fps or "
                              "--videos so times in seconds can become frames", source)
    if behaviors is not None:
        allowed = set(behaviors)
        for s in spans:
            if s.label not in allowed:
                raise AnnotationError(f"row {s.row}: unknown behaviour {s.label!r} "
                                      f"(known: {', '.join(behaviors)})", source)
    intervals: list[Interval] = []
    clipped, dropped = 0, 0
    for s in spans:
        if s.unit == SECONDS:
            start, end = seconds_to_frames(s.start, s.end, fps)
        else:
            start, end = int(s.start), int(s.end)
        if start < 0 or end < start:
            raise AnnotationError(f"row {s.row}: invalid range {s.start}..{s.end} for {s.label!r}", source)
        if n_frames is not None and end >= n_frames:
            # one frame of rounding slack: a stop written at the exact media end is fine
            if out_of_range == "error" and (start >= n_frames or end > n_frames):
                where = f"{video}" if video is not None else f"media {media!r}"
                raise AnnotationError(
                    f"row {s.row}: {s.label!r} {_fmt(s)} ends after the end of {where} "
                    f"({n_frames} frames{f' = {n_frames / fps:.3f} s' if fps else ''}); "
                    "use --out-of-range clamp to cut it", source)
            clipped += end > n_frames  # (an end one past the last frame is rounding, not a clip)
            end = n_frames - 1
            if start > end:
                dropped += 1  # clamp: a bout entirely after the end is dropped
                clipped -= 1
                continue
        intervals.append(Interval(start, end, s.label, s.confidence))
    if clipped or dropped:
        import logging

        logging.getLogger(__name__).warning(
            "%s: %d bout(s) ran past the end of %s (%d frames): %d clipped, %d lying wholly after it dropped",
            source, clipped + dropped, video.name if video is not None else media, n_frames, clipped, dropped)
    # The same behaviour coded twice over the same frames (e.g. by two subjects) is one bout.
    intervals = merge(intervals)
    if n_frames is None:
        n_frames = max((iv.end + 1 for iv in intervals), default=0)
    name = video.name if video is not None else Path(str(media).replace("\\", "/")).name
    return VideoRecord(video_path=video if video is not None else Path(str(media)), name=name,
                       dataset=dataset, fps=float(fps or 0.0), n_frames=int(n_frames), width=int(width),
                       height=int(height), intervals=intervals, boxes=boxes)


def _fmt(s: Span) -> str:
    return f"{s.start:g}-{s.end:g} s" if s.unit == SECONDS else f"frames {s.start:g}-{s.end:g}"


def parse_number(value, source: Path, row: int | None, column: str, allow_na: bool = False) -> float | None:
    text = "" if value is None else str(value).strip()
    if allow_na and text.upper() in ("", "NA", "NAN", "N/A", "NONE"):
        return None
    try:
        out = float(text)
    except ValueError:
        raise AnnotationError(f"row {row}: column {column!r} is not a number: {text!r}", source) from None
    if not math.isfinite(out):
        if allow_na:
            return None
        raise AnnotationError(f"row {row}: column {column!r} is not a finite number: {text!r}", source)
    return out


def label_list(text: str | Sequence[str] | None) -> list[str] | None:
    """``"groom, rear"`` or a list → clean list; ``None``/empty → ``None`` (no restriction)."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    out = [t.strip() for t in items if t and t.strip()]
    return out or None


def check_nonempty(records: Iterable, source: Path) -> list:
    records = list(records)
    if not records:
        raise AnnotationError("no annotations found", source)
    return records
