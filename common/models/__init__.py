"""Model bundles: a localizer + a classifier + the pipeline settings they were tuned with.

A bundle is a directory::

    pipeline.json      {"localizer": "localizer", "classifier": "classifier", "pipeline": {...}}
    localizer/         stage-1 model directory (model_card.json kind "localizer")
    classifier/        stage-2 model directory (model_card.json kind "classifier")

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
        return json.loads(card.read_text()).get("kind")
    except (OSError, json.JSONDecodeError):
        return None


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
        return Bundle(root, loc, clf, dict(spec.get("pipeline") or {}))
    if _card_kind(root) == "classifier":
        default = load_bundle(DEFAULT_BUNDLE) if (DEFAULT_BUNDLE / BUNDLE_FILE).is_file() else None
        return Bundle(root, default.localizer_dir if default else None, root,
                      dict(default.pipeline) if default else {})
    raise ModelError(f"not a model bundle (no {BUNDLE_FILE}) nor a classifier directory (no model_card.json "
                     "of kind 'classifier')", root)
