"""Interval CSV/XLSX, DeepEthogram, CalMS21 and Supervisely importers, and `mouseact import`.

Videos are real B-SOiD clips (15 fps) linked under the names the annotation files use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from mouseact import sly_io
from mouseact.errors import AnnotationError
from mouseact.intervals import Interval
from mouseact.preprocess.importers import (map_tag, read_calms21, read_deepethogram, read_interval_csv,
                                           read_interval_xlsx, read_supervisely, write_records)
from mouseact.video import probe


@pytest.fixture(scope="module")
def videos(bsoid_dir, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    os.symlink(bsoid_dir / "mouse1" / "inactive.mp4", d / "vidA.mp4")    # 228 frames
    os.symlink(bsoid_dir / "mouse2" / "rear_plus.mp4", d / "vidB.mp4")   # 125 frames
    return d


def test_interval_csv_frames_and_seconds(tmp_path, videos):
    p = tmp_path / "bouts.csv"
    p.write_text("video,behavior,start_frame,end_frame\nvidA.mp4,groom,10,40\nvidA,rear,30,50\nvidB.mp4,groom,0,124\n")
    recs = {r.name: r for r in read_interval_csv(p, videos=videos)}
    assert recs["vidA.mp4"].intervals == [Interval(10, 40, "groom"), Interval(30, 50, "rear")]
    assert recs["vidB.mp4"].n_frames == probe(videos / "vidB.mp4").n_frames == 125
    p.write_text("video,behavior,start,end\nvidA,groom,1,2\n")
    with pytest.raises(AnnotationError, match="frames or seconds"):
        read_interval_csv(p, videos=videos)          # whole numbers: ambiguous
    [rec] = read_interval_csv(p, units="seconds", videos=videos)
    assert rec.intervals == [Interval(15, 29, "groom")]  # 15 fps
    assert read_interval_csv(p, units="frames", videos=videos)[0].intervals == [Interval(1, 2, "groom")]
    p.write_text("video,behavior,start,end\nvidA,groom,1.5,2.5\n")
    assert read_interval_csv(p, videos=videos)[0].intervals == [Interval(22, 37, "groom")]


def test_interval_csv_errors_name_file_and_row(tmp_path, videos):
    p = tmp_path / "bad.csv"
    p.write_text("video,behavior,start_frame,end_frame\nvidA,groom,10,40\nvidA,groom,50,abc\n")
    with pytest.raises(AnnotationError, match=r"bad.csv: row 3: column 'end_frame' is not a number"):
        read_interval_csv(p, videos=videos)
    p.write_text("video,behavior,start_frame,end_frame\nvidA,groom,10,400\n")
    with pytest.raises(AnnotationError, match=r"row 2: 'groom' frames 10-400 ends after the end"):
        read_interval_csv(p, videos=videos)
    p.write_text("video,behavior,start_frame,end_frame\nnot_there,groom,1,4\n")
    with pytest.raises(AnnotationError, match="media 'not_there'"):
        read_interval_csv(p, videos=videos)
    p.write_text("video,behavior,start_frame,end_frame\nvidA,grom,1,4\n")
    with pytest.raises(AnnotationError, match=r"row 2: unknown behaviour 'grom'"):
        read_interval_csv(p, videos=videos, behaviors=["groom"])


def test_interval_csv_value_past_the_header_is_an_error(tmp_path, videos):
    """A value in no named column (mostly an unquoted delimiter inside a label) is refused with its
    row, not cut off; trailing empty cells (spreadsheet exports) are fine; blank rows still count."""
    p = tmp_path / "ragged.csv"
    p.write_text("video,behavior,start_frame,end_frame\nvidA,groom,10,40\n\nvidA,rear, supported,30,50\n")
    with pytest.raises(AnnotationError, match=r"ragged.csv: row 4: '50' past the header's 4 columns"):
        read_interval_csv(p, videos=videos)
    p.write_text("video,behavior,start,end\nvidA,itch,0,10,extra\n")  # the audit's file
    with pytest.raises(AnnotationError, match=r"row 2: 'extra' past the header's 4 columns"):
        read_interval_csv(p, units="frames", videos=videos)
    p.write_text("video,behavior,start,end\nvidA,itch,0,10,\n")  # an empty trailing cell
    assert read_interval_csv(p, units="frames", videos=videos)[0].intervals == [Interval(0, 10, "itch")]
    p.write_text('video,behavior,start,end\nvidA,"rear, supported",0,10\n')  # quoted: one value
    assert read_interval_csv(p, units="frames", videos=videos)[0].intervals[0].label == "rear, supported"


def test_cli_import_ragged_csv_one_line(cli, videos, tmp_path):
    p = tmp_path / "ragged.csv"
    p.write_text("video,behavior,start,end\nvidA,itch,0,10,extra\n")
    res = cli("import", "csv", str(p), "--videos", str(videos), "--units", "frames", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        f"error: {p}: row 2: 'extra' past the header's 4 columns (quote a value that contains the delimiter, "
        "or name the column in the header)"]
    assert not (tmp_path / "o").exists()


def test_xlsx_sheet(tmp_path, videos):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "notes"
    ws.append(["nothing here"])
    ws2 = wb.create_sheet("bouts")
    for row in [["Video", "Behaviour", "Start (s)", "End (s)"], ["vidB.mp4", "rear", 1, 2.2], ["vidB.mp4", "groom", 3, 4]]:
        ws2.append(row)
    p = tmp_path / "bouts.xlsx"
    wb.save(p)
    [rec] = read_interval_xlsx(p, sheet="bouts", videos=videos)
    assert rec.intervals == [Interval(15, 32, "rear"), Interval(45, 59, "groom")]
    with pytest.raises(AnnotationError, match="no sheet 'x'"):
        read_interval_xlsx(p, sheet="x")


def test_deepethogram_labels(tmp_path, videos):
    n = 228
    labels = np.zeros((n, 3), dtype=int)
    labels[:, 0] = 1
    labels[20:51, 1] = 1                  # groom 20..50
    labels[40:61, 2] = 1                  # rear 40..60, overlapping groom (multi-label)
    labels[20:61, 0] = 0
    labels[200:, :] = -1                  # not labelled yet
    p = tmp_path / "vidA_labels.csv"
    p.write_text(",background,groom,rear\n" + "".join(f"{i},{a},{b},{c}\n" for i, (a, b, c) in enumerate(labels)))
    [rec] = read_deepethogram(p, videos=videos)
    assert rec.name == "vidA.mp4"
    assert rec.intervals == [Interval(20, 50, "groom"), Interval(40, 60, "rear")]
    p2 = tmp_path / "vidB_labels.csv"
    p2.write_text(",background,groom\n0,1,0\n1,0,1\n")
    with pytest.raises(AnnotationError, match="2 label rows but the video"):
        read_deepethogram(p2, videos=videos)
    p2.write_text(",background,groom\n0,1,0\n1,0,2\n")
    with pytest.raises(AnnotationError, match=r"row 3: column 'groom' must be 0, 1 or -1"):
        read_deepethogram(p2)


def _calms21(n: int) -> dict:
    rng = np.random.default_rng(0)
    ann = np.full(n, 3)                        # other
    ann[10:30] = 1                             # investigation
    ann[50:60] = 2                             # mount
    kp = rng.uniform(50, 300, size=(n, 2, 2, 7))
    return {"annotator-id_0": {"task1/train/vidB": {
        "keypoints": kp.tolist(), "scores": np.ones((n, 2, 7)).tolist(), "annotations": ann.tolist(),
        "metadata": {"vocab": {"attack": 0, "investigation": 1, "mount": 2, "other": 3}}}}}


def test_calms21_npy_and_json(tmp_path, videos):
    data = _calms21(125)
    pj = tmp_path / "calms21_task1_train.json"
    pj.write_text(json.dumps(data))
    pn = tmp_path / "calms21_task1_train.npy"
    arr = {g: {s: {k: (np.asarray(v) if k != "metadata" else v) for k, v in seq.items()}
               for s, seq in grp.items()} for g, grp in data.items()}
    np.save(pn, arr, allow_pickle=True)
    for p in (pj, pn):
        [rec] = read_calms21(p, fps=15.0, videos=videos)
        assert rec.name == "vidB.mp4" and rec.n_frames == 125
        assert rec.intervals == [Interval(10, 29, "investigation"), Interval(50, 59, "mount")]
        kp = np.asarray(data["annotator-id_0"]["task1/train/vidB"]["keypoints"])[:, 0]
        assert np.allclose(rec.boxes[:, 0], kp[:, 0].min(1)) and np.allclose(rec.boxes[:, 3], kp[:, 1].max(1))
    bad = _calms21(100)
    pj.write_text(json.dumps(bad))
    with pytest.raises(AnnotationError, match="100 labelled frames but video"):
        read_calms21(pj, fps=15.0, videos=videos)


def test_supervisely_prefix_mapping(tmp_path, videos):
    info = probe(videos / "vidA.mp4")
    rec = sly_io.VideoRecord(videos / "vidA.mp4", "vidA.mp4", "ds0", info.fps, info.n_frames, info.width,
                             info.height, [Interval(0, 9, "Grooming"), Interval(20, 29, "groom_face"),
                                           Interval(40, 49, "REAR 2"), Interval(60, 69, "sniff")], None)
    proj = sly_io.write_project(tmp_path / "old", [rec], ["Grooming", "groom_face", "REAR 2", "sniff"])
    assert map_tag("groom_face", ["groom", "groom_f"]) == "groom_f"  # longest prefix wins
    with pytest.raises(AnnotationError, match="tag 'sniff' matches none of the behaviours"):
        read_supervisely(proj, ["groom", "rear"])
    [out], mapping = read_supervisely(proj, ["groom", "rear"], unmatched="drop")
    assert mapping == {"Grooming": "groom", "REAR 2": "rear", "groom_face": "groom", "sniff": None}
    assert out.intervals == [Interval(0, 9, "groom"), Interval(20, 29, "groom"), Interval(40, 49, "rear")]


def test_write_records_round_trip(tmp_path, videos):
    p = tmp_path / "bouts.csv"
    p.write_text("video,behavior,start_frame,end_frame\nvidA,groom,10,40\nvidB,rear,0,20\n")
    recs = read_interval_csv(p, videos=videos)
    proj = write_records(recs, tmp_path / "proj")
    back = {r.name: r.intervals for r in sly_io.read_project(proj)}
    assert back == {"vidA.mp4": [Interval(10, 40, "groom")], "vidB.mp4": [Interval(0, 20, "rear")]}
    without_video = read_interval_csv(p)
    with pytest.raises(AnnotationError, match="pass --videos"):
        write_records(without_video, tmp_path / "proj2")
    assert not (tmp_path / "proj2").exists()


def test_cli_import_boris_and_errors(cli, data_dir, arena_video, tmp_path):
    boris = data_dir / "social_pose_boris" / "boris"
    stem = "e3v813a-20210610T120637-121213_reencode"
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(arena_video, videos / f"{stem}.mp4")
    out = tmp_path / "proj"
    # two exports of the same video (one per behaviour set) are merged into one item
    r = cli("import", "boris", str(boris / f"{stem}.csv"), str(boris / f"{stem}_multiple_behaviors.csv"),
            "--videos", str(videos), "--out", str(out))
    assert r.returncode == 0, r.stderr
    [rec] = sly_io.read_project(out)
    assert {iv.label for iv in rec.intervals} == {"interact", "mount"}
    assert sly_io.project_classes(out) == ["interact", "mount"]
    r = cli("import", "boris", str(boris / "e3v813a-20210610T122332-122642_reencode.csv"),
            "--videos", str(videos), "--out", str(tmp_path / "proj2"))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "122332-122642" in r.stderr and not (tmp_path / "proj2").exists()


def test_cli_import_supervisely_prints_the_mapping(cli, videos, tmp_path):
    info = probe(videos / "vidB.mp4")
    rec = sly_io.VideoRecord(videos / "vidB.mp4", "vidB.mp4", "ds0", info.fps, info.n_frames, info.width,
                             info.height, [Interval(0, 9, "Rearing_full"), Interval(20, 29, "rear")], None)
    old = sly_io.write_project(tmp_path / "old", [rec], ["Rearing_full", "rear"])
    r = cli("import", "supervisely", str(old), "--behaviors", "rear,groom", "--out", str(tmp_path / "new"))
    assert r.returncode == 0, r.stderr
    assert "'Rearing_full'" in r.stdout and "→ rear" in r.stdout
    [back] = sly_io.read_project(tmp_path / "new")
    assert back.intervals == [Interval(0, 9, "rear"), Interval(20, 29, "rear")]
    assert sly_io.project_classes(tmp_path / "new") == ["rear", "groom"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "deepethogram", "calms21"])
def test_cli_import_every_format(fmt, videos, tmp_path, capsys):
    from mouseact.cli import main

    if fmt == "csv":
        f = tmp_path / "b.csv"
        f.write_text("video,behavior,start_frame,end_frame\nvidB,rear,5,20\n")
    elif fmt == "xlsx":
        import openpyxl

        wb = openpyxl.Workbook()
        for row in [["video", "behavior", "start_frame", "end_frame"], ["vidB", "rear", 5, 20]]:
            wb.active.append(row)
        f = tmp_path / "b.xlsx"
        wb.save(f)
    elif fmt == "deepethogram":
        f = tmp_path / "vidB_labels.csv"
        f.write_text(",background,rear\n" + "".join(f"{i},{int(not 5 <= i <= 20)},{int(5 <= i <= 20)}\n"
                                                    for i in range(125)))
    else:
        data = _calms21(125)
        ann = np.full(125, 3)
        ann[5:21] = 2
        data["annotator-id_0"]["task1/train/vidB"]["annotations"] = ann.tolist()
        f = tmp_path / "c.json"
        f.write_text(json.dumps(data))
    rc = main(["import", fmt, str(f), "--videos", str(videos), "--fps", "15"])
    out = capsys.readouterr().out
    assert rc == 0
    label = "mount" if fmt == "calms21" else "rear"
    assert f"{fmt}/vidB.mp4: 125 frames @ 15 fps; {label} 1" in out and "nothing written" in out


def test_labels_typed_two_ways_are_flagged(cli, videos, tmp_path):
    """'Groom' in one video and 'groom ' in another stay two behaviours (nothing is renamed silently) but the
    import says so; evaluate notes the same for its labels."""
    from mouseact.intervals import near_duplicates

    assert near_duplicates(["Groom", "groom", "rear", "Rear ", "itch"]) == [["Groom", "groom"], ["rear", "Rear "]]
    assert near_duplicates(["groom", "rear"]) == []
    p = tmp_path / "bouts.csv"
    p.write_text("video,behavior,start_frame,end_frame\nvidA.mp4,Groom,10,40\nvidB.mp4,groom,0,60\n")
    r = cli("import", "csv", str(p), "--videos", str(videos), "--out", str(tmp_path / "proj"))
    assert r.returncode == 0, r.stderr
    assert "warning: behaviours 'Groom', 'groom' differ only in case or spacing" in r.stderr
    labels = sorted(iv.label for rec in sly_io.read_project(tmp_path / "proj") for iv in rec.intervals)
    assert labels == ["Groom", "groom"]


def test_clamped_bouts_are_counted_clipped_or_dropped(cli, videos, tmp_path):
    """--out-of-range clamp on vidB (125 frames): a bout running past the end is clipped, one lying wholly
    after it is dropped, and the import says which (it used to drop without a word)."""
    p = tmp_path / "bouts.csv"
    p.write_text("video,behavior,start_frame,end_frame\nvidB.mp4,groom,10,40\nvidB.mp4,groom,100,200\n"
                 "vidB.mp4,rear,300,400\n")
    r = cli("import", "csv", str(p), "--videos", str(videos), "--units", "frames", "--out-of-range", "clamp")
    assert r.returncode == 0, r.stderr
    assert "2 bout(s) ran past the end of vidB.mp4 (125 frames): 1 clipped, 1 lying wholly after it dropped" in r.stderr
    [rec] = read_interval_csv(p, units="frames", videos=videos, out_of_range="clamp")
    assert rec.intervals == [Interval(10, 40, "groom"), Interval(100, 124, "groom")]


def test_calms21_file_that_is_not_one_is_a_one_line_error(cli, tmp_path):
    bad = tmp_path / "calms21_task1_train.npy"
    bad.write_text("hello, not numpy")
    r = cli("import", "calms21", str(bad))
    assert r.returncode == 2 and "cannot read CalMS21 file" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
