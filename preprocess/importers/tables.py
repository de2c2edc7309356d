"""Generic interval tables: one bout per row, ``video,behavior,start,end`` (CSV or XLSX).

Column names are matched case-insensitively with common aliases (``behaviour``/``label``,
``file``…). The unit comes from the column names (``start_frame``/``end_frame`` or
``start_s``/``end_s``/``start (s)``), else from ``units=``; with plain ``start``/``end`` and
``units="auto"``, decimal values mean seconds and whole numbers are refused as ambiguous (a
silent frames-vs-seconds mix-up shifts every label). Frame ends are **inclusive**; second
ends are stop times. Optional columns: ``fps``, ``confidence``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from mouseact.errors import AnnotationError
from mouseact.preprocess.importers.records import (FRAMES, SECONDS, Span, build_record,
                                                   check_nonempty, parse_number)

VIDEO_COLS = ("video", "video_name", "video_file", "file", "filename", "media", "media file")
LABEL_COLS = ("behavior", "behaviour", "label", "class", "action")
START_COLS = {"start": None, "start_frame": FRAMES, "start frame": FRAMES, "frame_start": FRAMES,
              "start_s": SECONDS, "start (s)": SECONDS, "start_sec": SECONDS, "start_time": SECONDS,
              "onset": SECONDS}
END_COLS = {"end": None, "stop": None, "end_frame": FRAMES, "end frame": FRAMES, "frame_end": FRAMES,
            "stop_frame": FRAMES, "end_s": SECONDS, "stop_s": SECONDS, "end (s)": SECONDS,
            "stop (s)": SECONDS, "end_sec": SECONDS, "end_time": SECONDS, "stop_time": SECONDS,
            "offset": SECONDS}


def xlsx_rows(path: Path, sheet: str | None = None) -> list[list[str]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException
        raise AnnotationError(f"cannot open as an Excel workbook: {exc}", path) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise AnnotationError(f"no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})", path)
        ws = wb[sheet] if sheet else wb.worksheets[0]
        return [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def csv_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise AnnotationError("file not found", path)
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = "\t" if "\t" in first else (";" if first.count(";") > first.count(",") else ",")
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _pick(columns: dict[str, int], names, path: Path, what: str) -> tuple[int, str]:
    for n in names:
        if n in columns:
            return columns[n], n
    raise AnnotationError(f"no {what} column (expected one of: {', '.join(names)}; "
                          f"found: {', '.join(columns)})", path)


def read_interval_rows(rows: list[list[str]], path: Path, fps: float | None = None, units: str = "auto",
                       videos: str | Path | None = None, behaviors: Sequence[str] | None = None,
                       dataset: str = "intervals", out_of_range: str = "error") -> list:
    # row numbers as the user counts them in the file (blank rows are skipped but counted)
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(str(c).strip() for c in r)]
    rows = [r for _, r in numbered]
    if not rows:
        raise AnnotationError("empty file", path)
    columns = {str(c).strip().lower(): j for j, c in enumerate(rows[0]) if str(c).strip()}
    # a value past the header's last named column belongs to no column: most often an unquoted
    # delimiter inside a value ("rear, supported"), which would shift or cut the row silently
    width = max(columns.values()) + 1 if columns else 0
    j_video, _ = _pick(columns, VIDEO_COLS, path, "video")
    j_label, _ = _pick(columns, LABEL_COLS, path, "behaviour")
    j_start, start_name = _pick(columns, list(START_COLS), path, "start")
    j_end, end_name = _pick(columns, list(END_COLS), path, "end")
    j_fps = columns.get("fps")
    j_conf = columns.get("confidence")
    if units not in ("auto", FRAMES, SECONDS):
        raise AnnotationError(f"units must be auto, frames or seconds, not {units!r}")
    unit = START_COLS[start_name] or END_COLS[end_name]
    if units != "auto":
        if unit is not None and unit != units:
            raise AnnotationError(f"columns {start_name!r}/{end_name!r} are in {unit} but units={units}", path)
        unit = units
    body = rows[1:]
    if not body:
        raise AnnotationError("no rows after the header", path)
    if unit is None:  # plain start/end: decide from the values, refuse if ambiguous
        texts = [str(r[j]).strip() for r in body for j in (j_start, j_end) if j < len(r)]
        if any(("." in t or "e" in t.lower()) and not t.endswith(".0") for t in texts):
            unit = SECONDS
        else:
            raise AnnotationError(f"columns {start_name!r}/{end_name!r} hold whole numbers: frames or "
                                  "seconds? Pass --units frames|seconds (or name them start_frame/"
                                  "end_frame or start_s/end_s)", path)

    spans: dict[str, list[Span]] = defaultdict(list)
    fps_of: dict[str, float | None] = {}
    media: dict[str, str] = {}
    for (i, _), r in zip(numbered[1:], body):
        extra = [str(c).strip() for c in r[width:] if str(c).strip()]
        if extra:
            raise AnnotationError(f"row {i}: {', '.join(repr(c) for c in extra)} past the header's {width} "
                                  "columns (quote a value that contains the delimiter, or name the column "
                                  "in the header)", path)
        r = list(r) + [""] * (len(columns) + 8 - len(r))
        video = str(r[j_video]).strip()
        label = str(r[j_label]).strip()
        if not video or not label:
            raise AnnotationError(f"row {i}: empty video or behaviour", path)
        start = parse_number(r[j_start], path, i, start_name)
        end = parse_number(r[j_end], path, i, end_name)
        if end < start:
            raise AnnotationError(f"row {i}: end {end:g} is before start {start:g}", path)
        if unit == FRAMES and (not float(start).is_integer() or not float(end).is_integer()):
            raise AnnotationError(f"row {i}: frame numbers must be whole: {start:g}, {end:g}", path)
        conf = parse_number(r[j_conf], path, i, "confidence", allow_na=True) if j_conf is not None else None
        # "m1", "m1.mp4" and "C:\\videos\\m1.mp4" are one video: group by stem, keep the first spelling
        key = Path(video.replace("\\", "/")).stem.lower()
        media.setdefault(key, video)
        spans[key].append(Span(label, start, end, unit, i, 1.0 if conf is None else conf))
        if j_fps is not None and fps_of.get(key) is None:
            fps_of[key] = parse_number(r[j_fps], path, i, "fps", allow_na=True)
        fps_of.setdefault(key, None)
    return check_nonempty(
        [build_record(path, media[k], s, dataset=dataset, videos_dir=Path(videos) if videos else None,
                      fps=fps or fps_of.get(k), behaviors=behaviors, out_of_range=out_of_range)
         for k, s in spans.items()], path)


def read_interval_csv(path: str | Path, fps: float | None = None, units: str = "auto",
                      videos: str | Path | None = None, behaviors: Sequence[str] | None = None,
                      dataset: str = "intervals", out_of_range: str = "error") -> list:
    """Read a ``video,behavior,start,end`` CSV/TSV; one VideoRecord per video named in it."""
    path = Path(path)
    return read_interval_rows(csv_rows(path), path, fps, units, videos, behaviors, dataset, out_of_range)


def read_interval_xlsx(path: str | Path, sheet: str | None = None, fps: float | None = None,
                       units: str = "auto", videos: str | Path | None = None,
                       behaviors: Sequence[str] | None = None, dataset: str = "intervals",
                       out_of_range: str = "error") -> list:
    """The same table as :func:`read_interval_csv` in an Excel sheet (first sheet by default)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError("file not found", path)
    return read_interval_rows(xlsx_rows(path, sheet), path, fps, units, videos, behaviors, dataset,
                              out_of_range)
