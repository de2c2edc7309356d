"""`mouseact classify` and `mouseact train classifier` as a user runs them; the committed default model."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from mouseact.classifier import DEFAULT_MODEL_DIR, Classifier
from mouseact.video import VideoReader, write_video
from conftest import bsoid_subset

BSOID = [
    "body_groom",
    "face_groom",
    "head_groom",
    "inactive",
    "investigate",
    "itch",
    "locomote",
    "orient_L",
    "orient_R",
    "rear_minus",
    "rear_plus",
]


def test_default_model_card_is_complete():
    model = Classifier.load(DEFAULT_MODEL_DIR)  # verifies every file's checksum
    card = model.card
    assert model.classes == BSOID
    assert card["kind"] == "classifier" and card["embedder"]["kind"] == "fast"
    assert card["training"]["command"].startswith("mouseact train classifier --bsoid")
    assert card["crop_policy"]["out_size"] > 0
    assert {"test_mouse1", "test_mouse2"} <= set(card["metrics"]["leave_one_group_out"])
    assert card["versions"]["python"] and set(card["files"]) == {"weights.npz"}


def test_classify_prints_json(cli, bsoid_dir):
    res = cli("classify", str(bsoid_dir / "mouse2" / "inactive.mp4"))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == {"label", "confidence", "scores"}
    assert out["label"] in BSOID + ["unknown"]
    assert set(out["scores"]) == set(BSOID)
    assert abs(sum(out["scores"].values()) - 1) < 1e-3
    assert out["confidence"] == max(out["scores"].values())


def test_classify_with_detector_crops(cli, bsoid_dir):
    res = cli("classify", str(bsoid_dir / "mouse1" / "locomote.mp4"), "--detect", "classical")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["label"] in BSOID + ["unknown"] and abs(sum(out["scores"].values()) - 1) < 1e-3


def test_classify_bad_inputs_one_line_errors(cli, bsoid_dir, tmp_path):
    clip = bsoid_dir / "mouse1" / "orient_R.mp4"
    res = cli("classify", str(clip), "--model", str(tmp_path / "nope"))
    assert res.returncode == 2 and "model directory not found" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    # a directory of another architecture
    other = tmp_path / "loc"
    other.mkdir()
    (other / "model_card.json").write_text(json.dumps({"kind": "localizer", "files": {}}))
    res = cli("classify", str(clip), "--model", str(other))
    assert res.returncode == 2 and "expected classifier" in res.stderr
    # a clip shorter than the model's window (10 real frames)
    with VideoReader(clip) as vr:
        short = write_video(tmp_path / "short.mp4", vr.get_frames(range(10)), fps=15)
    res = cli("classify", str(short))
    assert res.returncode == 2 and "needs at least 16" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    text = tmp_path / "text.mp4"
    text.write_text("not a video")
    res = cli("classify", str(text))
    assert res.returncode == 2 and "text.mp4" in res.stderr


@pytest.mark.parametrize("stride", ["0", "-3", "two"])
def test_classify_stride_must_be_a_positive_whole_number(cli, bsoid_dir, stride):
    """0 was silently replaced by the default, -3 ended in an IndexError traceback."""
    res = cli("classify", str(bsoid_dir / "mouse1" / "orient_R.mp4"), "--stride", stride)
    assert res.returncode == 2 and "Traceback" not in res.stderr and not res.stdout
    assert "argument --stride:" in res.stderr.strip().splitlines()[-1]


def test_classify_clip_refuses_a_stride_below_one(bsoid_dir):
    from mouseact.classifier.cli import classify_clip
    from mouseact.errors import MouseActError

    with pytest.raises(MouseActError, match="stride must be at least 1, got 0"):
        classify_clip(Classifier.load(), bsoid_dir / "mouse1" / "orient_R.mp4", stride=0)


def test_model_path_for_a_model_without_weights_is_one_line(cli, bsoid_dir, tmp_path):
    """The default (fast) model loads no weights: --model-path was a pydantic traceback."""
    res = cli("classify", str(bsoid_dir / "mouse1" / "orient_R.mp4"), "--model-path", str(tmp_path / "nope"))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"error: {DEFAULT_MODEL_DIR}: the model's fast embedder has no setting model_path "
        "(--model-path is only for qwen/hf models, which load local weights)"]


def test_embedder_overrides_are_checked_by_the_embedder_config(tmp_path):
    from mouseact.errors import MouseActError

    with pytest.raises(MouseActError, match="FastEmbedderConfig: max_windows: Input should be greater"):
        Classifier.load(DEFAULT_MODEL_DIR, max_windows=0)
    assert Classifier.load(DEFAULT_MODEL_DIR, max_windows=4).embedder.cfg.max_windows == 4


def test_model_from_other_feature_version_is_refused(tmp_path):
    import shutil

    from mouseact import modelcard
    from mouseact.errors import ModelError

    copy = tmp_path / "m"
    shutil.copytree(DEFAULT_MODEL_DIR, copy)
    card = json.loads((copy / "model_card.json").read_text())
    card["embedder"]["features_version"] = 1
    (copy / "model_card.json").write_text(json.dumps(card))
    assert modelcard.load(copy, "classifier")  # the card itself is fine ...
    with pytest.raises(ModelError, match="retrain"):  # ... but its features are not this version's
        Classifier.load(copy)


def test_damaged_default_copy_is_refused(tmp_path):
    import shutil

    from mouseact.errors import ModelError

    copy = tmp_path / "m"
    shutil.copytree(DEFAULT_MODEL_DIR, copy)
    w = np.load(copy / "weights.npz")
    np.savez(copy / "weights.npz", **{k: w[k] * 0 for k in w.files})
    with pytest.raises(ModelError, match="checksum"):
        Classifier.load(copy)


def test_train_classifier_cli_bsoid(cli, bsoid_dir, tmp_path):
    root = bsoid_subset(bsoid_dir, tmp_path / "bsoid")
    out = tmp_path / "my model"  # a space: the recorded command must still paste back into a shell
    res = cli(
        "train",
        "classifier",
        "--bsoid",
        str(root),
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--set",
        "stride=8",
        "--head",
        "prototype",
    )
    assert res.returncode == 0, res.stderr
    card = json.loads((out / "model_card.json").read_text())
    assert card["classes"] == ["investigate", "orient_L", "orient_R"]
    assert "--head prototype" in card["training"]["command"]
    assert shlex.split(card["training"]["command"])[1:7] == ["train", "classifier", "--bsoid", str(root), "--out",
                                                             str(out)]
    assert card["training"]["config"]["stride"] == 8 and card["head"]["head"] == "prototype"
    # the cache is used on a second run
    res = cli(
        "train",
        "classifier",
        "--bsoid",
        str(root),
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--set",
        "stride=8",
    )
    assert res.returncode == 2 and "exists" in res.stderr
    res = cli("classify", str(root / "mouse1" / "investigate.mp4"), "--model", str(out))
    assert res.returncode == 0 and json.loads(res.stdout)["label"] in card["classes"] + ["unknown"]
    # bad config key and missing input
    res = cli("train", "classifier", "--bsoid", str(root), "--out", str(tmp_path / "x"), "--set", "strid=3")
    assert res.returncode == 2 and "strid" in res.stderr
    res = cli("train", "classifier", "--out", str(tmp_path / "y"))
    assert res.returncode == 2 and "either" in res.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_train_classifier_from_supervisely_project(cli, bsoid_dir, tmp_path):
    """A real Supervisely video project (written through the SDK) with one behaviour tag per clip."""
    from mouseact import sly_io
    from mouseact.intervals import Interval
    from mouseact.video import probe

    records = []
    for mouse in ("mouse1", "mouse2"):
        for label in ("orient_R", "investigate"):
            path = bsoid_dir / mouse / f"{label}.mp4"
            info = probe(path)
            records.append(
                sly_io.VideoRecord(
                    path,
                    f"{label}.mp4",
                    mouse,
                    info.fps,
                    info.n_frames,
                    info.width,
                    info.height,
                    [Interval(0, info.n_frames - 1, label, 1.0)],
                    None,
                )
            )
    project = sly_io.write_project(tmp_path / "proj", records, ["investigate", "orient_R"])
    out = tmp_path / "model"
    res = cli(
        "train",
        "classifier",
        str(project),
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--set",
        "stride=8",
    )
    assert res.returncode == 0, res.stderr
    card = json.loads((out / "model_card.json").read_text())
    assert card["classes"] == ["investigate", "orient_R"] and card["training"]["source_kind"] == "project"
    assert card["training"]["clips"] == 4


@pytest.mark.parametrize("extra, message", [
    (["--embedder-set", "bogus=1"], "FastEmbedderConfig: bogus: Extra inputs are not permitted"),
    (["--embedder-set", "n_frames=abc"], "FastEmbedderConfig: n_frames: Input should be a valid integer"),
    (["--embedder", "qwen"], "--embedder qwen needs --model-path DIR"),
])
def test_bad_embedder_options_are_one_line_errors(cli, tmp_path, bsoid_dir, extra, message):
    res = cli("train", "classifier", "--bsoid", str(bsoid_dir), "--out", str(tmp_path / "m"), *extra)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


def test_show_config_lists_training_and_embedder_keys(cli):
    res = cli("train", "classifier", "--embedder", "qwen", "--embedder-set", "n_frames=8", "--show-config")
    assert res.returncode == 0, res.stderr
    shown = __import__("yaml").safe_load(res.stdout)
    assert shown["training"]["head"]["kmeans_k"] == 3
    qwen = shown["embedder (qwen, --embedder-set)"]
    assert qwen["n_frames"] == 8 and qwen["model_path"].startswith("<required")
