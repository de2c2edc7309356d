"""Ground truth in the other standard formats (DeepEthogram, CalMS21, Excel) on real clip geometry.

Each file is written in the format's own layout (as the issue-4 importer tests do) for the frame
counts of real B-SOiD clips, and scored against predictions of known agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mouseact import export
from mouseact.evaluation.evaluate import EvaluateConfig, detect_format, evaluate
from mouseact.intervals import Interval
from mouseact.video import probe

CLASSES = ["groom", "rear"]


@pytest.fixture(scope="module")
def clip(bsoid_dir):
    path = bsoid_dir / "mouse1" / "rear_plus.mp4"
    return path, probe(path)


def truth(n):
    return [Interval(5, n // 3, "groom"), Interval(n // 2, n - 4, "rear")]


def predictions(tmp_path, clip, intervals):
    path, info = clip
    export.write_video_outputs(tmp_path / "run", path.stem, info, intervals, None, CLASSES, ethogram=False)
    return tmp_path / "run"


def test_deepethogram_labels(tmp_path, clip):
    path, info = clip
    n = info.n_frames
    onehot = np.zeros((n, 3), int)
    for iv in truth(n):
        onehot[iv.start : iv.end + 1, 1 + CLASSES.index(iv.label)] = 1
    onehot[:, 0] = onehot[:, 1:].sum(1) == 0
    gt = tmp_path / f"{path.stem}_labels.csv"
    gt.write_text(
        ",background,groom,rear\n" + "".join(f"{i},{a},{b},{c}\n" for i, (a, b, c) in enumerate(onehot))
    )
    assert detect_format(gt) == "deepethogram"
    # predictions: groom exact, rear half missed
    rear = truth(n)[1]
    run = predictions(
        tmp_path, clip, [truth(n)[0], Interval(rear.start, (rear.start + rear.end) // 2, "rear")]
    )
    m = evaluate(run, gt)
    assert m["gt_format"] == "deepethogram"
    assert m["frame"]["per_class"]["groom"]["f1"] == 1.0
    half = (rear.start + rear.end) // 2 - rear.start + 1
    assert m["frame"]["per_class"]["rear"]["recall"] == pytest.approx(half / rear.length)


def test_calms21_npy_frames_are_the_video_frames(tmp_path, clip):
    path, info = clip
    n = info.n_frames
    ann = np.full(n, 3)  # 'other' = background in CalMS21
    for iv in truth(n):
        ann[iv.start : iv.end + 1] = {"groom": 1, "rear": 2}[iv.label]
    data = {
        "annotator-id_0": {
            f"task1/train/{path.stem}": {
                "annotations": ann,
                "metadata": {"vocab": {"attack": 0, "groom": 1, "rear": 2, "other": 3}},
            }
        }
    }
    gt = tmp_path / "calms21_task1_train.npy"
    np.save(gt, data, allow_pickle=True)
    # CalMS21 assumes 30 fps, the clip runs at 15: per-frame labels must not be rescaled
    run = predictions(tmp_path, clip, truth(n))
    m = evaluate(run, gt)
    assert m["gt_format"] == "calms21" and info.fps == 15.0
    assert m["frame"]["macro"]["f1"] == 1.0 and m["map"]["mAP"] == 1.0
    assert m["unknown_labels"]["only_in_ground_truth"] == []  # 'attack' is in the vocabulary, never used
    assert not any("fps" in note for note in m["notes"])


def test_interval_xlsx(tmp_path, clip):
    from openpyxl import Workbook

    path, info = clip
    n = info.n_frames
    wb = Workbook()
    ws = wb.active
    ws.append(["video", "behavior", "start", "end"])
    for iv in truth(n):
        ws.append([path.name, iv.label, iv.start / info.fps, (iv.end + 1) / info.fps])  # seconds
    gt = tmp_path / "gt.xlsx"
    wb.save(gt)
    assert detect_format(gt) == "xlsx"
    run = predictions(tmp_path, clip, truth(n))
    m = evaluate(run, gt, EvaluateConfig(units="seconds"))
    assert m["gt_format"] == "xlsx" and m["frame"]["macro"]["f1"] == 1.0
    json.dumps(m["frame"])  # plain numbers only


def test_mouseact_predictions_format_as_ground_truth(tmp_path, clip, cli):
    """A researcher corrects ``predictions/<video>.json`` by hand and scores a run against it;
    another run's folder works the same way (agreement between two runs)."""
    path, info = clip
    n = info.n_frames
    rear = truth(n)[1]
    run = predictions(tmp_path, clip, [truth(n)[0], Interval(rear.start, (rear.start + rear.end) // 2, "rear")])
    corrected = tmp_path / "corrected" / f"{path.stem}.json"  # no .meta.json sidecar next to it
    corrected.parent.mkdir()
    corrected.write_text(json.dumps([iv.to_json() for iv in truth(n)]))
    assert detect_format(corrected) == "mouseact"
    m = evaluate(run, corrected)
    assert m["gt_format"] == "mouseact"
    assert m["frame"]["per_class"]["groom"]["f1"] == 1.0
    half = (rear.start + rear.end) // 2 - rear.start + 1
    assert m["frame"]["per_class"]["rear"]["recall"] == pytest.approx(half / rear.length)
    # a whole run folder (predictions + sidecars) as the reference: the run agrees with itself
    assert detect_format(run) == "mouseact"
    assert evaluate(run, run)["frame"]["macro"]["f1"] == 1.0
    # a list without frame ranges: one line naming the file, exit 2
    corrected.write_text(json.dumps([{"label": "groom"}]))
    r = cli("evaluate", "--pred", str(run), "--gt", str(corrected), "--out", str(tmp_path / "ev"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: {corrected}: not a list of")
    assert not (tmp_path / "ev" / "metrics.json").exists()
