"""BORIS event exports → VideoRecords.

Three layouts are read (CSV, TSV or XLSX), detected from the header row:

* **legacy tabular** (BORIS ≤ 7): ~15 metadata lines (``Observation id``, ``Player #1``,
  ``Time offset (s)``…), then ``Time,Media file path,Total length,FPS,Subject,Behavior,
  Behavioral category,Comment,Status`` with ``START``/``STOP`` (and ``POINT``) rows;
* **current tabular** (BORIS ≥ 8): one header row with ``Behavior type`` = ``START``/``STOP``/
  ``POINT``, ``Time``, ``Media file name``, ``FPS (frame/s)``, ``Image index``…;
* **aggregated**: ``Start (s)``, ``Stop (s)`` per bout (``Behavior type`` ``STATE``/``POINT``).

Traps handled: several FPS values joined by ``;`` (resolved from the real video or ``fps=``,
else a clear error), ``NA`` image index / fps / stop, rows not in time order (pairing is per
subject+behaviour in time order), unpaired START/STOP and a START while the same state is
already running (errors with the row number, or ``close_unpaired`` ends a dangling START at
the media end), and a file for another media (error when ``videos``/``media`` are given).
Times are media times: the observation's ``Time offset (s)`` is subtracted.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from mouseact.errors import AnnotationError
from mouseact.preprocess.importers.records import (SECONDS, Span, build_record, check_nonempty,
                                                   parse_number)

LEGACY, TABULAR, AGGREGATED = "legacy", "tabular", "aggregated"
_NA = ("", "NA", "NAN", "N/A")


def read_rows(path: Path) -> list[list[str]]:
    """All rows of a CSV/TSV/XLSX file as lists of strings."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError("file not found", path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from mouseact.preprocess.importers.tables import xlsx_rows

        return xlsx_rows(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # BORIS on Windows writes cp1252 comments
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = "\t" if first.count("\t") > first.count(",") or path.suffix.lower() == ".tsv" else ","
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _find_header(rows: list[list[str]], path: Path) -> tuple[int, str]:
    for i, row in enumerate(rows):
        cells = [c.strip() for c in row]
        if "Behavior" not in cells:
            continue
        if "Start (s)" in cells and "Stop (s)" in cells:
            return i, AGGREGATED
        if "Status" in cells and "Time" in cells:
            return i, LEGACY
        if "Behavior type" in cells and "Time" in cells:
            return i, TABULAR
    raise AnnotationError("not a BORIS export: no header row with 'Behavior' and 'Time'/'Status' "
                          "or 'Start (s)'/'Stop (s)'", path)


def _metadata(rows: list[list[str]], header: int) -> dict[str, str]:
    meta = {}
    for row in rows[:header]:
        if len(row) >= 2 and row[0].strip():
            meta[row[0].strip()] = row[1].strip()
    return meta


class _Row:
    def __init__(self, cells: list[str], columns: dict[str, int], number: int):
        self.cells, self.columns, self.number = cells, columns, number

    def get(self, *names: str) -> str | None:
        for n in names:
            j = self.columns.get(n)
            if j is not None and j < len(self.cells):
                return self.cells[j].strip()
        return None


def _fps_of(text: str | None, path: Path, row: int) -> tuple[float | None, str]:
    """The file's fps for a row: one number, several equal ones, or ``None`` + a note why."""
    if text is None or text.upper() in _NA:
        return None, ""
    values = {parse_number(v, path, row, "FPS") for v in text.split(";") if v.strip().upper() not in _NA}
    if len(values) == 1:
        return values.pop(), ""
    if not values:
        return None, ""
    return None, f" (row {row} lists several FPS values {text!r})"


def read_boris(path: str | Path, fps: float | None = None, videos: str | Path | None = None,
               media: str | None = None, subjects: Sequence[str] | None = None,
               behaviors: Sequence[str] | None = None, dataset: str = "boris",
               close_unpaired: bool = False, out_of_range: str = "error") -> list:
    """Read one BORIS export; one VideoRecord per media file it codes.

    ``fps`` overrides the file's frame rate (a real video in ``videos`` overrides both).
    ``media``: the stem of the one video this file must be for (error otherwise).
    ``subjects``: keep only these subjects' events. ``behaviors``: the closed label list.
    """
    path = Path(path)
    rows = read_rows(path)
    header, layout = _find_header(rows, path)
    meta = _metadata(rows, header)
    columns = {c.strip(): j for j, c in enumerate(rows[header])}
    offset_meta = parse_number(meta.get("Time offset (s)", "0") or "0", path, None, "Time offset (s)",
                               allow_na=True) or 0.0
    keep_subjects = set(subjects) if subjects else None

    # per media: spans, file fps, file duration
    spans: dict[str, list[Span]] = defaultdict(list)
    media_fps: dict[str, float | None] = {}
    fps_notes: dict[str, str] = {}
    durations: dict[str, float | None] = {}
    open_states: dict[tuple[str, str, str], list] = defaultdict(list)  # key -> [(time, row, status)]
    player = meta.get("Player #1") or meta.get("Observation id") or path.stem

    for i in range(header + 1, len(rows)):
        cells = rows[i]
        if not any(c.strip() for c in cells):
            continue
        r = _Row(cells, columns, i + 1)
        behavior = r.get("Behavior")
        if not behavior:
            raise AnnotationError(f"row {r.number}: empty 'Behavior'", path)
        subject = r.get("Subject") or ""
        if keep_subjects is not None and subject not in keep_subjects:
            continue
        m = r.get("Media file path", "Media file name", "Media file") or ""
        if not m or m.upper() in _NA:
            m = r.get("Source") or player
        f, note = _fps_of(r.get("FPS", "FPS (frame/s)"), path, r.number)
        if m not in media_fps or (media_fps[m] is None and f is not None):
            media_fps[m] = f
        if note:
            fps_notes.setdefault(m, note)
        dur_text = r.get("Total length", "Media duration (s)")
        if dur_text and ";" not in dur_text:
            durations.setdefault(m, parse_number(dur_text, path, r.number, "media duration", allow_na=True))
        off_text = r.get("Time offset (s)")
        offset = (parse_number(off_text, path, r.number, "Time offset (s)", allow_na=True) or 0.0
                  ) if off_text is not None else offset_meta

        if layout == AGGREGATED:
            start = parse_number(r.get("Start (s)"), path, r.number, "Start (s)")
            stop = parse_number(r.get("Stop (s)"), path, r.number, "Stop (s)", allow_na=True)
            kind = (r.get("Behavior type") or "STATE").upper()
            if stop is None:
                if kind != "POINT":
                    raise AnnotationError(f"row {r.number}: state {behavior!r} has no 'Stop (s)'", path)
                stop = start
            if stop < start:
                raise AnnotationError(f"row {r.number}: {behavior!r} stops ({stop}) before it starts ({start})", path)
            spans[m].append(Span(behavior, start - offset, stop - offset, SECONDS, r.number))
            continue

        status = (r.get("Status") if layout == LEGACY else r.get("Behavior type")) or ""
        status = status.upper()
        time = parse_number(r.get("Time"), path, r.number, "Time", allow_na=True)
        if time is None:
            raise AnnotationError(f"row {r.number}: 'Time' is NA (image-only observations are not "
                                  "supported; export with media times)", path)
        time -= offset
        if status == "POINT" or (layout == LEGACY and status == ""):
            spans[m].append(Span(behavior, time, time, SECONDS, r.number))
        elif status in ("START", "STOP"):
            open_states[(m, subject, behavior)].append((time, r.number, status))
        else:
            raise AnnotationError(f"row {r.number}: unknown status {status!r} (expected START, STOP or POINT)", path)

    for (m, subject, behavior), events in open_states.items():
        events.sort(key=lambda e: e[0])  # stable: same-time STOP/START keep file order
        started: tuple[float, int] | None = None
        who = f"{behavior!r}" + (f" of subject {subject!r}" if subject else "")
        for time, number, status in events:
            if status == "START":
                if started is not None:
                    raise AnnotationError(f"row {number}: START of {who} while the one started at row "
                                          f"{started[1]} is still running (overlapping state)", path)
                started = (time, number)
            else:
                if started is None:
                    raise AnnotationError(f"row {number}: STOP of {who} without a START", path)
                spans[m].append(Span(behavior, started[0], time, SECONDS, started[1]))
                started = None
        if started is not None:
            end = durations.get(m)
            if not close_unpaired or end is None:
                raise AnnotationError(f"row {started[1]}: START of {who} is never stopped "
                                      "(use --close-unpaired to end it at the media end)", path)
            spans[m].append(Span(behavior, started[0], end, SECONDS, started[1]))

    if media is not None:
        want = Path(media).stem.lower()
        have = {Path(k.replace("\\", "/")).stem.lower(): k for k in media_fps}
        if want not in have:
            raise AnnotationError(f"BORIS file is for media {', '.join(sorted(media_fps)) or '?'}, "
                                  f"not {media!r}", path)
        media_fps = {have[want]: media_fps[have[want]]}

    records = []
    for m in media_fps:
        file_fps = fps if fps else media_fps[m]
        dur = durations.get(m)
        n_frames = int(round(dur * file_fps)) if (dur and file_fps) else None
        records.append(build_record(path, m, sorted(spans[m], key=lambda s: (s.start, s.row or 0)),
                                    dataset=dataset, videos_dir=Path(videos) if videos else None,
                                    fps=file_fps, n_frames=n_frames, behaviors=behaviors,
                                    out_of_range=out_of_range, fps_note=fps_notes.get(m, "")))
    return check_nonempty(records, path)
