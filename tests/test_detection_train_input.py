"""`mouseact train detector` on bad training data: a one-line error naming the file (and the CSV
line) before any training, never a traceback, never a model trained on boxes that cannot be right."""

from __future__ import annotations

import csv

import pytest
from mouseact.errors import AnnotationError

ROWS = ["labeled-data/m4s1/img0000.png", "labeled-data/m4s1/img0001.png", "labeled-data/m4s1/img0002.png"]


def _csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x1", "y1", "x2", "y2", "method"])
        w.writerows(rows)
    return path


@pytest.mark.parametrize("row, needle", [
    ([ROWS[1], "abc", "152.7", "92.0", "266.0", "mask"], "line 3: x1 must be a number of pixels"),
    ([ROWS[1], "10", "nan", "92.0", "266.0", "mask"], "line 3: y1 must be a number"),
    ([ROWS[1], "10", "", "92.0", "266.0", "mask"], "line 3: y1 must be a number"),  # half a box
    ([ROWS[1], "900", "152.7", "50", "266.0", "mask"], "line 3: the box needs x1 < x2 and y1 < y2"),
    ([ROWS[1], "10", "300", "92.0", "266.0", "mask"], "line 3: the box needs x1 < x2 and y1 < y2"),
    ([ROWS[1], "600", "152.7", "900", "266.0", "mask"], "line 3: box x1=600 y1=152.7 x2=900 y2=266 lies outside "
                                                         "the 640x480-px image"),
    (["", "10", "20", "30", "40", "mask"], "line 3: empty image path"),
])
def test_bad_rows_of_the_images_csv_are_named(cli, data_dir, tmp_path, row, needle):
    src = _csv(tmp_path / "boxes.csv", [[ROWS[0], "20.0", "152.7", "92.0", "266.0", "mask"], row,
                                        [ROWS[2], "", "", "", "", "none"]])
    out = tmp_path / "det"
    r = cli("train", "detector", str(src), "--image-root", str(data_dir / "openfield_dlc"), "--out", str(out),
            "--epochs", "1", "--imgsz", "64")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().startswith(f"error: {src}: {needle}")
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_images_csv_reader_accepts_good_and_empty_boxes(data_dir, tmp_path):
    from mouseact.preprocess.detection.fit import frames_from_image_csv

    src = _csv(tmp_path / "boxes.csv", [[ROWS[0], "0", "152.7", "92.0", "266.0", "mask"],
                                        [ROWS[1], " ", "", "", "", "none"],
                                        [ROWS[2], "23.1", "256.0", "640", "480", "mask"]])
    data = frames_from_image_csv(src, data_dir / "openfield_dlc", val_frac=0)
    assert len(data.images) == 3 and data.boxes.shape == (3, 4)
    assert (data.boxes[1] != data.boxes[1]).all()  # all NaN: a frame without a mouse
    latin = tmp_path / "latin.csv"
    latin.write_bytes("image,x1,y1,x2,y2\nsouris\xe9.png,1,2,3,4\n".encode("latin-1"))
    with pytest.raises(AnnotationError, match="not a UTF-8 text CSV"):
        frames_from_image_csv(latin)


@pytest.mark.parametrize("meta, needle", [("{bad", "meta.json is not valid JSON"),
                                          (b"\xff\xfe", "meta.json is not valid JSON"),
                                          ("[1, 2]", "meta.json must be an object with a list of 'classes'"),
                                          ('{"classes": "mouse"}', "meta.json must be an object with a list of "
                                                                   "'classes'")])
def test_project_with_a_bad_meta_json_is_named(cli, tmp_path, meta, needle):
    project = tmp_path / "project"
    (project / "ds" / "ann").mkdir(parents=True)
    (project / "meta.json").write_bytes(meta if isinstance(meta, bytes) else meta.encode())
    out = tmp_path / "det"
    r = cli("train", "detector", str(project), "--out", str(out), "--epochs", "1", "--imgsz", "64")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().startswith(f"error: {project}: {needle}") and not out.exists()
