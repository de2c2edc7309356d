"""`mouseact localize` and `mouseact train localizer` as a user runs them."""

import json
from pathlib import Path

import pytest
from mouseact.localizer import Localizer

REPO = Path(__file__).resolve().parents[1]


def test_localize_writes_segments(cli, bsoid_dir, tmp_path):
    video = bsoid_dir / "mouse2" / "head_groom.mp4"
    r = cli("localize", str(video), "--out", str(tmp_path / "out"), "--actionness", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / "head_groom.localize.json").read_text())
    assert res["n_frames"] == 114 and res["fps"] == 15.0
    # (a short clip of a mouse grooming in place is a hard case for the background model: no share asserted)
    assert 0 <= res["frames_proposed"] <= 1 and 0 <= res["mouse_found_share"] <= 1
    for seg in res["segments"] + res["nested_segments"]:
        assert seg["label"] == "action" and 0 <= seg["frame_range"][0] <= seg["frame_range"][1] < 114
    outer = [s["frame_range"] for s in res["segments"]]
    assert all(a[1] < b[0] for a, b in zip(outer, outer[1:]))  # sorted, never overlapping
    assert all(any(o[0] <= s["frame_range"][0] and s["frame_range"][1] <= o[1] for o in outer)
               for s in res["nested_segments"])
    lines = (tmp_path / "out" / "head_groom.actionness.csv").read_text().splitlines()
    assert lines[0] == "frame,actionness" and len(lines) == 115


def test_localize_bad_input_is_one_line(cli, tmp_path, bsoid_dir):
    r = cli("localize", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "missing.mp4" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty_model"
    empty.mkdir()
    r = cli("localize", str(bsoid_dir / "mouse1" / "itch.mp4"), "--model", str(empty), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "not a MouseAct model directory" in r.stderr
    assert not (tmp_path / "o").exists()


def test_train_localizer_on_a_project(cli, tmp_path):
    project = REPO / "samples" / "bsoid_sequence" / "project"
    if not project.is_dir():
        pytest.fail(f"demo sample project missing at {project}")
    out = tmp_path / "loc"
    # the sample has one resting bout (first half only): with locomotion as background too, both
    # halves of the split-in-time video hold both kinds of frames
    cache = tmp_path / "cache"
    r = cli("train", "localizer", str(project), "--out", str(out), "--background", "inactive,locomote",
            "--set", "target_recall=0.9", "--cache", str(cache), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "operating point" in r.stdout
    assert "features: 0 from the cache, 1 computed" in r.stderr
    loc = Localizer.load(out)
    td = loc.card["training_data"]
    assert td["groups"] == 2 and "first half" in td["group_names"][0]  # one video: split in time
    assert (td["detector"], td["detector_stride"], td["detector_model"]) == ("classical", 4, None)
    assert loc.card["operating_point"]["target_recall"] == 0.9
    # the same training again reads the video's features back and gives the same model
    again = tmp_path / "loc2"
    r = cli("train", "localizer", str(project), "--out", str(again), "--background", "inactive,locomote",
            "--set", "target_recall=0.9", "--cache", str(cache), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "features: 1 from the cache, 0 computed" in r.stderr
    assert Localizer.load(again).card["operating_point"] == loc.card["operating_point"]


def test_train_localizer_usage_errors(cli, tmp_path):
    r = cli("train", "localizer", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "exactly one" in r.stderr
    r = cli("train", "localizer", "--bsoid", str(tmp_path), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "no clip folders" in r.stderr
    r = cli("train", "localizer", "--bsoid", str(tmp_path), "--out", str(tmp_path / "x"), "--set", "estimatr=hgb")
    assert r.returncode == 2 and "estimatr" in r.stderr
    clips = tmp_path / "Training Data"  # what `mouseact preprocess` writes: clips + splits.json with idle_label
    clips.mkdir()
    (clips / "splits.json").write_text('{"idle_label": "idle", "items": [], "videos": {}}')
    r = cli("train", "localizer", str(clips), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "clip project of `mouseact preprocess`" in r.stderr
    assert not (tmp_path / "x").exists()
    (tmp_path / "done").mkdir()
    r = cli("train", "localizer", "--bsoid", str(tmp_path), "--out", str(tmp_path / "done"))
    assert r.returncode == 2 and "output directory exists (use --overwrite)" in r.stderr
    r = cli("train", "localizer", "--help")
    assert r.returncode == 0 and "target_recall" in r.stdout
    r = cli("localize", "--help")
    assert r.returncode == 0 and "--model" in r.stdout


def test_nested_segments_are_split_from_the_outer_ones():
    from mouseact.intervals import Interval
    from mouseact.localizer.cli import _split_nested

    segs = [Interval(50, 129, "action", 0.97), Interval(50, 79, "action", 0.97), Interval(100, 129, "action", 0.97),
            Interval(200, 209, "action", 0.6), Interval(300, 340, "action", 0.9), Interval(310, 320, "action", 0.9)]
    out = _split_nested(segs)
    assert [s["frame_range"] for s in out["segments"]] == [[50, 129], [200, 209], [300, 340]]
    assert [s["frame_range"] for s in out["nested_segments"]] == [[50, 79], [100, 129], [310, 320]]
