"""mouseact.sly_io: Supervisely video projects written and read through the real SDK, real clips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mouseact import sly_io
from mouseact.errors import AnnotationError, MouseActError
from mouseact.intervals import Interval
from mouseact.video import probe

CLASSES = ["itch", "locomote", "rear_plus"]


@pytest.fixture(scope="module")
def clips(bsoid_dir, tmp_path_factory) -> dict[str, Path]:
    """Copies of two real B-SOiD clips (the project must not depend on the shared folder staying put)."""
    out = tmp_path_factory.mktemp("clips")
    return {name: Path(shutil.copy(bsoid_dir / "mouse2" / f"{name}.mp4", out / f"{name}.mp4"))
            for name in ("itch", "locomote")}


def _record(path: Path, dataset: str, intervals, boxes=None, name=None) -> sly_io.VideoRecord:
    info = probe(path)
    return sly_io.VideoRecord(path, name or path.name, dataset, info.fps, info.n_frames, info.width,
                              info.height, intervals, boxes)


@pytest.fixture(scope="module")
def project(clips, tmp_path_factory):
    """A project with a top-level and a nested dataset, tags with confidences and mouse boxes."""
    itch, loco = clips["itch"], clips["locomote"]
    n_itch = probe(itch).n_frames
    boxes = np.full((n_itch, 4), np.nan, np.float32)
    boxes[::3] = [40.2, 30.6, 200.0, 250.4]
    boxes[1] = [0, 0, 449, 359]
    rec_a = _record(itch, "mouse2", [Interval(0, 9, "itch", 0.8), Interval(10, n_itch - 1, "rear_plus", 0.25)], boxes)
    rec_b = _record(loco, "mouse2/night/cage1", [Interval(3, 20, "locomote", 1.0)])
    out = tmp_path_factory.mktemp("proj") / "project"
    path = sly_io.write_project(out, [rec_a, rec_b], CLASSES)
    return path, rec_a, rec_b


def test_round_trip_through_mouseact(project):
    path, rec_a, rec_b = project
    back = {r.key: r for r in sly_io.read_project(path, known_labels=CLASSES)}
    assert set(back) == {rec_a.key, rec_b.key}
    a, b = back[rec_a.key], back[rec_b.key]
    assert a.intervals == sorted(rec_a.intervals) and b.intervals == rec_b.intervals
    assert (a.fps, a.n_frames, a.width, a.height) == (rec_a.fps, rec_a.n_frames, rec_a.width, rec_a.height)
    assert b.dataset == "mouse2/night/cage1" and b.boxes is None
    # boxes: same NaN rows, corners within rounding
    assert np.array_equal(np.isnan(a.boxes[:, 0]), np.isnan(rec_a.boxes[:, 0]))
    ok = ~np.isnan(rec_a.boxes[:, 0])
    assert np.abs(a.boxes[ok] - rec_a.boxes[ok]).max() <= 0.5
    # the video was copied byte for byte into <dataset>/video/
    assert a.video_path.read_bytes() == rec_a.video_path.read_bytes()
    assert a.video_path.parent.name == "video" and path in a.video_path.parents
    assert sly_io.project_classes(path) == CLASSES


def test_round_trip_through_the_sdk(project):
    import supervisely as sly

    path, rec_a, rec_b = project
    proj = sly.read_project(str(path))
    assert isinstance(proj, sly.VideoProject)
    assert proj.meta.project_type == "videos"
    assert proj.meta.get_obj_class("mouse").geometry_type is sly.Rectangle
    for name in CLASSES:
        assert proj.meta.get_tag_meta(name).value_type == sly.TagValueType.ANY_NUMBER
    by_name = {ds.name: ds for ds in proj.datasets}
    assert {"mouse2", "mouse2/night", "mouse2/night/cage1"} <= set(by_name)
    ann = by_name["mouse2"].get_ann(rec_a.name, proj.meta)
    assert ann.frames_count == rec_a.n_frames and ann.img_size == (rec_a.height, rec_a.width)
    tags = sorted((t.name, tuple(t.frame_range), t.value) for t in ann.tags)
    assert tags == sorted((iv.label, (iv.start, iv.end), iv.confidence) for iv in rec_a.intervals)
    n_boxes = int(np.isfinite(rec_a.boxes[:, 0]).sum())
    assert len(ann.objects) == 1 and len(ann.figures) == n_boxes
    fig = ann.frames.get(1).figures[0]
    bb = fig.geometry.to_bbox()
    assert (bb.left, bb.top, bb.right, bb.bottom) == (0, 0, 449, 359)


def _edit_ann(path: Path, item: str, dataset_rel: str, fn) -> Path:
    ann_path = path / dataset_rel / "ann" / f"{item}.json"
    data = json.loads(ann_path.read_text())
    fn(data)
    ann_path.write_text(json.dumps(data))
    return ann_path


@pytest.fixture
def project_copy(project, tmp_path):
    path, rec_a, rec_b = project
    dst = tmp_path / "copy"
    shutil.copytree(path, dst)
    return dst, rec_a, rec_b


@pytest.mark.parametrize("bad_range, clamped", [("past_end", None), ("negative", None), ("reversed", None)])
def test_bad_frame_range_rejected_or_clamped(project_copy, bad_range, clamped):
    path, rec_a, _ = project_copy
    n = rec_a.n_frames
    new = {"past_end": [5, n + 10], "negative": [-4, 6], "reversed": [30, 12]}[bad_range]
    expect = {"past_end": (5, n - 1), "negative": (0, 6), "reversed": (12, 30)}[bad_range]

    def change(data):
        data["tags"][0]["frameRange"] = new
        data["tags"][0]["name"] = "locomote"

    ann_path = _edit_ann(path, rec_a.name, "mouse2", change)
    with pytest.raises(AnnotationError) as err:
        sly_io.read_project(path)
    msg = str(err.value)
    assert str(ann_path) in msg and "'locomote'" in msg and "\n" not in msg
    with pytest.warns(sly_io.AnnotationWarning, match="clamped"):
        records = sly_io.read_project(path, out_of_range="clamp")
    rec = next(r for r in records if r.name == rec_a.name)
    assert (expect[0], expect[1], "locomote") in [(iv.start, iv.end, iv.label) for iv in rec.intervals]


def test_range_entirely_outside_is_dropped_when_clamping(project_copy):
    path, rec_a, _ = project_copy
    _edit_ann(path, rec_a.name, "mouse2",
              lambda d: d["tags"][0].update(frameRange=[rec_a.n_frames + 5, rec_a.n_frames + 9]))
    with pytest.warns(sly_io.AnnotationWarning, match="dropped"):
        records = sly_io.read_project(path, out_of_range="clamp")
    rec = next(r for r in records if r.name == rec_a.name)
    assert len(rec.intervals) == len(rec_a.intervals) - 1


def test_unknown_tag_is_a_clear_error(project):
    path, rec_a, _ = project
    with pytest.raises(AnnotationError, match=r"unknown tag 'rear_plus'") as err:
        sly_io.read_project(path, known_labels=["itch", "locomote"])
    assert f"{rec_a.name}.json" in str(err.value)


def test_tag_missing_from_meta_is_a_clear_error(project_copy):
    path, rec_a, _ = project_copy
    ann_path = _edit_ann(path, rec_a.name, "mouse2", lambda d: d["tags"][0].update(name="sneeze"))
    with pytest.raises(AnnotationError) as err:
        sly_io.read_project(path)
    assert str(ann_path) in str(err.value)
    # the tag is named and the place to fix it said (the SDK says only "TagMeta is None")
    assert "'sneeze'" in str(err.value) and "missing from the project's meta.json" in str(err.value)
    assert "TagMeta is None" not in str(err.value) and "itch, locomote, rear_plus" in str(err.value)


def test_object_class_missing_from_meta_is_named(project_copy):
    path, rec_a, _ = project_copy
    ann_path = _edit_ann(path, rec_a.name, "mouse2", lambda d: d["objects"][0].update(classTitle="rat"))
    with pytest.raises(AnnotationError) as err:
        sly_io.read_project(path)
    assert str(ann_path) in str(err.value) and "object class 'rat'" in str(err.value)


def test_whole_video_tag_covers_every_frame(project_copy):
    path, rec_a, _ = project_copy
    _edit_ann(path, rec_a.name, "mouse2", lambda d: d["tags"][0].pop("frameRange"))
    rec = next(r for r in sly_io.read_project(path) if r.name == rec_a.name)
    assert Interval(0, rec_a.n_frames - 1, rec_a.intervals[0].label, rec_a.intervals[0].confidence) in rec.intervals


def test_video_without_annotation_is_not_skipped_silently(project_copy):
    path, rec_a, _ = project_copy
    (path / "mouse2" / "ann" / f"{rec_a.name}.json").unlink()
    with pytest.raises(AnnotationError, match="mouse2"):
        sly_io.read_project(path)


def test_not_a_project(tmp_path):
    with pytest.raises(AnnotationError, match="no meta.json"):
        sly_io.read_project(tmp_path)
    with pytest.raises(AnnotationError, match="not found"):
        sly_io.read_project(tmp_path / "missing")
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(AnnotationError, match="meta.json"):
        sly_io.project_classes(tmp_path)


def test_write_rejects_bad_records_and_leaves_nothing(clips, tmp_path):
    itch = clips["itch"]
    n = probe(itch).n_frames
    out = tmp_path / "p"
    with pytest.raises(AnnotationError, match="outside"):
        sly_io.write_project(out, [_record(itch, "ds", [Interval(0, n, "itch")])], CLASSES)
    with pytest.raises(AnnotationError, match="not one of the classes"):
        sly_io.write_project(out, [_record(itch, "ds", [Interval(0, 3, "sneeze")])], CLASSES)
    with pytest.raises(AnnotationError, match="two videos"):
        sly_io.write_project(out, [_record(itch, "ds", []), _record(itch, "ds", [])], CLASSES)
    with pytest.raises(AnnotationError, match="boxes shape"):
        sly_io.write_project(out, [_record(itch, "ds", [], boxes=np.zeros((3, 4)))], CLASSES)
    assert list(tmp_path.iterdir()) == []


def test_write_does_not_clobber_without_overwrite(clips, tmp_path):
    out = tmp_path / "p"
    rec = _record(clips["itch"], "ds", [Interval(0, 3, "itch")])
    sly_io.write_project(out, [rec], CLASSES)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(MouseActError, match="exists"):
        sly_io.write_project(out, [rec], ["itch"])
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    sly_io.write_project(out, [rec], ["itch"], overwrite=True)
    assert sly_io.project_classes(out) == ["itch"]
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # no temporary siblings left


def test_project_under_a_folder_named_datasets(clips, tmp_path):
    """The SDK derives dataset names from the absolute path; ours must not break there."""
    rec = _record(clips["locomote"], "a/b", [Interval(1, 2, "locomote")])
    out = sly_io.write_project(tmp_path / "datasets" / "proj", [rec], CLASSES)
    assert [r.dataset for r in sly_io.read_project(out)] == ["a/b"]


def test_link_videos_instead_of_copying(clips, tmp_path):
    src = tmp_path / "src.mp4"
    shutil.copy(clips["itch"], src)
    out = sly_io.write_project(tmp_path / "p", [_record(src, "ds", [Interval(0, 3, "itch")])], CLASSES,
                               link_videos=True)
    (rec,) = sly_io.read_project(out)
    assert rec.video_path.samefile(src) and src.stat().st_nlink == 2
