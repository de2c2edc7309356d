"""Per-video and per-batch outputs (mouseact.export) on real B-SOiD clips, read back by the real
Supervisely SDK and by the BORIS / interval-CSV importers."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mouseact import export
from mouseact.errors import MouseActError
from mouseact.intervals import Interval
from mouseact.video import probe

CLASSES = ["body_groom", "itch", "locomote", "rear_plus"]


class Track:
    """The shape of a detection Track as the pipeline passes it (boxes with NaN rows, lost flags)."""

    def __init__(self, boxes, lost):
        self.boxes, self.lost = boxes, lost


def real_track(info, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0, info.width / 2, info.n_frames)
    y1 = rng.uniform(0, info.height / 2, info.n_frames)
    boxes = np.stack([x1, y1, x1 + 60, y1 + 40], 1).astype(np.float32)
    lost = np.zeros(info.n_frames, bool)
    boxes[5:9] = np.nan  # mouse not found in four frames
    lost[5:9] = True
    return Track(boxes, lost)


@pytest.fixture(scope="module")
def clips(bsoid_dir):
    paths = [bsoid_dir / "mouse1" / "itch.mp4", bsoid_dir / "mouse1" / "locomote.mp4"]
    return [(p, probe(p)) for p in paths]


def intervals_for(info):
    n = info.n_frames
    return [
        Interval(0, 9, "itch", 0.91),
        Interval(12, min(30, n - 1), "locomote", 0.42),
        Interval(n - 5, n - 1, "itch", 0.66),
    ]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_video_outputs_round_trip(tmp_path, clips):
    video, info = clips[0]
    ivs = intervals_for(info)
    paths = export.write_video_outputs(tmp_path, video.stem, info, ivs, real_track(info), CLASSES)
    assert set(paths) == {"predictions", "intervals", "boris", "ethogram", "track"}

    # predictions JSON: exactly the contract's items, sidecar with the real video's numbers
    items = json.loads(paths["predictions"].read_text())
    assert items == [iv.to_json() for iv in sorted(ivs)]
    vp = export.read_prediction(paths["predictions"])
    assert vp.intervals == sorted(Interval(i.start, i.end, i.label, round(i.confidence, 4)) for i in ivs)
    assert (vp.fps, vp.n_frames, vp.video) == (info.fps, info.n_frames, video.name)
    assert vp.meta["classes"] == CLASSES and vp.meta["width"] == info.width
    assert Path(vp.meta["video_path"]).is_absolute()  # a resumed batch may start elsewhere

    # plain interval CSV: seconds follow frames / fps with the stop at the end of the last frame
    rows = read_csv(paths["intervals"])
    assert [r["behavior"] for r in rows] == [iv.label for iv in sorted(ivs)]
    for r, iv in zip(rows, sorted(ivs)):
        assert float(r["start_s"]) == pytest.approx(iv.start / info.fps, abs=1e-3)
        assert float(r["end_s"]) == pytest.approx((iv.end + 1) / info.fps, abs=1e-3)
        assert float(r["duration_s"]) == pytest.approx(iv.length / info.fps, abs=1e-3)

    # BORIS aggregated export: BORIS's own column order; the issue-4 importer reads it back exactly
    with open(paths["boris"], newline="") as f:
        header = next(csv.reader(f))
    assert header == export.BORIS_COLUMNS
    from mouseact.preprocess.importers import read_boris

    (rec,) = read_boris(paths["boris"])
    assert rec.fps == pytest.approx(info.fps)
    assert [(i.start, i.end, i.label) for i in sorted(rec.intervals)] == [
        (i.start, i.end, i.label) for i in sorted(ivs)
    ]

    # track and ethogram
    with np.load(paths["track"]) as z:
        assert (
            z["boxes"].shape == (info.n_frames, 4)
            and np.isnan(z["boxes"][5:9]).all()
            and z["lost"][5:9].all()
        )
    import matplotlib.image

    img = matplotlib.image.imread(paths["ethogram"])
    assert img.ndim == 3 and img.shape[1] > 500
    assert vp.meta["lost_frames"] == 4
    # the "no mouse" row makes the ethogram taller than one without a track
    plain = export.ethogram_png(tmp_path / "plain.png", ivs, info.fps, info.n_frames, CLASSES)
    assert matplotlib.image.imread(plain).shape[0] < img.shape[0]
    plain.unlink()
    # atomic writes leave no temporary siblings behind
    assert not [p for p in tmp_path.rglob(".*")]


def test_legacy_boris_layout_reads_back(tmp_path, clips):
    video, info = clips[1]
    ivs = intervals_for(info)
    path = tmp_path / "legacy.csv"
    path.write_text(export.boris_csv(video.name, ivs, info.fps, info.n_frames, str(video), legacy=True))
    assert next(csv.reader(open(path))) == export.BORIS_LEGACY_COLUMNS
    from mouseact.preprocess.importers import read_boris

    (rec,) = read_boris(path)
    assert sorted((i.start, i.end, i.label) for i in rec.intervals) == sorted(
        (i.start, i.end, i.label) for i in ivs
    )


def test_summary_numbers_by_hand():
    # 10 fps, 600 frames = 1 minute. groom: 0-9 (1 s) and 20-39 overlapping 35-49 -> one bout
    # 20-49 (3 s): 2 bouts, 4 s, mean 2 s, 2 per minute, 40/600 of the time. rear: 100-104 (0.5 s).
    ivs = [
        Interval(0, 9, "groom"),
        Interval(20, 39, "groom"),
        Interval(35, 49, "groom"),
        Interval(100, 104, "rear"),
    ]
    s = export.behaviour_summary(ivs, fps=10.0, n_frames=600, classes=["groom", "itch", "rear"])
    assert s["groom"] == {
        "bouts": 2,
        "total_s": 4.0,
        "mean_bout_s": 2.0,
        "per_minute": 2.0,
        "share_of_time": round(40 / 600, 4),
    }
    assert s["rear"] == {
        "bouts": 1,
        "total_s": 0.5,
        "mean_bout_s": 0.5,
        "per_minute": 1.0,
        "share_of_time": round(5 / 600, 4),
    }
    # a behaviour never seen is a measured zero, not a missing row; its mean bout length is undefined
    assert s["itch"] == {
        "bouts": 0,
        "total_s": 0.0,
        "mean_bout_s": None,
        "per_minute": 0.0,
        "share_of_time": 0.0,
    }
    assert list(s) == ["groom", "itch", "rear"]


def test_batch_outputs_resume_and_sdk_read_back(tmp_path, clips):
    out = tmp_path / "run"
    results = []
    for seed, (video, info) in enumerate(clips):
        ivs = intervals_for(info)
        track = real_track(info, seed)
        export.write_video_outputs(out, video.stem, info, ivs, track, CLASSES)
        results.append(
            {"name": video.stem, "video_path": video, "info": info, "intervals": ivs, "track": track}
        )
    # resumed batch: only the second video is "fresh"; the first comes back from disk (with its track)
    paths = export.write_batch_outputs(out, results[1:], CLASSES)
    assert {"summary_csv", "summary_md", "intervals_csv", "boris_csv", "project"} <= set(paths)

    rows = read_csv(paths["summary_csv"])
    assert len(rows) == 2 * len(CLASSES)
    assert {r["video"] for r in rows} == {v.name for v, _ in clips}
    itch = next(r for r in rows if r["video"] == "itch.mp4" and r["behavior"] == "itch")
    info0 = clips[0][1]
    assert int(itch["bouts"]) == 2
    assert float(itch["total_s"]) == pytest.approx(15 / info0.fps, abs=1e-3)
    md = paths["summary_md"].read_text()
    assert "| itch.mp4 | itch | 2 |" in md
    # the four frames without a mouse are reported per video (also for the video read from disk)
    for v, i in clips:
        duration, share = round(i.n_frames / i.fps, 1), round(4 / i.n_frames, 4)
        row = [v.name, i.n_frames, f"{i.fps:g}", f"{duration:g}", f"{share:g}"]
        assert "| " + " | ".join(map(str, row)) + " |" in md
    import openpyxl

    wb = openpyxl.load_workbook(paths["summary_xlsx"], read_only=True)
    sheet = [list(r) for r in wb["summary"].iter_rows(values_only=True)]
    assert sheet[0] == export.SUMMARY_COLUMNS and len(sheet) == 1 + len(rows)
    assert ["itch.mp4", "itch", 2] == sheet[1 + rows.index(itch)][:3]
    assert len(list(wb["intervals"].iter_rows())) == 1 + len(read_csv(paths["intervals_csv"]))

    # the real SDK reads the project: tags with confidences, one mouse figure per frame with a box
    import supervisely as sly

    project = sly.read_project(str(paths["project"]))
    assert sorted(t.name for t in project.meta.tag_metas) == sorted(CLASSES)
    seen = 0
    for ds in project.datasets:
        for item_name in ds.get_items_names():
            ann_json = json.loads(Path(ds.get_ann_path(item_name)).read_text())
            video, info = next((v, i) for v, i in clips if v.stem == Path(item_name).stem)
            tags = sorted(
                (t["frameRange"][0], t["frameRange"][1], t["name"], t["value"]) for t in ann_json["tags"]
            )
            want = sorted(
                (i.start, i.end, i.label, pytest.approx(i.confidence, abs=1e-3)) for i in intervals_for(info)
            )
            assert tags == want
            assert ann_json["framesCount"] == info.n_frames
            n_figures = sum(len(fr["figures"]) for fr in ann_json["frames"])
            assert n_figures == info.n_frames - 4  # the four NaN frames have no box
            seen += 1
    assert seen == 2

    # and MouseAct's own reader gives back the boxes of the resumed (on-disk) video
    from mouseact import sly_io

    recs = {Path(r.name).stem: r for r in sly_io.read_project(paths["project"])}
    want = real_track(clips[0][1], 0).boxes
    got = recs["itch"].boxes
    assert np.isnan(got[5:9]).all()
    np.testing.assert_allclose(got[10:20], want[10:20], atol=0.6)


def test_bad_inputs_write_nothing(tmp_path, clips):
    video, info = clips[0]
    with pytest.raises(MouseActError, match="outside"):
        export.write_video_outputs(
            tmp_path, video.stem, info, [Interval(0, info.n_frames, "itch")], None, CLASSES
        )
    assert not (tmp_path / "predictions").exists()
    with pytest.raises(MouseActError, match="no finished videos"):
        export.write_batch_outputs(tmp_path / "empty", [], CLASSES)
    # a predictions file without its sidecar is an error naming the file, not a silent skip
    export.write_video_outputs(tmp_path, video.stem, info, [], None, CLASSES, ethogram=False)
    export.meta_path(tmp_path, video.stem).unlink()
    with pytest.raises(MouseActError, match="sidecar"):
        export.read_predictions(tmp_path)


def test_batch_project_needs_the_source_videos(tmp_path, clips):
    video, info = clips[0]
    moved = tmp_path / "moved.mp4"
    shutil.copy(video, moved)
    info2 = probe(moved)
    export.write_video_outputs(
        tmp_path / "run", "moved", info2, intervals_for(info2), None, CLASSES, ethogram=False
    )
    moved.unlink()
    with pytest.raises(MouseActError, match="moved.mp4"):
        export.write_batch_outputs(tmp_path / "run", [], CLASSES)
    # the tables were still written; only the project is missing
    assert (tmp_path / "run" / "summary.csv").is_file()
    assert not (tmp_path / "run" / "project").exists()


@pytest.mark.parametrize("fps", [15.0, 29.97, 30.0, 250.0])
def test_boris_times_map_back_to_the_same_frames(tmp_path, fps):
    # millisecond times rounded inwards: the importer's "frame showing the time" rule and plain
    # nearest-frame rounding both recover every frame exactly (fps of the real clips in ../shared/data)
    rng = np.random.default_rng(int(fps))
    starts = np.sort(rng.choice(np.arange(0, 20000, 7), 300, replace=False))
    ivs = [
        Interval(int(s), int(s) + int(rng.integers(0, 6)), "itch" if k % 2 else "rear_plus")
        for k, s in enumerate(starts)
    ]
    n = 20010
    from mouseact.preprocess.importers import read_boris

    for legacy in (False, True):
        path = tmp_path / f"b{legacy}.csv"
        path.write_text(export.boris_csv("v.mp4", ivs, fps, n, "v.mp4", legacy=legacy))
        (rec,) = read_boris(path, fps=fps)
        assert sorted((i.start, i.end, i.label) for i in rec.intervals) == sorted(
            (i.start, i.end, i.label) for i in ivs
        )
    with open(path, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (r["Behavior"], float(r["Start (s)"])))
    assert len(rows) == len(ivs)
    for r, iv in zip(rows, sorted(ivs, key=lambda i: (i.label, i.start))):
        assert (
            round(float(r["Start (s)"]) * fps) == iv.start and round(float(r["Stop (s)"]) * fps) - 1 == iv.end
        )


def test_time_window_and_bins_by_hand():
    # 10 fps, 605 frames. groom 5-15 s (frames 50-149), rear 30-31 s (frames 300-309)
    ivs = [Interval(50, 149, "groom"), Interval(300, 309, "rear")]
    s = export.window_summary(ivs, 10.0, 605, ["groom", "rear"], start_s=0, end_s=10)
    # first 10 s: groom cut to 5-10 s = 5 s of 10 s; one bout in 1/6 min = 6 per minute
    assert s["groom"] == {
        "bouts": 1,
        "total_s": 5.0,
        "mean_bout_s": 5.0,
        "per_minute": 6.0,
        "share_of_time": 0.5,
    }
    assert s["rear"]["bouts"] == 0
    rows = export.binned_rows("v.mp4", ivs, 10.0, 605, 10.0, ["groom", "rear"])
    groom = [(r[1], r[2], r[3], r[5], r[6]) for r in rows if r[4] == "groom"]
    # a bout crossing a bin edge counts in both bins; the last bin is 0.5 s long
    assert groom[:3] == [(0, 0.0, 10.0, 1, 5.0), (1, 10.0, 20.0, 1, 5.0), (2, 20.0, 30.0, 0, 0.0)]
    assert groom[-1][:3] == (6, 60.0, 60.5)
    rear = [r for r in rows if r[4] == "rear" and r[5]]
    assert [(r[1], r[6], r[9]) for r in rear] == [(3, 1.0, 0.1)]
    with pytest.raises(MouseActError, match="holds no frame"):
        export.window(ivs, 10.0, 605, 70, 80)


def test_summarize_cli_window_and_bins(tmp_path, clips, cli):
    video, info = clips[1]
    ivs = intervals_for(info)
    export.write_video_outputs(tmp_path / "run", video.stem, info, ivs, None, CLASSES, ethogram=False)
    end_s = 20 / info.fps  # first 20 frames: itch 0-9 and locomote 12-19
    res = cli(
        "summarize",
        "--pred",
        str(tmp_path / "run"),
        "--out",
        str(tmp_path / "s"),
        "--end-s",
        str(end_s),
        "--bin-s",
        str(10 / info.fps),
    )
    assert res.returncode == 0, res.stderr
    rows = {r["behavior"]: r for r in read_csv(tmp_path / "s" / "summary.csv")}
    assert int(rows["itch"]["bouts"]) == 1 and float(rows["itch"]["share_of_time"]) == 0.5
    assert float(rows["locomote"]["total_s"]) == pytest.approx(8 / info.fps, abs=1e-3)
    bins = read_csv(tmp_path / "s" / "summary_bins.csv")
    assert len(bins) == 2 * len(CLASSES)
    assert [int(b["bouts"]) for b in bins if b["behavior"] == "itch"] == [1, 0]
    assert (tmp_path / "s" / "summary.xlsx").is_file()
    # the same --out again without bins: no earlier run's bins table is left beside the new summary
    res = cli("summarize", "--pred", str(tmp_path / "run"), "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "s" / "summary_bins.csv").exists()


def test_summarize_window_past_a_short_video_leaves_it_out(tmp_path, clips, cli):
    """Two real clips of different length: a window starting after the short one ends summarises the long
    one and names the short one; a window after both is a one-line error naming a video."""
    (short, s_info), (long, l_info) = sorted(clips, key=lambda c: c[1].n_frames)
    for video, info in ((short, s_info), (long, l_info)):
        export.write_video_outputs(tmp_path / "run", video.stem, info, intervals_for(info), None, CLASSES,
                                   ethogram=False)
    start = (s_info.n_frames + 2) / s_info.fps
    assert start < l_info.n_frames / l_info.fps
    res = cli("summarize", "--pred", str(tmp_path / "run"), "--out", str(tmp_path / "s"), "--start-s", f"{start:.3f}")
    assert res.returncode == 0, res.stderr
    assert f"warning: left out: {short.name}" in res.stderr and "holds no frame" in res.stderr
    assert "None" not in res.stderr and "1 video(s) summarised" in res.stdout
    assert {r["video"] for r in read_csv(tmp_path / "s" / "summary.csv")} == {long.name}
    res = cli("summarize", "--pred", str(tmp_path / "run"), "--out", str(tmp_path / "s2"), "--start-s", "9999")
    assert res.returncode == 2 and "no video reaches the time window" in res.stderr and "9999 s to the end" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "s2").exists()


def test_batch_project_links_videos_instead_of_copying(tmp_path, clips):
    video, _ = clips[0]
    src = tmp_path / "session1.mp4"
    shutil.copy(video, src)
    info = probe(src)
    export.write_video_outputs(
        tmp_path / "run", src.name, info, intervals_for(info), None, CLASSES, ethogram=False
    )
    paths = export.write_batch_outputs(tmp_path / "run", [], CLASSES)
    (linked,) = list(paths["project"].rglob("session1.mp4"))
    assert linked.stat().st_ino == src.stat().st_ino  # same file system: a hard link, no GB copy
    # a second batch run rebuilds the project in place
    paths = export.write_batch_outputs(tmp_path / "run", [], CLASSES)
    assert len(list(paths["project"].rglob("session1.mp4"))) == 1


def test_names_with_dots_keep_their_stem(tmp_path, clips):
    # lab file names often carry dates/sessions after dots; only a real extension is stripped
    assert export.video_stem("m1.day2.mp4") == "m1.day2" == export.video_stem("m1.day2")
    assert export.video_stem("C:\\videos\\cage3.AVI") == "cage3"
    video, info = clips[0]
    export.write_video_outputs(tmp_path, "m1.day2", info, intervals_for(info), None, CLASSES, ethogram=False)
    (vp,) = export.read_predictions(tmp_path).values()
    assert vp.stem == "m1.day2" and (tmp_path / "predictions" / "m1.day2.json").is_file()


def test_batch_from_result_objects_keeps_nested_datasets(tmp_path, clips):
    import dataclasses

    @dataclasses.dataclass
    class Result:  # the attributes mouseact.inference's VideoResult carries
        name: str
        video_path: Path
        info: object
        intervals: list
        track: object
        dataset: str

    results = [
        Result(v.name, v, i, intervals_for(i), real_track(i), f"cohort1/day{k}")
        for k, (v, i) in enumerate(clips)
    ]
    for r in results:
        export.write_video_outputs(
            tmp_path, r.name, r.info, r.intervals, r.track, CLASSES, dataset=r.dataset, ethogram=False
        )
    paths = export.write_batch_outputs(tmp_path, results, CLASSES)
    from mouseact import sly_io

    recs = sly_io.read_project(paths["project"])
    assert sorted(r.dataset for r in recs) == ["cohort1/day0", "cohort1/day1"]
    assert all(int(np.isfinite(r.boxes[:, 0]).sum()) == r.n_frames - 4 for r in recs)


def test_outputs_are_reproducible(tmp_path, clips):
    # re-running a video gives byte-identical tables (no wall-clock time inside them)
    video, info = clips[0]
    for out in ("a", "b"):
        export.write_video_outputs(
            tmp_path / out, video.stem, info, intervals_for(info), None, CLASSES, ethogram=False
        )
    for sub in ("boris", "intervals"):
        assert (tmp_path / "a" / sub / "itch.csv").read_bytes() == (
            tmp_path / "b" / sub / "itch.csv"
        ).read_bytes()
    assert (tmp_path / "a" / "predictions" / "itch.json").read_bytes() == (
        tmp_path / "b" / "predictions" / "itch.json"
    ).read_bytes()


def test_summarize_hand_scored_boris_matches_its_own_times(tmp_path, data_dir, cli):
    boris = data_dir / "social_pose_boris" / "boris" / "e3v813a-20210610T122332-122642_reencode.csv"
    res = cli("summarize", "--pred", str(boris), "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    (row,) = read_csv(tmp_path / "s" / "summary.csv")
    # the raw START/STOP times of the human observer, read here independently of the importer
    lines = boris.read_text().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Time,"))
    events = list(csv.DictReader(lines[head:]))
    starts = [float(e["Time"]) for e in events if e["Status"] == "START"]
    stops = [float(e["Time"]) for e in events if e["Status"] == "STOP"]
    fps, length = float(events[0]["FPS"]), float(events[0]["Total length"])
    assert int(row["bouts"]) == len(starts) == len(stops)
    seconds = sum(b - a for a, b in zip(starts, stops, strict=True))
    # frames quantise each bout by at most one frame
    assert abs(float(row["total_s"]) - seconds) <= len(starts) / fps
    assert float(row["per_minute"]) == pytest.approx(len(starts) / (length / 60), rel=0.01)


def test_summarize_and_infer_refuse_bad_numbers_and_outputs(tmp_path, clips, cli):
    video, info = clips[0]
    export.write_video_outputs(tmp_path / "run", video.stem, info, intervals_for(info), None, CLASSES, ethogram=False)
    for flag, value, text in (("--end-s", "nan", "finite"), ("--end-s", "inf", "finite"), ("--start-s", "-1", ">= 0"),
                              ("--bin-s", "0", "> 0")):
        r = cli("summarize", "--pred", str(tmp_path / "run"), "--out", str(tmp_path / "s"), flag, value)
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr, (flag, value, r.stderr)
    assert not (tmp_path / "s").exists()
    afile = tmp_path / "results.txt"
    afile.write_text("x")
    r = cli("infer", str(video), "--out", str(afile), "--quiet")
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr and afile.read_text() == "x"
    r = cli("infer", str(video), "--out", "/sys/mouseact-out", "--quiet")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "/sys" in r.stderr, r.stderr
