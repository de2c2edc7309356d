"""Batch runner: many videos through one Predictor, resumable, robust to a broken video.

* Input: one video, a folder of videos, or a Supervisely video project (``meta.json``).
* A video whose ``predictions/<stem>.json`` + sidecar exist is skipped (a crashed or
  interrupted run resumes where it stopped).
* A video that fails (truncated, not a video, ...) is reported and the batch goes on; the run
  ends with the list of failures and a non-zero exit.
* Nothing is created for a run in which no video succeeds (the output directory appears with
  the first finished video).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from mouseact.config import flat_settings
from mouseact.errors import MouseActError
from mouseact.video import is_video_file, list_videos


@dataclasses.dataclass(frozen=True)
class VideoJob:
    path: Path
    name: str          # output name (file name; its stem names the output files)
    dataset: str | None = None


@dataclasses.dataclass
class BatchReport:
    done: list = dataclasses.field(default_factory=list)        # VideoResult of videos run now
    skipped: list[VideoJob] = dataclasses.field(default_factory=list)
    failed: list[tuple[VideoJob, str]] = dataclasses.field(default_factory=list)  # (job, one line naming its file)
    outputs: dict = dataclasses.field(default_factory=dict)      # batch files written
    seconds: float = 0.0


def resolve_inputs(source: str | Path) -> list[VideoJob]:
    """The videos behind ``source`` with unique output names (dataset-prefixed on clashes)."""
    from mouseact import sly_io

    source = Path(source)
    if not source.exists():
        raise MouseActError("input not found", source)
    if source.is_file():
        if not is_video_file(source):
            raise MouseActError("not a video file (expected .mp4/.avi/.mov/...), a folder of videos or a "
                                "Supervisely project", source)
        return [VideoJob(source, source.name)]
    if sly_io.is_project(source):
        jobs = [VideoJob(r.video_path, r.name, r.dataset) for r in sly_io.read_project(source, out_of_range="clamp")]
    else:
        jobs = [VideoJob(p, p.name) for p in list_videos(source)]
    if not jobs:
        raise MouseActError("no videos found (looked for .mp4/.avi/.mov/... files directly inside)", source)
    stems: dict[str, int] = {}
    for j in jobs:
        stems[Path(j.name).stem] = stems.get(Path(j.name).stem, 0) + 1
    out = []
    for j in jobs:
        if stems[Path(j.name).stem] > 1:  # same name in two datasets: keep outputs apart
            prefix = (j.dataset or j.path.parent.name).replace("/", "__")
            j = dataclasses.replace(j, name=f"{prefix}__{j.name}")
        out.append(j)
    return out


def is_done(out_dir: Path, name: str) -> bool:
    from mouseact import export

    return export.prediction_path(out_dir, name).is_file() and export.meta_path(out_dir, name).is_file()


def resume_mismatch(meta: dict, settings: dict, postprocess: dict, video_key: str | None) -> list[str]:
    """Why a finished video's results (its sidecar ``meta``) are not what this run would write: another
    video file under the same name, another model or detector, other pipeline or post-processing settings.
    Empty when they match. Sidecars written before settings were recorded are checked on what they hold."""
    recorded = meta.get("settings") or {}
    if video_key is not None and recorded.get("video_key") and recorded["video_key"] != video_key:
        return [f"another video file of the same name (the finished one: {meta.get('video_path')}, "
                f"{meta.get('n_frames')} frames)"]
    now = {**flat_settings({k: v for k, v in settings.items() if k != "model"}), **flat_settings(postprocess, "postprocess.")}
    before = {**flat_settings({k: v for k, v in recorded.items() if k not in ("model", "video_key")}),
              **flat_settings(meta.get("postprocess") or {}, "postprocess.")}
    if not recorded:  # an older sidecar: the model's folder and the post-processing are all it says
        now = {"model_folder": settings.get("model"), **flat_settings(postprocess, "postprocess.")}
        before = {"model_folder": meta.get("model"), **flat_settings(meta.get("postprocess") or {}, "postprocess.")}
        if meta.get("postprocess") is None:
            before.update({k: v for k, v in now.items() if k.startswith("postprocess.")})
    return [f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(now) | set(before))
            if before.get(k) != now.get(k)]


def check_resume(jobs: list[VideoJob], out_dir: Path, settings: dict, postprocess: dict,
                 resume: bool = True, rerun_hint: str = "--no-resume") -> list[VideoJob]:
    """The jobs already finished in ``out_dir`` (none without ``resume``), after checking that the folder
    ends up made one way: each finished job must be what this run would make, and every other video in
    the folder (not run now) must have been made with this run's model and settings, or the folder's
    tables would mix them. Raises before any work, naming the videos and the differences."""
    from mouseact import export
    from mouseact.video import video_hash

    done, problems, others = [], [], []
    names = {export.video_stem(job.name) for job in jobs}
    for job in jobs:
        if not resume or not is_done(out_dir, job.name):
            continue
        try:
            meta = export.read_prediction(export.prediction_path(out_dir, job.name)).meta
        except MouseActError:
            continue  # damaged: the video is run again
        why = resume_mismatch(meta, settings, postprocess, video_hash(job.path))
        if why:
            problems.append(f"{job.name}: {'; '.join(why[:4])}{' ...' if len(why) > 4 else ''}")
        else:
            done.append(job)
    pred_dir = out_dir / export.PREDICTIONS_DIR
    for side in sorted(pred_dir.glob(f"*{export.META_SUFFIX}")) if pred_dir.is_dir() else []:
        stem = side.name[: -len(export.META_SUFFIX)]
        if stem in names:
            continue
        try:
            meta = export.read_prediction(export.prediction_path(out_dir, stem)).meta
        except MouseActError:
            continue
        why = resume_mismatch(meta, settings, postprocess, None)
        if why:
            others.append(f"{meta.get('video') or stem}: {'; '.join(why[:4])}{' ...' if len(why) > 4 else ''}")
    if problems:
        raise MouseActError(
            f"{len(problems)} finished video(s) here were made otherwise than this run would make them, e.g. "
            f"{problems[0]}{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}. Use a new output "
            f"folder, {rerun_hint} to run them again, or `mouseact postprocess` for other post-processing only",
            out_dir)
    if others:
        raise MouseActError(
            f"this folder holds {len(others)} other video(s) made otherwise than this run would make them, e.g. "
            f"{others[0]}: its tables would mix the two. Use a new output folder, or run those videos too "
            f"with {rerun_hint}", out_dir)
    return done


def run_batch(predictor, source: str | Path, out_dir: str | Path, resume: bool = True,
              log: TextIO | None = None, on_video: Callable | None = None,
              rerun_hint: str = "--no-resume") -> BatchReport:
    """Predict every video of ``source`` into ``out_dir``; see the module doc. ``rerun_hint``: how the
    caller's user turns resuming off (an option, or the container's variable), for the refusal message."""
    from mouseact import export

    log = log or sys.stderr
    out_dir = Path(out_dir)
    from mouseact.video import video_hash

    jobs = resolve_inputs(source)
    report = BatchReport()
    t0 = time.perf_counter()
    model = str(predictor.bundle.root)
    settings = predictor.run_settings()
    postprocess = predictor.config.postprocess.model_dump(mode="json")
    finished = set(check_resume(jobs, out_dir, settings, postprocess, resume, rerun_hint))
    for k, job in enumerate(jobs, 1):
        tag = f"[{k}/{len(jobs)}] {job.name}"
        if job in finished:
            print(f"{tag}: already done, skipped", file=log)
            report.skipped.append(job)
            continue
        try:
            result = predictor.predict(job.path, name=job.name, dataset=job.dataset)
            export.write_video_outputs(out_dir, job.name, result.info, result.intervals, result.track,
                                       predictor.classes, model=model, dataset=job.dataset,
                                       candidates=result.candidates, postprocess=postprocess,
                                       settings={**settings, "video_key": video_hash(job.path)})
        except MouseActError as exc:
            # the message names the file (an error about another file, e.g. the model, gets this one too)
            msg = str(exc) if exc.path == str(job.path) else f"{job.path}: {exc}"
            print(f"{tag}: FAILED: {exc}", file=log)
            report.failed.append((job, msg))
            continue
        except Exception as exc:  # a bug on one odd video must not cost the night's batch
            msg = f"internal error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            print(f"{tag}: FAILED: {msg}", file=log)
            report.failed.append((job, f"{job.path}: {msg}"))
            continue
        report.done.append(result)
        print(f"{tag}: {len(result.intervals)} bouts, {result.info.n_frames} frames, "
              f"{result.n_candidates} segments classified; {result.timing_line()}", file=log)
        if on_video is not None:
            on_video(result)
    if report.done or report.skipped:
        report.outputs = export.write_batch_outputs(out_dir, report.done, predictor.classes)
    report.seconds = time.perf_counter() - t0
    return report


def summary_table(out_dir: Path, classes) -> str:
    """Per-behaviour totals over every finished video in ``out_dir``: bouts and seconds."""
    from mouseact import export

    preds = export.read_predictions(out_dir)
    rows: dict[str, list[float]] = {c: [0, 0.0] for c in classes}
    for vp in preds.values():
        for iv in vp.intervals:
            r = rows.setdefault(iv.label, [0, 0.0])
            r[0] += 1
            r[1] += iv.length / vp.fps
    width = max([len("behaviour")] + [len(c) for c in rows])
    lines = [f"{'behaviour':<{width}}  {'bouts':>6}  {'total_s':>9}"]
    for label, (count, secs) in rows.items():
        lines.append(f"{label:<{width}}  {int(count):>6}  {secs:>9.1f}")
    total_s = sum(vp.n_frames / vp.fps for vp in preds.values())
    lines.append(f"({len(preds)} video(s), {total_s:.1f} s of video)")
    return "\n".join(lines)
