"""``mouseact detect`` as a user runs it: outputs, folder/project inputs, one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np

from mouseact import sly_io
from mouseact.intervals import Interval
from mouseact.video import probe


def test_detect_video_writes_all_outputs(cli, bsoid_dir, tmp_path):
    import cv2

    video = bsoid_dir / "mouse2" / "locomote.mp4"
    out = tmp_path / "det"
    r = cli("detect", str(video), "--out", str(out), "--stride", "3", "--overlay-seconds", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "mouse found in" in r.stdout
    info = probe(video)
    with open(out / "locomote.boxes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == info.n_frames
    assert sum(r["x1"] != "" for r in rows) >= 0.9 * info.n_frames
    # the crop every model sees (mouseact.crop's policy): square, inside the frame, around the box
    for r in rows[::10]:
        cx1, cy1, cx2, cy2 = (int(r[c]) for c in ("crop_x1", "crop_y1", "crop_x2", "crop_y2"))
        assert 0 <= cx1 < cx2 <= info.width and 0 <= cy1 < cy2 <= info.height
        assert abs((cx2 - cx1) - (cy2 - cy1)) <= 1
        if r["x1"]:
            bx = (float(r["x1"]) + float(r["x2"])) / 2
            assert cx1 <= bx <= cx2
    summary = json.loads((out / "locomote.track.json").read_text())
    assert summary["detector"]["kind"] == "classical" and summary["found_share"] >= 0.9
    sheet = cv2.imread(str(out / "locomote.contact.png"))
    assert sheet is not None and sheet.shape[1] == 4 * 320
    assert probe(out / "locomote.overlay.mp4").n_frames == round(info.fps)
    recs = sly_io.read_project(out / "project")
    assert len(recs) == 1 and recs[0].boxes is not None
    assert np.isfinite(recs[0].boxes).all(1).mean() >= 0.9
    # the project's rectangles are the CSV's boxes (rounded to whole pixels by Supervisely)
    i = next(k for k, r in enumerate(rows) if r["x1"])
    assert abs(recs[0].boxes[i, 0] - float(rows[i]["x1"])) <= 1


def test_detect_folder_and_project_keep_names_and_tags(cli, bsoid_dir, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for m in ("mouse1", "mouse2"):
        (folder / f"{m}.mp4").symlink_to(bsoid_dir / m / "orient_R.mp4")
    r = cli("detect", str(folder), "--out", str(tmp_path / "a"), "--no-project", "--quiet")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "a").glob("*.boxes.csv")) == ["mouse1.boxes.csv", "mouse2.boxes.csv"]
    assert not (tmp_path / "a" / "project").exists()

    video = bsoid_dir / "mouse1" / "orient_R.mp4"
    info = probe(video)
    rec = sly_io.VideoRecord(video, "clip.mp4", "day1", info.fps, info.n_frames, info.width, info.height,
                             [Interval(2, 10, "orient", 1.0)], None)
    sly_io.write_project(tmp_path / "proj", [rec], ["orient"])
    r = cli("detect", str(tmp_path / "proj"), "--out", str(tmp_path / "b"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b" / "day1__clip.boxes.csv").is_file()
    back = sly_io.read_project(tmp_path / "b" / "project")
    assert back[0].dataset == "day1" and back[0].intervals == [Interval(2, 10, "orient", 1.0)]
    assert back[0].boxes is not None


def test_bad_inputs_fail_in_one_line_and_write_nothing(cli, tmp_path):
    from mouseact import modelcard

    fake = tmp_path / "notavideo.mp4"
    fake.write_text("this is not a video\n")
    cases = [
        (str(fake), []),
        (str(tmp_path / "missing.mp4"), []),
        (str(fake), ["--detector", "yolo"]),                       # no --model
    ]
    other = tmp_path / "clf"
    modelcard.save(other, "classifier", {"classes": ["groom"]}, lambda d: (d / "w.bin").write_bytes(b"x"))
    cases.append((str(fake), ["--detector", "yolo", "--model", str(other)]))  # not a detector
    for i, (src, extra) in enumerate(cases):
        out = tmp_path / f"out{i}"
        r = cli("detect", src, "--out", str(out), *extra)
        assert r.returncode == 2, (extra, r.stderr)
        # decord/FFmpeg may log on stderr from C before our message; ours is one line, last
        errors = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1 and r.stderr.strip().splitlines()[-1] == errors[0], r.stderr
        assert not out.exists()
    assert "expected detector" in cli("detect", str(fake), "--out", str(tmp_path / "x"), "--detector", "yolo",
                                      "--model", str(other)).stderr


def test_non_empty_output_needs_overwrite(cli, bsoid_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    video = bsoid_dir / "mouse1" / "orient_R.mp4"
    r = cli("detect", str(video), "--out", str(out), "--quiet")
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_help_explains_every_option(cli):
    r = cli("detect", "--help")
    assert r.returncode == 0
    for opt in ("--detector", "--model", "--stride", "--overlay-seconds", "--no-project", "--set", "--show-config"):
        assert opt in r.stdout
    assert "default: None" not in r.stdout
    shown = cli("detect", "x", "--out", "y", "--show-config", "--set", "classical.min_threshold=15")
    assert shown.returncode == 0 and json.loads(shown.stdout)["classical"]["min_threshold"] == 15
    typo = cli("detect", "x", "--out", "y", "--show-config", "--set", "classical.min_treshold=15")
    assert typo.returncode == 2 and "min_treshold" in typo.stderr
