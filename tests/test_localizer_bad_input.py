"""Bad input to `mouseact localize` / `mouseact train localizer` and the pose readers: a one-line
error (exit 2) naming the file or option, never a traceback, never exit 0, nothing written."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from mouseact.errors import AnnotationError, ModelError, MouseActError

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "samples" / "bsoid_sequence" / "project"


def one_line_error(r, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    for n in needles:
        assert n in last, (n, last)


# -- 1. --stride ------------------------------------------------------------------------------
@pytest.mark.parametrize("stride", ["0", "-2", "x"])
def test_localize_refuses_a_stride_below_one(cli, bsoid_dir, tmp_path, stride):
    out = tmp_path / "o"
    r = cli("localize", str(bsoid_dir / "mouse1" / "itch.mp4"), "--out", str(out), "--stride", stride)
    one_line_error(r, "--stride")
    assert not out.exists()


@pytest.mark.parametrize("option", ["--stride", "--sequences"])
def test_train_localizer_refuses_a_stride_or_sequences_below_one(cli, bsoid_dir, tmp_path, option):
    from conftest import bsoid_subset

    clips = bsoid_subset(bsoid_dir, tmp_path / "clips", labels=("inactive", "itch"))
    out = tmp_path / "loc"
    r = cli("train", "localizer", "--bsoid", str(clips), "--out", str(out), "--no-cache", option, "0")
    one_line_error(r, option, "at least 1")
    assert not out.exists()


# -- 2. --high / --low ------------------------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["--high", "2"], "--high"), (["--high", "-1"], "--high"), (["--high", "nan"], "--high"),
    (["--low", "inf"], "--low"), (["--high", "0.2", "--low", "0.9"], "--low 0.9 is above --high 0.2"),
    (["--low", "0.99"], "above the model's high threshold"),
])
def test_localize_refuses_thresholds_outside_0_1_or_low_above_high(cli, bsoid_dir, tmp_path, args, needle):
    out = tmp_path / "o"
    r = cli("localize", str(bsoid_dir / "mouse1" / "itch.mp4"), "--out", str(out), *args)
    one_line_error(r, needle)
    assert not out.exists()


def test_threshold_override_keeps_low_at_most_high():
    from mouseact.localizer.cli import override_thresholds
    from mouseact.localizer.proposals import ProposalConfig

    stored = ProposalConfig(high=0.6, low=0.6)
    lowered = override_thresholds(stored, 0.3, None)  # --high alone below the stored low: low follows it
    assert (lowered.high, lowered.low) == (0.3, 0.3)
    both = override_thresholds(stored, 0.8, 0.2)
    assert (both.high, both.low) == (0.8, 0.2)
    with pytest.raises(MouseActError, match="--low 0.7 is above the model's high threshold 0.6"):
        override_thresholds(stored, None, 0.7)
    assert json.loads(json.dumps(override_thresholds(stored, 0.0, 0.0).model_dump(), allow_nan=False))["high"] == 0


@pytest.mark.parametrize("bad", [{"high": math.nan}, {"high": 1.5}, {"low": -0.1}, {"high": 0.2, "low": 0.5},
                                 {"high": math.inf}])
def test_proposal_config_thresholds_are_finite_in_0_1_and_ordered(bad):
    from mouseact.localizer.proposals import ProposalConfig
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ProposalConfig(**bad)


def test_a_model_card_with_a_bad_operating_point_is_a_model_error(tmp_path):
    from mouseact import modelcard
    from mouseact.localizer import DEFAULT_MODEL_DIR, Localizer

    bad = tmp_path / "loc"
    shutil.copytree(DEFAULT_MODEL_DIR, bad)
    card = json.loads((bad / modelcard.CARD).read_text())
    card["operating_point"]["proposal_config"]["high"] = 7
    (bad / modelcard.CARD).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="operating point is invalid: high") as exc:
        Localizer.load(bad)
    assert str(bad) in str(exc.value) and "\n" not in str(exc.value)


# -- 3. pose readers ----------------------------------------------------------------------------
def test_pose_readers_turn_bad_files_into_one_line_errors(tmp_path, data_dir):
    from mouseact.localizer.pose import read_pose

    dlc = next((data_dir / "social_pose_boris" / "dlc").glob("*.csv"))
    cases = {
        "bad.json": ('{"a":\n', "not a valid JSON file"),
        "binary.json": (b"\xff\xfe\x00garbage", "not a valid JSON file"),
        "list.json": ("[1, 2]", "expected an object"),
        "text.npy": ("not a numpy file", "not a CalMS21 .npy file"),
        "header.csv": ("".join(dlc.read_text().splitlines(keepends=True)[:4]), "no frames"),
        "nokp.json": ('{"g": {"s": {"keypoints": "abc"}}}', "keypoints are not a numeric"),
    }
    for name, (content, needle) in cases.items():
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(AnnotationError, match=needle) as exc:
            read_pose(p)
        assert str(p) in str(exc.value) and "\n" not in str(exc.value), name
    arr = tmp_path / "array.npy"  # a real .npy, but an array rather than CalMS21's saved dict
    np.save(arr, np.zeros((3, 2)))
    with pytest.raises(AnnotationError, match="got an array"):
        read_pose(arr)
    empty = tmp_path / "empty.json"  # valid CalMS21 layout, zero frames
    empty.write_text(json.dumps({"g": {"s": {"keypoints": np.zeros((0, 2, 2, 7)).tolist()}}}))
    with pytest.raises(AnnotationError):
        read_pose(empty)


# -- 5. ignore_features --------------------------------------------------------------------------
def test_train_localizer_refuses_unknown_ignore_features_before_decoding(cli, bsoid_dir, tmp_path):
    from conftest import bsoid_subset

    clips = bsoid_subset(bsoid_dir, tmp_path / "clips", labels=("inactive", "itch"))
    out, cache = tmp_path / "loc", tmp_path / "cache"
    r = cli("train", "localizer", "--bsoid", str(clips), "--out", str(out), "--cache", str(cache),
            "--set", "ignore_features=[box_missing, nosuchfeat]")
    one_line_error(r, "ignore_features", "'nosuchfeat'", "known:", "motion_64", "flow_curl")
    assert "box_missing'" not in r.stderr  # a known name is not reported
    assert not out.exists() and not any(cache.rglob("*.npz"))


def test_check_ignore_features_knows_video_and_this_runs_features():
    from mouseact.localizer.fit import SCENE_FEATURES, LocalizerTrainConfig

    LocalizerTrainConfig().check_ignore_features(["adult_speed"])  # defaults fit a pose-only run too
    LocalizerTrainConfig(ignore_features=("adult_speed",)).check_ignore_features(["adult_speed", "nose_to_nose"])
    with pytest.raises(MouseActError, match="'adult_sped'.*known: .*adult_speed"):
        LocalizerTrainConfig(ignore_features=(*SCENE_FEATURES, "adult_sped")).check_ignore_features(["adult_speed"])


# -- 6. the clip folder lacking background or action clips ---------------------------------------
def test_bsoid_folder_without_background_clips_is_named(cli, bsoid_dir, tmp_path):
    from conftest import bsoid_subset

    clips = bsoid_subset(bsoid_dir, tmp_path / "clips")  # orient_R, orient_L, investigate: no 'inactive'
    r = cli("train", "localizer", "--bsoid", str(clips), "--out", str(tmp_path / "loc"), "--no-cache")
    one_line_error(r, str(clips / "mouse1"), "need both background clips", "investigate, orient_L, orient_R")
    r = cli("train", "localizer", "--bsoid", str(clips), "--out", str(tmp_path / "loc"), "--no-cache",
            "--background", "orient_R,orient_L,investigate")
    one_line_error(r, str(clips / "mouse1"), "and action clips")


# -- 7. --detector-model --------------------------------------------------------------------------
def test_train_localizer_detector_model_argument(cli, tmp_path, data_dir):
    out = tmp_path / "loc"
    r = cli("train", "localizer", str(PROJECT), "--out", str(out), "--detector", "yolo", "--no-cache")
    one_line_error(r, "the yolo detector needs a trained model directory (--detector-model DIR")
    r = cli("train", "localizer", str(PROJECT), "--out", str(out), "--detector", "rtdetr", "--no-cache",
            "--detector-model", str(tmp_path / "nothing"))
    one_line_error(r, str(tmp_path / "nothing"), "model directory not found")
    r = cli("train", "localizer", str(PROJECT), "--out", str(out), "--no-cache", "--detector-model", str(tmp_path))
    one_line_error(r, "the classical detector takes no model file")
    social = data_dir / "social_pose_boris"
    r = cli("train", "localizer", "--pose-labels", str(next((social / "dlc").glob("*.csv"))),
            str(next((social / "boris").glob("*.csv"))), "--out", str(out), "--detector-model", str(tmp_path))
    one_line_error(r, "do not apply to pose-only training")
    assert not out.exists()
    r = cli("train", "localizer", "--help")
    assert r.returncode == 0 and "--detector-model DIR" in r.stdout


def test_make_detector_names_the_option_of_the_command():
    from mouseact.preprocess.detection import make_detector

    with pytest.raises(ModelError, match=r"\(--detector-model DIR"):
        make_detector("yolo")
    with pytest.raises(ModelError, match=r"\(--model DIR"):
        make_detector("rtdetr", option="--model")


def test_cache_key_of_a_learned_detector_holds_its_model_files():
    from mouseact.localizer.cache import detector_config
    from mouseact.preprocess.detection import make_detector

    class Learned:  # what UltralyticsDetector exposes: a plain dict config and its model card
        config = {"kind": "yolo", "arch": "yolov8n", "model": "/somewhere/det", "conf": 0.25, "imgsz": 160}
        card = {"files": {"weights.pt": "a" * 64, "model.yaml": "b" * 64}}

    key = detector_config(Learned())
    assert key == {"kind": "yolo", "arch": "yolov8n", "conf": 0.25, "imgsz": 160,
                   "model_files": {"weights.pt": "a" * 64, "model.yaml": "b" * 64}}
    retrained = Learned()
    retrained.card = {"files": {"weights.pt": "c" * 64, "model.yaml": "b" * 64}}
    assert detector_config(retrained) != key
    assert detector_config(make_detector("classical"))["work_width"] > 0
