"""The stage-1 model: windowed per-frame features → actionness in [0, 1] → proposals.

The temporal context comes from the features, not from the estimator: every base feature is
averaged over centred windows of a few lengths (in seconds, so frame rate does not matter),
its local variability is added, and its deviation from the whole video's median (a mouse
that is always fidgety, or a camera with more noise, shifts its own baseline). A linear
model or gradient boosting then scores each frame independently. Estimators are chosen by
measurement (docs/benchmarks/05-localizer.md).

Inputs (card ``inputs``): ``video`` (the streaming video features), ``video+pose`` (video
features then pose features, concatenated per frame) or ``pose`` (pose features alone, no
video needed). A model trained with pose records ``pose_feature_names`` and the pose
format/animals/bodyparts it saw, and refuses features without pose (and the reverse).

Storage: the logistic model is plain numbers in ``logreg.npz`` (no pickle); gradient
boosting is ``hgb.joblib`` (a pickle, guarded by the card's SHA-256 like every model file).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mouseact import modelcard
from mouseact.errors import ModelError
from mouseact.intervals import Interval
from mouseact.localizer.features import FeatureConfig, FeatureExtractor
from mouseact.localizer.proposals import ProposalConfig, propose

KIND = "localizer"
INPUTS = ("video", "video+pose", "pose")
DEFAULT_WINDOWS_S = (0.33, 1.0, 3.0)
REFINE_FILE = "refine_logreg.npz"  # the optional short-window boundary model (card "refine")


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def window_features(features: np.ndarray, fps: float, windows_s: Sequence[float] = DEFAULT_WINDOWS_S,
                    relative: bool = True) -> np.ndarray:
    """``(N, F)`` per-frame features → ``(N, F * (len(windows) + 2 + relative))`` with temporal context.

    Per base feature: centred means over each window, the standard deviation over the middle
    window, (``relative``) the middle-window mean minus the video median, and short minus long
    mean. ``relative`` makes a frame's score depend on the rest of the video: where the mouse is
    active most of the time, its median is an action's level and actions look ordinary.
    """
    from scipy.ndimage import uniform_filter1d

    x = _signed_log(np.nan_to_num(np.asarray(features, np.float64), nan=0.0, posinf=0.0, neginf=0.0))
    n = len(x)
    if n == 0:
        return np.zeros((0, x.shape[1] * (len(windows_s) + 2 + bool(relative))), np.float32)
    means = []
    for w in windows_s:
        size = max(1, int(round(w * fps)))
        means.append(uniform_filter1d(x, size=size, axis=0, mode="nearest"))
    mid = means[len(means) // 2]
    size = max(1, int(round(windows_s[len(windows_s) // 2] * fps)))
    sq = uniform_filter1d(x * x, size=size, axis=0, mode="nearest")
    std = np.sqrt(np.maximum(sq - mid * mid, 0.0))
    contrast = means[0] - means[-1]
    rel = [mid - np.median(x, axis=0, keepdims=True)] if relative else []
    return np.concatenate(means + [std, *rel, contrast], axis=1).astype(np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def without(features: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """``features`` with the given columns set to 0: what the estimator sees (see ``ignore_features``)."""
    if not len(columns):
        return features
    out = np.array(features, dtype=np.float32, copy=True)
    out[:, list(columns)] = 0.0
    return out


def logits_of(estimator, features: np.ndarray, fps: float, windows_s: Sequence[float],
              ignored: Sequence[int] = (), relative: bool = True) -> np.ndarray:
    """The estimator's per-frame logit of the windowed features (before any centring)."""
    return estimator.decision(window_features(without(features, ignored), fps, windows_s, relative))


def actionness_of(estimator, features: np.ndarray, fps: float, windows_s: Sequence[float],
                  centre: float | None, ignored: Sequence[int] = (), relative: bool = True,
                  resting_level: float = 0.0) -> np.ndarray:
    """Per-frame actionness; with ``centre`` = q the logit is shifted so that the video's q-quantile
    logit lands on ``resting_level`` (the training videos' typical q-quantile, so scores keep the
    scale they were trained on; 0 for models before session 4).

    Why centre: the same model gives a light mouse on a light floor systematically higher
    scores than a black one (measured: out-of-animal, the share of frames needed for 0.95
    segment coverage drops from 0.67 to 0.49 with centring). Why a low quantile (0.1) and not
    the median (0.5, models before 2026-11-22 session 4): the shift should be the animal's
    *resting* level. The median assumes actions fill less than half of the video; in a video
    where the mouse is active 60 % of the time the median is an action's level, and half of the
    actions fell below the threshold (coverage recall 0.70 / 0.54 cross-animal; 0.00 on videos
    that are all action, docs/benchmarks/05b-localizer-mix.md). q = 0.1 assumes the mouse rests in
    at least a tenth of the video. ``None`` = no shift.
    """
    z = logits_of(estimator, features, fps, windows_s, ignored, relative)
    if centre is not None and len(z):
        z = z - np.quantile(z, centre) + resting_level
    return _sigmoid(z).astype(np.float32)


def resting_level(estimator, videos: Sequence[tuple[np.ndarray, float]], windows_s: Sequence[float],
                  centre: float, ignored: Sequence[int] = (), relative: bool = True) -> float:
    """Median over training videos ``(features, fps)`` of their ``centre``-quantile logit."""
    levels = [np.quantile(logits_of(estimator, f, fps, windows_s, ignored, relative), centre)
              for f, fps in videos if len(f)]
    return float(np.median(levels)) if levels else 0.0


class LogisticActionness:
    """Standardised logistic regression; stored as plain arrays."""

    file = "logreg.npz"

    def __init__(self, mean=None, scale=None, coef=None, intercept=0.0):
        self.mean, self.scale, self.coef, self.intercept = mean, scale, coef, intercept

    def fit(self, x: np.ndarray, y: np.ndarray, c: float = 0.1, seed: int = 0) -> LogisticActionness:
        from sklearn.linear_model import LogisticRegression

        self.mean = x.mean(0)
        self.scale = x.std(0) + 1e-6
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
        lr.fit((x - self.mean) / self.scale, y)
        self.coef, self.intercept = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
        return self

    def decision(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(self.decision(x))

    def save(self, d: Path, name: str | None = None) -> None:
        np.savez(d / (name or self.file), mean=self.mean, scale=self.scale, coef=self.coef,
                 intercept=np.array([self.intercept]))

    @classmethod
    def load(cls, d: Path, name: str | None = None) -> LogisticActionness:
        z = np.load(d / (name or cls.file), allow_pickle=False)
        return cls(z["mean"], z["scale"], z["coef"], float(z["intercept"][0]))


class BoostedActionness:
    """sklearn HistGradientBoosting on the windowed features (balanced sample weights)."""

    file = "hgb.joblib"

    def __init__(self, model=None):
        self.model = model

    def fit(self, x: np.ndarray, y: np.ndarray, max_iter: int = 200, seed: int = 0) -> BoostedActionness:
        from sklearn.ensemble import HistGradientBoostingClassifier

        pos = max(y.mean(), 1e-6)
        w = np.where(y > 0, 0.5 / pos, 0.5 / max(1 - pos, 1e-6))
        self.model = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.05, max_leaf_nodes=15,
                                                    min_samples_leaf=40, l2_regularization=1.0,
                                                    random_state=seed)
        self.model.fit(x, y, sample_weight=w)
        return self

    def decision(self, x: np.ndarray) -> np.ndarray:
        return self.model.decision_function(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)[:, 1]

    def save(self, d: Path) -> None:
        import joblib

        joblib.dump(self.model, d / self.file)

    @classmethod
    def load(cls, d: Path) -> BoostedActionness:
        import joblib

        return cls(joblib.load(d / cls.file))


ESTIMATORS = {"logreg": LogisticActionness, "hgb": BoostedActionness}


def _proposal_config(card: dict, model_dir: Path | None) -> ProposalConfig:
    """The card's operating point as a :class:`ProposalConfig`; a bad one is a one-line ModelError."""
    from pydantic import ValidationError

    stored = (card.get("operating_point") or {}).get("proposal_config") if isinstance(card.get("operating_point"),
                                                                                      dict) else None
    if not isinstance(stored, dict):
        raise ModelError("model card lacks operating_point.proposal_config", model_dir)
    try:
        return ProposalConfig(**stored)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ModelError(f"model card's operating point is invalid: {where + ': ' if where else ''}{first['msg']}",
                         model_dir) from None


class Localizer:
    """Loaded stage-1 model: ``actionness(features)`` then ``propose(actionness, fps)``."""

    def __init__(self, card: dict, estimator, model_dir: Path | None = None, refiner=None):
        self.card = card
        self.estimator = estimator
        self.model_dir = model_dir
        # optional short-window boundary model (card "refine"; cards without it: no trimming)
        self.refiner = refiner
        self.refine: dict | None = card.get("refine") if refiner is not None else None
        self._bounds: list[tuple[np.ndarray, np.ndarray]] = []  # (actionness, boundary) of recent calls
        self.feature_names: list[str] = list(card["feature_names"])
        self.feature_config: dict = dict(card["feature_config"])
        self.windows_s: tuple[float, ...] = tuple(card["windows_s"])
        self.train_fps: float = float(card["train_fps"])
        # cards before session 4 centred on the median and used the relative features
        self.centre: float | None = (float(card.get("centre_quantile", 0.5)) if card.get("centre_logit", False)
                                     else None)
        self.relative: bool = bool(card.get("relative_features", True))
        self.resting_level: float = float(card.get("resting_level", 0.0))
        # columns extracted (and reported) but not scored, e.g. box_missing (see LocalizerTrainConfig)
        ignored = set(card.get("ignored_features") or [])
        self.ignored_columns: list[int] = [i for i, n in enumerate(self.feature_names) if n in ignored]
        self.proposal_config = _proposal_config(card, model_dir)
        self.pose_feature_names: list[str] = list(card.get("pose_feature_names") or [])
        self.inputs: str = card.get("inputs") or ("video+pose" if self.pose_feature_names else "video")
        if self.inputs not in INPUTS:
            raise ModelError(f"unknown localizer inputs {self.inputs!r} (known: {', '.join(INPUTS)})", model_dir)

    @property
    def uses_video(self) -> bool:
        return self.inputs != "pose"

    @property
    def uses_pose(self) -> bool:
        return self.inputs != "video"

    # -- artifact ---------------------------------------------------------------------------
    @classmethod
    def load(cls, model_dir: str | Path) -> Localizer:
        model_dir = Path(model_dir)
        card = modelcard.load(model_dir, KIND)
        kind = card.get("estimator")
        if kind not in ESTIMATORS:
            raise ModelError(f"unknown localizer estimator {kind!r} (known: {', '.join(ESTIMATORS)})", model_dir)
        for key in ("feature_names", "feature_config", "windows_s", "train_fps", "operating_point"):
            if key not in card:
                raise ModelError(f"model card lacks {key!r}", model_dir)
        modelcard.require_listed(card, [ESTIMATORS[kind].file] + (
            [card["refine"].get("file", REFINE_FILE)] if isinstance(card.get("refine"), dict) else []), model_dir)
        try:
            est = ESTIMATORS[kind].load(model_dir)
        except Exception as exc:  # a damaged or foreign file: one line, not a traceback
            raise ModelError(f"cannot read {ESTIMATORS[kind].file}: {exc}", model_dir) from None
        refiner = None
        if card.get("refine"):
            name = card["refine"].get("file", REFINE_FILE)
            try:
                refiner = LogisticActionness.load(model_dir, name)
            except Exception as exc:
                raise ModelError(f"cannot read {name}: {exc}", model_dir) from None
        return cls(card, est, model_dir, refiner)

    def save(self, out_dir: str | Path, overwrite: bool = True) -> Path:
        card = {k: v for k, v in self.card.items() if k not in ("kind", "created", "versions", "files")}

        def write(d: Path) -> None:
            self.estimator.save(d)
            if self.refiner is not None:
                self.refiner.save(d, self.refine.get("file", REFINE_FILE))

        return modelcard.save(out_dir, KIND, card, write, overwrite=overwrite)

    # -- use ----------------------------------------------------------------------------------
    def check_inputs(self, video: bool, pose: bool) -> None:
        """One-line ``ModelError`` unless this model takes exactly these inputs."""
        where = self.model_dir
        if self.inputs == "pose" and not pose:
            raise ModelError("this localizer was trained on pose alone: give the pose file (--pose FILE)", where)
        if self.inputs == "video+pose" and not pose:
            raise ModelError("this localizer was trained on video + pose features: give the video's pose "
                             "file too (--pose FILE)", where)
        if self.inputs == "video" and pose:
            raise ModelError("this localizer was trained without pose: drop --pose, or use a model trained "
                             "with pose (mouseact train localizer ... --pose)", where)
        if self.inputs == "pose" and video:
            raise ModelError("this localizer was trained on pose alone: give --pose FILE --fps FPS without "
                             "the video", where)
        if self.inputs == "video+pose" and not video:
            raise ModelError("this localizer was trained on video + pose features: give the video too", where)

    def pose_features(self, pose, fps: float) -> np.ndarray:
        """Pose features ``(T, P)`` as in training; ``ModelError`` if the pose has other animals/features."""
        from mouseact.localizer.pose import PoseConfig, pose_features, positional_names

        if not self.uses_pose:
            self.check_inputs(video=True, pose=True)
        feats, names = pose_features(pose, fps, PoseConfig(**self.card.get("pose_config", {})))
        info = self.card.get("pose", {})
        want = positional_names(self.pose_feature_names, list(info.get("animals", [])))
        got = positional_names(names, pose.animals)
        if got != want:
            raise ModelError(f"pose gives {len(names)} features for {len(pose.animals)} animal(s) "
                             f"({', '.join(pose.animals)}) but this localizer was trained on {len(want)} for "
                             f"{len(info.get('animals', []))} ({', '.join(info.get('animals', []))}): "
                             "use pose with the same number of animals", self.model_dir)
        return feats

    def combine(self, video_features: np.ndarray | None, pose_features: np.ndarray | None) -> np.ndarray:
        """The model's input columns: video features, pose features or both side by side."""
        self.check_inputs(video=video_features is not None, pose=pose_features is not None)
        if self.inputs == "pose":
            return np.asarray(pose_features)
        if self.inputs == "video":
            return np.asarray(video_features)
        if len(video_features) != len(pose_features):
            raise ModelError(f"video features have {len(video_features)} frames but pose features "
                             f"{len(pose_features)}", self.model_dir)
        return np.concatenate([np.asarray(video_features, np.float32), np.asarray(pose_features, np.float32)], 1)

    def feature_extractor(self, fps: float) -> FeatureExtractor:
        """The extractor this model was trained with, set to the video's frame rate."""
        return FeatureExtractor(FeatureConfig(**{**self.feature_config, "fps": float(fps)}))

    def actionness(self, features: np.ndarray, fps: float | None = None) -> np.ndarray:
        """Per-frame actionness ``(N,)`` in [0, 1] from the whole video's features ``(N, F)``.

        Give the whole video (not a chunk): the score is relative to the video's median.

        ``fps`` sets the temporal windows (seconds → frames); default: the training frame rate.
        """
        features = np.asarray(features)
        n_pose = len(self.pose_feature_names)
        if self.uses_pose and features.ndim == 2 and features.shape[1] == len(self.feature_names) - n_pose:
            raise ModelError(f"this localizer was trained with {n_pose} pose features ({self.inputs}) but got "
                             "features without pose: add Localizer.pose_features(read_pose(FILE), fps) "
                             "(mouseact localize --pose FILE)", self.model_dir)
        if features.ndim != 2 or features.shape[1] != len(self.feature_names):
            got = features.shape[1] if features.ndim == 2 else features.shape
            raise ModelError(f"features have {got} columns but this localizer was trained on "
                             f"{len(self.feature_names)} ({', '.join(self.feature_names[:4])}, ...): "
                             + {"video": "extract them with Localizer.feature_extractor(fps)",
                                "pose": "it takes pose features alone (Localizer.pose_features)",
                                "video+pose": "video features then Localizer.pose_features, see "
                                              "Localizer.combine"}[self.inputs], self.model_dir)
        if len(features) == 0:
            return np.zeros(0, np.float32)
        a = actionness_of(self.estimator, features, fps or self.train_fps, self.windows_s, self.centre,
                          self.ignored_columns, self.relative, self.resting_level)
        if self.refiner is not None:
            # remembered for propose(a, ...): the pipeline passes the array back unchanged
            self._bounds = [*self._bounds[-3:], (a, self._boundary(features, fps))]
        return a

    def _boundary(self, features: np.ndarray, fps: float | None) -> np.ndarray:
        return actionness_of(self.refiner, features, fps or self.train_fps, tuple(self.refine["windows_s"]),
                             self.centre, self.ignored_columns, self.relative,
                             float(self.refine.get("resting_level", 0.0)))

    def boundary(self, features: np.ndarray, fps: float | None = None) -> np.ndarray | None:
        """Short-window actionness ``(N,)`` that trims proposals' ends (None: the model has no refinement)."""
        if self.refiner is None:
            return None
        return self._boundary(np.asarray(features), fps) if len(features) else np.zeros(0, np.float32)

    def propose(self, actionness: np.ndarray, fps: float, boundary: np.ndarray | None = None) -> list[Interval]:
        """Candidate segments (label ``"action"``) at the operating point stored in the card.

        With boundary refinement (card ``refine`` and ``proposal_config.refine_threshold``) the ends are
        trimmed with ``boundary`` (``Localizer.boundary(features)``); by default the one computed by the
        ``actionness`` call that returned this very array. Without it the segments are not trimmed.
        """
        cfg = self.proposal_config
        if cfg.refine_threshold is not None:
            if boundary is None:
                boundary = next((b for a, b in reversed(self._bounds) if a is actionness), None)
            if boundary is None or self.refiner is None:
                cfg = cfg.model_copy(update={"refine_threshold": None})
        return propose(actionness, fps, cfg, boundary)

    @property
    def operating_point(self) -> dict:
        return self.card["operating_point"]
