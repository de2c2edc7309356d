"""`mouseact postprocess`: re-running only the post-processing of a real run (real clip, real models)."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, bsoid_dir):
    from conftest import run_cli

    root = tmp_path_factory.mktemp("repost")
    videos = root / "videos"
    videos.mkdir()
    for name in ("body_groom.mp4", "itch.mp4"):
        shutil.copy(bsoid_dir / "mouse1" / name, videos / name)
    r = run_cli("infer", str(videos), "--out", str(root / "run"), "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    return root / "run"


def _preds(run, stem):
    return json.loads((run / "predictions" / f"{stem}.json").read_text())


def test_same_settings_reproduce_the_run(cli, run_dir, tmp_path):
    for stem in ("body_groom", "itch"):
        assert (run_dir / "candidates" / f"{stem}.json").is_file()
        meta = json.loads((run_dir / "predictions" / f"{stem}.meta.json").read_text())
        assert meta["postprocess"]["stages"]  # the settings the run used are recorded
    out = tmp_path / "again"
    r = cli("postprocess", "--pred", str(run_dir), "--out", str(out))
    assert r.returncode == 0, r.stderr
    for stem in ("body_groom", "itch"):
        assert (out / "predictions" / f"{stem}.json").read_bytes() == (run_dir / "predictions" / f"{stem}.json").read_bytes()
    assert (out / "summary.csv").read_text() == (run_dir / "summary.csv").read_text()


def test_other_settings_change_only_the_post_processing(cli, run_dir, tmp_path):
    import supervisely as sly

    from mouseact.video import probe

    out = tmp_path / "long"
    r = cli("postprocess", "--pred", str(run_dir), "--out", str(out), "--set", "min_duration_s=1.5",
            "--set", "stitch_gap_s=1.0")
    assert r.returncode == 0, r.stderr
    fps = probe(run_dir.parent / "videos" / "itch.mp4").fps
    for stem in ("body_groom", "itch"):
        bouts = _preds(out, stem)
        assert all(b["frame_range"][1] - b["frame_range"][0] + 1 >= round(1.5 * fps) for b in bouts), bouts
        meta = json.loads((out / "predictions" / f"{stem}.meta.json").read_text())
        assert meta["postprocess"]["min_duration_s"] == 1.5 and meta["postprocess"]["stitch_gap_s"] == 1.0
        # the untouched settings are the run's, not the library defaults
        first = json.loads((run_dir / "predictions" / f"{stem}.meta.json").read_text())["postprocess"]
        assert meta["postprocess"]["threshold"] == first["threshold"]
    assert sum(map(len, (_preds(out, s) for s in ("body_groom", "itch")))) <= \
        sum(map(len, (_preds(run_dir, s) for s in ("body_groom", "itch"))))
    project = sly.read_project(str(out / "project"))
    assert project.total_items == 2
    # a second pass starts from the new run's settings
    again = tmp_path / "longer"
    r = cli("postprocess", "--pred", str(out), "--out", str(again), "--set", "threshold=0.99")
    assert r.returncode == 0, r.stderr
    meta = json.loads((again / "predictions" / "itch.meta.json").read_text())["postprocess"]
    assert meta["min_duration_s"] == 1.5 and meta["threshold"] == 0.99


def test_bad_input_is_one_line_and_writes_nothing(cli, run_dir, tmp_path):
    def check(args, text):
        r = cli("postprocess", *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert text in r.stderr.strip().splitlines()[-1], r.stderr

    out = tmp_path / "out"
    check(["--pred", str(run_dir), "--out", str(run_dir)], "must be a new folder")
    check(["--pred", str(run_dir), "--out", str(out), "--set", "per_class.flying.threshold=0.5"], "flying")
    check(["--pred", str(run_dir), "--out", str(out), "--set", "min_duration_s=-1"], "min_duration_s")
    old = tmp_path / "old_run"
    shutil.copytree(run_dir, old)
    shutil.rmtree(old / "candidates")
    check(["--pred", str(old), "--out", str(out)], "candidates/")
    check(["--pred", str(tmp_path / "missing"), "--out", str(out)], "not found")
    # a kept segment with a label the run never had (a hand-edited or foreign file), a junk track file
    strange = tmp_path / "strange_run"
    shutil.copytree(run_dir, strange)
    cand = next((strange / "candidates").glob("*.json"))
    segs = json.loads(cand.read_text())
    segs.append({"label": "nosuchlabel", "frame_range": [0, 5], "confidence": 0.9})
    cand.write_text(json.dumps(segs))
    check(["--pred", str(strange), "--out", str(out)], "nosuchlabel are none of the run's behaviours")
    junk = tmp_path / "junk_track"
    shutil.copytree(run_dir, junk)
    next((junk / "tracks").glob("*.npz")).write_bytes(b"not a numpy archive")
    check(["--pred", str(junk), "--out", str(out)], "unreadable track")
    assert not out.exists() and not list(tmp_path.glob(".out*"))
