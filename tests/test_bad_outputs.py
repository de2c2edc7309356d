"""--out where nothing can be written: one line ``error: <path>: <problem>``, exit 2, no traceback, and the
file in the way untouched (commands write through mouseact.atomic, which turns the OS's refusal into
that line)."""

from __future__ import annotations

import os

import pytest

from mouseact.cli import main

BORIS = "social_pose_boris/boris/e3v813a-20210610T122332-122642_reencode.csv"


def _commands(data_dir):
    boris = str(data_dir / BORIS)
    video = str(data_dir / "bsoid_clips" / "mouse1" / "itch.mp4")
    return {
        "summarize": ["summarize", "--pred", boris],
        "evaluate": ["evaluate", "--pred", boris, "--gt", boris],
        "detect": ["detect", video, "--quiet"],
    }


def _outs(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    outs = {
        "existing file": (afile, f"{afile}", "not a folder"),  # detect: "output exists and is not a folder"
        "under a file": (afile / "x", f"{afile / 'x'}",
                         f"cannot create the output: {afile} is a file, not a folder"),
    }
    if os.path.isdir("/sys/kernel"):  # even root cannot create files in sysfs
        outs["not writable"] = ("/sys/mouseact_out", "/sys/mouseact_out",
                                "cannot create the output: /sys is not writable")
    return afile, outs


@pytest.mark.parametrize("command", ["summarize", "evaluate", "detect"])
def test_bad_out_is_one_line(command, data_dir, tmp_path, capsys):
    args = _commands(data_dir)[command]
    afile, outs = _outs(tmp_path)
    for what, (out, path, problem) in outs.items():
        code = main([*args, "--out", str(out)])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2, (command, what, err)
        assert "Traceback" not in err and len(lines) == 1, (command, what, err)
        assert lines[0].startswith(f"error: {path}") and problem in lines[0], (command, what, err)
    assert afile.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert not os.path.lexists("/sys/mouseact_out")


@pytest.mark.parametrize("command", [["preprocess", "PROJECT"], ["train", "classifier", "--bsoid", "BSOID"]])
def test_long_commands_refuse_a_bad_out_before_working(cli, tmp_path, bsoid_dir, command):
    """preprocess and train classifier check --out before cutting clips or embedding anything."""
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    args = [str(bsoid_dir) if a == "BSOID" else str(tmp_path) if a == "PROJECT" else a for a in command]
    r = cli(*args, "--out", str(afile / "x"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "is a file" in r.stderr and afile.read_text() == "keep me"


def test_a_list_as_model_card_is_no_bundle(tmp_path, cli, bsoid_dir):
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "model_card.json").write_text("[1, 2]")
    r = cli("infer", str(bsoid_dir / "mouse1" / "itch.mp4"), "--model", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a model bundle" in r.stderr, r.stderr
