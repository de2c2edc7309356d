"""`mouseact infer` / `demo` command surface: help, config listing, bad inputs (no models needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mouseact.inference.pipeline import PipelineConfig, dense_windows, sample_indices, split_segment

REPO = Path(__file__).resolve().parents[1]


def test_help_explains_every_option(cli):
    r = cli("infer", "--help")
    assert r.returncode == 0
    for opt in ("--out", "--model", "--dense", "--detector", "--detector-model", "--no-resume",
                "--list-postprocess", "--show-config", "--config", "--set", "--quiet"):
        assert opt in r.stdout
    r = cli("demo", "--help")
    assert r.returncode == 0 and "--out" in r.stdout and "in-sample" not in r.stderr


def test_list_postprocess_and_overrides(cli):
    r = cli("infer", "--list-postprocess", "--set", "postprocess.threshold=0.55",
            "--set", "postprocess.stages=[threshold,stitch]")
    assert r.returncode == 0, r.stderr
    for stage in ("soft_nms", "threshold", "exclusive", "smooth", "stitch", "min_duration"):
        assert stage in r.stdout
    assert "postprocess.threshold = 0.55" in r.stdout
    assert "smooth [disabled]" in r.stdout
    r = cli("infer", "--show-config", "--set", "postprocess.per_class.itch.threshold=0.7")
    assert r.returncode == 0 and "itch:" in r.stdout and "threshold: 0.7" in r.stdout


def test_bad_override_is_one_line_error(cli):
    r = cli("infer", "--list-postprocess", "--set", "postprocess.treshold=0.5")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "treshold" in r.stderr


@pytest.mark.parametrize("kind", ["truncated", "text", "missing", "not_video_ext"])
def test_bad_input_one_line_error_and_no_output(cli, tmp_path, arena_video, kind):
    if kind == "truncated":
        bad = tmp_path / "cut.mp4"
        bad.write_bytes(arena_video.read_bytes()[: 300_000])
    elif kind == "text":
        bad = tmp_path / "notes.mp4"
        bad.write_text("this is not a video\n")
    elif kind == "missing":
        bad = tmp_path / "nope.mp4"
    else:
        bad = tmp_path / "notes.txt"
        bad.write_text("hello\n")
    out = tmp_path / "out"
    r = cli("infer", str(bad), "--out", str(out))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    # exactly one line: FFmpeg/decord's own C-level messages must not precede ours
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and str(bad) in lines[0]
    assert not out.exists()


def test_learned_detector_without_weights_fails_before_any_output(cli, tmp_path, bsoid_dir):
    out = tmp_path / "out"
    r = cli("infer", str(bsoid_dir / "mouse1" / "itch.mp4"), "--out", str(out), "--detector", "yolo")
    assert r.returncode == 2 and "--detector-model" in r.stderr.strip().splitlines()[-1]
    assert not out.exists()


def test_segment_helpers():
    assert split_segment(10, 19, 10) == [(10, 19)]
    pieces = split_segment(0, 99, 30)
    assert pieces[0][0] == 0 and pieces[-1][1] == 99 and len(pieces) == 3
    assert all(b[0] == a[1] + 1 for a, b in zip(pieces, pieces[1:]))   # contiguous, no overlap
    w = dense_windows(100, 30, 15)
    assert w[0] == (0, 29) and w[-1][1] == 99 and all(e - s + 1 == 30 for s, e in w)
    assert dense_windows(10, 30, 15) == [(0, 9)]                         # shorter than a window
    idx = sample_indices(5, 20, 4)
    assert idx[0] == 5 and idx[-1] == 20 and (idx >= 5).all() and (idx <= 20).all()


def test_app_config_defaults_match_the_default_bundle():
    from mouseact.config import load
    from mouseact.models import load_bundle

    cfg = json.loads((REPO / "apps" / "inference" / "config.json").read_text())
    assert {"name", "description", "categories", "entrypoint", "docker_image", "options"} <= set(cfg)
    defaults = load(PipelineConfig, base=load_bundle().pipeline)  # what a user of the app gets
    for key, opt in cfg["options"].items():
        obj = defaults
        parts = key.split(".")
        if not hasattr(obj, parts[0]):
            continue  # run options (model_dir, dense, resume) are not config fields
        for part in parts:
            obj = getattr(obj, part)
        # a setting a bundle may override is an empty field standing for the default bundle's value
        shown = opt["suggested"] if opt.get("default") is None and "suggested" in opt else opt["default"]
        if shown is None and "placeholder" in opt:
            shown = opt["placeholder"].rsplit(": ", 1)[-1]
            obj = str(obj).lower() if isinstance(obj, bool) else str(obj)
        assert shown == obj, key


def test_read_groups_and_widen():
    from mouseact.inference.pipeline import read_groups, widen

    segs = [(0, 29), (40, 69), (400, 429), (430, 459)]
    groups = list(read_groups(segs, max_gap=250, max_cost=1000))
    assert groups == [[(0, 29), (40, 69)], [(400, 429), (430, 459)]]       # gap 330 > 250: seek
    assert list(read_groups(segs, max_gap=1000, max_cost=60)) == [[(0, 29), (40, 69)], [(400, 429), (430, 459)]]
    assert sum(len(g) for g in read_groups(segs, 0, 10)) == len(segs)       # every segment once
    assert widen(10, 12, 16, 100) == (4, 19)
    assert widen(0, 3, 16, 100) == (0, 15) and widen(95, 99, 16, 100) == (84, 99)
    assert widen(0, 5, 16, 10) == (0, 5)                                    # video shorter than a window
    # a custom cost (the pipeline's: bytes of crops) bounds a group; one oversized segment still goes alone
    assert list(read_groups(segs, 1000, 100, cost=lambda seg: 150)) == [[s] for s in segs]


def test_bundle_puts_trained_models_together(cli, tmp_path, bsoid_dir):
    """A bundle from a classifier: the default localizer and settings, the localizer's training detector,
    --set on top; it runs with infer; bad inputs are one-line errors that write nothing."""
    from mouseact.models import DEFAULT_BUNDLE, load_bundle

    bundle = tmp_path / "bundle"
    r = cli("bundle", "--classifier", str(DEFAULT_BUNDLE / "classifier"), "--out", str(bundle),
            "--set", "postprocess.min_duration_s=0.5")
    assert r.returncode == 0, r.stderr
    b = load_bundle(bundle)
    default = load_bundle(DEFAULT_BUNDLE)
    assert b.pipeline == {**default.pipeline, "postprocess": {**default.pipeline["postprocess"], "min_duration_s": 0.5}}
    assert (bundle / "localizer" / "model_card.json").read_bytes() == (default.localizer_dir / "model_card.json").read_bytes()
    out = tmp_path / "run"
    r = cli("infer", str(bsoid_dir / "mouse1" / "itch.mp4"), "--model", str(bundle), "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "predictions" / "itch.meta.json").read_text())["postprocess"]["min_duration_s"] == 0.5

    r = cli("bundle", "--classifier", str(DEFAULT_BUNDLE / "classifier"), "--out", str(tmp_path / "b2"),
            "--set", "detector_stride=2")
    assert r.returncode == 0 and "detector_stride 2 differs from the 4 the localizer was trained with" in r.stderr
    for args, message in (
        (["--classifier", str(DEFAULT_BUNDLE / "localizer")], "model is a 'localizer', expected classifier"),
        (["--classifier", str(DEFAULT_BUNDLE / "classifier"), "--set", "segmen_s=2"], "segmen_s: Extra inputs"),
        (["--classifier", str(tmp_path / "nope")], "model directory not found"),
        # what infer would refuse is refused here, before a bundle exists
        (["--classifier", str(DEFAULT_BUNDLE / "classifier"), "--set", "postprocess.per_class.nosuch.threshold=0.5"],
         "unknown behaviour 'nosuch'"),
        (["--classifier", str(DEFAULT_BUNDLE / "classifier"), "--set", "detector=foo"], "detector: Input should be"),
        (["--classifier", str(DEFAULT_BUNDLE / "classifier"), "--set", "detector_model=/x"], "takes no model"),
    ):
        r = cli("bundle", *args, "--out", str(tmp_path / "bad"))
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "bad").exists()
    r = cli("bundle", "--classifier", str(DEFAULT_BUNDLE / "classifier"), "--out", str(bundle))
    assert r.returncode == 2 and "already exists" in r.stderr
    r = cli("bundle", "--classifier", str(bundle / "classifier"), "--out", str(bundle / "classifier"), "--overwrite")
    assert r.returncode == 2 and "a new folder apart from the models" in r.stderr
    assert (bundle / "classifier" / "model_card.json").is_file()


def test_a_clip_too_short_for_stage_1_is_said(cli, tmp_path, bsoid_dir):
    r = cli("infer", str(bsoid_dir / "mouse1" / "itch.mp4"), "--out", str(tmp_path / "o"), "--quiet")
    assert r.returncode == 0 and "stage 1 may find no candidates in a clip this short" in r.stderr
    r = cli("infer", str(bsoid_dir / "mouse1" / "itch.mp4"), "--out", str(tmp_path / "d"), "--quiet", "--dense")
    assert r.returncode == 0 and "clip this short" not in r.stderr
