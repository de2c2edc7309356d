"""`mouseact train classifier` on the output of `mouseact preprocess` with its default split, for
small projects: real B-SOiD clips concatenated into a few sessions, each session showing two or
three of three behaviours. With few videos the split puts every clip of a behaviour in the val
video, or leaves a held-out fold without a behaviour once its validation video is set aside:
training used to stop with "no training windows for class(es): itch"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mouseact import sly_io
from mouseact.intervals import Interval
from mouseact.video import VideoReader, probe, write_video

# session -> B-SOiD clips in order; inactive/locomote stay unlabelled (room for idle clips)
SESSIONS = {
    "mouse1_a.mp4": ["mouse1/itch", "mouse1/inactive", "mouse1/face_groom"],
    "mouse2_a.mp4": ["mouse2/face_groom", "mouse2/inactive", "mouse2/rear_plus"],
    "mouse1_b.mp4": ["mouse1/rear_plus", "mouse1/locomote", "mouse1/itch"],
    "mouse2_b.mp4": ["mouse2/itch", "mouse2/locomote", "mouse2/face_groom", "mouse2/rear_plus"],
}
UNLABELLED = {"inactive", "locomote"}


@pytest.fixture(scope="module")
def sessions(bsoid_dir, tmp_path_factory) -> dict[str, sly_io.VideoRecord]:
    d = tmp_path_factory.mktemp("small_sessions")
    out = {}
    for name, parts in SESSIONS.items():
        def frames(parts=parts):
            for p in parts:
                with VideoReader(bsoid_dir / f"{p}.mp4") as r:
                    yield from r.iter_frames()

        write_video(d / name, frames(), 15.0)
        intervals, pos = [], 0
        for p in parts:
            n = probe(bsoid_dir / f"{p}.mp4").n_frames
            if Path(p).name not in UNLABELLED:
                intervals.append(Interval(pos, pos + n - 1, Path(p).name))
            pos += n
        info = probe(d / name)
        out[name] = sly_io.VideoRecord(d / name, name, "ds0", info.fps, info.n_frames, info.width, info.height,
                                       intervals, None)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("videos", [3, 4])
def test_train_classifier_on_a_small_preprocessed_project(sessions, tmp_path, cli, videos):
    records = [sessions[name] for name in list(SESSIONS)[:videos]]
    project = sly_io.write_project(tmp_path / "in", records, ["face_groom", "itch", "rear_plus"])
    res = cli("preprocess", str(project), "--out", str(tmp_path / "pre"), "--detector", "none", "--quiet")
    assert res.returncode == 0, res.stderr
    data = tmp_path / "pre" / "Training Data"
    splits = json.loads((data / "splits.json").read_text())["videos"]
    by_split = {s: [k.split("/")[-1] for k, v in splits.items() if v["split"] == s] for s in ("train", "val", "test")}
    assert len(by_split["val"]) == 1 and len(by_split["test"]) == 1  # preprocess's default split

    res = cli("train", "classifier", str(data), "--out", str(tmp_path / "model"), "--cache", str(tmp_path / "cache"))
    assert res.returncode == 0, res.stderr
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["classes"] == ["face_groom", "idle", "itch", "rear_plus"]
    scored = set(card["metrics"].get("leave_one_group_out", {}))
    skipped = card["metrics"].get("leave_one_group_out_skipped", {})
    # every held-out group (train and val videos) is scored or said to be skipped, with the reason
    assert scored | set(skipped) == {f"test_{v}" for v in by_split["train"] + by_split["val"]}
    assert not scored & set(skipped)
    for fold, why in skipped.items():
        assert why.startswith("no training window for ") and f"{fold}: not scored ({why})" in res.stdout
    if videos == 3:
        # one train and one val video, each with two of the three behaviours: the val video's
        # behaviour trains on the first part of its clips (the model trains), no fold can be scored
        assert not scored and len(skipped) == 2
        how = card["training"]["validation"]["how"]
        assert how.startswith("project split (splits.json); ") and "only in val clips" in how
    else:
        # two train videos (one with all three behaviours) and a val video: holding out the full
        # train video leaves rear_plus only in the val video, whose first part now trains it;
        # every fold is scored
        assert scored and not skipped


def test_untrainable_classes_follow_the_training_windows():
    """A fold is judged by the windows it trains on (train split), not by those it validates on."""
    import numpy as np

    from mouseact.classifier.data import Clip, Windows
    from mouseact.classifier.training import TrainConfig, untrainable_classes, validation_mask

    clips = [Clip(Path("a.mp4"), "groom", "A", 0, 9, None, "train"),
             Clip(Path("b.mp4"), "itch", "B", 0, 9, None, "val"),
             Clip(Path("b.mp4"), "groom", "B", 10, 19, None, "val")]
    # two windows per clip, at the start and in the last fifth of the clip
    w = Windows(np.zeros((6, 3), np.float32), np.array([0, 0, 1, 1, 0, 0]), np.array([0, 0, 1, 1, 2, 2]),
                np.array([0.0, 0.9, 0.0, 0.9, 0.0, 0.9]), None)
    val, how = validation_mask(w, clips, 0.2)
    # itch is only in val clips: its first window trains, its last validates; groom keeps the split
    assert val.tolist() == [False, False, False, True, True, True] and "itch only in val clips" in how
    assert untrainable_classes(w, clips, ["groom", "itch"], TrainConfig()) == []
    assert untrainable_classes(w, clips, ["groom", "itch", "rear"], TrainConfig()) == ["rear"]
