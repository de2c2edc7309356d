"""Fit a classifier on labelled clips and score it per clip (shared by the CLI, the app and bench/)."""

from __future__ import annotations

import numpy as np
from mouseact.classifier.data import Clip, Windows, embed_clip_windows
from mouseact.classifier.model import Classifier, HeadConfig
from mouseact.config import Config
from mouseact.crop import CropPolicy
from mouseact.errors import MouseActError
from pydantic import Field


class TrainConfig(Config):
    window: int = Field(16, ge=2, description="frames per training window (= the embedder's n_frames)")
    stride: int = Field(4, ge=1, description="frames between training window starts")
    val_fraction: float = Field(
        0.2, ge=0, lt=1, description="share held out for early stopping and calibration"
    )
    augment_mirror: bool = Field(
        False,
        description="also train on left-right mirrored windows (mirror pairs such as orient_L/orient_R "
        "swap labels; other behaviours keep theirs)",
    )
    augment_speeds: list[float] = Field(
        default_factory=list, description="also train on windows played at these speeds (0.5 and/or 2)"
    )
    frame_rate: float | None = Field(
        None,
        gt=0,
        description="frames per second every clip is sampled at before windows are cut (every n-th frame "
        "of faster videos); stored in the model, which samples the videos it classifies the same way. "
        "Default: the lowest frame rate among the training clips",
    )
    idle_class: bool = Field(
        True,
        description="a `mouseact preprocess` project: learn its idle clips (no behaviour) as a class; inference "
        "then drops what stage 2 labels idle (stage 1's false alarms) instead of forcing a behaviour on it",
    )
    head: HeadConfig = Field(default_factory=HeadConfig)


def validation_mask(w: Windows, clips: list[Clip], val_fraction: float) -> tuple[np.ndarray, str]:
    """Which windows validate. Clips marked ``split="val"`` if any (a class with no training clip
    then validates on the last ``val_fraction`` of its val clips and trains on the rest); else whole groups (videos /
    animals) when every class still keeps a training group; else the last ``val_fraction`` of
    each clip in time (with a one-window gap), because a random window split would leak
    overlapping frames into validation."""
    split = np.array([clips[c].split for c in w.clip])
    if (split == "val").any() and (split == "train").any():
        val = split == "val"
        # a small project's split can put every clip of a class in val (one val video holds all of
        # it): those clips are split in time instead, so the class still trains
        only_val = sorted(set(w.y[val].tolist()) - set(w.y[~val].tolist()))
        if not only_val:
            return val, "project split (splits.json)"
        sel = val & np.isin(w.y, only_val)
        val[sel] = w.position[sel] > (1 - val_fraction)
        names = sorted({clips[c].label for c, y in zip(w.clip, w.y) if y in only_val})
        return val, (f"project split (splits.json); {', '.join(names)} only in val clips: "
                     f"their last {val_fraction:.0%} validates, the rest trains")
    if val_fraction <= 0:
        return np.zeros(len(w.y), bool), "none"
    groups = np.array([clips[c].group for c in w.clip])
    uniq = sorted(set(groups))
    if len(uniq) >= 3:
        rng = np.random.default_rng(0)
        order = list(rng.permutation(uniq))
        val_groups: list[str] = []
        for g in order:
            if len(val_groups) >= max(1, round(val_fraction * len(uniq))):
                break
            keep = ~np.isin(groups, val_groups + [g])
            if set(w.y[keep]) == set(w.y):
                val_groups.append(g)
        if val_groups:
            return np.isin(groups, val_groups), f"by group: {', '.join(map(str, val_groups))}"
    gap = 0.0
    return w.position > (1 - val_fraction) + gap, f"last {val_fraction:.0%} of each clip (time block)"


def join(w: Windows, extra: Windows | None) -> Windows:
    """Plain windows followed by augmented ones (tags kept)."""
    if extra is None or not len(extra.y):
        return w
    return Windows(
        np.concatenate([w.x, extra.x]),
        np.concatenate([w.y, extra.y]),
        np.concatenate([w.clip, extra.clip]),
        np.concatenate([w.position, extra.position]),
        np.concatenate([w.variants(), extra.variants()]),
    )


def untrainable_classes(w: Windows, clips: list[Clip], classes: list[str], config: TrainConfig,
                        extra: Windows | None = None) -> list[str]:
    """The classes :func:`fit_windows` would find no training window for (after the validation
    windows are set aside): fitting on ``w`` fails when this is not empty."""
    w = join(w, extra)
    if not len(w.y):
        return list(classes)
    val, _ = validation_mask(w, clips, config.val_fraction)
    have = set(w.y[~val].tolist())
    return [c for i, c in enumerate(classes) if i not in have]


def fit_windows(
    w: Windows,
    clips: list[Clip],
    classes: list[str],
    embedder,
    policy: CropPolicy,
    config: TrainConfig,
    extra: Windows | None = None,
) -> tuple[Classifier, dict]:
    """Fit on the windows ``w`` plus augmented training windows ``extra`` (same clip indices).
    For ``standardise=per_video`` every (group, augmentation) is its own video: a mirrored video
    has its own statistics."""
    w = join(w, extra)
    val, how = validation_mask(w, clips, config.val_fraction)
    video = np.array([f"{clips[c].group}|{v}" for c, v in zip(w.clip, w.variants())])
    # drop windows overlapping the boundary between train and val of one clip (leak)
    model, info = Classifier.fit(
        w.x[~val],
        w.y[~val],
        classes,
        embedder,
        policy,
        config.head,
        w.x[val] if val.any() else None,
        w.y[val] if val.any() else None,
        clip_ids=w.clip[~val],
        groups=video[~val],
        groups_val=video[val],
    )
    info["validation"] = {"how": how, "windows": int(val.sum())}
    if extra is not None and len(extra.y):
        tags, counts = np.unique(extra.variants(), return_counts=True)
        info["augmented_windows"] = {str(t): int(n) for t, n in zip(tags, counts)}
    return model, info


def clip_predictions(model: Classifier, w: Windows, n_clips: int, video=None) -> np.ndarray:
    """Per clip: mean of its windows' probabilities ``(n_clips, C)``; NaN rows for clips with no window.
    ``video`` (rows for a per-video model's statistics): default ``w.x``, i.e. the windows scored
    together come from one video (in leave-one-group-out: the held-out animal); ``False`` = none."""
    video = w.x if video is None else (None if video is False else video)
    p = model.predict_proba(w.x, video)
    out = np.full((n_clips, p.shape[1]), np.nan, np.float32)
    for c in range(n_clips):
        sel = w.clip == c
        if sel.any():
            out[c] = p[sel].mean(0)
    return out


def clip_scores(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Clip top-1 accuracy and macro F1 over the classes present in ``y_true``."""
    from sklearn.metrics import f1_score

    ok = np.isfinite(proba).all(1)
    if not ok.any():
        raise MouseActError("no clip could be scored")
    pred = proba[ok].argmax(1)
    yt = np.asarray(y_true)[ok]
    present = sorted(set(yt.tolist()))
    top3 = np.argsort(-proba[ok], axis=1)[:, :3]
    return {
        "clips": int(ok.sum()),
        "top1": round(float((pred == yt).mean()), 4),
        "top3": round(float((top3 == yt[:, None]).any(1).mean()), 4),
        "macro_f1": round(float(f1_score(yt, pred, labels=present, average="macro", zero_division=0)), 4),
        "window_top1": None,
    }


def embed_augmented(
    clips: list[Clip], classes: list[str], embedder, config: TrainConfig, policy: CropPolicy, cache=None
) -> Windows | None:
    """The extra training windows ``config`` asks for (mirror / speeds), or None."""
    if not config.augment_mirror and not config.augment_speeds:
        return None
    from mouseact.classifier.augment import augmented_windows

    return augmented_windows(
        clips, classes, embedder, config.window, config.stride, policy, cache,
        config.augment_mirror, config.augment_speeds, config.frame_rate,
    )


def embed(
    clips: list[Clip],
    classes: list[str],
    embedder,
    config: TrainConfig,
    policy: CropPolicy,
    cache=None,
    desc: str = "embedding",
) -> Windows:
    return embed_clip_windows(
        clips, classes, embedder, config.window, config.stride, policy, cache, desc=desc,
        frame_rate=config.frame_rate,
    )
