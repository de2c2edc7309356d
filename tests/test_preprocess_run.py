"""`mouseact preprocess` end to end on real videos: B-SOiD clips concatenated into short
sessions (their clip names are the labels) and the open-field video with its derived boxes."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mouseact import sly_io
from mouseact.errors import AnnotationError, MouseActError
from mouseact.intervals import Interval
from mouseact.preprocess.clips import PROJECT_NAME, PreprocessConfig, preprocess
from mouseact.video import VideoReader, probe, write_video

# session name -> B-SOiD clips in order; clips named inactive/locomote are left unlabelled (idle room)
SESSIONS = {
    "mouse1_s1.mp4": ["mouse1/face_groom", "mouse1/inactive", "mouse1/rear_plus", "mouse1/locomote"],
    "mouse2_s1.mp4": ["mouse2/itch", "mouse2/inactive", "mouse2/face_groom"],
    "mouse1_s2.mp4": ["mouse1/itch", "mouse1/locomote"],
}
UNLABELLED = {"inactive", "locomote"}


def _session(bsoid_dir: Path, parts: list[str], out: Path) -> list[Interval]:
    intervals, pos = [], 0

    def frames():
        for p in parts:
            with VideoReader(bsoid_dir / f"{p}.mp4") as r:
                yield from r.iter_frames()

    write_video(out, frames(), 15.0)
    for p in parts:
        n = probe(bsoid_dir / f"{p}.mp4").n_frames
        label = Path(p).name
        if label not in UNLABELLED:
            intervals.append(Interval(pos, pos + n - 1, label))
        pos += n
    return intervals


@pytest.fixture(scope="module")
def sessions(bsoid_dir, tmp_path_factory) -> dict[str, sly_io.VideoRecord]:
    d = tmp_path_factory.mktemp("sessions")
    out = {}
    for name, parts in SESSIONS.items():
        ivs = _session(bsoid_dir, parts, d / name)
        info = probe(d / name)
        out[name] = sly_io.VideoRecord(d / name, name, "ds0", info.fps, info.n_frames, info.width, info.height,
                                       ivs, None)
    return out


def _project(path: Path, records) -> Path:
    classes = sorted({iv.label for r in records for iv in r.intervals})
    return sly_io.write_project(path, records, classes, overwrite=True)


def _items(project: Path) -> dict[str, tuple]:
    """item -> (n_frames, intervals, size) as read back through the SDK."""
    return {r.key: (r.n_frames, tuple(r.intervals), r.width, r.height) for r in sly_io.read_project(project)}


def test_training_project_from_sessions(sessions, tmp_path):
    proj = _project(tmp_path / "in", list(sessions.values()))
    cfg = PreprocessConfig(detector="none", max_clip_s=2.0, min_clip_s=1.0, idle_clip_s=2.0, idle_margin_s=0.5,
                           val_fraction=0.0, test_fraction=0.34, seed=3)
    report = preprocess(proj, tmp_path / "out", cfg, progress=False)
    out = tmp_path / "out" / PROJECT_NAME
    recs = sly_io.read_project(out)
    splits = json.loads((out / "splits.json").read_text())
    by_item = {it["item"]: it for it in splits["items"]}
    assert {r.key for r in recs} == set(by_item)
    test_videos = [k for k, v in splits["videos"].items() if v["split"] == "test"]
    train_labels = {iv.label for k, v in splits["videos"].items() if v["split"] == "train"
                    for iv in sessions[k.split("/", 1)[1]].intervals}
    assert {r.dataset for r in recs} == train_labels | {"idle", "test"}
    assert len(test_videos) == 1 and report["videos_per_split"]["test"] == test_videos
    max_frames, min_frames, margin = 30, 15, 8
    covered: dict[str, np.ndarray] = {}
    for r in recs:
        it = by_item[r.key]
        src = sessions[it["source"].split("/", 1)[1]]
        if r.dataset == "test":  # a whole test video with all its bouts
            assert r.n_frames == src.n_frames and r.intervals == src.intervals
            continue
        assert it["source"] not in test_videos     # split by video: no clip from a test video
        s, e = it["source_range"]
        assert r.n_frames == e - s + 1 == probe(r.video_path).n_frames
        assert min_frames <= r.n_frames <= max_frames
        src_mask = np.zeros(src.n_frames, bool)
        for iv in src.intervals:
            src_mask[iv.start: iv.end + 1] = True
        if r.dataset == "idle":
            assert not r.intervals
            lo, hi = max(0, s - margin), min(src.n_frames, e + margin + 1)
            assert not src_mask[lo:hi].any()        # idle clips keep the margin from every bout
        else:
            assert any(iv.label == r.dataset for iv in r.intervals)
            # the clip's annotation is the source bouts shifted into the clip
            assert r.intervals == [Interval(max(iv.start, s) - s, min(iv.end, e) - s, iv.label)
                                   for iv in src.intervals if iv.start <= e and iv.end >= s]
            cov = covered.setdefault(it["source"] + r.dataset, np.zeros(src.n_frames, bool))
            cov[s: e + 1] = True
    # every labelled frame of every train video is inside a clip of its behaviour
    for key, v in splits["videos"].items():
        if v["split"] != "train":
            continue
        for iv in sessions[key.split("/", 1)[1]].intervals:
            assert covered[key + iv.label][iv.start: iv.end + 1].all()
    # idle:behaviour frames at the configured 1:1 (within one short clip per video), or a reported shortfall
    for s_ in ("train",):
        idle_f = report["clips"]["idle"][s_]["frames"]
        pos_f = sum(report["clips"][c][s_]["frames"] for c in splits["classes"])
        shortfall = sum(report["idle_shortfall_frames"].values())
        assert abs(idle_f + shortfall - pos_f) < min_frames * len(splits["videos"])
    # the report counts what the project holds
    for r in recs:
        if r.dataset != "test":
            report["clips"][r.dataset][by_item[r.key]["split"]]["clips"] -= 1
    assert all(v["clips"] == 0 for row in report["clips"].values() for v in row.values())
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| face_groom |" in md and "idle : behaviour" in md
    rows = list(csv.DictReader((tmp_path / "out" / "report.csv").open()))
    n_clips = sum(int(r["clips"]) for r in rows if r["split"] != "test")
    assert n_clips == sum(1 for r in recs if r.dataset != "test")


def test_boxes_follow_the_frames_and_the_resize(openfield_video, data_dir, tmp_path):
    rows = list(csv.DictReader((data_dir / "openfield_dlc" / "derived" /
                                "m3v1mp4_DERIVED_boxes_from_dlc_predictions.csv").open()))
    info = probe(openfield_video)
    boxes = np.full((info.n_frames, 4), np.nan, np.float32)
    for row in rows:
        if row["x1"]:
            boxes[int(row["frame"])] = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
    rec = sly_io.VideoRecord(openfield_video, "openfield.mp4", "ds0", info.fps, info.n_frames, info.width,
                             info.height, [Interval(400, 469, "rear"), Interval(1500, 1529, "groom")], boxes)
    proj = sly_io.write_project(tmp_path / "in", [rec], ["groom", "rear"])
    cfg = PreprocessConfig(detector="none", short_side=240, val_fraction=0, test_fraction=0, idle_ratio=0.5)
    preprocess(proj, tmp_path / "out", cfg, progress=False)
    out = tmp_path / "out" / PROJECT_NAME
    splits = {it["item"]: it for it in json.loads((out / "splits.json").read_text())["items"]}
    recs = sly_io.read_project(out)
    assert {r.dataset for r in recs} == {"groom", "rear", "idle"}
    src_boxes = sly_io.read_project(proj)[0].boxes     # as stored (integer pixels)
    with VideoReader(openfield_video) as reader:
        for r in recs:
            assert (r.width, r.height) == (320, 240)
            s, e = splits[r.key]["source_range"]
            want = src_boxes[s: e + 1] * 0.5
            ok = np.isfinite(want).all(1)
            assert np.array_equal(np.isfinite(r.boxes).all(1), ok)
            assert np.abs(r.boxes[ok] - want[ok]).max() <= 1.0
            if r.dataset == "rear":
                # frame-accurate: each clip frame matches its own source frame better than a neighbour
                import cv2

                clip = VideoReader(r.video_path).get_clip(0, r.n_frames - 1)
                src = [cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA)
                       for f in reader.iter_frames(max(0, s - 1), e + 2)]
                off = 1 if s > 0 else 0
                for i in range(0, len(clip), 7):
                    same = np.abs(clip[i].astype(int) - src[i + off]).mean()
                    prev = np.abs(clip[i].astype(int) - src[i + off - 1]).mean()
                    nxt = np.abs(clip[i].astype(int) - src[i + off + 1]).mean()
                    assert same < min(prev, nxt), (i, same, prev, nxt)


def _run_cli(project: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mouseact", "preprocess", str(project), "--out", str(out), "--quiet",
           "--detector", "none", "--set", "max_clip_s=1", "--set", "val_fraction=0", "--set", "test_fraction=0",
           *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(out: Path) -> int:
    try:
        return len(json.loads((out / ".work" / "manifest.json").read_text())["done"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(sessions, tmp_path):
    proj = _project(tmp_path / "in", list(sessions.values()))
    ref = _run_cli(proj, tmp_path / "ref")
    _, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err
    total = len(json.loads((tmp_path / "ref" / ".work" / "manifest.json").read_text())["done"])
    assert total >= 20

    out = tmp_path / "out"
    victim = _run_cli(proj, out)
    deadline = time.time() + 120
    while _done(out) < 5 and victim.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    killed_at = _done(out)
    assert 5 <= killed_at < total, "the run was not killed mid-way"
    assert not (out / PROJECT_NAME).exists()           # nothing half-assembled

    again = _run_cli(proj, out)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"{total - killed_at} to cut" in err or f"{total - killed_at + 1} to cut" in err
    assert _items(out / PROJECT_NAME) == _items(tmp_path / "ref" / PROJECT_NAME)
    assert (json.loads((out / PROJECT_NAME / "splits.json").read_text())
            == json.loads((tmp_path / "ref" / PROJECT_NAME / "splits.json").read_text()))
    clips = sorted(p.name for p in (out / ".work" / "clips").iterdir())
    assert clips == sorted(p.name for p in (tmp_path / "ref" / ".work" / "clips").iterdir())  # no stray temp files
    assert len(clips) == 2 * total


def test_new_videos_only_are_processed(sessions, tmp_path):
    first = [sessions["mouse2_s1.mp4"], sessions["mouse1_s2.mp4"]]   # no rear_plus yet
    cfg = PreprocessConfig(detector="none", val_fraction=0.0, test_fraction=0.5, seed=7,
                           group_regex=r"^(mouse\d)_")   # two animals: one train, one test
    preprocess(_project(tmp_path / "in", first), tmp_path / "out", cfg, progress=False)
    clips_dir = tmp_path / "out" / ".work" / "clips"
    before = {p.name: p.stat().st_mtime_ns for p in clips_dir.iterdir()}
    splits_before = json.loads((tmp_path / "out" / PROJECT_NAME / "splits.json").read_text())["videos"]

    preprocess(_project(tmp_path / "in", list(sessions.values())), tmp_path / "out", cfg, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in clips_dir.iterdir()}
    assert all(after[n] == t for n, t in before.items())       # old clips untouched
    new = set(after) - set(before)
    doc = json.loads((tmp_path / "out" / PROJECT_NAME / "splits.json").read_text())
    mouse1_split = doc["videos"]["ds0/mouse1_s1.mp4"]["split"]
    if mouse1_split == "train":
        assert new and all(n.startswith("ds0__mouse1_s1__") for n in new)
    else:  # a test video is kept whole: nothing to cut
        assert not new and any(it["item"] == "test/mouse1_s1.mp4" for it in doc["items"])
    assert all(doc["videos"][k]["split"] == v["split"] for k, v in splits_before.items())
    # same animal (group_regex) -> same split as its other session
    assert doc["videos"]["ds0/mouse1_s1.mp4"]["group"] == doc["videos"]["ds0/mouse1_s2.mp4"]["group"] == "mouse1"
    assert doc["videos"]["ds0/mouse1_s1.mp4"]["split"] == doc["videos"]["ds0/mouse1_s2.mp4"]["split"]
    assert "rear_plus" in doc["classes"]              # a new behaviour needs no restart
    assert sorted(v["split"] for v in splits_before.values()) == ["test", "train"]
    items = _items(tmp_path / "out" / PROJECT_NAME)
    assert any(k.startswith("rear_plus/ds0__mouse1_s1__") if mouse1_split == "train"
               else k == "test/mouse1_s1.mp4" for k in items)


def test_changed_settings_need_restart(sessions, tmp_path):
    proj = _project(tmp_path / "in", [sessions["mouse1_s2.mp4"]])
    preprocess(proj, tmp_path / "out", PreprocessConfig(detector="none", test_fraction=0), progress=False)
    with pytest.raises(MouseActError, match="other settings .*changed: idle_ratio"):
        preprocess(proj, tmp_path / "out", PreprocessConfig(detector="none", test_fraction=0, idle_ratio=2),
                   progress=False)
    rep = preprocess(proj, tmp_path / "out", PreprocessConfig(detector="none", test_fraction=0, idle_ratio=2),
                     restart=True, progress=False)
    assert rep["settings"]["idle_ratio"] == 2


def test_bad_input_fails_cleanly(sessions, tmp_path, cli):
    cfg = PreprocessConfig(detector="none")
    # empty project
    empty = sly_io.write_project(tmp_path / "empty", [], ["groom"])
    r = cli("preprocess", str(empty), "--out", str(tmp_path / "o1"), "--detector", "none")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o1" / PROJECT_NAME).exists()
    # no behaviour bouts at all
    rec = sessions["mouse1_s2.mp4"]
    no_tags = sly_io.write_project(tmp_path / "notags", [sly_io.VideoRecord(**{**rec.__dict__, "intervals": []})],
                                   ["itch"])
    with pytest.raises(AnnotationError, match="no behaviour bouts"):
        preprocess(no_tags, tmp_path / "o2", cfg, progress=False)
    # unknown behaviour
    proj = _project(tmp_path / "p", [rec])
    with pytest.raises(AnnotationError, match=r"mouse1_s2.mp4.json: unknown tag 'itch'"):
        preprocess(proj, tmp_path / "o3", PreprocessConfig(detector="none", classes=["groom"]), progress=False)
    # a range past the end of the video
    ann = proj / "ds0" / "ann" / "mouse1_s2.mp4.json"
    doc = json.loads(ann.read_text())
    doc["tags"][0]["frameRange"] = [100, 5000]
    ann.write_text(json.dumps(doc))
    with pytest.raises(AnnotationError, match=r"mouse1_s2.mp4.json: .*\[100, 5000\] is outside"):
        preprocess(proj, tmp_path / "o4", cfg, progress=False)
    # the video of an annotation is missing
    proj = _project(tmp_path / "p2", [rec])
    (proj / "ds0" / "video" / "mouse1_s2.mp4").unlink()
    r = cli("preprocess", str(proj), "--out", str(tmp_path / "o5"), "--detector", "none")
    assert r.returncode == 2 and "mouse1_s2.mp4" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    for o in ("o2", "o3", "o4", "o5"):
        assert not (tmp_path / o / PROJECT_NAME).exists()


@pytest.mark.parametrize("extra, message", [
    (["--detector", "yolo"], "--detector yolo needs --detector-model DIR"),
    (["--detector", "rtdetr", "--detector-model", "{tmp}/no_model"], "no_model: model directory not found"),
    (["--detector", "none", "--detector-model", "{tmp}/no_model"], "--detector-model is for --detector yolo"),
    (["--set", "group_regex=(["], "group_regex: Value error, invalid regular expression '(['"),
    (["--set", "group_regex=^rat"], "group_regex '^rat' does not match video 'mouse1_s2.mp4'"),
    (["--set", "group_map={tmp}/animals.csv"], "video 'mouse1_s2.mp4' is not in the group map"),
])
def test_usage_errors_leave_nothing_behind(sessions, tmp_path, capsys, extra, message):
    """Options are checked before anything is planned or written: no .work/manifest.json or
    .work/clips in --out (the yolo error once came after planning, naming --model, not --detector-model)."""
    from mouseact.cli import main

    proj = _project(tmp_path / "in", [sessions["mouse1_s2.mp4"]])
    (tmp_path / "animals.csv").write_text("video,group\nother.mp4,animal_A\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(["preprocess", str(proj), "--out", str(out), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert "--model DIR" not in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # nothing added, nothing removed


def test_show_config_prints_the_effective_config(tmp_path, cli):
    """--show-config once printed the defaults whatever --config/--set said; now the effective values,
    as YAML that --config reads back."""
    import yaml

    from mouseact.config import load

    cfg = tmp_path / "pre.yaml"
    cfg.write_text("idle_ratio: 2\nseed: 1\n")
    r = cli("preprocess", "--show-config", "--config", str(cfg), "--set", "seed=7", "--set", "classes=[itch, rear]",
            "--set", r"group_regex=^(mouse\d+)_", "--detector", "none")
    assert r.returncode == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["idle_ratio"] == 2 and shown["seed"] == 7 and shown["detector"] == "none"
    assert shown["classes"] == ["itch", "rear"] and shown["group_regex"] == r"^(mouse\d+)_"
    assert "# seed of the split" in r.stdout  # each key keeps its meaning
    (tmp_path / "shown.yaml").write_text(r.stdout)
    assert load(PreprocessConfig, tmp_path / "shown.yaml") == load(
        PreprocessConfig, cfg, ["seed=7", "classes=[itch, rear]", r"group_regex=^(mouse\d+)_", "detector=none"])
    r = cli("preprocess", "--show-config", "--set", "idle_ratio=-1")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "idle_ratio" in r.stderr


def test_cli_config_file_group_map_and_overrides(sessions, tmp_path, capsys):
    from mouseact.cli import main
    from mouseact.preprocess.clips.split import load_group_map

    proj = _project(tmp_path / "in", [sessions["mouse1_s2.mp4"], sessions["mouse2_s1.mp4"]])
    gmap = tmp_path / "animals.csv"
    gmap.write_text("video,group\nmouse1_s2.mp4,animal_A\nmouse2_s1,animal_B\n")
    assert load_group_map(gmap) == {"mouse1_s2.mp4": "animal_A", "mouse2_s1": "animal_B"}
    (tmp_path / "animals.json").write_text(json.dumps({"mouse1_s2": "A"}))
    assert load_group_map(tmp_path / "animals.json") == {"mouse1_s2": "A"}
    cfg = tmp_path / "pre.yaml"
    cfg.write_text(f"detector: none\nval_fraction: 0\ntest_fraction: 0\nidle_ratio: 0.5\ngroup_map: {gmap}\n")
    rc = main(["preprocess", str(proj), "--out", str(tmp_path / "out"), "--config", str(cfg),
               "--set", "max_clip_s=2", "--seed", "4", "--quiet"])
    assert rc == 0
    assert "| itch |" in capsys.readouterr().out          # the Markdown report on stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["settings"]["max_clip_s"] == 2 and report["settings"]["idle_ratio"] == 0.5
    assert report["seed"] == 4
    assert report["groups"] == {"ds0/mouse1_s2.mp4": "animal_A", "ds0/mouse2_s1.mp4": "animal_B"}
    cfg.write_text("detector: none\nmax_clip: 3\n")           # a typo must not fall back to a default
    with pytest.raises(MouseActError, match="max_clip"):
        from mouseact.config import load
        load(PreprocessConfig, cfg)


def test_classical_detector_boxes_go_into_clips_and_test_videos(sessions, tmp_path):
    recs = [sessions["mouse1_s2.mp4"], sessions["mouse2_s1.mp4"]]
    proj = _project(tmp_path / "in", recs)
    cfg = PreprocessConfig(detector="classical", val_fraction=0, test_fraction=0.5, seed=0)
    preprocess(proj, tmp_path / "out", cfg, progress=False)
    out = tmp_path / "out" / PROJECT_NAME
    splits = {it["item"]: it for it in json.loads((out / "splits.json").read_text())["items"]}
    tracks = {p.stem: np.load(p) for p in (tmp_path / "out" / ".work" / "tracks").glob("*.npy")}
    assert set(tracks) == {"ds0__mouse1_s2", "ds0__mouse2_s1"}   # one cached track per video
    found = 0
    for r in sly_io.read_project(out):
        track = tracks["ds0__" + Path(splits[r.key]["source"]).stem]
        s, e = splits[r.key]["source_range"]
        want = track[s: e + 1]
        assert r.boxes is not None and r.boxes.shape == (r.n_frames, 4)
        ok = np.isfinite(want).all(1)
        assert np.array_equal(np.isfinite(r.boxes).all(1), ok)     # "no mouse" frames stay empty
        found += int(ok.sum())
        if ok.any():  # carried as detected (no resize at 450x360); detector quality is tested elsewhere
            assert np.abs(r.boxes[ok] - want[ok]).max() <= 1.0
            assert (r.boxes[ok][:, 2] > r.boxes[ok][:, 0]).all() and (r.boxes[ok][:, 2] < r.width).all()
    assert found > 0


@pytest.mark.slow
def test_idle_clips_teach_stage_2_what_no_behaviour_is(sessions, tmp_path, cli):
    """preprocess's idle clips become the classifier's idle class (recorded as background in its card);
    infer with that classifier never writes an idle bout and lists only the behaviours, while stage 2's
    kept segments may be idle. `--set idle_class=false` trains on the behaviours alone."""
    from mouseact.models import DEFAULT_BUNDLE

    proj = _project(tmp_path / "in", list(sessions.values()))
    cfg = PreprocessConfig(detector="none", max_clip_s=2.0, min_clip_s=1.0, idle_clip_s=2.0, idle_margin_s=0.5,
                           val_fraction=0.0, test_fraction=0.0, seed=3)
    preprocess(proj, tmp_path / "out", cfg, progress=False)
    training = tmp_path / "out" / PROJECT_NAME
    model = tmp_path / "clf"
    r = cli("train", "classifier", str(training), "--out", str(model), "--cache", str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads((model / "model_card.json").read_text())
    behaviours = sorted({iv.label for rec in sessions.values() for iv in rec.intervals})
    assert f"{len(behaviours)} behaviours + idle," in r.stdout
    assert card["classes"] == sorted([*behaviours, "idle"]) and card["background_classes"] == ["idle"]
    n_idle = sum(1 for it in json.loads((training / "splits.json").read_text())["items"] if it["label"] == "idle")
    assert n_idle > 0 and card["training"]["clips"] >= n_idle

    bundle = tmp_path / "bundle"
    assert cli("bundle", "--classifier", str(model), "--out", str(bundle)).returncode == 0
    out = tmp_path / "run"
    video = sessions["mouse1_s1.mp4"].video_path
    r = cli("infer", str(video), "--model", str(bundle), "--out", str(out), "--quiet", "--dense")
    assert r.returncode == 0, r.stderr[-2000:]
    preds = json.loads((out / "predictions" / "mouse1_s1.json").read_text())
    meta = json.loads((out / "predictions" / "mouse1_s1.meta.json").read_text())
    candidates = json.loads((out / "candidates" / "mouse1_s1.json").read_text())
    assert meta["classes"] == behaviours and meta["settings"]["background_classes"] == ["idle"]
    assert all(p["label"] in behaviours for p in preds)
    assert any(c["label"] == "idle" for c in candidates)  # the dense grid covers the unlabelled clips
    # re-post-processing the run keeps idle out too
    r = cli("postprocess", "--pred", str(out), "--out", str(tmp_path / "re"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "re" / "predictions" / "mouse1_s1.json").read_text()) == preds

    r = cli("train", "classifier", str(training), "--out", str(tmp_path / "clf2"), "--cache", str(tmp_path / "cache"),
            "--set", "idle_class=false")
    assert r.returncode == 0, r.stderr[-2000:]
    card2 = json.loads((tmp_path / "clf2" / "model_card.json").read_text())
    assert card2["classes"] == behaviours and card2["background_classes"] == []

    # idle clips shorter than one window: the error says so and what to change
    short = PreprocessConfig(**{**cfg.model_dump(), "idle_clip_s": 0.5})
    preprocess(proj, tmp_path / "out_short", short, progress=False)
    r = cli("train", "classifier", str(tmp_path / "out_short" / PROJECT_NAME), "--out", str(tmp_path / "clf3"),
            "--cache", str(tmp_path / "cache"))
    assert r.returncode == 2 and "no training windows for idle" in r.stderr and "shorter than one window" in r.stderr
    assert not (tmp_path / "clf3").exists()
