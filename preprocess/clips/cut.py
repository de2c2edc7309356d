"""Frame-accurate clip cutting: decode exactly the frames ``start..end`` and re-encode them.

Never a keyframe stream copy (``ffmpeg -ss … -c copy`` starts at the previous keyframe and
gives clips a few frames longer or shifted). Frames are decoded sequentially from an accurate
seek (:meth:`mouseact.video.VideoReader.iter_frames`), downscaled so the short side is at
most ``short_side``, and written with :func:`mouseact.video.write_video` (H.264, atomic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mouseact.video import VideoReader, write_video


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int, float]:
    """Output ``(w, h, scale)``: never upscaled, even sides (H.264 yuv420p needs them)."""
    scale = 1.0
    if short_side and min(width, height) > short_side:
        scale = short_side / min(width, height)
    w = int(round(width * scale)) // 2 * 2
    h = int(round(height * scale)) // 2 * 2
    return w, h, scale


def cut_clip(reader: VideoReader, start: int, end: int, out_path: Path, short_side: int, crf: int
             ) -> tuple[int, int, int, float, float]:
    """Write frames ``[start, end]`` to ``out_path``; returns ``(n_frames, w, h, sx, sy)``
    where ``sx, sy`` map source pixels to clip pixels (for the boxes)."""
    import cv2

    info = reader.info
    w, h, _ = scaled_size(info.width, info.height, short_side)
    count = 0

    def frames():
        nonlocal count
        for frame in reader.iter_frames(start, end + 1):
            if frame.shape[1] != w or frame.shape[0] != h:
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            count += 1
            yield np.ascontiguousarray(frame)

    write_video(out_path, frames(), info.fps, crf=crf)
    return count, w, h, w / info.width, h / info.height


def scale_boxes(boxes: np.ndarray | None, sx: float, sy: float, w: int, h: int) -> np.ndarray | None:
    if boxes is None:
        return None
    b = np.asarray(boxes, dtype=np.float32).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]] * sx, 0, w - 1)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]] * sy, 0, h - 1)
    return b
