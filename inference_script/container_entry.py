"""Entry of the docker-compose ``inference`` container: batch inference from environment variables.

    MODEL_DIR     model bundle directory (pipeline.json + localizer/ + classifier/); unset or empty
                  = the embedded default bundle
    INPUT         a video, a folder of videos or a Supervisely video project
    OUTPUT        output directory (created; re-running resumes: finished videos are skipped)
    DETECTOR_URL  optional: use the detector service (e.g. http://detector:8001) for stage 0; the
                  entry waits until its /health is 200
    MOUSEACT_SET  optional: config overrides, ``key=value`` separated by spaces
                  (e.g. ``postprocess.threshold=0.5 detector_stride=2``)
    MOUSEACT_RESUME  optional: ``0`` runs videos already finished in OUTPUT again (default ``1``: skip
                  them, after checking they were made with this model and these settings)
    INPUT_NAME    optional: the host path compose mounted as INPUT; when INPUT is one video its
                  outputs are named after this file (the mount point has no name of its own)

Runs the same batch runner as ``mouseact infer`` (resumable, continues past a broken video) and
exits 0 when every video succeeded, 2 on any failure (listed with its error). The variables are
read when ``main()`` runs, never at import. Outside Docker the same command works:
``MODEL_DIR=... INPUT=... OUTPUT=... python -m mouseact.inference.container_entry``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(environ: dict[str, str] | None = None) -> int:
    from mouseact.errors import MouseActError

    env = dict(os.environ if environ is None else environ)
    try:
        return _run(env)
    except MouseActError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(env: dict[str, str]) -> int:
    from mouseact.errors import MouseActError

    missing = [k for k in ("INPUT", "OUTPUT") if not env.get(k, "").strip()]
    if missing:
        raise MouseActError(f"set {' and '.join(missing)} (see inference_script/.env and README.md)")
    source, out = Path(env["INPUT"]), Path(env["OUTPUT"])
    resume_text = env.get("MOUSEACT_RESUME", "1").strip().lower() or "1"
    if resume_text not in ("0", "1", "false", "true", "no", "yes", "off", "on"):
        raise MouseActError(f"MOUSEACT_RESUME must be 1 (skip finished videos) or 0 (run them again), "
                            f"got {env['MOUSEACT_RESUME']!r}")
    resume = resume_text in ("1", "true", "yes", "on")
    named = _named_input(source, env.get("INPUT_NAME", "").strip())
    try:
        return _run_batch_job(env, named, out, resume)
    finally:
        if named != source:  # the link made for a single mounted video
            import shutil

            shutil.rmtree(named.parent, ignore_errors=True)


def _run_batch_job(env: dict[str, str], source: Path, out: Path, resume: bool) -> int:
    from mouseact.inference.batch import resolve_inputs, run_batch, summary_table
    from mouseact.inference.pipeline import Predictor

    model_dir = env.get("MODEL_DIR", "").strip() or None
    detector_url = env.get("DETECTOR_URL", "").strip() or None
    overrides = env.get("MOUSEACT_SET", "").split()
    jobs = resolve_inputs(source)  # bad INPUT fails before models load
    detector = None
    if detector_url:
        from mouseact.serve.client import RemoteDetector, wait_healthy

        print(f"waiting for the detector service at {detector_url} ...", file=sys.stderr, flush=True)
        wait_healthy(detector_url, timeout=float(env.get("DETECTOR_WAIT_S", "300")))
        detector = RemoteDetector(detector_url)
    t0 = time.perf_counter()
    predictor = Predictor(model_dir, detector=detector, overrides=overrides)
    print(f"model: {predictor.bundle.describe()}; {len(predictor.classes)} behaviours; "
          f"detector: {detector or predictor.config.detector}; {len(jobs)} video(s) in {source}",
          file=sys.stderr, flush=True)
    report = run_batch(predictor, source, out, resume=resume, rerun_hint="MOUSEACT_RESUME=0")
    if report.done or report.skipped:
        print(summary_table(out, predictor.classes))
        print(f"outputs: {out} in {time.perf_counter() - t0:.1f} s")
    if report.failed:
        print(f"{len(report.failed)} of {len(jobs)} video(s) failed:", file=sys.stderr)
        for job, err in report.failed:
            print(f"  {err}", file=sys.stderr)  # names the file (run_batch)
        return 2
    return 0


def _named_input(source: Path, input_name: str) -> Path:
    """A single video mounted at a path without its name (compose: ``/data/input``) is given its host
    file name through a symbolic link, so the outputs are named after the video. Anything else as is."""
    from mouseact.video import is_video_file

    if not source.is_file() or is_video_file(source) or not input_name:
        return source
    name = Path(input_name.replace("\\", "/")).name
    if not is_video_file(Path(name)):
        return source  # resolve_inputs says what is wrong with it
    import tempfile

    link = Path(tempfile.mkdtemp(prefix="mouseact-input-")) / name
    link.symlink_to(source.resolve())
    return link


if __name__ == "__main__":
    sys.exit(main())
