"""BORIS importer on the real exports in ../shared/data/social_pose_boris/boris and on
format-faithful files of the current tabular and aggregated layouts (written here)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from mouseact.errors import AnnotationError
from mouseact.preprocess.importers import read_boris, seconds_to_frames

REAL = "e3v813a-20210610T122332-122642_reencode"


@pytest.fixture(scope="module")
def boris_dir(data_dir) -> Path:
    return data_dir / "social_pose_boris" / "boris"


def _raw_pairs(path: Path, behavior: str) -> list[tuple[float, float]]:
    """START/STOP times straight from the file's rows (the legacy header is on line 16)."""
    rows = list(csv.reader(path.open()))
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Time")
    events = sorted((float(r[0]), r[8]) for r in rows[header + 1:] if r and r[5] == behavior)
    starts = [t for t, s in events if s == "START"]
    stops = [t for t, s in events if s == "STOP"]
    return list(zip(starts, stops))


def test_real_legacy_export_without_video(boris_dir):
    path = boris_dir / f"{REAL}.csv"
    [rec] = read_boris(path)
    pairs = _raw_pairs(path, "interact")
    assert rec.name == f"{REAL}.avi"
    assert rec.fps == 30.0 and rec.n_frames == 190 * 30  # Total length 190 s in the file
    assert [(iv.start, iv.end) for iv in rec.intervals] == [seconds_to_frames(a, b, 30.0) for a, b in pairs]
    assert {iv.label for iv in rec.intervals} == {"interact"}


def test_every_real_export_pairs_all_its_events(boris_dir):
    files = sorted(boris_dir.glob("*.csv"))
    assert len(files) == 6
    for path in files:
        recs = read_boris(path)
        assert len(recs) == 1
        n_starts = sum(1 for r in csv.reader(path.open()) if r and r[-1] == "START")
        # merging only joins bouts that touch; these exports have none
        assert len(recs[0].intervals) == n_starts, path.name


def test_rows_out_of_time_order_are_paired_per_behaviour(boris_dir):
    path = boris_dir / "e3v813a-20210610T120637-121213_reencode_multiple_behaviors.csv"
    [rec] = read_boris(path)
    mount = [iv for iv in rec.intervals if iv.label == "mount"]
    assert [(iv.start, iv.end) for iv in mount] == [seconds_to_frames(a, b, 30.0)
                                                    for a, b in _raw_pairs(path, "mount")]


def test_real_video_frame_rate_and_length_win(boris_dir, arena_video, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(arena_video, videos / f"{REAL}.mp4")  # a real 30 fps video under the media's name
    [rec] = read_boris(boris_dir / f"{REAL}.csv", videos=videos)
    assert rec.video_path == videos / f"{REAL}.mp4"
    assert (rec.n_frames, rec.width, rec.height) == (10000, 640, 480)


def test_file_for_another_media_is_an_error(boris_dir, arena_video, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(arena_video, videos / "some_other_session.mp4")
    with pytest.raises(AnnotationError, match=f"media .*{REAL}.*no video"):
        read_boris(boris_dir / f"{REAL}.csv", videos=videos)
    with pytest.raises(AnnotationError, match="BORIS file is for media"):
        read_boris(boris_dir / f"{REAL}.csv", media="some_other_session")


def test_ranges_past_the_video_end(boris_dir, openfield_video, tmp_path):
    # the openfield video has 2330 frames (77.7 s); this export has bouts up to 124 s
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(openfield_video, videos / f"{REAL}.mp4")
    with pytest.raises(AnnotationError, match=r"row \d+: 'interact' .* ends after the end"):
        read_boris(boris_dir / f"{REAL}.csv", videos=videos)
    [rec] = read_boris(boris_dir / f"{REAL}.csv", videos=videos, out_of_range="clamp")
    assert max(iv.end for iv in rec.intervals) <= 2329
    assert len(rec.intervals) < len(_raw_pairs(boris_dir / f"{REAL}.csv", "interact"))


def test_unknown_behaviour_names_the_row(boris_dir):
    with pytest.raises(AnnotationError, match=r"row 17: unknown behaviour 'interact'"):
        read_boris(boris_dir / f"{REAL}.csv", behaviors=["groom"])


# ---- format-faithful files of the other layouts and the traps ---------------------------------
LEGACY_META = ["Observation id,obs1", "", "Media file(s)", "", "Player #1,C:\\videos\\{media}", "",
               "Observation date,2024-01-01 10:00:00", "", "Description,", "", "Time offset (s),{offset}",
               "", "independent variables", "variable,value", ""]
LEGACY_HEADER = "Time,Media file path,Total length,FPS,Subject,Behavior,Behavioral category,Comment,Status"


def legacy(tmp_path, rows, media="m1.avi", fps="30.0", offset="0.0", total="60.000") -> Path:
    lines = [ln.format(media=media, offset=offset) for ln in LEGACY_META] + [LEGACY_HEADER]
    for t, beh, status in rows:
        lines.append(f"{t},C:\\videos\\{media},{total},{fps},mouse,{beh},,,{status}")
    p = tmp_path / "legacy.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_several_fps_values_need_a_decision(tmp_path):
    p = legacy(tmp_path, [(1.0, "groom", "START"), (2.0, "groom", "STOP")], fps="30.0;25.0")
    with pytest.raises(AnnotationError, match=r"several FPS values '30.0;25.0'.*--fps"):
        read_boris(p)
    [rec] = read_boris(p, fps=25.0)
    assert [(iv.start, iv.end) for iv in rec.intervals] == [(25, 49)]
    p2 = legacy(tmp_path, [(1.0, "groom", "START"), (2.0, "groom", "STOP")], fps="30.0;30.0")
    assert read_boris(p2)[0].fps == 30.0


def test_unpaired_and_overlapping_states(tmp_path):
    # header is line 16, so the first event is row 17
    p = legacy(tmp_path, [(1.0, "groom", "START"), (2.0, "groom", "STOP"), (3.0, "groom", "STOP")])
    with pytest.raises(AnnotationError, match=r"row 19: STOP of 'groom' of subject 'mouse' without a START"):
        read_boris(p)
    p = legacy(tmp_path, [(1.0, "groom", "START"), (2.0, "groom", "START"), (3.0, "groom", "STOP")])
    with pytest.raises(AnnotationError, match=r"row 18: START .* started at row 17 is still running"):
        read_boris(p)
    p = legacy(tmp_path, [(1.0, "groom", "START"), (2.0, "rear", "START"), (3.0, "rear", "STOP")])
    with pytest.raises(AnnotationError, match=r"row 17: START of 'groom' .* never stopped"):
        read_boris(p)
    [rec] = read_boris(p, close_unpaired=True)
    groom = [iv for iv in rec.intervals if iv.label == "groom"]
    assert [(iv.start, iv.end) for iv in groom] == [(30, 60 * 30 - 1)]  # closed at Total length
    # different behaviours may overlap (multi-label)
    assert {iv.label for iv in rec.intervals} == {"groom", "rear"}


def test_time_offset_is_subtracted(tmp_path):
    p = legacy(tmp_path, [(11.0, "groom", "START"), (12.0, "groom", "STOP")], offset="10.0")
    [rec] = read_boris(p)
    assert [(iv.start, iv.end) for iv in rec.intervals] == [(30, 59)]


CURRENT_HEADER = ("Observation id,Observation date,Description,Observation duration,Observation type,Source,"
                  "Time offset (s),Media duration (s),FPS (frame/s),Subject,Behavior,Behavioral category,"
                  "Behavior type,Time,Media file name,Image index,Image file path,Comment")


def test_current_tabular_with_points_and_na_image_index(tmp_path):
    rows = [("START", 2.0, "groom", "60"), ("POINT", 3.5, "twitch", "NA"), ("STOP", 4.0, "groom", "120"),
            ("POINT", 10.0, "twitch", "NA")]
    lines = [CURRENT_HEADER] + [
        f"obs1,2024-01-01 10:00:00,,60.0,Media file(s),player #1:/data/m2.mp4,0.0,60.0,15.0,No focal subject,"
        f"{beh},,{kind},{t},/data/m2.mp4,{idx},NA," for kind, t, beh, idx in rows]
    p = tmp_path / "current.tsv"
    p.write_text("\n".join(ln.replace(",", "\t") for ln in lines) + "\n")  # BORIS' default TSV
    [rec] = read_boris(p)
    assert rec.fps == 15.0 and rec.n_frames == 900
    got = sorted((iv.label, iv.start, iv.end) for iv in rec.intervals)
    assert got == [("groom", 30, 59), ("twitch", 52, 52), ("twitch", 150, 150)]


AGG_HEADER = ("Observation id,Observation date,Description,Observation type,Source,Time offset (s),Coding duration,"
              "Media duration (s),FPS (frame/s),Subject,Observation duration by subject by observation,Behavior,"
              "Behavioral category,Behavior type,Start (s),Stop (s),Duration (s),Media file name,Image index start,"
              "Image index stop,Image file path start,Image file path stop,Comment start,Comment stop")


def test_aggregated_export(tmp_path):
    def row(beh, kind, start, stop, media="/data/m3.mp4"):
        return (f"obs1,2024-01-01,,Media file(s),player #1:{media},0.0,60.0,60.0,30.0,mouse,60.0,{beh},,{kind},"
                f"{start},{stop},NA,{media},NA,NA,NA,NA,,")
    p = tmp_path / "agg.csv"
    p.write_text("\n".join([AGG_HEADER, row("groom", "STATE", "1.000", "2.500"), row("twitch", "POINT", "5.0", "NA"),
                            row("rear", "STATE", "4.0", "5.0", media="/data/m4.mp4")]) + "\n")
    recs = {r.name: r for r in read_boris(p)}
    assert set(recs) == {"m3.mp4", "m4.mp4"}
    assert sorted((iv.label, iv.start, iv.end) for iv in recs["m3.mp4"].intervals) == [
        ("groom", 30, 74), ("twitch", 150, 150)]
    p.write_text("\n".join([AGG_HEADER, row("groom", "STATE", "1.0", "NA")]) + "\n")
    with pytest.raises(AnnotationError, match=r"row 2: state 'groom' has no 'Stop \(s\)'"):
        read_boris(p)


def test_not_a_boris_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(AnnotationError, match="not a BORIS export"):
        read_boris(p)


def test_boris_xlsx_export(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(CURRENT_HEADER.split(","))
    for kind, t in (("START", 1.0), ("STOP", 2.0)):
        ws.append(["obs1", "2024-01-01", "", 60.0, "Media file(s)", "player #1:/d/m5.mp4", 0.0, 60.0, 30.0,
                   "mouse", "groom", "", kind, t, "/d/m5.mp4", "NA", "NA", ""])
    p = tmp_path / "events.xlsx"
    wb.save(p)
    [rec] = read_boris(p)
    assert rec.name == "m5.mp4" and [(iv.start, iv.end) for iv in rec.intervals] == [(30, 59)]


def test_millisecond_times_land_on_the_frame_they_round():
    """BORIS writes times to the millisecond. At 15 fps frame 500 starts at 33.3333 s, written 33.333:
    that START is frame 500, not 499; a STOP written 45.467 (frame 682 starts at 45.4667 s) ends at 681,
    so a bout that follows at 45.467 does not share a frame with it."""
    from mouseact.preprocess.importers import seconds_to_frames

    assert seconds_to_frames(33.333, 40.0, 15.0) == (500, 599)
    assert seconds_to_frames(37.8, 45.467, 15.0)[1] == 681 and seconds_to_frames(45.467, 50.0, 15.0)[0] == 682
    assert seconds_to_frames(2.0, 2.0, 30.0) == (60, 60)  # a POINT event: the one frame showing it
    for fps in (15.0, 25.0, 29.97, 30.0, 250.0):  # every frame boundary, written to the ms, comes back
        for i in range(0, 3000, 7):
            t = round(i / fps, 3)
            assert seconds_to_frames(t, round((i + 5) / fps, 3), fps) == (i, i + 4), (fps, i)
