"""``mouseact postprocess``: re-run only the post-processing of a finished run, with other settings.

Researchers tune the post-processing (thresholds, minimum bout length, gap stitching, per
behaviour) after looking at the ethograms. The models' part -- decoding, detection, stage 1,
stage 2 -- does not change, so ``infer`` keeps stage 2's labelled segments before post-processing
(``candidates/<video>.json``) and the settings it used (the sidecar's ``postprocess``). This
command starts from those settings, applies ``--config``/``--set``, and writes a complete new run
folder (predictions, tables, ethograms, Supervisely project, summary) in seconds. The new folder
keeps the candidates and boxes, so it can be post-processed again. Written atomically: the output
folder appears only when every video is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mouseact import atomic, export, postprocess
from mouseact.config import load as load_config
from mouseact.classifier.heads import UNKNOWN
from mouseact.errors import AnnotationError, MouseActError
from mouseact.intervals import Interval
from mouseact.progress import bar


def read_candidates(run_dir: Path, stem: str) -> list[Interval]:
    path = export.candidates_path(run_dir, stem)
    if not path.is_file():
        raise MouseActError(f"no {export.CANDIDATES_DIR}/{stem}.json: the run predates kept candidates or was "
                            "copied without them; run `mouseact infer` again", run_dir)
    return export.read_interval_list(path)


def _read_track(run_dir: Path, stem: str) -> dict | None:
    """The run's boxes in the form ``write_video_outputs`` takes (``boxes``, ``lost``)."""
    track = export.read_track(run_dir, stem)
    return None if track is None else dict(zip(("boxes", "lost"), track))


def rerun_postprocess(pred_dir: str | Path, out_dir: str | Path, config_path: str | Path | None = None,
                      overrides: Sequence[str] = (), overwrite: bool = False, project: bool = True) -> dict:
    """Post-process every video of the run ``pred_dir`` again into the new run ``out_dir``.

    Each video starts from the settings recorded in its sidecar (defaults if none were recorded),
    then ``config_path`` (YAML) and ``overrides`` (``key=value``, keys of
    :class:`~mouseact.postprocess.PostprocessConfig`). Returns ``{"videos", "classes", "settings", "outputs"}``.
    """
    run = Path(pred_dir)
    out = Path(out_dir)
    if not run.is_dir():
        raise MouseActError("run folder not found", run)
    if out.resolve() == run.resolve():
        raise MouseActError("--out must be a new folder (the original run is kept as it is)", out)
    preds = export.read_predictions(run)
    run = run.parent if run.name == export.PREDICTIONS_DIR else run
    # everything is read and checked before anything is written
    jobs = []
    for stem, vp in preds.items():
        cfg = load_config(postprocess.PostprocessConfig, config_path, overrides, base=vp.meta.get("postprocess") or {})
        classes = vp.classes or sorted({iv.label for iv in vp.intervals})
        postprocess.validate(cfg, classes)
        candidates = read_candidates(run, stem)
        known = {*classes, *((vp.meta.get("settings") or {}).get("background_classes") or []), UNKNOWN}
        strange = sorted({iv.label for iv in candidates} - known)
        if strange and vp.classes:
            raise AnnotationError(f"segment label(s) {', '.join(strange)} are none of the run's behaviours "
                                  f"({', '.join(classes)})", export.candidates_path(run, stem))
        jobs.append((stem, vp, cfg, classes, candidates, _read_track(run, stem)))
    all_classes = list(dict.fromkeys(c for job in jobs for c in job[3]))
    summary = []
    with atomic.directory(out, overwrite=overwrite) as tmp, bar(len(jobs), "post-processing", unit="video") as pbar:
        tmp = Path(tmp).resolve()
        for stem, vp, cfg, classes, candidates, track in jobs:
            pbar.update(1)
            m = vp.meta
            info = {"fps": vp.fps, "n_frames": vp.n_frames, "path": m.get("video_path") or vp.video,
                    "width": m.get("width") or 0, "height": m.get("height") or 0}
            background = (m.get("settings") or {}).get("background_classes") or []
            intervals = postprocess.run(candidates, vp.n_frames, vp.fps, cfg, [*classes, *background],
                                        background=background)
            export.write_video_outputs(tmp, vp.video, info, intervals, track, classes, model=m.get("model"),
                                       dataset=m.get("dataset"), candidates=candidates,
                                       postprocess=cfg.model_dump(), settings=m.get("settings"))
            summary.append({"video": vp.video, "before": len(vp.intervals), "after": len(intervals)})
        outputs = export.write_batch_outputs(tmp, [], all_classes, project=project)
    return {"videos": summary, "classes": all_classes, "settings": {stem: cfg.model_dump() for stem, _, cfg, *_ in jobs},
            "outputs": {k: str(out / Path(v).resolve().relative_to(tmp)) for k, v in outputs.items()}}
