"""What researchers take away from a run: per-video and per-batch output files.

Per video (``write_video_outputs``), under the run's output directory::

    predictions/<stem>.json        [{"label", "frame_range": [start, end] (inclusive), "confidence"}]
    predictions/<stem>.meta.json   sidecar: video name/path, fps, n_frames, size, classes, model
    intervals/<stem>.csv           plain interval table (frames and seconds)
    boris/<stem>.csv               BORIS "aggregated events" table (STATE events, seconds)
    ethograms/<stem>.png           behaviours over time, one row each
    tracks/<stem>.npz              mouse boxes (N, 4) float32 with NaN rows, ``lost`` flags
    candidates/<stem>.json         stage 2's labelled segments before post-processing (same format as
                                   predictions), so ``mouseact postprocess`` can re-run only that step

Per batch (``write_batch_outputs``)::

    project/                       Supervisely video project (tags = behaviours, value = confidence;
                                   the mouse as a rectangle per frame) readable by ``sly.read_project``
    summary.csv / .md / .xlsx      per video x behaviour: bouts, total and mean bout duration,
                                   bouts per minute, share of time (zeros for absent behaviours);
                                   the workbook also has an "intervals" sheet
    intervals.csv / boris_events.csv   all videos in one table each

``<stem>`` is the video's file name without its extension. Times: a bout covering frames
``start..end`` starts at ``start / fps`` and stops at ``(end + 1) / fps`` (the end of its last
frame), so its duration is ``length / fps`` -- the same convention everywhere in this module.
Times in the CSVs are whole milliseconds rounded inwards (see :func:`start_ms`), so every reader
maps them back to the same frames.
Every file is written atomically; a batch re-run rebuilds the batch files from every video whose
sidecar is on disk, so resumed runs give complete batch outputs.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import json
import logging
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from mouseact import __version__, atomic
from mouseact.errors import AnnotationError, MouseActError
from mouseact.intervals import Interval, by_label, merge, runs
from mouseact.video import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

PREDICTIONS_DIR = "predictions"
CANDIDATES_DIR = "candidates"
META_SUFFIX = ".meta.json"

INTERVAL_COLUMNS = [
    "video",
    "behavior",
    "start_frame",
    "end_frame",
    "start_s",
    "end_s",
    "duration_s",
    "confidence",
]
SUMMARY_COLUMNS = ["video", "behavior", "bouts", "total_s", "mean_bout_s", "per_minute", "share_of_time"]
SUMMARY_METRICS = SUMMARY_COLUMNS[2:]

# BORIS 8 "Export aggregated events" (tabular) columns, in BORIS's order (boris/export_events.py,
# ``fields_type_dict``; no modifiers and no independent variables here). Every row is a STATE event.
BORIS_COLUMNS = [
    "Observation id",
    "Observation date",
    "Description",
    "Observation type",
    "Source",
    "Time offset (s)",
    "Coding duration",
    "Media duration (s)",
    "FPS (frame/s)",
    "Subject",
    "Observation duration by subject by observation",
    "Behavior",
    "Behavioral category",
    "Behavior type",
    "Start (s)",
    "Stop (s)",
    "Duration (s)",
    "Media file name",
    "Image index start",
    "Image index stop",
    "Image file path start",
    "Image file path stop",
    "Comment start",
    "Comment stop",
]
# The older BORIS 7 aggregated layout, still read by many lab scripts.
BORIS_LEGACY_COLUMNS = [
    "Observation id",
    "Observation date",
    "Description",
    "Media file",
    "Total length",
    "FPS",
    "Subject",
    "Behavior",
    "Behavioral category",
    "Modifiers",
    "Behavior type",
    "Start (s)",
    "Stop (s)",
    "Duration (s)",
    "Comment start",
    "Comment stop",
]
BORIS_SUBJECT = "mouse"
NO_MOUSE_ROW = "(no mouse found)"


# --------------------------------------------------------------------------------------------
# names and small helpers
# --------------------------------------------------------------------------------------------
# Extensions stripped from names; anything else after a dot is part of the name ("m1.day2").
_NAME_EXTENSIONS = frozenset(
    [*VIDEO_EXTENSIONS, ".3gp", ".flv", ".ts", ".mts", ".m2ts", ".h264", ".json", ".csv", ".tsv"]
)


def _has_extension(name: str) -> bool:
    return Path(name).suffix.lower() in _NAME_EXTENSIONS


def video_stem(video_name: str) -> str:
    """File stem used for every per-video output (``mouse_video.mp4`` -> ``mouse_video``).

    Only a video (or table) extension is stripped: a stem such as ``m1.day2`` stays whole."""
    name = Path(str(video_name).replace("\\", "/")).name
    stem = name[: -len(Path(name).suffix)] if _has_extension(name) else name
    if not stem or stem.startswith("."):
        raise MouseActError(f"cannot name outputs after video {video_name!r}")
    return stem


def prediction_path(out_dir: str | Path, video_name: str) -> Path:
    """``out_dir/predictions/<stem>.json`` -- also how a batch run knows a video is done."""
    return Path(out_dir) / PREDICTIONS_DIR / f"{video_stem(video_name)}.json"


def candidates_path(out_dir: str | Path, video_name: str) -> Path:
    return Path(out_dir) / CANDIDATES_DIR / f"{video_stem(video_name)}.json"


def meta_path(out_dir: str | Path, video_name: str) -> Path:
    return Path(out_dir) / PREDICTIONS_DIR / f"{video_stem(video_name)}{META_SUFFIX}"


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Attribute or mapping access, so results may be dataclasses or plain dicts."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _info_dict(info: Any) -> dict:
    if info is None:
        raise MouseActError("video info (fps, n_frames) is required to write outputs")
    d = info.to_dict() if hasattr(info, "to_dict") else dict(info)
    fps, n = float(d.get("fps") or 0), int(d.get("n_frames") or 0)
    if not fps > 0 or n <= 0:
        raise MouseActError(f"invalid video info fps={fps} n_frames={n}", d.get("path"))
    return d


def _abs(path: str | None) -> str:
    return str(Path(path).resolve()) if path else ""


def _video_file_name(video_name: str, info: dict) -> str:
    """The video's file name with extension (from ``info.path`` when ``video_name`` has none)."""
    name = Path(str(video_name)).name
    if not _has_extension(name) and info.get("path") and video_stem(info["path"]) == name:
        return Path(info["path"]).name
    return name


def start_s(iv: Interval, fps: float) -> float:
    return iv.start / fps


def stop_s(iv: Interval, fps: float) -> float:
    return (iv.end + 1) / fps


def start_ms(iv: Interval, fps: float) -> float:
    """Start time in whole milliseconds, rounded *up* (into the bout's first frame).

    Written times are rounded inwards by < 1 ms so that any reader -- nearest-frame rounding or
    "frame showing the time" (floor for starts, ceil for stops) -- gets the same frames back for
    any frame rate below 1000 fps; plain rounding of 10/15 s to 0.667 s would add a frame."""
    return math.ceil(iv.start / fps * 1000 - 1e-6) / 1000


def stop_ms(iv: Interval, fps: float) -> float:
    """Stop time in whole milliseconds, rounded *down* (inside the bout's last frame)."""
    return math.floor((iv.end + 1) / fps * 1000 + 1e-6) / 1000


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# predictions JSON (+ sidecar) and reading them back
# --------------------------------------------------------------------------------------------
def write_predictions(
    out_dir: str | Path,
    video_name: str,
    info: Any,
    intervals: Sequence[Interval],
    classes: Sequence[str] = (),
    model: Any = None,
    dataset: str | None = None,
    lost_frames: int | None = None,
    postprocess: Mapping | None = None,
    settings: Mapping | None = None,
) -> Path:
    """``predictions/<stem>.json`` and its ``.meta.json`` sidecar. The sidecar is written last:
    its presence marks the video as complete. ``postprocess``: the post-processing settings the
    intervals were made with (recorded, and the starting point of ``mouseact postprocess``);
    ``settings``: everything else the result depends on (model, detector, pipeline settings, the
    video's content key), which a resumed batch must match."""
    d = _info_dict(info)
    ivs = sorted(intervals)
    path = prediction_path(out_dir, video_name)
    atomic.write_json(path, [iv.to_json() for iv in ivs])
    meta = {
        "video": _video_file_name(video_name, d),
        # absolute: a resumed batch may run from another directory and still needs the video
        "video_path": _abs(d.get("path")),
        "fps": float(d["fps"]),
        "n_frames": int(d["n_frames"]),
        "width": int(d.get("width") or 0),
        "height": int(d.get("height") or 0),
        "duration_s": _r(int(d["n_frames"]) / float(d["fps"])),
        "classes": list(classes),
        "model": model,
        "dataset": dataset,
        "n_intervals": len(ivs),
        # frames where the detector found no mouse: behaviour there is unknown, not absent
        "lost_frames": lost_frames,
        "postprocess": dict(postprocess) if postprocess is not None else None,
        "settings": dict(settings) if settings is not None else None,
        "mouseact_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic.write_json(meta_path(out_dir, video_name), meta)
    return path


@dataclasses.dataclass
class VideoPrediction:
    """One video's predictions as read back from ``predictions/``."""

    video: str  # file name (with extension when known)
    stem: str
    fps: float
    n_frames: int
    intervals: list[Interval]
    classes: list[str]
    meta: dict

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def read_interval_list(json_path: str | Path) -> list[Interval]:
    """A JSON list of ``{"label", "frame_range": [start, end], "confidence"}`` (predictions,
    candidates, a hand-corrected copy); a one-line ``AnnotationError`` naming the file otherwise."""
    json_path = Path(json_path)
    try:
        items = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"unreadable JSON: {exc}", json_path) from None
    if not isinstance(items, list):
        raise AnnotationError("not a JSON list of intervals", json_path)
    try:
        return [Interval.from_json(o) for o in items]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise AnnotationError(f"not a list of {{label, frame_range: [start, end]}} intervals ({exc})",
                              json_path) from None


def read_prediction(json_path: str | Path) -> VideoPrediction:
    json_path = Path(json_path)
    stem = json_path.name[: -len(".json")]
    side = json_path.with_name(stem + META_SUFFIX)
    if not side.is_file():
        raise AnnotationError(
            f"sidecar {side.name} (fps, n_frames) missing next to the predictions", json_path
        )
    ivs = read_interval_list(json_path)
    try:
        meta = json.loads(side.read_text())
        fps, n = float(meta["fps"]), int(meta["n_frames"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise AnnotationError(f"unreadable or malformed sidecar ({exc})", side) from None
    bad = [iv for iv in ivs if iv.start < 0 or iv.end >= n]
    if bad:
        raise AnnotationError(f"{len(bad)} interval(s) outside [0, {n - 1}], e.g. {bad[0]}", json_path)
    return VideoPrediction(
        str(meta.get("video") or stem), stem, fps, n, sorted(ivs), list(meta.get("classes") or []), meta
    )


def read_predictions(pred_dir: str | Path) -> dict[str, VideoPrediction]:
    """All videos of a run: ``pred_dir`` is the run's output dir or its ``predictions/`` folder.

    Keyed by stem (sorted)."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise MouseActError("predictions directory not found", pred_dir)
    folder = pred_dir / PREDICTIONS_DIR if (pred_dir / PREDICTIONS_DIR).is_dir() else pred_dir
    files = sorted(
        p for p in folder.glob("*.json") if not p.name.endswith(META_SUFFIX) and not p.name.startswith(".")
    )
    if not files:
        raise MouseActError("no predictions/<video>.json files found", pred_dir)
    return {p.name[:-5]: read_prediction(p) for p in files}


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def interval_rows(video: str, intervals: Sequence[Interval], fps: float) -> list[list]:
    return [
        [
            video,
            iv.label,
            iv.start,
            iv.end,
            start_ms(iv, fps),
            stop_ms(iv, fps),
            _r(iv.length / fps),
            _r(iv.confidence, 4),
        ]
        for iv in sorted(intervals)
    ]


def interval_csv(video: str, intervals: Sequence[Interval], fps: float) -> str:
    return _csv_text(INTERVAL_COLUMNS, interval_rows(video, intervals, fps))


def _observation_date(video_path: str) -> str:
    """The video file's modification time (about when it was recorded), so re-running gives the
    same file; the current time when the video is not at hand."""
    try:
        stamp = _dt.datetime.fromtimestamp(Path(video_path).stat().st_mtime)
    except (OSError, ValueError):
        stamp = _dt.datetime.now()
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def boris_rows(
    video: str,
    intervals: Sequence[Interval],
    fps: float,
    n_frames: int,
    video_path: str = "",
    date: str | None = None,
    legacy: bool = False,
) -> list[list]:
    """BORIS aggregated-events rows: one STATE event per bout, ordered by behaviour then start
    (as BORIS orders them). The confidence goes into "Comment start" (``confidence=0.87``)."""
    date = date or _observation_date(video_path)
    obs_id = video_stem(video)
    media = video_path or video
    length = _r(n_frames / fps)
    ivs = [iv for ivs in by_label(intervals).values() for iv in ivs]  # behaviour, then start
    subject_total = _r(sum(iv.length for iv in ivs) / fps)
    rows = []
    for iv in ivs:
        s, e = start_ms(iv, fps), stop_ms(iv, fps)
        comment = f"confidence={iv.confidence:.3f}"
        if legacy:
            rows.append(
                [
                    obs_id,
                    date,
                    "MouseAct predictions",
                    media,
                    f"{length:.3f}",
                    f"{fps:.3f}",
                    BORIS_SUBJECT,
                    iv.label,
                    "",
                    "",
                    "STATE",
                    f"{s:.3f}",
                    f"{e:.3f}",
                    f"{e - s:.3f}",
                    comment,
                    "",
                ]
            )
        else:
            rows.append(
                [
                    obs_id,
                    date,
                    "MouseAct predictions",
                    "Media file(s)",
                    f"player #1:{media}",
                    "0.0",
                    f"{length:.3f}",
                    f"{length:.3f}",
                    f"{fps:.3f}",
                    BORIS_SUBJECT,
                    f"{subject_total:.3f}",
                    iv.label,
                    "",
                    "STATE",
                    f"{s:.3f}",
                    f"{e:.3f}",
                    f"{e - s:.3f}",
                    Path(media).name,
                    iv.start,
                    iv.end + 1,
                    "NA",
                    "NA",
                    comment,
                    "",
                ]
            )
    return rows


def boris_csv(
    video: str,
    intervals: Sequence[Interval],
    fps: float,
    n_frames: int,
    video_path: str = "",
    legacy: bool = False,
) -> str:
    return _csv_text(
        BORIS_LEGACY_COLUMNS if legacy else BORIS_COLUMNS,
        boris_rows(video, intervals, fps, n_frames, video_path, legacy=legacy),
    )


def behaviour_summary(
    intervals: Sequence[Interval], fps: float, n_frames: int, classes: Sequence[str] = ()
) -> dict[str, dict[str, float]]:
    """Per behaviour: bouts, total_s, mean_bout_s, per_minute, share_of_time.

    Overlapping or touching bouts of one behaviour are merged first (one bout, frames counted
    once). Every name in ``classes`` gets a row, with zeros when it never occurs -- an absent
    behaviour is a measured 0, not a missing value, for group statistics. ``mean_bout_s`` is
    None (an empty cell) when there are no bouts: the mean length of no bouts is undefined, and a
    0 there would pull a group's bout length down (group statistics leave such videos out).
    """
    groups = by_label(merge(intervals))
    minutes = n_frames / fps / 60.0
    out = {}
    for label in list(dict.fromkeys([*classes, *sorted(groups)])):
        ivs = groups.get(label, [])
        frames = sum(iv.length for iv in ivs)
        out[label] = {
            "bouts": len(ivs),
            "total_s": _r(frames / fps),
            "mean_bout_s": _r(frames / fps / len(ivs)) if ivs else None,
            "per_minute": _r(len(ivs) / minutes, 4),
            "share_of_time": _r(frames / n_frames, 4),
        }
    return out


def summary_rows(
    video: str, intervals: Sequence[Interval], fps: float, n_frames: int, classes: Sequence[str] = ()
) -> list[list]:
    s = behaviour_summary(intervals, fps, n_frames, classes)
    return [[video, label, *[row[m] for m in SUMMARY_METRICS]] for label, row in s.items()]


def window(
    intervals: Sequence[Interval],
    fps: float,
    n_frames: int,
    start_s: float | None = None,
    end_s: float | None = None,
    video: str | None = None,
) -> tuple[list[Interval], int, int]:
    """Bouts inside the time window ``[start_s, end_s)`` (frames ``f0 .. f1-1``), clipped at its
    edges the way BORIS's "limit to time interval" does (a bout running at the edge counts, cut).
    Returns ``(clipped bouts, f0, f1)``; the window is cut to the video (``video`` names it in errors)."""
    f0 = 0 if start_s is None else int(round(start_s * fps))
    f1 = n_frames if end_s is None else int(round(end_s * fps))
    f0, f1 = max(0, f0), min(n_frames, f1)
    if f1 <= f0:
        span = f"{start_s or 0:g} s to {'the end' if end_s is None else f'{end_s:g} s'}"
        raise MouseActError(f"the time window {span} holds no frame of this {n_frames / fps:.1f} s video", video)
    out = [
        Interval(max(iv.start, f0), min(iv.end, f1 - 1), iv.label, iv.confidence)
        for iv in intervals
        if iv.end >= f0 and iv.start <= f1 - 1
    ]
    return out, f0, f1


def window_summary(
    intervals: Sequence[Interval],
    fps: float,
    n_frames: int,
    classes: Sequence[str] = (),
    start_s: float | None = None,
    end_s: float | None = None,
    video: str | None = None,
) -> dict[str, dict[str, float]]:
    """:func:`behaviour_summary` over a time window (rates and shares relative to its length)."""
    ivs, f0, f1 = window(intervals, fps, n_frames, start_s, end_s, video)
    return behaviour_summary(ivs, fps, f1 - f0, classes)


BIN_COLUMNS = ["video", "bin", "bin_start_s", "bin_end_s", "behavior", *SUMMARY_METRICS]


def binned_rows(
    video: str,
    intervals: Sequence[Interval],
    fps: float,
    n_frames: int,
    bin_s: float,
    classes: Sequence[str] = (),
) -> list[list]:
    """Time course: the summary per consecutive bin of ``bin_s`` seconds (the last bin may be
    shorter; its rates use its own length). A bout crossing a bin edge counts in both bins."""
    if not bin_s > 0:
        raise MouseActError(f"bin length must be > 0 s, got {bin_s}")
    step = max(1, int(round(bin_s * fps)))
    rows = []
    for k, f0 in enumerate(range(0, n_frames, step)):
        f1 = min(n_frames, f0 + step)
        ivs, _, _ = window(intervals, fps, n_frames, f0 / fps, f1 / fps)
        for label, row in behaviour_summary(ivs, fps, f1 - f0, classes).items():
            rows.append([video, k, _r(f0 / fps), _r(f1 / fps), label, *[row[m] for m in SUMMARY_METRICS]])
    return rows


def write_summary(
    out_dir: str | Path,
    preds: Mapping[str, "VideoPrediction"],
    classes: Sequence[str] = (),
    start_s: float | None = None,
    end_s: float | None = None,
    bin_s: float | None = None,
    warnings: list[str] | None = None,
) -> dict[str, Path]:
    """Summary tables (csv, md, xlsx; plus ``summary_bins.csv`` with ``bin_s``) from read-back
    predictions, optionally over a time window only (e.g. the first 10 minutes of a session). A
    video the window misses entirely (it ends before ``start_s``) is left out and named in
    ``warnings``; an error if the window misses every video."""
    out_dir = Path(out_dir)
    classes = list(classes) or sorted(
        {c for vp in preds.values() for c in vp.classes}
        | {iv.label for vp in preds.values() for iv in vp.intervals}
    )
    srows, brows, missed = [], [], []
    for vp in preds.values():
        try:
            ivs, f0, f1 = window(vp.intervals, vp.fps, vp.n_frames, start_s, end_s, vp.video)
        except MouseActError as exc:
            missed.append(str(exc))
            continue
        srows += summary_rows(vp.video, ivs, vp.fps, f1 - f0, classes)
        if bin_s:
            shifted = [Interval(iv.start - f0, iv.end - f0, iv.label, iv.confidence) for iv in ivs]
            brows += [
                [r[0], r[1], _r(r[2] + f0 / vp.fps), _r(r[3] + f0 / vp.fps), *r[4:]]
                for r in binned_rows(vp.video, shifted, vp.fps, f1 - f0, bin_s, classes)
            ]
    if missed and len(missed) == len(preds):
        raise MouseActError(f"no video reaches the time window: {missed[0]}")
    if warnings is not None:
        warnings += [f"left out: {m}" for m in missed]
    span = (
        "whole videos"
        if start_s is None and end_s is None
        else f"time window {start_s or 0:g} s to {'end' if end_s is None else f'{end_s:g} s'}"
    )
    paths = {
        "summary_csv": atomic.write_text(out_dir / "summary.csv", _csv_text(SUMMARY_COLUMNS, srows)),
        "summary_md": atomic.write_text(
            out_dir / "summary.md",
            f"# Per-behaviour summary ({span})\n\n" + markdown_table(SUMMARY_COLUMNS, srows),
        ),
    }
    sheets = {"summary": (SUMMARY_COLUMNS, srows)}
    if bin_s:
        paths["bins_csv"] = atomic.write_text(out_dir / "summary_bins.csv", _csv_text(BIN_COLUMNS, brows))
        sheets["bins"] = (BIN_COLUMNS, brows)
    paths["summary_xlsx"] = write_xlsx(out_dir / "summary.xlsx", sheets)
    atomic.remove_stale(out_dir, ["summary_bins.csv"], paths.values())
    return paths


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:g}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# ethogram
# --------------------------------------------------------------------------------------------
def class_colors(classes: Sequence[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(classes) > 10 else "tab10"]
    return {c: cmap(i % cmap.N) for i, c in enumerate(classes)}


def time_unit(duration_s: float) -> tuple[str, float]:
    """Minutes for anything longer than 3 minutes, else seconds."""
    return ("min", 60.0) if duration_s > 180 else ("s", 1.0)


def draw_ethogram(
    ax,
    tracks: Sequence[tuple[str, Sequence[Interval], str]],
    fps: float,
    n_frames: int,
    colors: Mapping[str, tuple],
    title: str = "",
) -> None:
    """Draw rows of bouts on ``ax``. ``tracks``: ``(row_label, intervals, colour_key)`` top to
    bottom; a bout's opacity follows its confidence (0.35..1) so unsure calls look faint."""
    unit, div = time_unit(n_frames / fps)
    n = len(tracks)
    for row, (_, ivs, key) in enumerate(tracks):
        y = n - 1 - row
        color = colors.get(key, (0.3, 0.3, 0.3, 1.0))
        for iv in ivs:
            alpha = 0.35 + 0.65 * min(max(float(iv.confidence), 0.0), 1.0)
            ax.broken_barh(
                [(iv.start / fps / div, iv.length / fps / div)],
                (y - 0.4, 0.8),
                facecolors=[(*color[:3], alpha)],
                edgecolor="none",
            )
    ax.set_yticks(range(n))
    ax.set_yticklabels([t[0] for t in reversed(tracks)], fontsize=8)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, n_frames / fps / div)
    ax.set_xlabel(f"time ({unit})")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)


def ethogram_png(
    path: str | Path,
    intervals: Sequence[Interval],
    fps: float,
    n_frames: int,
    classes: Sequence[str] = (),
    title: str = "",
    lost: np.ndarray | None = None,
) -> Path:
    """One row per behaviour (all of ``classes``, plus any other label present).

    ``lost`` (per-frame bool): frames where the detector found no mouse get a grey bottom row,
    so a reader sees where "no behaviour" may only mean "no mouse"."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    labels = list(dict.fromkeys([*classes, *sorted({iv.label for iv in intervals})])) or ["(none)"]
    groups = by_label(intervals)
    tracks = [(lab, groups.get(lab, []), lab) for lab in labels]
    colors = class_colors(labels)
    if lost is not None and np.any(lost):
        tracks.append((NO_MOUSE_ROW, [Interval(s, e, NO_MOUSE_ROW) for s, e in runs(lost)], NO_MOUSE_ROW))
        colors[NO_MOUSE_ROW] = (0.45, 0.45, 0.45, 1.0)
    fig = Figure(figsize=(11, 0.9 + 0.32 * len(tracks)), dpi=100)
    ax = fig.add_subplot(111)
    draw_ethogram(ax, tracks, fps, n_frames, colors, title)
    fig.tight_layout()
    path = Path(path)
    with atomic.file(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path


# --------------------------------------------------------------------------------------------
# the two functions the pipeline calls
# --------------------------------------------------------------------------------------------
def _track_arrays(track: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if track is None:
        return None
    if _get(track, "boxes") is None:
        return None
    boxes = np.asarray(_get(track, "boxes"), dtype=np.float32)
    lost = _get(track, "lost")
    lost = np.zeros(len(boxes), bool) if lost is None else np.asarray(lost, dtype=bool)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise MouseActError(f"track boxes must be (N, 4), got {boxes.shape}")
    return boxes, lost


def write_video_outputs(
    out_dir: str | Path,
    video_name: str,
    info: Any,
    intervals: Sequence[Interval],
    track: Any = None,
    classes: Sequence[str] = (),
    model: Any = None,
    ethogram: bool = True,
    dataset: str | None = None,
    candidates: Sequence[Interval] | None = None,
    postprocess: Mapping | None = None,
    settings: Mapping | None = None,
) -> dict[str, Path]:
    """Write every per-video file (see the module doc); returns ``{kind: path}``.

    ``candidates``: stage 2's segments before post-processing (kept for ``mouseact postprocess``);
    ``postprocess``: the settings that turned them into ``intervals`` (recorded in the sidecar).

    ``info``: a :class:`mouseact.video.VideoInfo` (or dict with fps/n_frames/path); ``track``:
    an object with ``.boxes (N,4)`` (NaN rows = no mouse) and ``.lost``, or None; ``dataset``:
    the Supervisely dataset the video came from (kept in the batch project).
    The predictions sidecar goes last so a crash leaves the video "not done".
    """
    out_dir = Path(out_dir)
    d = _info_dict(info)
    fps, n = float(d["fps"]), int(d["n_frames"])
    name = str(video_name)
    stem = video_stem(name)
    ivs = sorted(intervals)
    outside = [iv for iv in ivs if iv.start < 0 or iv.end > n - 1]
    if outside:
        raise MouseActError(
            f"{len(outside)} interval(s) outside [0, {n - 1}], e.g. {outside[0]}", d.get("path")
        )
    paths: dict[str, Path] = {}
    paths["intervals"] = atomic.write_text(
        out_dir / "intervals" / f"{stem}.csv", interval_csv(name, ivs, fps)
    )
    paths["boris"] = atomic.write_text(
        out_dir / "boris" / f"{stem}.csv", boris_csv(name, ivs, fps, n, str(d.get("path") or name))
    )
    arrays = _track_arrays(track)
    if arrays is not None:
        paths["track"] = out_dir / "tracks" / f"{stem}.npz"
        with atomic.file(paths["track"], suffix=".npz") as tmp:
            np.savez_compressed(tmp, boxes=arrays[0], lost=arrays[1])
    if ethogram:
        paths["ethogram"] = ethogram_png(
            out_dir / "ethograms" / f"{stem}.png",
            ivs,
            fps,
            n,
            classes,
            title=f"{name} ({n} frames, {fps:g} fps)",
            lost=arrays[1] if arrays is not None and len(arrays[1]) == n else None,
        )
    lost_frames = int(arrays[1].sum()) if arrays is not None else None
    if candidates is not None:
        paths["candidates"] = atomic.write_json(candidates_path(out_dir, name),
                                                [iv.to_json(digits=None) for iv in sorted(candidates)])
    paths["predictions"] = write_predictions(out_dir, name, info, ivs, classes, model, dataset, lost_frames,
                                             postprocess, settings)
    return paths


@dataclasses.dataclass
class _BatchVideo:
    video: str
    stem: str
    fps: float
    n_frames: int
    width: int
    height: int
    intervals: list[Interval]
    video_path: str
    boxes: np.ndarray | None
    dataset: str | None
    lost_frames: int | None = None


def read_track(out_dir: str | Path, stem: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(boxes (N, 4) float32, lost (N,) bool)`` a run kept in ``tracks/<stem>.npz``, or None."""
    p = Path(out_dir) / "tracks" / f"{stem}.npz"
    if not p.is_file():
        return None
    try:
        with np.load(p) as z:
            boxes, lost = z["boxes"].astype(np.float32), z["lost"].astype(bool)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise AnnotationError(f"unreadable track (expected boxes and lost arrays): {exc}", p) from None
    if boxes.ndim != 2 or boxes.shape[1:] != (4,) or lost.shape != (len(boxes),):
        raise AnnotationError(f"track has boxes {boxes.shape} and lost {lost.shape}, expected (N, 4) and (N,)", p)
    return boxes, lost


def _load_track(out_dir: Path, stem: str) -> np.ndarray | None:
    track = read_track(out_dir, stem)
    return None if track is None else track[0]


def write_batch_outputs(
    out_dir: str | Path,
    results: Sequence[Any] = (),
    classes: Sequence[str] = (),
    project: bool = True,
    project_name: str = "MouseAct predictions",
) -> dict[str, Path]:
    """Batch files for every finished video in ``out_dir`` (see the module doc).

    ``results``: objects or dicts with ``name`` (or ``video_name``), ``video_path``, ``info``,
    ``intervals``, ``track`` (may be None) and optionally ``dataset``; videos finished by an
    earlier (resumed) run are
    read back from ``predictions/`` and ``tracks/``. Returns ``{kind: path}``.
    """
    out_dir = Path(out_dir)
    done = read_predictions(out_dir) if (out_dir / PREDICTIONS_DIR).is_dir() else {}
    fresh: dict[str, Any] = {}
    for r in results:
        d = _info_dict(_get(r, "info"))
        name = str(
            _get(r, "video_name") or _get(r, "name") or Path(str(_get(r, "video_path") or d["path"])).name
        )
        fresh[video_stem(name)] = r
    stems = sorted(set(done) | set(fresh))
    if not stems:
        raise MouseActError("no finished videos to summarise", out_dir)
    all_classes = list(classes) or sorted(
        {c for vp in done.values() for c in vp.classes}
        | {iv.label for r in fresh.values() for iv in (_get(r, "intervals") or [])}
    )

    per_video: list[_BatchVideo] = []
    for stem in stems:
        if stem in fresh:
            r = fresh[stem]
            d = _info_dict(_get(r, "info"))
            vpath = _abs(str(_get(r, "video_path") or d.get("path") or ""))
            name = str(_get(r, "video_name") or _get(r, "name") or Path(vpath).name)
            arrays = _track_arrays(_get(r, "track"))
            per_video.append(
                _BatchVideo(
                    _video_file_name(name, {**d, "path": vpath}),
                    stem,
                    float(d["fps"]),
                    int(d["n_frames"]),
                    int(d.get("width") or 0),
                    int(d.get("height") or 0),
                    sorted(_get(r, "intervals") or []),
                    vpath,
                    arrays[0] if arrays else _load_track(out_dir, stem),
                    _get(r, "dataset") or (done[stem].meta.get("dataset") if stem in done else None),
                    int(arrays[1].sum())
                    if arrays
                    else (done[stem].meta.get("lost_frames") if stem in done else None),
                )
            )
        else:
            vp = done[stem]
            m = vp.meta
            per_video.append(
                _BatchVideo(
                    vp.video,
                    stem,
                    vp.fps,
                    vp.n_frames,
                    int(m.get("width") or 0),
                    int(m.get("height") or 0),
                    vp.intervals,
                    m.get("video_path", ""),
                    _load_track(out_dir, stem),
                    m.get("dataset"),
                    m.get("lost_frames"),
                )
            )

    paths: dict[str, Path] = {}
    srows, irows, brows = [], [], []
    for v in per_video:
        srows += summary_rows(v.video, v.intervals, v.fps, v.n_frames, all_classes)
        irows += interval_rows(v.video, v.intervals, v.fps)
        brows += boris_rows(v.video, v.intervals, v.fps, v.n_frames, v.video_path or v.video)
    paths["summary_csv"] = atomic.write_text(out_dir / "summary.csv", _csv_text(SUMMARY_COLUMNS, srows))
    vrows = [
        [
            v.video,
            v.n_frames,
            _r(v.fps),
            _r(v.n_frames / v.fps, 1),
            "" if v.lost_frames is None else _r(v.lost_frames / v.n_frames, 4),
        ]
        for v in per_video
    ]
    paths["summary_md"] = atomic.write_text(
        out_dir / "summary.md",
        "# Per-behaviour summary\n\nbouts = merged bouts; total_s / mean_bout_s in seconds (mean_bout_s empty without bouts); "
        "per_minute = bouts per minute of video; share_of_time = fraction of frames.\n\n"
        + markdown_table(SUMMARY_COLUMNS, srows)
        + "\n## Videos\n\nno_mouse_share = fraction of frames where the detector found no mouse "
        "(behaviour there is unknown, not absent; empty = no track).\n\n"
        + markdown_table(["video", "frames", "fps", "duration_s", "no_mouse_share"], vrows),
    )
    paths["intervals_csv"] = atomic.write_text(out_dir / "intervals.csv", _csv_text(INTERVAL_COLUMNS, irows))
    paths["boris_csv"] = atomic.write_text(out_dir / "boris_events.csv", _csv_text(BORIS_COLUMNS, brows))
    paths["summary_xlsx"] = write_xlsx(
        out_dir / "summary.xlsx",
        {"summary": (SUMMARY_COLUMNS, srows), "intervals": (INTERVAL_COLUMNS, irows)},
    )
    if project:
        paths["project"] = _write_sly_project(out_dir / "project", per_video, all_classes, project_name)
    return paths


def write_xlsx(path: str | Path, sheets: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]) -> Path:
    """One workbook, a sheet per table (header row frozen): what most labs open first."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, (header, rows) in sheets.items():
        ws = wb.create_sheet(title[:31])  # Excel's sheet-name limit
        ws.append(list(header))
        for row in rows:
            ws.append(list(row))
        ws.freeze_panes = "A2"
    with atomic.file(path, suffix=".xlsx") as tmp:
        wb.save(tmp)
    return Path(path)


def _write_sly_project(
    project_dir: Path, per_video: list[_BatchVideo], classes: Sequence[str], name: str
) -> Path:
    from mouseact import sly_io  # lazy: the SDK import costs seconds

    used = {iv.label for v in per_video for iv in v.intervals}
    classes = list(dict.fromkeys([*classes, *sorted(used)]))
    missing = [v.video for v in per_video if not v.video_path or not Path(v.video_path).is_file()]
    if missing:
        raise MouseActError(
            f"cannot build the Supervisely project: source video(s) not found: {', '.join(missing)}",
            project_dir,
        )
    records = []
    for v in per_video:
        boxes = v.boxes
        if boxes is not None and len(boxes) != v.n_frames:
            log.warning(
                "%s: track has %d boxes for %d frames; boxes left out of the project",
                v.video,
                len(boxes),
                v.n_frames,
            )
            boxes = None
        records.append(
            sly_io.VideoRecord(
                video_path=Path(v.video_path),
                # the file may sit behind a name without extension (a container's mount point)
                name=v.stem + (Path(v.video_path).suffix or Path(v.video).suffix),
                dataset=str(v.dataset or "videos"),
                fps=v.fps,
                n_frames=v.n_frames,
                width=v.width,
                height=v.height,
                intervals=list(v.intervals),
                boxes=boxes,
            )
        )
    # rebuilt after every batch: hard-link the (possibly GB-sized) videos instead of copying them
    return Path(
        sly_io.write_project(project_dir, records, classes, name=name, overwrite=True, link_videos=True)
    )
