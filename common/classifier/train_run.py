"""One training run: read clips, embed windows (cached), fit, score held-out groups, save the artifact."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
from mouseact.classifier.cache import EmbeddingCache
from mouseact.classifier.data import (Clip, Windows, bsoid_clips, lowest_frame_rate, project_clips,
                                      project_idle_label)
from mouseact.classifier.embedders import make_embedder
from mouseact.classifier.training import (
    TrainConfig,
    clip_predictions,
    clip_scores,
    embed,
    embed_augmented,
    fit_windows,
    untrainable_classes,
)
from mouseact.crop import CropPolicy
from mouseact.errors import MouseActError


def default_cache_dir() -> Path:
    """~/.cache/mouseact/embeddings (XDG_CACHE_HOME respected)."""
    from mouseact.cachedir import user_cache_dir

    return user_cache_dir("embeddings")


def subset(w: Windows | None, clip_ids: list[int]) -> Windows | None:
    if w is None:
        return None
    remap = {c: i for i, c in enumerate(clip_ids)}
    sel = np.isin(w.clip, clip_ids)
    return Windows(
        w.x[sel],
        w.y[sel],
        np.array([remap[c] for c in w.clip[sel]], dtype=int),
        w.position[sel],
        None if w.variant is None else np.asarray(w.variant)[sel],
    )


def leave_one_group_out(
    w: Windows,
    clips: list[Clip],
    classes: list[str],
    embedder,
    policy: CropPolicy,
    config: TrainConfig,
    extra: Windows | None = None,
    skipped: dict | None = None,
) -> dict:
    """Train on all groups but one (plus their augmented windows ``extra``), score the plain
    windows of the held-out group's clips; per held-out group. A fold that cannot be trained
    (a class with no training window once the held-out group and the validation windows are set
    aside) or scored (no window in the held-out group) is left out, its reason put in ``skipped``."""
    groups = sorted({c.group for c in clips})
    out = {}
    for g in groups:
        tr = [i for i, c in enumerate(clips) if c.group != g]
        te = [i for i, c in enumerate(clips) if c.group == g]
        wtr, wte = subset(w, tr), subset(w, te)
        tr_clips, etr = [clips[i] for i in tr], subset(extra, tr)
        reason = None
        if len(wte.y) == 0:
            reason = "no window in the held-out group (its clips are shorter than a window)"
        else:
            missing = untrainable_classes(wtr, tr_clips, classes, config, etr)
            if missing:
                reason = f"no training window for {', '.join(missing)} without this group"
        if reason:
            if skipped is not None:
                skipped[f"test_{g}"] = reason
            continue
        model, _ = fit_windows(wtr, tr_clips, classes, embedder, policy, config, etr)
        proba = clip_predictions(model, wte, len(te))
        y = np.array([classes.index(clips[i].label) for i in te])
        out[f"test_{g}"] = clip_scores(y, proba, classes)
        out[f"test_{g}"]["window_top1"] = round(
            float((model.predict_proba(wte.x, wte.x).argmax(1) == wte.y).mean()), 4
        )
    return out


def train(
    source: Path,
    source_kind: str,
    out: Path,
    embedder_kind: str = "fast",
    embedder_config: dict | None = None,
    config: TrainConfig | None = None,
    train_groups: list[str] | None = None,
    cache_dir: Path | None = None,
    command: str | None = None,
    overwrite: bool = False,
    lomo: bool = True,
) -> dict:
    config = config or TrainConfig()
    clips = bsoid_clips(source) if source_kind == "bsoid" else project_clips(source, idle=config.idle_class)
    classes = sorted({c.label for c in clips})
    idle = project_idle_label(source) if source_kind == "project" and config.idle_class else None
    background = [idle] if idle in classes else []
    if len(set(classes) - set(background)) < 2:
        raise MouseActError(f"need at least 2 behaviours to train a classifier, found {classes}", source)
    if train_groups:  # before minutes of embedding
        unknown = set(train_groups) - {c.group for c in clips}
        if unknown:
            raise MouseActError(f"--train-groups: unknown group(s) {sorted(unknown)}", source)
    emb_cfg = dict(embedder_config or {})
    if embedder_kind != "hf":  # an HF video model has its own frame count (config num_frames)
        emb_cfg.setdefault("n_frames", config.window)
    embedder = make_embedder(embedder_kind, **emb_cfg)
    window = int(embedder.config.get("n_frames", config.window))
    config = config.model_copy(
        update={"window": window, "frame_rate": config.frame_rate or lowest_frame_rate(clips)}
    )
    policy = CropPolicy()
    cache = EmbeddingCache(cache_dir or default_cache_dir())
    w = embed(clips, classes, embedder, config, policy, cache)
    extra = embed_augmented(clips, classes, embedder, config, policy, cache)
    skipped = sorted(
        {f"{c.video.name}:{c.start}-{c.end}" for i, c in enumerate(clips) if i not in set(w.clip.tolist())}
    )
    empty = [c for c in classes if c not in {classes[i] for i in set(w.y.tolist())}]
    if empty:  # every clip of a class too short for one window: say which and what to do
        n = {c: sum(clip.label == c for clip in clips) for c in empty}
        raise MouseActError(
            f"no training windows for {', '.join(empty)}: all {', '.join(str(n[c]) for c in empty)} of its clips are "
            f"shorter than one window ({config.window} frames at {config.frame_rate:g} fps = "
            f"{config.window / config.frame_rate:.2f} s); cut longer clips (e.g. preprocess --set min_clip_s=2 "
            "--set idle_clip_s=2) or train a smaller window (--set window=8)", source)
    metrics: dict = {}
    if lomo and len({c.group for c in clips}) >= 2:
        skipped_folds: dict = {}
        metrics["leave_one_group_out"] = leave_one_group_out(
            w, clips, classes, embedder, policy, config, extra, skipped_folds
        )
        if skipped_folds:  # held-out groups without a score, and why
            metrics["leave_one_group_out_skipped"] = skipped_folds
    if train_groups:
        tr = [i for i, c in enumerate(clips) if c.group in train_groups]
        fit_clips = [clips[i] for i in tr]
        wfit, efit = subset(w, tr), subset(extra, tr)
    else:
        fit_clips, wfit, efit = clips, w, extra
    model, info = fit_windows(wfit, fit_clips, classes, embedder, policy, config, efit)
    if command is None:
        command = "mouseact " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    card = {
        "training": {
            "command": command,
            "source": str(source),
            "source_kind": source_kind,
            "clips": len(clips),
            "clips_too_short": skipped,
            "groups": sorted({c.group for c in fit_clips}),
            "windows": len(wfit.y),
            "config": config.model_dump(),
            **info,
        },
        "metrics": metrics,
        # what a window means in time: videos are sampled at this rate (every n-th frame) first
        "frame_rate": config.frame_rate,
        # classes that are no behaviour (preprocess's idle clips): labelled by stage 2, dropped from the output
        "background_classes": background,
        "inference": "sample the video at frame_rate (every round(video fps / frame_rate)-th frame); embed "
        "windows of embedder.n_frames sampled frames (crop rects from the detector through crop_policy, or "
        "the whole frame); segment score = mean of window probabilities",
    }
    model.save(out, card)
    return {"metrics": {k: v for k, v in metrics.get("leave_one_group_out", {}).items()}, "card": card,
            "classes": list(classes), "skipped_folds": dict(metrics.get("leave_one_group_out_skipped", {}))}
