"""Learned detectors: ultralytics YOLO (v8n / 11n) and RT-DETR, built from yaml, trained offline.

Nothing here downloads anything:

* models are built from ultralytics' bundled yaml files (``yolov8n.yaml``, ``yolo11n.yaml``,
  ``rtdetr-l.yaml``) -- naming a ``.pt`` would download weights, so we never do;
* :func:`ultralytics_offline` switches off ultralytics' network use *before* it is imported
  (``YOLO_OFFLINE``, no auto-install, settings sync off, a font already where its font check
  looks), and training runs with ``amp=False`` (the AMP check downloads a model) and ``plots=False``.

A trained detector is a MouseAct model directory (:mod:`mouseact.modelcard`, kind ``detector``):
``model.yaml`` (the architecture, ``nc: 1``) + ``weights.pt`` (a plain ``state_dict``, loaded with
``torch.load(weights_only=True)``, so a tampered file cannot run code) + ``model_card.json``
(classes, input size, metrics, training source).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from mouseact.errors import ModelError
from mouseact.sly_io import MOUSE_CLASS

ARCHS = {"yolov8n": ("yolo", "yolov8n.yaml"), "yolo11n": ("yolo", "yolo11n.yaml"), "rtdetr-l": ("rtdetr", "rtdetr-l.yaml")}
WEIGHTS = "weights.pt"
ARCH_YAML = "model.yaml"


def ultralytics_offline(config_dir: str | Path | None = None):
    """Import ultralytics with every network path switched off; returns the module.

    ``YOLO_CONFIG_DIR`` (where ultralytics keeps settings.json and looks for fonts) defaults to
    ``~/.cache/mouseact/ultralytics`` (``$XDG_CACHE_HOME`` respected) unless the user set it. It must exist before the import.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if config_dir is not None:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    else:
        from mouseact.cachedir import user_cache_dir

        os.environ.setdefault("YOLO_CONFIG_DIR", str(user_cache_dir("ultralytics")))
    font_dir = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    font = font_dir / "Arial.ttf"
    if not font.exists():
        # ultralytics' font check ignores YOLO_OFFLINE and would download Arial.ttf; any TTF will do
        import matplotlib

        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    import ultralytics
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync", False):
        SETTINGS.update({"sync": False})
    return ultralytics


def arch_family(arch: str) -> str:
    if arch not in ARCHS:
        raise ModelError(f"unknown detector architecture {arch!r} (choose from {', '.join(ARCHS)})")
    return ARCHS[arch][0]


def build_model(arch: str, nc: int = 1):
    """A fresh (random-weight) ultralytics model object from its bundled yaml."""
    ultralytics_offline()
    family = arch_family(arch)
    from ultralytics import RTDETR, YOLO

    cls = RTDETR if family == "rtdetr" else YOLO
    return cls(ARCHS[arch][1])


class UltralyticsDetector:
    """A trained YOLO / RT-DETR model directory behind the ``Detector`` interface (stateless).

    ``detect`` keeps the single best box per frame (one mouse per video, as the tracker expects)
    above ``conf``; frames with no box above it get a NaN row.
    """

    def __init__(self, model, card: dict, model_dir: Path, conf: float = 0.25, imgsz: int | None = None,
                 batch: int = 16):
        self.model = model
        self.card = card
        self.model_dir = model_dir
        self.kind = card["family"]
        self.imgsz = int(imgsz or card["input_size"])
        self.batch = batch
        self.config = {"kind": self.kind, "arch": card["arch"], "model": str(model_dir), "conf": conf,
                       "imgsz": self.imgsz}
        self.conf = conf

    @classmethod
    def load(cls, model_dir: str | Path, expect_kind: str | None = None, conf: float = 0.25, **kw):
        from mouseact import modelcard

        model_dir = Path(model_dir)
        card = modelcard.load(model_dir, "detector")
        modelcard.require_listed(card, [WEIGHTS, ARCH_YAML], model_dir)
        family = card.get("family")
        if family not in ("yolo", "rtdetr"):
            raise ModelError(f"detector family {family!r} is not a learned detector", model_dir)
        if expect_kind and family != expect_kind:
            raise ModelError(f"this is a {family} detector, not {expect_kind} (use --detector {family})", model_dir)
        classes = card.get("classes")
        if classes != [MOUSE_CLASS]:
            raise ModelError(f"detector classes are {classes}, expected ['{MOUSE_CLASS}']", model_dir)
        model = load_weights(model_dir, card)
        return cls(model, card, model_dir, conf=conf, **kw)

    def reset(self) -> None:  # stateless
        pass

    def detect(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        t = len(frames)
        boxes = np.full((t, 4), np.nan, np.float32)
        scores = np.zeros(t, np.float32)
        for s in range(0, t, self.batch):
            # ultralytics expects BGR numpy images (OpenCV convention)
            batch = [np.ascontiguousarray(f[..., ::-1]) for f in frames[s: s + self.batch]]
            results = self.model.predict(batch, imgsz=self.imgsz, conf=self.conf, verbose=False, device="cpu")
            for j, r in enumerate(results):
                if r.boxes is None or len(r.boxes) == 0:
                    continue
                k = int(r.boxes.conf.argmax())
                boxes[s + j] = r.boxes.xyxy[k].cpu().numpy()
                scores[s + j] = float(r.boxes.conf[k])
        return boxes, scores


def load_weights(model_dir: Path, card: dict):
    """Rebuild the architecture from ``model.yaml`` and load ``weights.pt`` with ``weights_only=True``."""
    import torch
    import yaml

    ultralytics_offline()
    from ultralytics import RTDETR, YOLO
    from ultralytics.nn.tasks import DetectionModel, RTDETRDetectionModel

    arch_cfg = yaml.safe_load((model_dir / ARCH_YAML).read_text())
    family = card["family"]
    net_cls = RTDETRDetectionModel if family == "rtdetr" else DetectionModel
    try:
        net = net_cls(cfg=arch_cfg, nc=len(card["classes"]), verbose=False)
        state = torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:  # wrong shapes, not a state_dict, pickle refused by weights_only
        raise ModelError(f"cannot load the detector weights: {str(exc).splitlines()[0][:200]}", model_dir) from None
    net.names = {i: c for i, c in enumerate(card["classes"])}
    net.eval()
    # an ultralytics Model built from the bundled yaml (offline), then given our network: the
    # Model API only accepts file paths, and a .pt path would be loaded with weights_only=False
    wrapper = (RTDETR if family == "rtdetr" else YOLO)(ARCHS[card["arch"]][1])
    net.args = {**dict(getattr(wrapper.model, "args", {})), "imgsz": card["input_size"]}
    net.task = "detect"
    wrapper.model = net
    wrapper.overrides["imgsz"] = card["input_size"]
    return wrapper
