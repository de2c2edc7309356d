"""mouseact.video on the real videos of ../shared/data, and on real files made bad on purpose."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from mouseact.errors import VideoError
from mouseact.video import VideoReader, chunk_count, list_videos, probe, write_video

# (path under data_dir, fps, n_frames, width, height) as documented in ../shared/data/README.md
REAL_VIDEOS = [
    ("openfield_dlc/videos/m3v1mp4.mp4", 30.0, 2330, 640, 480),      # yuv444p, B-frames
    ("tracktor_arena/mouse_video.mp4", 30.0, 10000, 640, 480),       # 5.5 min
    ("bsoid_clips/mouse2/orient_R.mp4", 15.0, 24, 450, 360),
    ("homecage/dummy_maushaus.mp4", None, 5, 800, 600),              # 800x600, 5 frames
    ("headfixed_250fps/test_vid.mp4", 250.0, 994, 396, 406),         # odd size, 250 fps
]


@pytest.mark.parametrize("rel, fps, n_frames, width, height", REAL_VIDEOS, ids=[r[0].split("/")[0] for r in REAL_VIDEOS])
def test_probe_real_videos(data_dir, rel, fps, n_frames, width, height):
    info = probe(data_dir / rel)
    assert (info.n_frames, info.width, info.height) == (n_frames, width, height)
    if fps:
        assert info.fps == pytest.approx(fps, rel=1e-3)
    assert info.backend == "decord"
    with VideoReader(data_dir / rel) as vr:
        last = vr.get_frames([n_frames - 1])
    assert last.shape == (1, height, width, 3) and last.dtype == np.uint8 and last.std() > 1


def _all_frames(vr: VideoReader, chunk: int, start=0, stop=None):
    firsts, chunks = [], []
    for first, frames in vr.iter_chunks(chunk, start, stop):
        assert frames.ndim == 4 and len(frames) <= chunk
        firsts.append(first)
        chunks.append(frames)
    return firsts, np.concatenate(chunks)


def test_chunked_iteration_equals_random_access_250fps(data_dir):
    path = data_dir / "headfixed_250fps/test_vid.mp4"
    with VideoReader(path) as vr:
        firsts, frames = _all_frames(vr, 100)
        assert len(frames) == vr.info.n_frames == 994
        assert firsts == list(range(0, 994, 100)) and len(firsts) == chunk_count(994, 100)
        idx = [0, 1, 99, 100, 517, 993, 5]
        assert np.array_equal(vr.get_frames(idx), frames[idx])
        # a chunked window in the middle (seek) equals the same frames from a full pass
        _, mid = _all_frames(vr, 64, start=300, stop=450)
        assert np.array_equal(mid, frames[300:450])
        clip = vr.get_clip(200, 215)
        assert np.array_equal(clip, frames[200:216])
        assert np.array_equal(vr.get_clip(200, 260, n_frames=4), frames[[200, 220, 240, 260]])


def test_yuv444_bframes_chunks_equal_random_access(openfield_video):
    with VideoReader(openfield_video) as vr:
        _, frames = _all_frames(vr, 50, start=1000, stop=1130)
        assert np.array_equal(vr.get_frames(range(1000, 1130, 7)), frames[::7])


def test_pyav_fallback_reads_the_same_video(data_dir):
    path = data_dir / "bsoid_clips/mouse2/orient_R.mp4"
    with VideoReader(path) as dec, VideoReader(path, backend="av") as av_:
        assert av_.info.backend == "pyav"
        assert (av_.info.n_frames, av_.info.width, av_.info.height) == (dec.info.n_frames, dec.info.width, dec.info.height)
        a = np.concatenate([f for _, f in dec.iter_chunks(10)]).astype(int)
        b = np.concatenate([f for _, f in av_.iter_chunks(10)]).astype(int)
        # two YUV->RGB converters: same frames up to rounding
        assert a.shape == b.shape and np.abs(a - b).mean() < 3
        assert np.array_equal(av_.get_frames([3, 20, 3]), np.stack([f for f in av_.iter_frames()])[[3, 20, 3]])


@pytest.mark.parametrize("backend", ["decord", "av"])
def test_resize_on_decode(data_dir, backend):
    path = data_dir / "openfield_dlc/videos/m3v1mp4.mp4"
    with VideoReader(path, width=320, backend=backend) as small, VideoReader(path) as full:
        assert (small.info.width, small.info.height) == (320, 240)  # -1 keeps the aspect ratio
        got = small.get_frames([0, 40])
        assert got.shape == (2, 240, 320, 3)
        assert next(small.iter_chunks(8))[1].shape == (8, 240, 320, 3)
        import cv2

        ref = np.stack([cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in full.get_frames([0, 40])])
        assert np.abs(got.astype(int) - ref.astype(int)).mean() < 6  # same picture, different filter
    with VideoReader(path, height=120, backend=backend) as small:
        assert small.get_frames([5]).shape == (1, 120, 160, 3)


def test_frame_range_outside(data_dir):
    with VideoReader(data_dir / "bsoid_clips/mouse2/orient_R.mp4") as vr:
        for bad in ([24], [-1], [0, 30]):
            with pytest.raises(VideoError, match=r"outside \[0, 23\]"):
                vr.get_frames(bad)
        with pytest.raises(VideoError, match="outside"):
            list(vr.iter_frames(30, 40))
        with pytest.raises(VideoError):
            vr.get_clip(20, 24)
        assert vr.get_frames([]).shape == (0, 360, 450, 3)


# ---------------------------------------------------------------- bad files
def _one_line_naming(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    return msg


def test_missing_empty_and_text_files(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(VideoError, match="not found") as err:
        VideoReader(missing)
    _one_line_naming(err, missing)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty") as err:
        probe(empty)
    _one_line_naming(err, empty)
    text = tmp_path / "notes.mp4"
    text.write_text("frame,behaviour\n1,groom\n" * 50)
    with pytest.raises(VideoError, match="cannot open as video") as err:
        probe(text)
    _one_line_naming(err, text)
    with pytest.raises(VideoError, match="not a file"):
        probe(tmp_path)


def test_truncated_mp4_index_at_end(data_dir, tmp_path):
    """Cut a real file in half: its moov (index) at the end is gone."""
    src = data_dir / "bsoid_clips/mouse2/locomote.mp4"
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(VideoError, match="truncated") as err:
        probe(cut)
    _one_line_naming(err, cut)


def _faststart_copy(src: Path, dst: Path) -> Path:
    """Remux a real file with its index first (as cameras/ffmpeg -movflags faststart do)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        s = inp.streams.video[0]
        o = out.add_stream_from_template(s)
        for pkt in inp.demux(s):
            if pkt.dts is None:
                continue
            pkt.stream = o
            out.mux(pkt)
    return dst


def _top_atoms(path: Path) -> list[str]:
    data, i, names = path.read_bytes(), 0, []
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i: i + 8])
        names.append(kind.decode("latin1"))
        if size < 8:
            break
        i += size
    return names


@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_mp4_index_first(data_dir, tmp_path, keep):
    """moov at the start, data cut short: the file opens and claims all frames; must still fail cleanly."""
    fast = _faststart_copy(data_dir / "bsoid_clips/mouse2/locomote.mp4", tmp_path / "fast.mp4")
    assert _top_atoms(fast)[:2] == ["ftyp", "moov"]
    assert probe(fast).n_frames == 117  # the intact remux is fine
    cut = tmp_path / "fast_cut.mp4"
    cut.write_bytes(fast.read_bytes()[: int(fast.stat().st_size * keep)])
    with pytest.raises(VideoError, match="truncated") as err:
        VideoReader(cut)
    _one_line_naming(err, cut)


def test_write_video_round_trip(data_dir, tmp_path):
    src = data_dir / "bsoid_clips/mouse2/orient_R.mp4"
    with VideoReader(src) as vr:
        frames = np.concatenate([f for _, f in vr.iter_chunks(8)])
    out = write_video(tmp_path / "sub" / "copy.mp4", iter(frames), fps=15, crf=12, gop=10)
    info = probe(out)
    assert (info.n_frames, info.width, info.height, info.fps) == (24, 450, 360, 15.0)
    with VideoReader(out) as vr:
        back = vr.get_frames(range(24))
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 3
    assert [p.name for p in out.parent.iterdir()] == ["copy.mp4"]  # no temporary left
    with pytest.raises(VideoError, match="no frames"):
        write_video(tmp_path / "none.mp4", iter([]), fps=15)
    assert not (tmp_path / "none.mp4").exists()


def test_list_videos(data_dir, tmp_path):
    for name in ("b.mp4", "a.AVI", ".hidden.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_videos(tmp_path)] == ["a.AVI", "b.mp4"]
    assert len(list_videos(data_dir / "bsoid_clips/mouse2")) == 11


@pytest.mark.parametrize("name, fmt, codec, pix_fmt", [
    ("clip.wmv", "asf", "wmv2", "yuv420p"),        # Windows lab software
    ("clip.avi", "avi", "mjpeg", "yuvj420p"),      # many USB/IR cameras
    ("clip.mkv", "matroska", "libx264", "yuv420p"),
])
@pytest.mark.parametrize("backend", ["auto", "av"])
def test_other_containers_from_real_frames(data_dir, tmp_path, name, fmt, codec, pix_fmt, backend):
    import av

    with VideoReader(data_dir / "bsoid_clips/mouse2/orient_R.mp4") as vr:
        frames = np.concatenate([f for _, f in vr.iter_chunks(8)])
    path = tmp_path / name
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=15)
        stream.width, stream.height, stream.pix_fmt = 450, 360, pix_fmt
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    with VideoReader(path, backend=backend) as vr:
        assert (vr.info.n_frames, vr.info.width, vr.info.height) == (24, 450, 360)
        assert vr.info.fps == pytest.approx(15)
        got = np.concatenate([f for _, f in vr.iter_chunks(10)])
        assert np.abs(got.astype(int) - frames.astype(int)).mean() < 4
        assert np.array_equal(vr.get_frames([20, 3]), got[[20, 3]])


def test_opening_a_video_with_decord_keeps_opencv_reading_pngs(data_dir, arena_video):
    """decord's wheel carries its own zlib: imported before OpenCV it broke every later PNG read
    (``cv2.imread`` -> None, "libpng error: bad parameters to zlib"). Fresh interpreter: import
    order is per process."""
    import subprocess
    import sys

    png = next((data_dir / "openfield_dlc" / "labeled-data" / "m4s1").glob("*.png"))
    code = (
        "import sys\n"
        "from mouseact.video import VideoReader\n"
        f"VideoReader({str(arena_video)!r}, backend='decord').close()\n"
        "assert 'decord' in sys.modules\n"
        "import cv2\n"
        f"im = cv2.imread({str(png)!r})\n"
        "print(None if im is None else im.shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(480, 640, 3)", out.stderr
