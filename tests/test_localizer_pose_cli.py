"""Pose wired into `mouseact train localizer` / `mouseact localize`, as a user runs them.

Real data: the two-mouse DeepLabCut CSV of `social_pose_boris` with its human BORIS `interact`
bouts (no video), and the open-field video with its DeepLabCut predictions.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from mouseact.errors import AnnotationError, ModelError
from mouseact.localizer import Localizer
from mouseact.localizer.pose import find_pose_file, positional_names, read_pose

SPAN = 0.6  # train on the first 60 % of the recording, score the last 40 %


@pytest.fixture(scope="module")
def social(data_dir):
    d = data_dir / "social_pose_boris"
    return next((d / "dlc").glob("*.csv")), d / "boris" / "e3v813a-20210610T122332-122642_reencode.csv"


@pytest.fixture(scope="module")
def pose_model(social, tmp_path_factory):
    from conftest import run_cli

    pose_csv, boris = social
    out = tmp_path_factory.mktemp("pose_model") / "loc"
    r = run_cli("train", "localizer", "--pose-labels", str(pose_csv), str(boris), "--span", f"0:{SPAN}",
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "(pose features)" in r.stdout and "operating point" in r.stdout
    return out


def _interact_frames(boris) -> np.ndarray:
    from mouseact.preprocess.importers import read_boris

    rec = read_boris(boris)[0]
    y = np.zeros(rec.n_frames, np.int8)
    for iv in rec.intervals:
        if iv.label == "interact":
            y[iv.start: iv.end + 1] = 1
    return y


def test_pose_only_model_card(pose_model):
    loc = Localizer.load(pose_model)
    card = loc.card
    assert card["inputs"] == "pose" and loc.uses_pose and not loc.uses_video
    assert card["feature_names"] == card["pose_feature_names"] and len(card["pose_feature_names"]) == 20
    assert "nose_to_nose" in card["pose_feature_names"]
    assert card["pose"]["animals"] == ["adult", "juvenile"] and card["pose"]["format"] == ["dlc_csv"]
    assert card["pose_config"] == {"min_likelihood": 0.6, "max_gap_s": 0.5}
    td = card["training_data"]
    assert td["span"] == [0.0, SPAN] and td["frames"] == int(round(SPAN * 5700)) and td["groups"] == 2
    assert "--pose-labels" in td["command"]


def test_pose_only_localize_beats_chance_on_held_out_time(cli, pose_model, social, tmp_path):
    pose_csv, boris = social
    out = tmp_path / "out"
    r = cli("localize", "--pose", str(pose_csv), "--fps", "30", "--model", str(pose_model), "--out", str(out),
            "--actionness")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / f"{pose_csv.stem}.localize.json").read_text())
    assert res["video"] is None and res["pose"] == str(pose_csv) and res["inputs"] == "pose"
    assert res["n_frames"] == 5700 and res["fps"] == 30.0 and res["segments"]
    pred = np.zeros(5700, np.int8)
    for s in res["segments"]:
        a, b = s["frame_range"]
        assert s["label"] == "action" and 0 <= a <= b < 5700 and 0 <= s["confidence"] <= 1
        pred[a: b + 1] = 1
    act = np.loadtxt(out / f"{pose_csv.stem}.actionness.csv", delimiter=",", skiprows=1)[:, 1]
    assert act.shape == (5700,) and np.isfinite(act).all() and 0 <= act.min() and act.max() <= 1

    y = _interact_frames(boris)
    cut = int(round(SPAN * 5700))
    yt, pt, at = y[cut:], pred[cut:], act[cut:]
    tp = int((yt & pt).sum())
    precision, recall = tp / max(pt.sum(), 1), tp / yt.sum()
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    share = yt.mean()
    # a random guess proposing a share q of frames has F1 2pq/(p+q), at most 2p/(1+p) (everything)
    chance = 2 * share / (1 + share)
    assert f1 > chance + 0.2, (f1, chance)
    assert at[yt == 1].mean() > at[yt == 0].mean() + 0.2  # scores: higher inside the human bouts


def test_missing_keypoints_through_the_cli(cli, pose_model, social, tmp_path):
    """NaN coordinates and low likelihood (one mouse hidden for 3 s) give finite scores, no error."""
    pose_csv, _ = social
    lines = pose_csv.read_text().splitlines()
    header = lines[1].split(",")
    juvenile = [j for j, a in enumerate(header) if a == "juvenile"]
    for i in range(4 + 4000, 4 + 4090):  # juvenile unseen: empty coordinates
        cells = lines[i].split(",")
        for j in juvenile:
            cells[j] = ""
        lines[i] = ",".join(cells)
    coords = lines[3].split(",")
    for i in range(4 + 4500, 4 + 4600):  # adult: every keypoint below the likelihood threshold
        cells = lines[i].split(",")
        for j, c in enumerate(coords):
            if c == "likelihood" and header[j] == "adult":
                cells[j] = "0.05"
        lines[i] = ",".join(cells)
    holey = tmp_path / "holey.csv"
    holey.write_text("\n".join(lines) + "\n")
    r = cli("localize", "--pose", str(holey), "--fps", "30", "--model", str(pose_model), "--out",
            str(tmp_path / "o"), "--actionness")
    assert r.returncode == 0, r.stderr
    act = np.loadtxt(tmp_path / "o" / "holey.actionness.csv", delimiter=",", skiprows=1)[:, 1]
    assert act.shape == (5700,) and np.isfinite(act).all()


def test_pose_only_model_errors(cli, pose_model, social, data_dir, tmp_path):
    pose_csv, _ = social
    out = str(tmp_path / "o")
    r = cli("localize", "--pose", str(pose_csv), "--model", str(pose_model), "--out", out)
    assert r.returncode == 2 and "--fps" in r.stderr and "Traceback" not in r.stderr
    video = data_dir / "openfield_dlc" / "videos" / "m3v1mp4.mp4"
    r = cli("localize", str(video), "--pose", str(pose_csv), "--model", str(pose_model), "--out", out)
    assert r.returncode == 2 and "trained on pose alone" in r.stderr
    r = cli("localize", str(video), "--model", str(pose_model), "--out", out)
    assert r.returncode == 2 and "trained on pose alone" in r.stderr
    # the model saw two mice: a one-mouse pose file is refused
    one = data_dir / "openfield_dlc" / "m3v1mp4_dlc_predictions.csv"
    r = cli("localize", "--pose", str(one), "--fps", "30", "--model", str(pose_model), "--out", out)
    assert r.returncode == 2 and "same number of animals" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # the default (video) localizer refuses pose
    r = cli("localize", str(video), "--pose", str(one), "--out", out)
    assert r.returncode == 2 and "trained without pose" in r.stderr
    assert not Path(out).exists()


def test_unreadable_pose_files_are_one_line_errors(cli, pose_model, social, tmp_path):
    """A broken CalMS21 JSON, a text file named .npy and a DeepLabCut CSV with only its header rows:
    `localize --pose` and `train localizer --pose-labels` name the file, no traceback, nothing written."""
    pose_csv, boris = social
    bad = {"pose_bad.json": '{"a":\n', "pose_text.npy": "not a numpy file",
           "dlc_header.csv": "".join(pose_csv.read_text().splitlines(keepends=True)[:4])}
    out = tmp_path / "o"
    for name, content in bad.items():
        path = tmp_path / name
        path.write_text(content)
        for args in (("localize", "--pose", str(path), "--fps", "30", "--model", str(pose_model), "--out", str(out)),
                     ("train", "localizer", "--pose-labels", str(path), str(boris), "--out", str(out))):
            r = cli(*args)
            assert r.returncode == 2 and "Traceback" not in r.stderr, (name, args[0], r.stderr[-1500:])
            assert r.stderr.strip().startswith(f"error: {path}: ") and len(r.stderr.strip().splitlines()) == 1
        assert not out.exists()


def test_python_api_refuses_features_of_another_kind(pose_model):
    loc = Localizer.load(pose_model)
    with pytest.raises(ModelError, match="pose features alone"):
        loc.actionness(np.zeros((100, 17), np.float32), 30)
    with pytest.raises(ModelError, match="trained on pose alone"):
        loc.combine(np.zeros((100, 17)), None)


def test_train_pose_errors(cli, social, data_dir, tmp_path):
    pose_csv, _ = social
    out = str(tmp_path / "x")
    # labels of another recording of the same session: 336 s at 30 fps, not the pose's 5700 frames
    other = data_dir / "social_pose_boris" / "boris" / "e3v813a-20210610T120637-121213_reencode.csv"
    r = cli("train", "localizer", "--pose-labels", str(pose_csv), str(other), "--out", out)
    assert r.returncode == 2 and pose_csv.name in r.stderr and "5700 frames" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("train", "localizer", "--pose", str(tmp_path), "--bsoid", str(tmp_path), "--out", out)
    assert r.returncode == 2 and "goes with a Supervisely project" in r.stderr
    r = cli("train", "localizer", "--pose-labels", str(pose_csv), str(other), "--span", "0.6", "--out", out)
    assert r.returncode == 2 and "--span" in r.stderr
    r = cli("train", "localizer", "--pose-labels", str(pose_csv), str(tmp_path / "none.csv"), "--out", out)
    assert r.returncode == 2 and "labels file not found" in r.stderr
    r = cli("train", "localizer", "--help")
    assert r.returncode == 0 and all(o in r.stdout for o in ("--pose-labels", "--pose DIR", "--span",
                                                             "--labels-format", "--fps", "min_likelihood"))
    r = cli("localize", "--help")
    assert r.returncode == 0 and "--pose" in r.stdout and "--fps" in r.stdout


def test_find_pose_file_and_positional_names(tmp_path):
    (tmp_path / "vid1DLC_resnet50_x.csv").write_text("")
    (tmp_path / "vid10.csv").write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert find_pose_file(tmp_path, "vid1").name == "vid1DLC_resnet50_x.csv"
    assert find_pose_file(tmp_path, "vid10").name == "vid10.csv"
    (tmp_path / "vid1DLC_resnet50_x_filtered.csv").write_text("")
    with pytest.raises(AnnotationError, match="several pose files"):
        find_pose_file(tmp_path, "vid1")
    with pytest.raises(AnnotationError, match="no pose file"):
        find_pose_file(tmp_path, "vid2")
    assert positional_names(["mouse_1_speed", "mouse_1_nose_to_mouse_10", "pair_distance"],
                            ["mouse_1", "mouse_10"]) == ["animal0_speed", "animal0_nose_to_animal1", "pair_distance"]


@pytest.mark.slow
def test_video_plus_pose(cli, data_dir, tmp_path):
    """Video features + pose features side by side (open-field video and its DLC predictions).

    There are no behaviour labels for this video: the bouts below are arbitrary, so this tests
    the wiring (card, frame-count checks, refusals), not accuracy.
    """
    video = data_dir / "openfield_dlc" / "videos" / "m3v1mp4.mp4"
    pose = data_dir / "openfield_dlc" / "m3v1mp4_dlc_predictions.csv"
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / video.name).symlink_to(video)
    (tmp_path / "pose").mkdir()
    (tmp_path / "pose" / pose.name).symlink_to(pose)
    (tmp_path / "bouts.csv").write_text("video,behavior,start,end\n" + "".join(
        f"{video.name},explore,{a},{b}\n" for a, b in ((200, 400), (900, 1100), (1500, 1700))))
    r = cli("import", "csv", "bouts.csv", "--units", "frames", "--videos", "videos", "--out", "proj", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # a pose file of another length is refused before any decoding, naming the file
    short = tmp_path / "short"
    short.mkdir()
    (short / "m3v1mp4.csv").write_text("\n".join(pose.read_text().splitlines()[:2000]) + "\n")
    r = cli("train", "localizer", "proj", "--pose", str(short), "--out", "bad", cwd=tmp_path)
    assert r.returncode == 2 and "m3v1mp4.csv" in r.stderr and "but the video has 2330" in r.stderr

    r = cli("train", "localizer", "proj", "--pose", "pose", "--out", "loc", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    loc = Localizer.load(tmp_path / "loc")
    assert loc.inputs == "video+pose" and loc.card["pose"]["animals"] == ["mouse"]
    assert loc.feature_names[-6:] == loc.pose_feature_names and len(loc.feature_names) == 17 + 6
    r = cli("localize", str(video), "--pose", "pose", "--model", "loc", "--out", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / "m3v1mp4.localize.json").read_text())
    assert res["inputs"] == "video+pose" and res["n_frames"] == 2330 and res["pose"].endswith(pose.name)
    r = cli("localize", str(video), "--model", "loc", "--out", "out2", cwd=tmp_path)
    assert r.returncode == 2 and "video + pose" in r.stderr
    r = cli("localize", str(video), "--pose", str(short / "m3v1mp4.csv"), "--model", "loc", "--out", "out2",
            cwd=tmp_path)
    assert r.returncode == 2 and "m3v1mp4.csv" in r.stderr and "but the video has 2330" in r.stderr
    assert read_pose(pose).n_frames == 2330
