"""Model bundles: a localizer + a classifier + the pipeline settings they were tuned with.

A bundle is a directory::

    pipeline.json      {"localizer": "localizer", "classifier": "classifier", "pipeline": {...}}
    localizer/         stage-1 model directory (model_card.json kind "localizer")
    classifier/        stage-2 model directory (model_card.json kind "classifier")
    detector/          optional: a trained yolo/rtdetr detector ("pipeline": {"detector_model": "detector"})

``mouseact bundle`` (:func:`make_bundle`) writes one from trained model directories.

``pipeline`` holds :class:`mouseact.inference.pipeline.PipelineConfig` values (segment length,
post-processing thresholds, ...) so a bundle carries the operating point it was validated at.
:data:`DEFAULT_BUNDLE` is the one committed to the repository and used when ``--model`` is not
given. Paths inside ``pipeline.json`` are relative to the bundle directory.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mouseact.errors import ModelError

DEFAULT_BUNDLE = Path(__file__).resolve().parent / "default"
BUNDLE_FILE = "pipeline.json"


@dataclasses.dataclass(frozen=True)
class Bundle:
    root: Path
    localizer_dir: Path | None
    classifier_dir: Path
    pipeline: dict  # PipelineConfig values

    def describe(self) -> str:
        return f"bundle {self.root} (localizer {self.localizer_dir}, classifier {self.classifier_dir})"


def _card_kind(path: Path) -> str | None:
    card = path / "model_card.json"
    if not card.is_file():
        return None
    try:
        data = json.loads(card.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data.get("kind") if isinstance(data, dict) else None


def load_bundle(model_dir: str | Path | None = None) -> Bundle:
    """Resolve ``--model``: a bundle directory, or a bare classifier directory.

    A bare classifier is paired with the default bundle's localizer and settings (stage 1 is
    class-agnostic, so any classifier can sit behind it).
    """
    root = Path(model_dir).resolve() if model_dir else DEFAULT_BUNDLE
    if not root.is_dir():
        raise ModelError("model directory not found", root)
    spec_path = root / BUNDLE_FILE
    if spec_path.is_file():
        try:
            spec = json.loads(spec_path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"{BUNDLE_FILE} is not valid JSON: {exc}", spec_path) from None
        if not isinstance(spec, dict) or "classifier" not in spec:
            raise ModelError(f"{BUNDLE_FILE} must name at least a 'classifier' directory", spec_path)
        clf = (root / spec["classifier"]).resolve()
        loc = (root / spec["localizer"]).resolve() if spec.get("localizer") else None
        pipeline = dict(spec.get("pipeline") or {})
        if pipeline.get("detector_model") and not Path(pipeline["detector_model"]).is_absolute():
            pipeline["detector_model"] = str((root / pipeline["detector_model"]).resolve())  # inside the bundle
        return Bundle(root, loc, clf, pipeline)
    if _card_kind(root) == "classifier":
        default = load_bundle(DEFAULT_BUNDLE) if (DEFAULT_BUNDLE / BUNDLE_FILE).is_file() else None
        return Bundle(root, default.localizer_dir if default else None, root,
                      dict(default.pipeline) if default else {})
    raise ModelError(f"not a model bundle (no {BUNDLE_FILE}) nor a classifier directory (no model_card.json "
                     "of kind 'classifier')", root)


def training_detector(localizer: str | Path | dict | None) -> dict:
    """The detector kind and stride whose boxes a localizer's features were computed from
    (``{"detector", "detector_stride"}``, empty when its card does not say, e.g. pose-only).
    ``localizer``: its directory, or its card already loaded."""
    if not localizer:
        return {}
    card = localizer
    if not isinstance(card, dict):
        try:
            card = json.loads((Path(localizer) / "model_card.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
    data = card.get("training_data") if isinstance(card, dict) else None
    data = data if isinstance(data, dict) else {}
    return {k: data[k] for k in ("detector", "detector_stride") if data.get(k) is not None}


def make_bundle(out: str | Path, classifier: str | Path, localizer: str | Path | None = None,
                detector: str | Path | None = None, pipeline: dict | None = None, overwrite: bool = False,
                about: str = "") -> tuple[Path, list[str]]:
    """Write a self-contained bundle: the model directories copied in, and ``pipeline.json`` with
    ``pipeline`` (PipelineConfig values). Without ``localizer`` the default bundle's (stage 1 is
    class-agnostic). The detector (``detector``: a trained yolo/rtdetr directory, or the classical
    one) and its stride default to those the localizer was trained with, so stage 1 sees the same
    kind of boxes at inference as in training. Returns ``(out, warnings)``: settings that differ from
    the localizer's training detector."""
    import shutil

    from mouseact import atomic
    from mouseact.modelcard import load as load_card

    load_card(classifier, "classifier")  # checks kind and checksums: a clear error before anything is written
    localizer = Path(localizer) if localizer else load_bundle(DEFAULT_BUNDLE).localizer_dir
    localizer_card = load_card(localizer, "localizer")
    inputs = localizer_card.get("inputs") or "video"
    if inputs != "video":  # infer gives stage 1 video features only
        raise ModelError(f"this localizer needs pose ({inputs}); `mouseact infer` has no pose input: use a localizer "
                         "trained on video, or `mouseact localize --pose`", localizer)
    sources = [Path(p).resolve() for p in (classifier, localizer, detector) if p]
    target = Path(out).resolve()
    if any(target == s or target in s.parents or s in target.parents for s in sources):
        raise ModelError("the bundle's --out must be a new folder apart from the models it copies", out)
    trained = training_detector(localizer_card)
    settings = {**trained, **dict(pipeline or {})}
    if detector is not None:
        settings["detector"] = load_card(detector, "detector")["family"]  # yolo | rtdetr
        settings["detector_model"] = "detector"
    elif settings.get("detector", "classical") != "classical" and not settings.get("detector_model"):
        raise ModelError(f"the localizer was trained on boxes of a {settings['detector']} detector: give that "
                         "detector's model directory (--detector-model), or --set detector=classical", localizer)
    warnings = [f"{k} {settings.get(k)} differs from the {trained[k]} the localizer was trained with: its features "
                "will see other boxes than in training" for k in ("detector", "detector_stride")
                if k in trained and settings.get(k) != trained[k]]
    spec = {"about": about or "Made by `mouseact bundle`. Paths are relative to this directory; 'pipeline' holds "
                              "PipelineConfig values (see `mouseact infer --show-config`).",
            "localizer": "localizer", "classifier": "classifier", "pipeline": settings}
    with atomic.directory(Path(out), overwrite=overwrite) as tmp:
        tmp = Path(tmp)
        shutil.copytree(classifier, tmp / "classifier")
        shutil.copytree(localizer, tmp / "localizer")
        if detector is not None:
            shutil.copytree(detector, tmp / "detector")
        (tmp / BUNDLE_FILE).write_text(json.dumps(spec, indent=2) + "\n")
        # everything infer checks when it loads a bundle (models, operating point, settings against the
        # classifier's behaviours, the detector): a bundle that infer would refuse is not written
        from mouseact.inference.pipeline import Predictor

        Predictor(tmp, progress_bars=False)
    return Path(out), warnings
