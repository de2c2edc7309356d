"""The stage-2 classifier artifact: embedder config + standardiser + heads + calibration.

Per class, the head is chosen by how many labelled clips (segments) the class has
(``head="auto"``): classes with at least ``min_clips_for_mlp`` go to the MLP, the others are
few-shot classes scored by their prototypes. Clips, not windows, are counted: the windows of
one clip are near-copies, and an MLP fitted to the windows of one or two clips per class
learns those clips (on B-SOiD, trained on one animal, it was less accurate on the other
animal than the prototypes and badly over-confident: ECE 0.64 vs 0.07, bench 06). Scores combine into one distribution: a few-shot class gets its
prototype probability, the MLP classes share the rest in the MLP's proportions. The user can
force ``mlp``, ``prototype`` (class means) or ``kmeans`` (``kmeans_k`` centroids per class)
for all classes. Open set: a segment farther than every class radius (distance to the nearest
centroid of each class, in standardised units) is labelled ``"unknown"``.

Standardisation (``standardise``): ``train`` z-scores every embedding by the training data's
statistics; ``per_video`` z-scores each video by its own statistics (training: each group —
animal/video — and each augmented copy of it; inference: the caller passes the embeddings of the
whole video as ``video_embeddings``, else the pooled training statistics are used). Per-video
scaling removes what differs between animals/rigs as a whole (size, coat contrast, frame rate of
motion) and keeps how a segment differs from the rest of its video.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from mouseact import modelcard
from mouseact.classifier.embedders import Embedder, make_embedder
from mouseact.classifier.heads import (
    UNKNOWN,
    MLPHead,
    PrototypeHead,
    Standardizer,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from mouseact.config import Config
from mouseact.crop import CropPolicy
from mouseact.errors import ModelError, MouseActError
from pydantic import Field

KIND = "classifier"
WEIGHTS = "weights.npz"


class HeadConfig(Config):
    head: Literal["auto", "mlp", "prototype", "kmeans"] = Field(
        "auto", description="auto = MLP for classes with many labelled clips, prototypes for the rest"
    )
    min_clips_for_mlp: int = Field(
        5, ge=1, description="auto: classes with fewer labelled clips are few-shot"
    )
    few_shot_classes: list[str] = Field(
        default_factory=list, description="auto: behaviours always scored by prototypes (user's choice)"
    )
    kmeans_k: int = Field(3, ge=1, description="centroids per class for head=kmeans")
    few_shot_head: Literal["prototype", "kmeans"] = Field(
        "prototype", description="auto: how few-shot classes are scored (class means or kmeans_k centroids)"
    )
    hidden: int = Field(64, ge=4, description="MLP hidden units")
    dropout: float = Field(0.3, ge=0, lt=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-3, ge=0)
    max_epochs: int = Field(300, ge=1)
    patience: int = Field(30, ge=1, description="early stopping: epochs without a better validation loss")
    input_noise: float = Field(0.1, ge=0, description="Gaussian noise on standardised inputs while training")
    open_set: bool = Field(True, description="label segments far from every class as 'unknown'")
    radius_margin: float = Field(
        2.0, gt=0, description="open set: class radius = 95th pct own distance x this"
    )
    standardise: Literal["train", "per_video", "per_video_mean"] = Field(
        "train",
        description="train = z-score embeddings by the training data's statistics; per_video = by the "
        "mean and std of each video's own embeddings (training: per group; inference: pass the "
        "embeddings of the whole video, see Classifier.predict_proba); per_video_mean = subtract each "
        "video's mean, divide by the training videos' pooled std",
    )
    min_video_rows: int = Field(
        8, ge=2, description="per_video: fewer rows than this fall back to the training statistics"
    )
    seed: int = 0


def per_group_z(x: np.ndarray, groups: np.ndarray, scale: bool = True) -> np.ndarray:
    """Each group's rows minus that group's own mean and (``scale``) divided by its own standard
    deviation."""
    out = np.empty_like(np.asarray(x, np.float32))
    for g in np.unique(groups):
        sel = groups == g
        if scale:
            out[sel] = Standardizer.fit(x[sel])(x[sel])
        else:
            out[sel] = x[sel] - x[sel].mean(0)
    return out


class Classifier:
    def __init__(
        self,
        classes: list[str],
        embedder: Embedder,
        standardizer: Standardizer,
        mlp: MLPHead | None,
        mlp_classes: list[int],
        prototypes: PrototypeHead,
        temperature: float,
        config: HeadConfig,
        crop_policy: CropPolicy,
        card: dict | None = None,
    ):
        self.classes = list(classes)
        self.embedder = embedder
        self.standardizer = standardizer
        self.mlp = mlp
        self.mlp_classes = list(mlp_classes)
        self.prototypes = prototypes
        self.temperature = float(temperature)
        self.config = config
        self.crop_policy = crop_policy
        self.card = card or {}

    # -- inference -----------------------------------------------------------------------------
    @property
    def few_shot_classes(self) -> list[int]:
        return [c for c in range(len(self.classes)) if c not in self.mlp_classes]

    @property
    def frame_rate(self) -> float | None:
        """Frames per second the training clips were sampled at (None: a model from before frame
        rates were recorded, which takes every frame)."""
        rate = self.card.get("frame_rate")
        return float(rate) if rate else None

    def frame_step(self, video_fps: float | None) -> int:
        """Take every n-th frame of a ``video_fps`` video so a window spans the time it spanned in
        training (:func:`mouseact.classifier.data.frame_step`)."""
        from mouseact.classifier.data import frame_step

        return frame_step(video_fps, self.frame_rate)

    @property
    def needs_video_statistics(self) -> bool:
        """True when :meth:`predict` should get ``video_embeddings``: the embeddings of 16-frame
        windows (``embedder.n_frames``) spread over the whole video, as the model was trained."""
        return self.config.standardise != "train"

    def _check(self, embeddings, video_embeddings=None) -> np.ndarray:
        x = np.asarray(embeddings, np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.standardizer.mean):
            raise MouseActError(
                f"embeddings must be (N, {len(self.standardizer.mean)}) from this model's "
                f"embedder, got {tuple(x.shape)}"
            )
        return self.standardizer_for(x, video_embeddings)(x)

    def standardizer_for(self, x: np.ndarray, video_embeddings=None) -> Standardizer:
        """The z-scoring applied to ``x``: the training statistics, or (``standardise=per_video``)
        the statistics of ``video_embeddings`` (all segment embeddings of the video ``x`` comes
        from). Without ``video_embeddings``, or with fewer than ``min_video_rows`` rows, a
        per-video model falls back to the training statistics (pooled over its training videos)."""
        if self.config.standardise == "train" or video_embeddings is None:
            return self.standardizer
        v = np.asarray(video_embeddings, np.float32)
        if v.ndim != 2 or v.shape[1] != x.shape[1]:
            raise MouseActError(f"video_embeddings must be (M, {x.shape[1]}), got {tuple(v.shape)}")
        if len(v) < self.config.min_video_rows:
            return self.standardizer
        if self.config.standardise == "per_video_mean":
            return Standardizer(v.mean(0), self.standardizer.scale)
        return Standardizer.fit(v)

    def predict_proba(self, embeddings, video_embeddings=None) -> np.ndarray:
        """Calibrated class probabilities ``(N, C)`` in the order of ``classes``.

        ``video_embeddings`` matters only for a ``standardise=per_video`` model: the embeddings of
        every segment of the video ``embeddings`` come from (e.g. embed all candidate segments of
        a video, then ``predict(emb, video_embeddings=emb)``); without it the training statistics
        are used (see :meth:`standardizer_for`)."""
        z = self._check(embeddings, video_embeddings)
        n_cls = len(self.classes)
        proto = softmax(self.prototypes.logits(z, n_cls))
        if self.mlp is None:
            return proto.astype(np.float32)
        p_mlp = softmax(self.mlp.logits(z) / self.temperature)  # over mlp_classes
        out = np.zeros((len(z), n_cls), np.float32)
        few = self.few_shot_classes
        few_mass = proto[:, few].sum(1, keepdims=True) if few else np.zeros((len(z), 1))
        out[:, few] = proto[:, few]
        out[:, self.mlp_classes] = (1 - few_mass) * p_mlp
        return out

    def predict(self, embeddings, video_embeddings=None) -> tuple[list[str], np.ndarray]:
        """Best label and its probability per row; ``"unknown"`` for open-set outliers.
        ``video_embeddings``: as in :meth:`predict_proba`."""
        z_raw = np.asarray(embeddings, np.float32)
        p = self.predict_proba(z_raw, video_embeddings)
        labels = [self.classes[i] for i in p.argmax(1)]
        conf = p.max(1)
        if self.config.open_set and len(p):
            z = self.standardizer_for(z_raw, video_embeddings)(z_raw)
            unknown = self.prototypes.is_unknown(z, len(self.classes))
            labels = [UNKNOWN if u else lab for lab, u in zip(labels, unknown)]
        return labels, conf

    def class_index(self, label: str) -> int:
        if label not in self.classes:
            raise MouseActError(
                f"class {label!r} is not known to this model (it knows: {', '.join(self.classes)})"
            )
        return self.classes.index(label)

    # -- training --------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        classes: list[str],
        embedder: Embedder,
        crop_policy: CropPolicy,
        config: HeadConfig | None = None,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        clip_ids: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        groups_val: np.ndarray | None = None,
    ) -> tuple[Classifier, dict]:
        """``clip_ids`` (one per row of ``x``) says which windows come from the same labelled clip;
        without it every row counts as its own clip. ``groups`` / ``groups_val`` (one per row of
        ``x`` / ``x_val``: the video each row comes from) are needed for ``standardise=per_video``:
        each video is z-scored by the statistics of all its rows (training and validation)."""
        config = config or HeadConfig()
        n_cls = len(classes)
        counts = np.bincount(y, minlength=n_cls)
        if (counts == 0).any():
            missing = [classes[i] for i in np.nonzero(counts == 0)[0]]
            raise MouseActError(f"no training windows for class(es): {', '.join(missing)}")
        std = Standardizer.fit(x)
        has_val = x_val is not None and len(x_val) > 0
        if config.standardise != "train":
            g = np.asarray(groups if groups is not None else np.zeros(len(x), int)).astype(str)
            n_val = len(x_val) if has_val else 0
            gv = np.asarray(groups_val if groups_val is not None else np.zeros(n_val, int)).astype(str)
            if len(g) != len(x) or len(gv) != n_val:
                raise MouseActError("groups must give one video per embedding row")
            scale = config.standardise == "per_video"
            z_all = per_group_z(
                np.concatenate([x, x_val]) if has_val else x, np.concatenate([g, gv]), scale=scale
            )
            if not scale:  # the pooled spread of the centred videos is the model's fixed scale
                std = Standardizer(std.mean, Standardizer.fit(z_all).scale)
                z_all = z_all / std.scale
            z, zv = z_all[: len(x)], (z_all[len(x) :] if has_val else None)
        else:
            z = std(x)
            zv = std(x_val) if has_val else None
        kmeans = config.head == "kmeans" or (config.head == "auto" and config.few_shot_head == "kmeans")
        k = config.kmeans_k if kmeans else 1
        protos = PrototypeHead.fit(z, y, n_cls, k=k, radius_margin=config.radius_margin, seed=config.seed)
        if config.head == "mlp":
            mlp_classes = list(range(n_cls))
        elif config.head == "auto":
            ids = np.arange(len(y)) if clip_ids is None else np.asarray(clip_ids)
            n_clips = [len(np.unique(ids[y == c])) for c in range(n_cls)]
            unknown = set(config.few_shot_classes) - set(classes)
            if unknown:
                raise MouseActError(
                    f"few_shot_classes: {', '.join(sorted(unknown))} not in the data "
                    f"(behaviours: {', '.join(classes)})"
                )
            mlp_classes = [
                c
                for c in range(n_cls)
                if n_clips[c] >= config.min_clips_for_mlp and classes[c] not in config.few_shot_classes
            ]
            if len(mlp_classes) < 2:
                mlp_classes = []
        else:
            mlp_classes = []
        info = {
            "head": config.head,
            "windows_per_class": {classes[c]: int(counts[c]) for c in range(n_cls)},
            "mlp_classes": [classes[c] for c in mlp_classes],
        }
        mlp, temperature = None, 1.0
        if mlp_classes:
            remap = {c: i for i, c in enumerate(mlp_classes)}
            sel = np.isin(y, mlp_classes)
            y_m = np.array([remap[c] for c in y[sel]])
            if zv is not None:
                vsel = np.isin(y_val, mlp_classes)
                zv_m, yv_m = zv[vsel], np.array([remap[c] for c in y_val[vsel]], dtype=int)
            else:
                zv_m, yv_m = None, None
            mlp, fit_info = MLPHead.fit(
                z[sel],
                y_m,
                len(mlp_classes),
                zv_m,
                yv_m,
                hidden=config.hidden,
                dropout=config.dropout,
                lr=config.lr,
                weight_decay=config.weight_decay,
                max_epochs=config.max_epochs,
                patience=config.patience,
                seed=config.seed,
                input_noise=config.input_noise,
            )
            info["mlp"] = fit_info
            if zv_m is not None and len(zv_m):
                logits = mlp.logits(zv_m)
                temperature = fit_temperature(logits, yv_m)
                info["calibration"] = {
                    "temperature": round(temperature, 4),
                    "val_ece_before": round(expected_calibration_error(softmax(logits), yv_m), 4),
                    "val_ece_after": round(
                        expected_calibration_error(softmax(logits / temperature), yv_m), 4
                    ),
                }
        model = cls(classes, embedder, std, mlp, mlp_classes, protos, temperature, config, crop_policy)
        return model, info

    @property
    def background_classes(self) -> list[str]:
        """Classes that are no behaviour (a preprocess project's idle clips): stage 2 may label a segment
        with one, and post-processing then drops it (it competes with behaviours on overlap first)."""
        return [c for c in (getattr(self, "card", None) or {}).get("background_classes") or [] if c in self.classes]

    @property
    def behaviours(self) -> list[str]:
        """The classes that are behaviours: what the outputs list."""
        return [c for c in self.classes if c not in self.background_classes]

    # -- persistence -----------------------------------------------------------------------------
    def save(self, out_dir: str | Path, extra_card: dict | None = None) -> Path:
        arrays = {**self.standardizer.arrays("std_"), **self.prototypes.arrays("proto_")}
        if self.mlp is not None:
            arrays.update(self.mlp.arrays("mlp_"))
        card = {
            "classes": self.classes,
            "embedder": self.embedder.config,
            "crop_policy": self.crop_policy.to_dict(),
            "head": {
                **self.config.model_dump(),
                "mlp_classes": [self.classes[c] for c in self.mlp_classes],
                "temperature": self.temperature,
            },
            "embedding_dim": len(self.standardizer.mean),
            **(extra_card or {}),
        }

        def write(tmp: Path) -> None:
            np.savez(tmp / WEIGHTS, **arrays)

        modelcard.save(out_dir, KIND, card, write)
        self.card = modelcard.load(out_dir, KIND)
        return Path(out_dir)

    @classmethod
    def load(cls, model_dir: str | Path | None = None, **embedder_overrides) -> Classifier:
        """Load a classifier directory (default: the committed model). ``embedder_overrides``
        change run-time-only embedder settings (e.g. ``model_path``, ``device`` for Qwen)."""
        model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        card = modelcard.load(model_dir, KIND)
        modelcard.require_listed(card, [WEIGHTS], model_dir)
        try:
            classes = list(card["classes"])
            emb_cfg = dict(card["embedder"])
            head_cfg = dict(card["head"])
        except KeyError as exc:
            raise ModelError(f"model card lacks {exc.args[0]!r}", model_dir) from None
        mlp_names = head_cfg.pop("mlp_classes", [])
        temperature = head_cfg.pop("temperature", 1.0)
        try:
            w = np.load(model_dir / WEIGHTS)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {WEIGHTS}: {exc}", model_dir) from None
        kind = emb_cfg.pop("kind")
        if embedder_overrides:
            emb_cfg.update(_checked_overrides(kind, emb_cfg, embedder_overrides, model_dir))
        embedder = make_embedder(kind, **emb_cfg)
        std = Standardizer(w["std_mean"], w["std_scale"])
        protos = PrototypeHead(
            w["proto_centroids"], w["proto_centroid_class"], w["proto_radius"], float(w["proto_tau"])
        )
        mlp = None
        if mlp_names:
            mlp = MLPHead({k[4:]: w[k] for k in ("mlp_w1", "mlp_b1", "mlp_w2", "mlp_b2")})
        return cls(
            classes,
            embedder,
            std,
            mlp,
            [classes.index(c) for c in mlp_names],
            protos,
            temperature,
            HeadConfig(**head_cfg),
            CropPolicy.from_dict(card.get("crop_policy")),
            card,
        )


def _checked_overrides(kind: str, card_config: dict, overrides: dict, model_dir: Path) -> dict:
    """Run-time embedder settings checked against the model's embedder kind, through the config
    class ``train classifier --embedder-set`` validates with: a one-line error instead of a
    pydantic traceback, e.g. for ``--model-path`` given to a model whose embedder loads no weights."""
    from mouseact import config as cfgmod
    from mouseact.classifier.embedders import embedder_config_model

    model = embedder_config_model(kind)
    unknown = sorted(k for k in overrides if k not in model.model_fields)
    if unknown:
        hint = (" (--model-path is only for qwen/hf models, which load local weights)"
                if "model_path" in unknown else "")
        raise MouseActError(f"the model's {kind} embedder has no setting {', '.join(unknown)}{hint}", model_dir)
    base = {k: v for k, v in card_config.items() if k in model.model_fields}
    try:
        cfgmod.load(model, None, [], base={**base, **overrides})
    except MouseActError as exc:
        raise MouseActError(str(exc), model_dir) from None
    return dict(overrides)


DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default" / "classifier"
