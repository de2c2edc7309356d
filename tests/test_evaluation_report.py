"""`mouseact evaluate` against real ground-truth containers: a Supervisely project of real B-SOiD
clips (written and read through the SDK), the real human BORIS export, and interval CSV; the HTML
report is parsed (and rendered in headless Chromium when installed)."""

from __future__ import annotations

import base64
import html.parser
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mouseact import export, sly_io
from mouseact.intervals import Interval, to_frame_labels
from mouseact.video import VideoInfo, probe

CLIPS = ["itch", "locomote", "rear_plus"]
CLASSES = ["itch", "locomote", "rear_plus"]


def gt_intervals(name, n):
    """Two bouts of the clip's own behaviour (B-SOiD clips show one behaviour each)."""
    return [Interval(0, n // 3, name), Interval(n // 2, n - 3, name)]


@pytest.fixture(scope="module")
def gt_project(bsoid_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("gt")
    records = []
    for name in CLIPS:
        path = bsoid_dir / "mouse2" / f"{name}.mp4"
        info = probe(path)
        records.append(
            sly_io.VideoRecord(
                path,
                path.name,
                "mouse2",
                info.fps,
                info.n_frames,
                info.width,
                info.height,
                gt_intervals(name, info.n_frames),
                None,
            )
        )
    return sly_io.write_project(root / "project", records, CLASSES), {r.name[:-4]: r for r in records}


def write_preds(out, records, make):
    for stem, rec in records.items():
        info = VideoInfo(str(rec.video_path), rec.fps, rec.n_frames, rec.width, rec.height)
        export.write_video_outputs(out, stem, info, make(stem, rec), None, CLASSES, ethogram=False)


class ImgParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.tables = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "table":
            self.tables += 1
        for k in ("href", "src"):
            if k in a and tag != "img":
                self.links.append(a[k])


def test_perfect_predictions_score_one(tmp_path, gt_project, cli):
    project, records = gt_project
    write_preds(tmp_path / "run", records, lambda stem, rec: rec.intervals)
    res = cli(
        "evaluate",
        "--pred",
        str(tmp_path / "run"),
        "--gt",
        str(project),
        "--out",
        str(tmp_path / "ev"),
        "--no-report",
        "--units",  # parsed and passed on; a Supervisely project is in frames anyway
        "frames",
        "--thresholds",
        "0.3",
        "0.5",
        "0.7",
    )
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["gt_format"] == "supervisely" and m["n_videos"] == 3
    assert m["frame"]["macro"]["f1"] == 1.0 and m["frame_accuracy"] == 1.0
    assert all(v["f1"] == 1.0 for v in m["segment"]["macro"].values())
    assert m["map"]["mAP"] == 1.0
    assert m["unknown_labels"] == {"only_in_predictions": [], "only_in_ground_truth": []}
    assert not (tmp_path / "ev" / "report.html").exists()


def test_imperfect_predictions_report(tmp_path, gt_project, cli):
    project, records = gt_project

    def make(stem, rec):
        n = rec.n_frames
        if stem == "itch":  # first bout found but cut short, second missed
            return [Interval(0, n // 6, "itch", 0.7)]
        if stem == "locomote":  # right times, wrong behaviour
            return [Interval(iv.start, iv.end, "rear_plus", 0.6) for iv in rec.intervals]
        # rear_plus: correct, plus a false alarm of a label the ground truth does not know
        return [*rec.intervals, Interval(n // 3 + 2, n // 2 - 2, "sniff", 0.3)]

    write_preds(tmp_path / "run", records, make)
    res = cli(
        "evaluate", "--pred", str(tmp_path / "run"), "--gt", str(project), "--out", str(tmp_path / "ev")
    )
    assert res.returncode == 0, res.stderr
    assert "sniff" in res.stderr  # the unknown label is reported, not dropped
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["unknown_labels"]["only_in_predictions"] == ["sniff"]
    assert "sniff" in m["classes"] and m["frame"]["per_class"]["sniff"]["precision"] == 0.0
    assert 0 < m["frame"]["macro"]["f1"] < 1 and m["map"]["mAP"] < 1

    # confusion matrix = frame counts: rows truth, columns prediction, 0 = background
    labels = m["confusion"]["labels"]
    counts = np.array(m["confusion"]["counts"])
    total = sum(r.n_frames for r in records.values())
    assert labels == ["background", *m["classes"]] and counts.sum() == total
    rec = records["locomote"]
    gt_frames = to_frame_labels(rec.intervals, rec.n_frames, m["classes"])
    assert counts[labels.index("locomote"), labels.index("rear_plus")] == int((gt_frames > 0).sum())
    assert counts[labels.index("locomote"), labels.index("locomote")] == 0

    # one self-contained HTML file: every image embedded, nothing fetched from elsewhere
    text = (tmp_path / "ev" / "report.html").read_text()
    p = ImgParser()
    p.feed(text)
    assert len(p.imgs) == 1 + len(records)  # confusion matrix + one ethogram per video
    assert p.links == [] and "http://" not in text and "https://" not in text
    assert p.tables >= 3
    import matplotlib.image

    for src in p.imgs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        img = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 300
    assert (tmp_path / "ev" / "confusion_matrix.png").stat().st_size > 5000
    assert "itch" in (tmp_path / "ev" / "per_class.csv").read_text()

    # scored again into the same folder without a report: the earlier report does not stay behind
    assert (tmp_path / "ev" / "report.html").is_file()
    res = cli("evaluate", "--pred", str(tmp_path / "run"), "--gt", str(project), "--out", str(tmp_path / "ev"),
              "--no-report")
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "ev" / "report.html").exists() and (tmp_path / "ev" / "metrics.json").is_file()


def test_real_boris_ground_truth(tmp_path, data_dir, cli):
    boris = data_dir / "social_pose_boris" / "boris" / "e3v813a-20210610T122332-122642_reencode.csv"
    from mouseact.preprocess.importers import read_boris

    (rec,) = read_boris(boris)
    # predictions one frame late: every human bout still found at tIoU 0.3, frames slightly off
    shifted = [
        Interval(iv.start + 1, min(iv.end + 1, rec.n_frames - 1), iv.label, 0.9) for iv in rec.intervals
    ]
    info = VideoInfo(f"/videos/{Path(rec.name).stem}.avi", rec.fps, rec.n_frames, 640, 480)
    # the model also knows 'mount', which it never predicted and the annotator never coded
    export.write_video_outputs(
        tmp_path / "run", Path(rec.name).stem, info, shifted, None, ["interact", "mount"]
    )
    res = cli("evaluate", "--pred", str(tmp_path / "run"), "--gt", str(boris), "--out", str(tmp_path / "ev"))
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["gt_format"] == "boris" and m["classes"] == ["interact"]
    assert m["unknown_labels"] == {"only_in_predictions": [], "only_in_ground_truth": []}
    assert m["segment"]["per_class"]["interact"]["0.3"]["f1"] == 1.0
    n_bouts = len(rec.intervals)
    # each bout loses exactly its first frame on the truth side and gains one after it
    tp = sum(iv.length - 1 for iv in rec.intervals)
    assert m["frame"]["per_class"]["interact"]["recall"] == pytest.approx(
        tp / sum(iv.length for iv in rec.intervals)
    )
    assert m["per_video"][0]["gt_bouts"] == n_bouts


def test_interval_csv_ground_truth_and_missing_videos(tmp_path, gt_project, cli):
    from mouseact.errors import MouseActError
    from mouseact.evaluation.evaluate import EvaluateConfig, evaluate

    project, records = gt_project
    run = tmp_path / "run"
    write_preds(run, records, lambda stem, rec: rec.intervals)
    export.write_batch_outputs(run, [], CLASSES, project=False)
    # MouseAct's own batch intervals.csv serves as ground truth for the same predictions
    m = evaluate(run, run / "intervals.csv")
    assert m["gt_format"] == "csv" and m["frame"]["macro"]["f1"] == 1.0

    # a plain CSV with whole-number start/end is ambiguous until the units are given
    plain = tmp_path / "plain.csv"
    rows = ["video,behavior,start,end"]
    rows += [
        f"{stem}.mp4,{iv.label},{iv.start},{iv.end}" for stem, rec in records.items() for iv in rec.intervals
    ]
    plain.write_text("\n".join(rows) + "\n")
    with pytest.raises(MouseActError, match="--units"):
        evaluate(run, plain)
    assert evaluate(run, plain, EvaluateConfig(units="frames"))["frame"]["macro"]["f1"] == 1.0
    # ground truth of an unsupported kind
    bad = tmp_path / "gt.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(MouseActError, match="gt.csv"):
        evaluate(run, bad)

    # through the CLI: a video with ground truth but no predictions is an error naming it, no outputs
    export.prediction_path(run, "rear_plus").unlink()
    export.meta_path(run, "rear_plus").unlink()
    res = cli("evaluate", "--pred", str(run), "--gt", str(project), "--out", str(tmp_path / "ev2"))
    assert res.returncode == 2 and "rear_plus" in res.stderr and "no predictions" in res.stderr
    assert not (tmp_path / "ev2").exists()


def test_folder_of_real_boris_exports(tmp_path, data_dir, cli):
    from mouseact.preprocess.importers import read_boris

    src = data_dir / "social_pose_boris" / "boris"
    gt = tmp_path / "gt"
    gt.mkdir()
    for name in (
        "e3v813a-20210610T121558-122141_reencode.csv",
        "e3v813a-20210610T122332-122642_reencode.csv",
    ):
        shutil.copy(src / name, gt / name)
        (rec,) = read_boris(src / name)
        info = VideoInfo(f"/videos/{Path(rec.name).stem}.avi", rec.fps, rec.n_frames, 640, 480)
        # exact bouts plus an open-set abstention the user chooses to ignore
        ivs = [*rec.intervals, Interval(0, 5, "unknown", 0.2)]
        export.write_video_outputs(
            tmp_path / "run", Path(rec.name).stem, info, ivs, None, ["interact"], ethogram=False
        )
    res = cli(
        "evaluate",
        "--pred",
        str(tmp_path / "run"),
        "--gt",
        str(gt),
        "--out",
        str(tmp_path / "ev"),
        "--no-report",
        "--ignore-labels",
        "unknown",
    )
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["n_videos"] == 2 and m["classes"] == ["interact"] and m["frame"]["macro"]["f1"] == 1.0
    assert any("labels unknown left out of scoring (ignore_labels): 2 predicted and 0 ground-truth" in n
               for n in m["notes"])
    # a hand-scored behaviour the model was not trained for is left out on the ground-truth side too
    res = cli("evaluate", "--pred", str(tmp_path / "run"), "--gt", str(gt), "--out", str(tmp_path / "ev_i"),
              "--no-report", "--ignore-labels", "unknown", "interact")
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "ev_i" / "metrics.json").read_text())
    assert "interact" not in m["classes"] and any("ground-truth bout(s)" in n and " 0 ground-truth" not in n
                                                  for n in m["notes"])
    # one video of the run as --pred: its predictions/<video>.json
    one = next((tmp_path / "run" / "predictions").glob("*122332*.json"))
    one = one if not one.name.endswith(".meta.json") else one.with_name(one.name.replace(".meta.json", ".json"))
    res = cli("evaluate", "--pred", str(one), "--gt", str(src / "e3v813a-20210610T122332-122642_reencode.csv"),
              "--out", str(tmp_path / "ev_one"), "--no-report")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "ev_one" / "metrics.json").read_text())["n_videos"] == 1
    # two exports of the same observation in one folder: refused, naming the file
    for name in (
        "e3v813a-20210610T120637-121213_reencode.csv",
        "e3v813a-20210610T120637-121213_reencode_multiple_behaviors.csv",
    ):
        shutil.copy(src / name, gt / name)
    res = cli("evaluate", "--pred", str(tmp_path / "run"), "--gt", str(gt), "--out", str(tmp_path / "ev2"))
    assert res.returncode == 2 and "more than one file" in res.stderr and "multiple_behaviors" in res.stderr


def test_ground_truth_longer_than_the_video_is_flagged(tmp_path, data_dir, cli):
    boris = data_dir / "social_pose_boris" / "boris" / "e3v813a-20210610T122332-122642_reencode.csv"
    from mouseact.preprocess.importers import read_boris

    (rec,) = read_boris(boris)
    half = rec.n_frames // 2  # predictions made on a shorter cut of the recording
    info = VideoInfo(f"/videos/{Path(rec.name).stem}.avi", rec.fps, half, 640, 480)
    ivs = [iv for iv in rec.intervals if iv.end < half]
    export.write_video_outputs(
        tmp_path / "run", Path(rec.name).stem, info, ivs, None, ["interact"], ethogram=False
    )
    res = cli(
        "evaluate",
        "--pred",
        str(tmp_path / "run"),
        "--gt",
        str(boris),
        "--out",
        str(tmp_path / "ev"),
        "--no-report",
    )
    assert res.returncode == 0, res.stderr
    assert "covers 190.0 s but the video is 95.0 s" in res.stderr
    n_late = sum(1 for iv in rec.intervals if iv.end >= half)
    assert f"{n_late} ground-truth bout(s) ran past frame {half - 1}" in res.stderr
    res = cli(
        "evaluate",
        "--pred",
        str(tmp_path / "run"),
        "--gt",
        str(boris),
        "--out",
        str(tmp_path / "ev2"),
        "--set",
        "clamp_gt=false",
    )
    assert res.returncode == 2 and "outside the video" in res.stderr


def test_kappa_by_hand():
    from mouseact.evaluation.evaluate import cohen_kappa

    # po = 35/50 = 0.7; pe = (25*30 + 25*20) / 50^2 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    assert cohen_kappa([[20, 5], [10, 15]]) == pytest.approx(0.4)
    assert cohen_kappa([[7, 0], [0, 3]]) == pytest.approx(1.0)


def test_two_real_boris_annotations_agreement(tmp_path, data_dir, cli):
    # two real exports of the same observation: one codes 'interact' only, the other also 'mount'
    src = data_dir / "social_pose_boris" / "boris"
    a = src / "e3v813a-20210610T120637-121213_reencode_multiple_behaviors.csv"
    b = src / "e3v813a-20210610T120637-121213_reencode.csv"
    res = cli("evaluate", "--pred", str(a), "--gt", str(b), "--out", str(tmp_path / "ev"))
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["pred_format"] == "boris" and "agreement" in " ".join(m["notes"])
    # identical 'interact' bouts; 'mount' overlaps them, which frame labels (one per frame) cannot
    # hold: said in the notes, and segment scores are unaffected
    assert all(v["f1"] == 1.0 for v in m["segment"]["per_class"]["interact"].values())
    assert any("predicted frame(s) carry two behaviours" in n for n in m["notes"])
    assert m["unknown_labels"]["only_in_predictions"] == ["mount"]
    # kappa agrees with scikit-learn on the same frame labels
    from sklearn.metrics import cohen_kappa_score

    from mouseact.preprocess.importers import read_boris

    (ra,), (rb,) = read_boris(a), read_boris(b)
    classes = m["classes"]
    ka = to_frame_labels(ra.intervals, ra.n_frames, classes)
    kb = to_frame_labels([iv for iv in rb.intervals if iv.end < ra.n_frames], ra.n_frames, classes)
    assert m["frame_kappa"] == pytest.approx(cohen_kappa_score(kb, ka))
    assert 0 < m["frame_kappa"] < 1


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path, gt_project):
    from cdp_browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    from mouseact.evaluation.evaluate import evaluate, write_outputs

    project, records = gt_project
    write_preds(tmp_path / "run", records, lambda stem, rec: rec.intervals[:1])
    paths = write_outputs(evaluate(tmp_path / "run", project), tmp_path / "ev")
    with Browser(tmp_path / "profile") as b:
        b.goto(paths["report_html"].as_uri())
        b.wait_for("document.readyState === 'complete' && [...document.images].every(i => i.complete)")
        # the browser decoded every embedded picture: confusion matrix + one ethogram per video
        widths = b.eval("[...document.images].map(i => i.naturalWidth)")
        assert len(widths) == 1 + len(records) and all(w > 300 for w in widths)
        # self-contained: the page fetched nothing besides itself
        assert b.eval("performance.getEntriesByType('resource').length") == 0
        assert b.eval("document.querySelectorAll('table').length") >= 3
        assert not [c for c in b.console if c.startswith("exception")]


def test_a_run_scored_against_the_videos_labelled_by_hand(tmp_path, gt_project, bsoid_dir, cli):
    """A run of four videos, ground truth for three: the three are scored, the fourth is named in the notes;
    ground truth for a video the run lacks stays an error (its misses would vanish from the scores)."""
    project, records = gt_project
    write_preds(tmp_path / "run", records, lambda stem, rec: rec.intervals)
    extra = bsoid_dir / "mouse2" / "orient_L.mp4"
    export.write_video_outputs(tmp_path / "run", "orient_L", probe(extra), [Interval(0, 20, "itch", 0.9)], None,
                               CLASSES, ethogram=False)
    res = cli("evaluate", "--pred", str(tmp_path / "run"), "--gt", str(project), "--out", str(tmp_path / "ev"),
              "--no-report")
    assert res.returncode == 0, res.stderr
    assert "1 predicted video(s) have no ground truth and were not scored: orient_L" in res.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["frame"]["macro"]["f1"] == 1.0  # the unscored video's false alarm is not counted
    assert any("orient_L" in n for n in m["notes"])

    (tmp_path / "run" / "predictions" / "itch.json").unlink()
    (tmp_path / "run" / "predictions" / "itch.meta.json").unlink()
    res = cli("evaluate", "--pred", str(tmp_path / "run"), "--gt", str(project), "--out", str(tmp_path / "ev2"))
    assert res.returncode == 2 and "no predictions for itch" in res.stderr and not (tmp_path / "ev2").exists()


@pytest.mark.parametrize("threshold", ["0", "2", "-0.5", "nan"])
def test_tiou_thresholds_outside_0_1_are_refused(tmp_path, gt_project, cli, threshold):
    project, records = gt_project
    write_preds(tmp_path / "run", records, lambda stem, rec: rec.intervals)
    r = cli("evaluate", "--pred", str(tmp_path / "run"), "--gt", str(project), "--out", str(tmp_path / "ev"),
            "--thresholds", threshold)
    assert r.returncode == 2 and "thresholds" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "ev").exists()
