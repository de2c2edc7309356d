"""The pipeline end to end on real videos with the embedded default bundle (real detector,
localizer, classifier, exports and Supervisely SDK; nothing mocked)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from mouseact.inference.pipeline import STEPS, Predictor, dense_windows

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def predictor():
    return Predictor(progress_bars=False)


def _check_predictions(path: Path, n_frames: int, classes):
    items = json.loads(path.read_text())
    assert isinstance(items, list)
    for it in items:
        assert set(it) == {"label", "frame_range", "confidence"}
        s, e = it["frame_range"]
        assert 0 <= s <= e <= n_frames - 1
        assert it["label"] in classes
        assert 0.0 <= it["confidence"] <= 1.0
    return items


def test_predictor_one_pass_two_stage_and_dense(predictor, bsoid_dir):
    video = bsoid_dir / "mouse2" / "rear_plus.mp4"
    res = predictor.predict(video)
    n = res.info.n_frames
    assert set(res.steps_ms_per_frame) == set(STEPS)
    assert all(v >= 0 for v in res.steps_ms_per_frame.values())
    assert len(res.track.boxes) == n
    assert all(0 <= iv.start <= iv.end <= n - 1 and iv.label in predictor.classes for iv in res.intervals)
    assert res.n_candidates <= math.ceil(n / max(1, round(predictor.config.segment_s * res.info.fps))) + 5
    dense = Predictor(dense=True, progress_bars=False)
    rd = dense.predict(video)
    fps = rd.info.fps
    grid = dense_windows(n, max(1, round(dense.config.segment_s * fps)),
                         max(1, round(dense.config.dense_stride_s * fps)))
    assert rd.n_candidates == len(grid)
    assert "localize" not in rd.timing and "features" not in rd.timing
    assert all(0 <= iv.start <= iv.end <= n - 1 for iv in rd.intervals)


def test_infer_batch_resumes_and_survives_a_broken_video(cli, tmp_path, bsoid_dir):
    import supervisely as sly

    src = tmp_path / "videos"
    src.mkdir()
    for name in ("face_groom.mp4", "itch.mp4"):
        shutil.copy(bsoid_dir / "mouse1" / name, src / name)
    (src / "broken.mp4").write_text("not a video at all\n")
    out = tmp_path / "out"
    r = cli("infer", str(src), "--out", str(out), "--quiet")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "broken.mp4" in r.stderr and "1 of 3 video(s) failed" in r.stderr
    listed = [ln for ln in r.stderr.splitlines() if ln.startswith("  ") and "broken.mp4" in ln]
    assert len(listed) == 1 and listed[0].count("broken.mp4") == 1, listed  # the file named once
    assert "Traceback" not in r.stderr
    from mouseact.video import probe

    for stem in ("face_groom", "itch"):
        n = probe(src / f"{stem}.mp4").n_frames
        _check_predictions(out / "predictions" / f"{stem}.json", n, json.loads(
            (out / "predictions" / f"{stem}.meta.json").read_text())["classes"])
    assert not (out / "predictions" / "broken.json").exists()
    # per-behaviour summary printed; the Supervisely project reads back through the SDK
    assert "behaviour" in r.stdout and "bouts" in r.stdout and "total_s" in r.stdout
    project = sly.read_project(str(out / "project"))
    items = sorted(name for ds in project.datasets for name in ds.get_items_names())
    assert items == ["face_groom.mp4", "itch.mp4"]
    # resume: finished videos are skipped, the broken one is still reported
    before = (out / "predictions" / "itch.json").stat().st_mtime_ns
    r2 = cli("infer", str(src), "--out", str(out), "--quiet")
    assert r2.returncode == 2 and r2.stderr.count("already done, skipped") == 2
    assert (out / "predictions" / "itch.json").stat().st_mtime_ns == before
    (src / "broken.mp4").unlink()
    r3 = cli("infer", str(src), "--out", str(out), "--quiet")
    assert r3.returncode == 0, r3.stderr[-2000:]
    meta = json.loads((out / "predictions" / "itch.meta.json").read_text())
    assert meta["settings"]["video_key"] and meta["settings"]["model_key"] and meta["settings"]["mode"] == "two-stage"


def test_resume_refuses_results_made_otherwise(cli, tmp_path, bsoid_dir):
    """A finished video is skipped only when this run would make the same result: other settings, another
    model or another file under the same name stop the batch before any work (one line, nothing written);
    speed-only settings do not; --no-resume runs them again."""
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(bsoid_dir / "mouse1" / "itch.mp4", src / "itch.mp4")
    out = tmp_path / "out"
    assert cli("infer", str(src), "--out", str(out), "--quiet").returncode == 0
    pred = out / "predictions" / "itch.json"
    before = pred.stat().st_mtime_ns

    r = cli("infer", str(src), "--out", str(out), "--quiet", "--set", "postprocess.threshold=0.9")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {out}: 1 finished video(s)") and "postprocess.threshold 0.0 -> 0.9" in last
    assert "--no-resume" in last and "mouseact postprocess" in last
    r = cli("infer", str(src), "--out", str(out), "--quiet", "--set", "segment_s=2")
    assert r.returncode == 2 and "pipeline.segment_s 1.0 -> 2.0" in r.stderr
    r = cli("infer", str(src), "--out", str(out), "--quiet", "--dense")
    assert r.returncode == 2 and "mode 'two-stage' -> 'dense'" in r.stderr
    assert pred.stat().st_mtime_ns == before

    r = cli("infer", str(src), "--out", str(out), "--quiet", "--set", "batch_size=3", "--set", "stage2_workers=0")
    assert r.returncode == 0 and "already done, skipped" in r.stderr and pred.stat().st_mtime_ns == before

    shutil.copy(bsoid_dir / "mouse1" / "face_groom.mp4", src / "itch.mp4")  # day 2's video, same file name
    r = cli("infer", str(src), "--out", str(out), "--quiet")
    assert r.returncode == 2 and "another video file of the same name" in r.stderr
    assert pred.stat().st_mtime_ns == before

    r = cli("infer", str(src), "--out", str(out), "--quiet", "--set", "postprocess.threshold=0.9", "--no-resume")
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((out / "predictions" / "itch.meta.json").read_text())
    assert meta["postprocess"]["threshold"] == 0.9 and meta["n_frames"] == probe_frames(src / "itch.mp4")

    # another video added to the folder with other settings would mix the folder's tables: refused
    other = tmp_path / "more"
    other.mkdir()
    shutil.copy(bsoid_dir / "mouse1" / "orient_R.mp4", other / "orient_R.mp4")
    for extra in ([], ["--no-resume"]):
        r = cli("infer", str(other), "--out", str(out), "--quiet", *extra)
        assert r.returncode == 2 and "this folder holds 1 other video(s) made otherwise" in r.stderr, r.stderr
        assert "postprocess.threshold 0.9 -> 0.0" in r.stderr and not (out / "predictions" / "orient_R.json").exists()
    r = cli("infer", str(other), "--out", str(out), "--quiet", "--set", "postprocess.threshold=0.9")
    assert r.returncode == 0, r.stderr[-2000:]


def probe_frames(path) -> int:
    from mouseact.video import probe

    return probe(path).n_frames


@pytest.mark.slow
def test_demo_runs_and_reports_in_sample_f1(cli, tmp_path):
    out = tmp_path / "demo"
    r = cli("demo", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "macro F1" in r.stdout and "in-sample" in r.stdout and "docs/benchmarks.md" in r.stdout
    f1 = float(r.stdout.split("macro F1")[1].split()[0])
    assert 0.0 <= f1 <= 1.0
    preds = list((out / "predictions").glob("*.json"))
    assert any(not p.name.endswith(".meta.json") for p in preds)
    assert (out / "project" / "meta.json").is_file() and (out / "summary.csv").is_file()
    assert not list(tmp_path.glob(".demo.*"))  # no leftover temporary directories
