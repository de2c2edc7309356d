"""Learned detectors: offline training (tiny runs), export with a card, safe loading, bad models."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from mouseact import modelcard, sly_io
from mouseact.errors import ModelError
from mouseact.preprocess.detection import make_detector
from mouseact.preprocess.detection.fit import ap50_top1
from mouseact.video import VideoReader, probe

TINY = ["--epochs", "1", "--imgsz", "160", "--set", "batch=8"]


@pytest.fixture(scope="module")
def tiny_yolo(tmp_path_factory, data_dir):
    """A YOLOv8n trained for one epoch at 160 px on 30 real m4s1 frames (derived boxes), via the CLI."""
    from conftest import run_cli  # a module-scoped fixture cannot use the function-scoped `cli`

    root = data_dir / "openfield_dlc"
    tmp = tmp_path_factory.mktemp("yolo")
    with open(root / "derived" / "m4s1_labeled_frames_DERIVED_boxes.csv", newline="") as f:
        rows = list(csv.DictReader(f))[::4]
    sub = tmp / "boxes.csv"
    with open(sub, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["image", "x1", "y1", "x2", "y2"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    out = tmp / "model"
    env = {"YOLO_CONFIG_DIR": str(tmp / "ycfg")}
    r = run_cli("train", "detector", str(sub), "--image-root", str(root), "--out", str(out), *TINY, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "held-out mAP50" in r.stdout
    assert not any(tmp.glob("runs")) and (tmp / "ycfg" / "Ultralytics" / "Arial.ttf").is_file()
    return out


@pytest.mark.slow
def test_trained_model_has_card_and_detects(tiny_yolo, openfield_video):
    card = modelcard.load(tiny_yolo, "detector")
    assert card["family"] == "yolo" and card["arch"] == "yolov8n"
    assert card["classes"] == ["mouse"] and card["input_size"] == 160
    assert card["data"]["n_train"] == 23 and card["data"]["n_val"] == 6  # 29 frames, last 20 % held out
    m = card["metrics"]
    assert 0.0 <= m["val_map50"] <= 1.0 and m["cpu_ms_per_frame"] > 0 and m["val_frames"] == 6
    assert set(card["files"]) == {"weights.pt", "model.yaml"}
    det = make_detector("yolo", model_path=tiny_yolo, conf=0.0)
    with VideoReader(openfield_video) as vr:
        frames = vr.get_frames([0, 500, 1000])
    boxes, scores = det.detect(frames)
    assert boxes.shape == (3, 4) and boxes.dtype == np.float32 and scores.shape == (3,)
    ok = np.isfinite(boxes).all(1)
    assert ok.all()  # conf 0: some box always comes out, inside the frame
    assert (boxes[:, [0, 2]] >= -1).all() and (boxes[:, [0, 2]] <= 641).all()


@pytest.mark.slow
def test_model_loading_is_checked(tiny_yolo, tmp_path):
    import shutil

    with pytest.raises(ModelError, match="not rtdetr"):
        make_detector("rtdetr", model_path=tiny_yolo)
    # another class list
    other = tmp_path / "rat"
    shutil.copytree(tiny_yolo, other)
    card = json.loads((other / "model_card.json").read_text())
    card["classes"] = ["rat"]
    (other / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="classes"):
        make_detector("yolo", model_path=other)
    # weights that are a pickled object, not tensors: refused by weights_only, one-line error
    evil = tmp_path / "evil"
    shutil.copytree(tiny_yolo, evil)
    torch.save({"model": np.array([1, 2, 3], dtype=object)}, evil / "weights.pt")
    card = json.loads((evil / "model_card.json").read_text())
    card["files"]["weights.pt"] = modelcard.sha256(evil / "weights.pt")
    (evil / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="cannot load the detector weights") as exc:
        make_detector("yolo", model_path=evil)
    assert "\n" not in str(exc.value)
    # a damaged file
    (other / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="checksum"):
        make_detector("yolo", model_path=other)


@pytest.mark.slow
def test_train_from_supervisely_project_and_bad_projects(cli, bsoid_dir, tmp_path):
    # boxes made by `mouseact detect` on a real clip -> a Supervisely project -> a YOLO model
    det = tmp_path / "det"
    r = cli("detect", str(bsoid_dir / "mouse2" / "locomote.mp4"), "--out", str(det), "--quiet")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "m"
    r = cli("train", "detector", str(det / "project"), "--out", str(out), *TINY, "--set", "frames_per_video=20")
    assert r.returncode == 0, r.stderr[-2000:]
    card = modelcard.load(out, "detector")
    assert card["source"]["kind"] == "supervisely_project" and card["data"]["n_train"] == 16

    # a project whose videos have no mouse rectangles, and one without the mouse class at all
    video = bsoid_dir / "mouse1" / "orient_R.mp4"
    info = probe(video)
    rec = sly_io.VideoRecord(video, "a.mp4", "ds", info.fps, info.n_frames, info.width, info.height, [], None)
    sly_io.write_project(tmp_path / "nobox", [rec], [])
    r = cli("train", "detector", str(tmp_path / "nobox"), "--out", str(tmp_path / "m2"), *TINY)
    assert r.returncode == 2 and "mouse" in r.stderr and not (tmp_path / "m2").exists()
    meta = json.loads((tmp_path / "nobox" / "meta.json").read_text())
    meta["classes"] = []
    (tmp_path / "nobox" / "meta.json").write_text(json.dumps(meta))
    r = cli("train", "detector", str(tmp_path / "nobox"), "--out", str(tmp_path / "m2"), *TINY)
    assert r.returncode == 2 and "no 'mouse' object class" in r.stderr and not (tmp_path / "m2").exists()


def test_ap50_top1_on_known_cases():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [np.nan] * 4], np.float32)
    perfect = gt.copy()
    perfect[2] = np.nan
    assert ap50_top1(gt, perfect, np.array([0.9, 0.8, 0])) == pytest.approx(1.0)
    # a confident false positive on the negative frame ranks first: precision 0, 1/2, 2/3 at
    # recall 0, 1/2, 1; the interpolated envelope is 2/3 everywhere
    fp = gt.copy()
    fp[2] = [0, 0, 10, 10]
    assert ap50_top1(gt, fp, np.array([0.8, 0.7, 0.9])) == pytest.approx(2 / 3)
    shifted = gt + np.array([6, 0, 6, 0], np.float32)   # IoU 4/16 < 0.5: misses
    assert ap50_top1(gt, shifted, np.array([0.9, 0.8, 0.1])) == 0.0


@pytest.mark.slow
def test_train_bootstrapped_from_classical(cli, bsoid_dir, tmp_path):
    """Self-training: the classical detector's confident boxes on a real clip are the labels."""
    out = tmp_path / "boot"
    r = cli("train", "detector", "--bootstrap-from-classical", str(bsoid_dir / "mouse1" / "locomote.mp4"),
            "--out", str(out), *TINY, "--set", "frames_per_video=20")
    assert r.returncode == 0, r.stderr[-2000:]
    card = modelcard.load(out, "detector")
    assert card["source"]["kind"] == "classical_bootstrap"
    assert card["data"]["n_train"] == 16 and card["data"]["n_val"] == 4
    r = cli("train", "detector", "--bootstrap-from-classical", str(tmp_path / "nothing.mp4"), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "not a video" in r.stderr and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_bundle_with_a_trained_detector_runs_from_its_own_folder(tiny_yolo, cli, bsoid_dir, tmp_path):
    """`mouseact bundle --detector-model` copies the detector in; infer finds it inside the bundle (from any
    working directory) and says that the localizer was trained on another detector's boxes."""
    from mouseact.models import DEFAULT_BUNDLE

    bundle = tmp_path / "bundle"
    r = cli("bundle", "--classifier", str(DEFAULT_BUNDLE / "classifier"), "--detector-model", str(tiny_yolo),
            "--out", str(bundle))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "warning: detector yolo differs from the classical the localizer was trained with" in r.stderr
    spec = json.loads((bundle / "pipeline.json").read_text())
    assert spec["pipeline"]["detector"] == "yolo" and spec["pipeline"]["detector_model"] == "detector"
    assert modelcard.load(bundle / "detector", "detector")["family"] == "yolo"
    out = tmp_path / "run"
    r = cli("infer", str(bsoid_dir / "mouse1" / "itch.mp4"), "--model", str(bundle), "--out", str(out), "--quiet",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((out / "predictions" / "itch.meta.json").read_text())
    from mouseact.preprocess.detection import detector_key

    assert meta["settings"]["detector"] == detector_key("yolo", bundle / "detector") == detector_key("yolo", tiny_yolo)
    assert meta["settings"]["detector"]["model_key"]  # the weights' checksums, not the folder's path


@pytest.mark.slow
def test_train_localizer_with_a_trained_detector(tiny_yolo, cli, tmp_path):
    """`train localizer --detector yolo --detector-model DIR` runs that detector on the project's videos,
    records it in the card, and keys the feature cache on the model's files."""
    from pathlib import Path

    from mouseact.localizer import Localizer
    from mouseact.localizer.cache import detector_config

    project = Path(__file__).resolve().parents[1] / "samples" / "bsoid_sequence" / "project"
    cache = tmp_path / "cache"
    common = ("--background", "inactive,locomote", "--cache", str(cache))
    out = tmp_path / "loc_yolo"
    r = cli("train", "localizer", str(project), "--out", str(out), "--detector", "yolo", "--detector-model",
            str(tiny_yolo), *common, env={"YOLO_CONFIG_DIR": str(tmp_path / "ycfg")})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "features: 0 from the cache, 1 computed" in r.stderr
    td = Localizer.load(out).card["training_data"]
    assert td["detector"] == "yolo" and td["detector_stride"] == 4
    assert td["detector_model"] == str(tiny_yolo.resolve())
    # the classical detector's boxes are other features: not read from the yolo entry
    r = cli("train", "localizer", str(project), "--out", str(tmp_path / "loc_classical"), *common)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "features: 0 from the cache, 1 computed" in r.stderr
    # the same yolo model again: read back
    r = cli("train", "localizer", str(project), "--out", str(tmp_path / "loc_yolo2"), "--detector", "yolo",
            "--detector-model", str(tiny_yolo), *common, env={"YOLO_CONFIG_DIR": str(tmp_path / "ycfg")})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "features: 1 from the cache, 0 computed" in r.stderr
    key = detector_config(make_detector("yolo", model_path=tiny_yolo))
    assert key["model_files"] == modelcard.load(tiny_yolo, "detector")["files"] and "model" not in key
    # a yolo model given as rtdetr: refused before any decoding
    r = cli("train", "localizer", str(project), "--out", str(tmp_path / "x"), "--detector", "rtdetr",
            "--detector-model", str(tiny_yolo), "--no-cache")
    assert r.returncode == 2 and "not rtdetr" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()
