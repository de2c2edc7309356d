"""Pictures for a person to check the detections: a PNG contact sheet and a short overlay MP4."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mouseact import atomic
from mouseact.video import VideoReader, write_video

FOUND = (0, 220, 0)      # RGB: box of a detected/interpolated frame
CROP = (240, 200, 0)     # RGB: the square crop the behaviour models see
LOST = (230, 40, 40)     # RGB: caption colour where the mouse is lost


def draw_box(frame: np.ndarray, box: np.ndarray | None, label: str = "", lost: bool = False,
             crop: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``frame`` (RGB) with ``box`` (and the ``crop`` square) drawn and ``label`` written."""
    import cv2

    out = np.ascontiguousarray(frame).copy()
    thick = max(1, round(out.shape[1] / 320))
    if crop is not None:
        cx1, cy1, cx2, cy2 = (int(v) for v in crop)
        cv2.rectangle(out, (cx1, cy1), (cx2 - 1, cy2 - 1), CROP, 1)
    if box is not None and np.isfinite(box).all():
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), FOUND, thick)
    if label or lost:
        text = label + (" LOST" if lost else "")
        scale = 0.4 * thick
        cv2.putText(out, text, (4, int(14 * thick)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2)
        cv2.putText(out, text, (4, int(14 * thick)), cv2.FONT_HERSHEY_SIMPLEX, scale, LOST if lost else (255, 255, 255),
                    thick)
    return out


def contact_sheet(video: str | Path, boxes: np.ndarray, out_png: str | Path, lost: np.ndarray | None = None,
                  n_tiles: int = 12, cols: int = 4, tile_width: int = 320, crops: np.ndarray | None = None) -> Path:
    """``n_tiles`` frames spread over the video with their boxes (green) and crops (yellow) as one PNG."""
    import cv2

    boxes = np.asarray(boxes, np.float32)
    lost = np.zeros(len(boxes), bool) if lost is None else np.asarray(lost, bool)
    with VideoReader(video) as vr:
        n = min(vr.info.n_frames, len(boxes))
        idx = np.unique(np.linspace(0, max(n - 1, 0), min(n_tiles, max(n, 1))).round().astype(int))
        frames = vr.get_frames(idx)
    tiles = []
    for i, f in zip(idx, frames):
        t = draw_box(f, boxes[i], f"#{i}", bool(lost[i]), None if crops is None else crops[i])
        h = int(round(t.shape[0] * tile_width / t.shape[1]))
        tiles.append(cv2.resize(t, (tile_width, h), interpolation=cv2.INTER_AREA))
    cols = max(1, min(cols, len(tiles)))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r * cols:(r + 1) * cols], 1) for r in range(len(tiles) // cols)]
    sheet = np.concatenate(rows, 0)
    out_png = Path(out_png)
    with atomic.file(out_png, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {out_png}")
    return out_png


def overlay_video(video: str | Path, boxes: np.ndarray, out_mp4: str | Path, lost: np.ndarray | None = None,
                  start: int = 0, n_frames: int = 300) -> Path:
    """A short MP4 (``n_frames`` from ``start``) with the boxes drawn, for a quick look."""
    boxes = np.asarray(boxes, np.float32)
    lost = np.zeros(len(boxes), bool) if lost is None else np.asarray(lost, bool)
    with VideoReader(video) as vr:
        stop = min(vr.info.n_frames, len(boxes), start + n_frames)
        fps = vr.info.fps

        def frames():
            for i, f in enumerate(vr.iter_frames(start, stop), start=start):
                yield draw_box(f, boxes[i], f"#{i}", bool(lost[i]))

        return write_video(out_mp4, frames(), fps)
