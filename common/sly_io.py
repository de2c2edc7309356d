"""Supervisely video projects on disk, read and written through the ``supervisely`` SDK.

Layout (the SDK's): ``meta.json``, ``<dataset>/video/<name>``, ``<dataset>/ann/<name>.json``;
a nested dataset ``a/b`` lives in ``a/datasets/b``. MouseAct stores

* each behaviour bout as a video tag with an inclusive ``frameRange`` and the confidence as its
  value (tag meta value type ``any_number``);
* the mouse as one object of class ``mouse`` (rectangle) with one figure per frame that has a box.

The SDK accepts frame ranges outside ``[0, framesCount-1]`` and reversed ranges silently, and its
project reader skips a broken dataset with only a log line; both would give silently wrong
training data, so this module checks them itself and raises :class:`AnnotationError`.

``supervisely`` takes ~3 s to import, so it is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mouseact import atomic
from mouseact.errors import AnnotationError, MouseActError, VideoError
from mouseact.intervals import Interval
from mouseact.progress import bar

log = logging.getLogger(__name__)

MOUSE_CLASS = "mouse"
# Extensions the Supervisely platform accepts for videos (supervisely.video.video.ALLOWED_VIDEO_EXTENSIONS).
SLY_VIDEO_EXTENSIONS = (".avi", ".mp4", ".3gp", ".flv", ".webm", ".wmv", ".mov", ".mkv")
OUT_OF_RANGE_POLICIES = ("error", "clamp")


class AnnotationWarning(UserWarning):
    """An annotation was repaired on read (e.g. a frame range clamped to the video)."""


@dataclasses.dataclass
class VideoRecord:
    """One video of a project with its behaviour intervals and (optional) per-frame mouse boxes.

    ``name`` is the item name inside its dataset (with extension, e.g. ``"m1.mp4"``);
    ``dataset`` is the full dataset name, ``"a/b"`` for nested datasets.
    ``boxes`` is ``float32 (n_frames, 4)`` ``x1, y1, x2, y2`` with NaN rows where there is no box.
    """

    video_path: Path
    name: str
    dataset: str
    fps: float
    n_frames: int
    width: int
    height: int
    intervals: list[Interval] = dataclasses.field(default_factory=list)
    boxes: np.ndarray | None = None

    @property
    def key(self) -> str:
        """``dataset/name``: unique inside a project."""
        return f"{self.dataset}/{self.name}"


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _dataset_rel_path(dataset: str) -> str:
    """``"a/b/c"`` -> ``"a/datasets/b/datasets/c"`` (the SDK's nested-dataset layout)."""
    parts = [p for p in dataset.strip("/").split("/") if p]
    if not parts:
        raise AnnotationError("empty dataset name")
    for p in parts:
        if p in (".", "..", "datasets", "video", "ann", "meta", "video_info", "img", "img_info"):
            raise AnnotationError(f"dataset name {dataset!r} uses the reserved folder name {p!r}")
    return "/datasets/".join(parts)


def _check_record(rec: VideoRecord, classes: Sequence[str]) -> None:
    where = f"{rec.dataset}/{rec.name}"
    if Path(rec.name).suffix.lower() not in SLY_VIDEO_EXTENSIONS:
        raise AnnotationError(f"item name {rec.name!r} must end with one of {', '.join(SLY_VIDEO_EXTENSIONS)}",
                              rec.video_path)
    if "/" in rec.name or "\\" in rec.name:
        raise AnnotationError(f"item name {rec.name!r} must not contain a path separator", rec.video_path)
    if not Path(rec.video_path).is_file():
        raise VideoError("file not found", rec.video_path)
    if rec.n_frames <= 0 or rec.width <= 0 or rec.height <= 0:
        raise AnnotationError(f"{where}: n_frames/width/height must be positive", rec.video_path)
    known = set(classes)
    for iv in rec.intervals:
        if iv.label not in known:
            raise AnnotationError(f"{where}: interval label {iv.label!r} is not one of the classes "
                                  f"({', '.join(classes)})", rec.video_path)
        if iv.start < 0 or iv.end > rec.n_frames - 1:
            raise AnnotationError(f"{where}: {iv.label!r} frame range [{iv.start}, {iv.end}] outside "
                                  f"[0, {rec.n_frames - 1}]", rec.video_path)
    if rec.boxes is not None:
        b = np.asarray(rec.boxes)
        if b.shape != (rec.n_frames, 4):
            raise AnnotationError(f"{where}: boxes shape {b.shape} != ({rec.n_frames}, 4)", rec.video_path)


def _make_meta(classes: Sequence[str]):
    import supervisely as sly
    from supervisely.project.project_type import ProjectType

    mouse = sly.ObjClass(MOUSE_CLASS, sly.Rectangle, color=[0, 200, 0])
    tag_metas = [sly.TagMeta(c, sly.TagValueType.ANY_NUMBER) for c in classes]
    # The enum's .value: ProjectMeta.to_json fails offline when given the enum itself.
    return sly.ProjectMeta(obj_classes=[mouse], tag_metas=tag_metas, project_type=ProjectType.VIDEOS.value)


def _make_annotation(rec: VideoRecord, meta):
    import supervisely as sly

    tags = [sly.VideoTag(meta.get_tag_meta(iv.label), value=float(round(iv.confidence, 6)),
                         frame_range=(int(iv.start), int(iv.end)))
            for iv in sorted(rec.intervals)]
    objects, frames = [], []
    if rec.boxes is not None:
        boxes = np.asarray(rec.boxes, dtype=np.float64)
        ok = np.isfinite(boxes).all(axis=1)
        if ok.any():
            obj = sly.VideoObject(meta.get_obj_class(MOUSE_CLASS))
            objects.append(obj)
            # Rectangle truncates floats; round so a round trip moves a corner by <= 0.5 px.
            r = np.zeros(boxes.shape, dtype=np.int64)
            r[ok] = np.round(boxes[ok])
            r[:, [0, 2]] = np.clip(r[:, [0, 2]], 0, rec.width - 1)
            r[:, [1, 3]] = np.clip(r[:, [1, 3]], 0, rec.height - 1)
            for i in np.flatnonzero(ok):
                x1, y1, x2, y2 = (int(v) for v in r[i])
                x1, x2 = min(x1, x2), max(x1, x2)
                y1, y2 = min(y1, y2), max(y1, y2)
                fig = sly.VideoFigure(obj, sly.Rectangle(top=y1, left=x1, bottom=y2, right=x2), int(i))
                frames.append(sly.Frame(int(i), [fig]))
    return sly.VideoAnnotation(
        (int(rec.height), int(rec.width)), int(rec.n_frames),
        objects=sly.VideoObjectCollection(objects), frames=sly.FrameCollection(frames),
        tags=sly.VideoTagCollection(tags),
    )


def write_project(project_dir: str | Path, records: Iterable[VideoRecord], classes: Sequence[str],
                  name: str = "MouseAct", overwrite: bool = False, link_videos: bool = False) -> Path:
    """Write ``records`` as a Supervisely video project at ``project_dir`` (atomically).

    Videos are copied into ``<dataset>/video/``. ``classes`` are the behaviour tag names (meta order).
    ``name`` is the project's name on the platform; a local project is named by its folder,
    so ``name`` is written to ``<project_dir>/mouseact_project.json`` only (the SDK ignores it).
    Nothing is left behind when anything fails; an existing ``project_dir`` needs ``overwrite``.
    ``link_videos``: hard-link the videos instead of copying them when on the same file system
    (hour-long recordings are GBs; the SDK copies when linking fails).
    """
    import supervisely as sly

    project_dir = Path(project_dir).resolve()
    classes = [str(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise AnnotationError(f"duplicate class names in {classes}")
    if MOUSE_CLASS in classes:
        # a tag and an object class may share a name in Supervisely, but it confuses users
        log.debug("behaviour class named %r, same as the object class", MOUSE_CLASS)
    records = list(records)
    seen = set()
    for rec in records:
        _check_record(rec, classes)
        _dataset_rel_path(rec.dataset)
        if rec.key in seen:
            raise AnnotationError(f"two videos named {rec.name!r} in dataset {rec.dataset!r}", rec.video_path)
        seen.add(rec.key)
    if project_dir.exists() and not overwrite:
        raise MouseActError("output project already exists (use --overwrite)", project_dir)

    meta = _make_meta(classes)
    with atomic.directory(project_dir, overwrite=overwrite) as tmp:
        project = sly.VideoProject(str(tmp), sly.OpenMode.CREATE)
        project.set_meta(meta)
        datasets = {}

        def dataset(full: str):
            full = full.strip("/")
            if full not in datasets:
                parent = full.rsplit("/", 1)[0] if "/" in full else None
                if parent:
                    dataset(parent)  # the SDK reads a nested dataset only under an existing parent
                datasets[full] = project.create_dataset(full.rsplit("/", 1)[-1], _dataset_rel_path(full))
            return datasets[full]

        with bar(len(records), desc="writing Supervisely project", unit="video") as progress:
            for rec in records:
                ds = dataset(rec.dataset)
                # _validate_item=False: the SDK would re-open every video with OpenCV; the records
                # already carry size and frame count from our own reader.
                ds.add_item_file(rec.name, str(rec.video_path), ann=_make_annotation(rec, meta),
                                 _validate_item=False, _use_hardlink=link_videos)
                progress.update(1)
        (tmp / "mouseact_project.json").write_text(json.dumps({"name": name, "classes": classes}, indent=2) + "\n")
    return project_dir


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_sdk():
    """Silence the SDK's JSON log lines while it reads: its warnings about a broken dataset
    become our one-line AnnotationError instead of an extra line on stderr."""
    from supervisely.sly_logger import logger as sly_logger

    level = sly_logger.level
    sly_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        sly_logger.setLevel(level)


def _open_project(project_dir: Path):
    import supervisely as sly

    if not project_dir.is_dir():
        raise AnnotationError("Supervisely project folder not found", project_dir)
    if not (project_dir / "meta.json").is_file():
        raise AnnotationError("not a Supervisely project (no meta.json)", project_dir)
    try:
        meta_json = json.loads((project_dir / "meta.json").read_text())
        meta = sly.ProjectMeta.from_json(meta_json)
    except Exception as exc:
        raise AnnotationError(f"meta.json is invalid: {_one_line(exc)}", project_dir / "meta.json") from None
    ptype = meta_json.get("projectType")
    if ptype not in (None, "videos"):
        raise AnnotationError(f"project type is {ptype!r}, expected 'videos'", project_dir)
    try:
        with _quiet_sdk():
            project = sly.VideoProject(str(project_dir), sly.OpenMode.READ)
    except Exception as exc:
        # the SDK says "Project is empty" also when every dataset failed to read
        _raise_dataset_errors(project_dir, set())
        raise AnnotationError(f"cannot read project: {_one_line(exc)}", project_dir) from None
    _raise_dataset_errors(project_dir, {Path(ds.directory).resolve() for ds in project.datasets})
    return project, meta


def _raise_dataset_errors(project_dir: Path, read_ok: set[Path]) -> None:
    """The SDK skips a dataset it cannot read with a log line; reopen such a dataset to raise."""
    import supervisely as sly

    for ann_dir in sorted(project_dir.rglob("ann")):
        ds_dir = ann_dir.parent.resolve()
        if not ann_dir.is_dir() or ds_dir in read_ok or ds_dir == project_dir:
            continue
        try:
            sly.VideoDataset(str(ds_dir), sly.OpenMode.READ)
        except Exception as exc:
            raise AnnotationError(f"dataset cannot be read: {_one_line(exc)}", ds_dir) from None


def _dataset_name(project_dir: Path, ds_dir: Path) -> str:
    # Not the SDK's ds.name: that splits the *absolute* path at the first folder called
    # "datasets", so a project stored under e.g. ~/datasets/ gets wrong names.
    rel = Path(ds_dir).resolve().relative_to(project_dir).parts
    return "/".join(rel[0::2])  # a/datasets/b -> a/b


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def _listing(names: Sequence[str], limit: int = 20) -> str:
    if not names:
        return "none"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _not_in_meta(ann_path: Path, meta) -> str | None:
    """Why the SDK could not read an annotation when it names a tag or object class that the
    project's meta.json lacks (the SDK says only "TagMeta is None"); None for other problems."""
    try:
        ann = json.loads(Path(ann_path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(ann, dict):
        return None

    def named(items, key):
        return [str(x[key]) for x in (items if isinstance(items, list) else []) if isinstance(x, dict) and key in x]

    objects = ann.get("objects") if isinstance(ann.get("objects"), list) else []
    tags = named(ann.get("tags"), "name") + [t for o in objects if isinstance(o, dict) for t in named(o.get("tags"), "name")]
    known_tags = [tm.name for tm in meta.tag_metas]
    missing = sorted({t for t in tags if t not in known_tags})
    if missing:
        return (f"tag {', '.join(map(repr, missing))} is used here but missing from the project's meta.json "
                f"(tags there: {_listing(known_tags)}); add it to meta.json or remove the tag")
    known_classes = [oc.name for oc in meta.obj_classes]
    missing = sorted({c for c in named(objects, "classTitle") if c not in known_classes})
    if missing:
        return (f"object class {', '.join(map(repr, missing))} is used here but missing from the project's "
                f"meta.json (classes there: {_listing(known_classes)})")
    return None


def _tag_interval(tag, n_frames: int, ann_path: Path, out_of_range: str) -> Interval | None:
    if tag.frame_range is None:
        start, end = 0, n_frames - 1  # a whole-video tag labels every frame (clip-level label)
    else:
        start, end = (int(v) for v in tag.frame_range)
    value = tag.value
    conf = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 1.0
    bad = []
    if end < start:
        bad.append("reversed")
    if start < 0 or end > n_frames - 1:
        bad.append(f"outside [0, {n_frames - 1}]")
    if not bad:
        return Interval(start, end, tag.name, conf)
    problem = f"tag {tag.name!r} frame range [{start}, {end}] is {' and '.join(bad)}"
    if out_of_range == "error":
        raise AnnotationError(problem + " (read with out_of_range='clamp' to clip it)", ann_path)
    if end < start:
        start, end = end, start
    s, e = max(start, 0), min(end, n_frames - 1)
    if s > e:
        warnings.warn(f"{ann_path}: {problem}; dropped (nothing left after clamping)", AnnotationWarning,
                      stacklevel=3)
        return None
    warnings.warn(f"{ann_path}: {problem}; clamped to [{s}, {e}]", AnnotationWarning, stacklevel=3)
    return Interval(s, e, tag.name, conf)


def _read_boxes(ann, n_frames: int) -> np.ndarray | None:
    mice = [o for o in ann.objects if o.obj_class.name == MOUSE_CLASS]
    if not mice:
        return None
    mouse_key = mice[0].key()  # several mice: the first object is "the" mouse; others ignored
    boxes = np.full((n_frames, 4), np.nan, dtype=np.float32)
    for frame in ann.frames:
        if not 0 <= frame.index < n_frames:
            continue
        for fig in frame.figures:
            if fig.video_object.key() != mouse_key:
                continue
            bb = fig.geometry.to_bbox()
            boxes[frame.index] = (bb.left, bb.top, bb.right, bb.bottom)
    return boxes


def read_project(project_dir: str | Path, known_labels: Sequence[str] | None = None,
                 out_of_range: str = "error") -> list[VideoRecord]:
    """All videos of a Supervisely video project (nested datasets included), in dataset/name order.

    Every video tag becomes an :class:`Interval` (a tag without ``frameRange`` covers the whole
    video). ``known_labels``: tag names outside it are an error naming the file and tag.
    ``out_of_range``: ``"error"`` rejects ranges outside ``[0, framesCount-1]`` or reversed;
    ``"clamp"`` clips them (reversed ones are swapped) with an :class:`AnnotationWarning`.
    fps and the actual frame count come from the video file itself (the annotation has no fps).
    """
    from mouseact.video import VideoReader

    if out_of_range not in OUT_OF_RANGE_POLICIES:
        raise ValueError(f"out_of_range must be one of {OUT_OF_RANGE_POLICIES}, not {out_of_range!r}")
    project_dir = Path(project_dir).resolve()
    project, meta = _open_project(project_dir)
    known = set(known_labels) if known_labels is not None else None
    records = []
    datasets = sorted(project.datasets, key=lambda d: _dataset_name(project_dir, Path(d.directory)))
    progress = bar(sum(len(ds.get_items_names()) for ds in datasets), desc="reading Supervisely project",
                   unit="video")
    for ds in datasets:
        ds_name = _dataset_name(project_dir, Path(ds.directory))
        for item in sorted(ds.get_items_names()):
            progress.update(1)
            ann_path = Path(ds.get_ann_path(item))
            try:
                ann = ds.get_ann(item, meta)
            except Exception as exc:
                raise AnnotationError(_not_in_meta(ann_path, meta) or f"invalid annotation: {_one_line(exc)}",
                                      ann_path) from None
            n_ann = int(ann.frames_count)
            if n_ann <= 0:
                raise AnnotationError(f"framesCount is {n_ann}", ann_path)
            intervals = []
            for tag in ann.tags:
                if known is not None and tag.name not in known:
                    raise AnnotationError(f"unknown tag {tag.name!r} (known: {', '.join(sorted(known))})", ann_path)
                iv = _tag_interval(tag, n_ann, ann_path, out_of_range)
                if iv is not None:
                    intervals.append(iv)
            video_path = Path(ds.get_item_path(item))
            if not video_path.is_file():
                raise AnnotationError(f"video {item!r} is missing from {ds_name}/video/", ann_path)
            with VideoReader(video_path) as vr:
                info = vr.info
            if info.n_frames != n_ann:
                log.warning("%s: annotation framesCount %d but the video decodes to %d frames",
                            ann_path, n_ann, info.n_frames)
            h, w = ann.img_size
            if (int(w), int(h)) != (info.width, info.height):
                raise AnnotationError(f"annotation size {w}x{h} does not match the video ({info.width}x"
                                      f"{info.height})", ann_path)
            records.append(VideoRecord(
                video_path=video_path, name=item, dataset=ds_name, fps=info.fps, n_frames=n_ann,
                width=info.width, height=info.height, intervals=sorted(intervals),
                boxes=_read_boxes(ann, n_ann),
            ))
    progress.close()
    return records


def project_classes(project_dir: str | Path) -> list[str]:
    """Behaviour names of a project: its tag metas, in meta.json order."""
    import supervisely as sly

    project_dir = Path(project_dir)
    meta_path = project_dir / "meta.json"
    if not meta_path.is_file():
        raise AnnotationError("not a Supervisely project (no meta.json)", project_dir)
    try:
        meta = sly.ProjectMeta.from_json(json.loads(meta_path.read_text()))
    except Exception as exc:
        raise AnnotationError(f"meta.json is invalid: {_one_line(exc)}", meta_path) from None
    return [tm.name for tm in meta.tag_metas]


def is_project(path: str | Path) -> bool:
    """True for a folder that looks like a Supervisely project (has ``meta.json``)."""
    return (Path(path) / "meta.json").is_file()
