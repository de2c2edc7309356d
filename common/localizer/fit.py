"""Fit a localizer: windowed features → estimator, then the operating point on held-out data.

Data come as *groups* of sequences (one group per animal / recording session). The
operating point is chosen on out-of-group predictions (fit on all groups but one, predict
that one, pool), so the stored thresholds (and the stitching gap, minimum duration and padding,
when several candidates are given) reflect a new animal, not the training one. The final
estimator is then fit on all groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from mouseact.config import Config
from mouseact.localizer.features import FEATURES_VERSION, FeatureConfig
from mouseact.localizer.model import (DEFAULT_WINDOWS_S, ESTIMATORS, INPUTS, REFINE_FILE, Localizer, actionness_of,
                                      resting_level, window_features, without)
from mouseact.localizer.pose import PoseConfig
from mouseact.localizer.proposals import (SHAPE_KEYS, ProposalConfig, choose_operating_point, evaluate,
                                          operating_curve, shape_of)
from pydantic import Field, field_validator


# Features that say more about the detector, the animal's shape and the camera than about how much the
# mouse moves: box kinematics carry the detector's jitter (a resting mouse's box acceleration is 40x
# larger at detector stride 2 than at 4), box size/aspect the animal and the view, and signed flow
# divergence/curl the direction of a movement. Stage 1 scores motion energy and flow magnitude only.
SCENE_FEATURES = ("box_missing", "box_speed", "box_accel", "box_size_rate", "box_aspect_rate", "box_log_aspect",
                  "flow_divergence", "flow_curl")


class LocalizerTrainConfig(Config):
    estimator: Literal["logreg", "hgb"] = Field("logreg", description="temporal model over windowed features")
    windows_s: tuple[float, ...] = Field(DEFAULT_WINDOWS_S, description="context windows (seconds)")
    centre_logit: bool = Field(True, description="shift each video's actionness logit by its centre_quantile "
                                                 "logit (evens out animals and rigs: a light mouse on a light floor "
                                                 "scores higher than a black one)")
    centre_quantile: float = Field(0.1, gt=0, lt=1, description="quantile of a video's logits taken as its resting "
                                   "level (assumes the mouse rests in at least this share of the video; 0.5 = the "
                                   "median, as before session 4, cut half of the actions of mostly active videos)")
    relative_features: bool = Field(False, description="add each feature's deviation from the video's median to the "
                                    "context (off: it makes a frame's score depend on how active the rest of the "
                                    "video is, so a mostly active mouse's actions look ordinary)")
    c: float = Field(0.1, gt=0, description="inverse L2 strength of the logistic model")
    hgb_iter: int = Field(200, ge=10, description="boosting iterations (estimator=hgb)")
    target_recall: float = Field(0.95, gt=0, le=1, description="recall of true segments the operating point must reach")
    match: Literal["coverage", "tiou"] = Field(
        "coverage", description="how a true segment counts as found when choosing the operating point: "
                                "'coverage' = proposals cover >= tiou of its frames; 'tiou' = one proposal "
                                "overlaps it with tIoU >= tiou")
    tiou: float = Field(0.5, gt=0, le=1, description="threshold of the match criterion (tIoU or covered share)")
    frame_budget: float | None = Field(
        None, gt=0, le=1, description="share of frames the operating point may propose, e.g. 0.25 (issue 5's goal): "
        "within it, among the points that reach target_recall, the one with the best tIoU recall is chosen (the "
        "fewest frames once tIoU recall reaches the target too), so proposals cover bouts whole rather than only "
        "touch them; best with several max_gap_s/pad_s candidates. None (default), or no point within it = the "
        "fewest frames that reach target_recall. Not the default: cross-animal on B-SOiD it raised mouse2 -> "
        "mouse1 tIoU recall 0.73 -> 0.80 but lowered mouse1 -> mouse2 0.98 -> 0.93 "
        "(docs/notes/issue-5-localizer.md, session 4)")
    max_gap_s: tuple[float, ...] = Field(
        (0.5,), description="proposals: stitch gaps up to this long (s); several values (--set "
        "'max_gap_s=[0.25,0.5,1,1.5]') = candidates, the operating point picks one on out-of-group predictions (a "
        "longer gap joins the pieces of a bout whose actionness dips, a shorter one keeps nearby bouts apart)")
    min_duration_s: tuple[float, ...] = Field(
        (0.4,), description="proposals: drop shorter segments (s); several values = candidates, as max_gap_s")
    pad_s: tuple[float, ...] = Field(
        (0.25,), description="proposals: pad each segment on both sides (s); several values = candidates, as "
        "max_gap_s (padding gives stage 2 context but makes the proposals of short bouts too long for tIoU 0.5)")
    levels: int = Field(
        2, ge=0, le=8, description="proposals: temporal actionness grouping levels (ProposalConfig.levels): also "
        "propose the segments at this many higher thresholds, nested inside the base ones (the frames proposed "
        "and the coverage recall do not change, so neither does the operating point; tIoU recall can only rise). "
        "2 = the fewest levels whose out-of-group tIoU recall on the training data equals that of 8 on B-SOiD "
        "(cross-animal tIoU recall within a quarter of the frames 0.79 -> 0.90 mouse2 -> mouse1, 0.98 -> 1.00 mouse1 -> "
        "mouse2; proposals per minute about 3x: docs/notes/issue-5-localizer.md, session 6). 0 = base only")
    group_levels: int = Field(
        0, ge=0, le=4, description="proposals: grouping tolerance levels (ProposalConfig.group_levels): also propose "
        "the base segments stitched across gaps up to max_gap_s * 2**j, j = 1..group_levels, so a bout whose "
        "actionness dips longer than max_gap_s is proposed whole too (costs the bridged frames; the operating point "
        "is chosen with them). 0 = off")
    refine_window_s: float | None = Field(
        None, gt=0, description="boundary refinement (off by default): also fit a logistic model on features averaged "
        "over this short window only (e.g. 0.33 s) and trim each proposal's ends to the frames whose short-window "
        "actionness reaches refine_threshold. The main score averages over 1-3 s, so at a threshold low enough to "
        "find weakly scored bouts the proposals of strong ones spread 1-1.5 s past each end "
        "(docs/notes/issue-5-localizer.md, session 5)")
    refine_threshold: tuple[float | None, ...] = Field(
        (None, 0.3, 0.5, 0.7, 0.9), description="with refine_window_s: candidate trimming thresholds (null = no "
        "trimming); for each the operating point is chosen as usual, then the candidate whose point has the best "
        "tIoU recall on the out-of-group predictions (ties: fewer frames)")
    features: FeatureConfig = Field(FeatureConfig(), description="per-frame feature settings (--set features.KEY=V)")
    pose: PoseConfig = Field(PoseConfig(), description="pose features, when pose is given (--set pose.KEY=V)")
    ignore_features: tuple[str, ...] = Field(
        SCENE_FEATURES, description="features extracted but not scored. Default: box_missing (whether the detector "
        "saw the mouse, not what it does: the classical detector can lose a mouse resting long in one place, and on "
        "spliced data that alone separated rest from action), the box kinematics (they carry the detector's "
        "jitter) and the features that describe the animal's shape and the camera rather than how much it moves "
        "(box size/aspect and their rates, signed flow divergence/curl): trained on one B-SOiD mouse and scored "
        "on the other they made a fidgety resting mouse look active (docs/benchmarks/05-localizer.md). Set to "
        "box_missing alone to score them all, e.g. when training and test videos come from one rig")
    seed: int = Field(0, description="random seed")

    def ignored_columns(self, feature_names: Sequence[str]) -> list[int]:
        return [i for i, n in enumerate(feature_names) if n in set(self.ignore_features)]

    def check_ignore_features(self, feature_names: Sequence[str] = ()) -> None:
        """A one-line error for a name in ``ignore_features`` that is no feature: neither a video feature
        (whether or not this run computes it, e.g. flow with ``features.flow_size=0``, so the default
        list fits every run) nor one of ``feature_names`` (this run's, pose features included). A typo
        must not silently score the feature it meant to ignore."""
        from mouseact.errors import MouseActError
        from mouseact.localizer.features import BOX_FEATURES, FLOW_FEATURES, MOTION_FEATURES

        known = list(dict.fromkeys([*BOX_FEATURES, *MOTION_FEATURES, *FLOW_FEATURES, *feature_names]))
        unknown = [n for n in self.ignore_features if n not in known]
        if unknown:
            raise MouseActError(f"config LocalizerTrainConfig: ignore_features: unknown feature name(s) "
                                f"{', '.join(map(repr, unknown))} (known: {', '.join(known)})")

    @field_validator("max_gap_s", "min_duration_s", "pad_s", mode="before")
    @classmethod
    def _one_or_more(cls, v):
        # a single number (old configs, --set pad_s=0.25) fixes the setting; a list makes it a candidate grid
        return (v,) if isinstance(v, (int, float)) else v

    @field_validator("max_gap_s", "min_duration_s", "pad_s")
    @classmethod
    def _non_negative(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or min(v) < 0:
            raise ValueError("give one or more values >= 0")
        return v

    @field_validator("refine_threshold", mode="before")
    @classmethod
    def _one_or_more_thresholds(cls, v):
        return (v,) if v is None or isinstance(v, (int, float)) else v

    @field_validator("refine_threshold")
    @classmethod
    def _thresholds_in_range(cls, v):
        if not v or any(t is not None and not 0 <= t <= 1 for t in v):
            raise ValueError("give one or more thresholds in [0, 1] (null = no trimming)")
        return v

    def proposal_bases(self) -> list[ProposalConfig]:
        """One proposal config per candidate (gap, min duration, pad, trimming); thresholds are set later."""
        refine = self.refine_threshold if self.refine_window_s else (None,)
        return [ProposalConfig(max_gap_s=g, min_duration_s=m, pad_s=p, refine_threshold=r, levels=self.levels,
                               group_levels=self.group_levels)
                for g in self.max_gap_s for m in self.min_duration_s for p in self.pad_s for r in refine]

    def refine_config(self) -> LocalizerTrainConfig:
        """The short-window boundary model's config (logistic, one window)."""
        return self.model_copy(update={"estimator": "logreg", "windows_s": (float(self.refine_window_s),)})


def _xy(seqs, cfg: LocalizerTrainConfig, ignored: Sequence[int] = ()):
    x = np.concatenate([window_features(without(s.features, ignored), s.fps, cfg.windows_s, cfg.relative_features)
                        for s in seqs])
    y = np.concatenate([(np.asarray(s.labels) > 0).astype(np.int8) for s in seqs])
    return x, y


def fit_estimator(seqs, cfg: LocalizerTrainConfig, ignored: Sequence[int] = ()):
    x, y = _xy(seqs, cfg, ignored)
    if y.min() == y.max():
        from mouseact.errors import MouseActError

        raise MouseActError("training data has only one kind of frame (need both action and background)")
    est = ESTIMATORS[cfg.estimator]()
    if cfg.estimator == "logreg":
        return est.fit(x, y, c=cfg.c, seed=cfg.seed)
    return est.fit(x, y, max_iter=cfg.hgb_iter, seed=cfg.seed)


def predict(est, seqs, cfg: LocalizerTrainConfig, ignored: Sequence[int] = (), level: float = 0.0
            ) -> list[np.ndarray]:
    """Actionness of ``seqs``; with centring each video's resting level is put at logit ``level``."""
    return [actionness_of(est, s.features, s.fps, cfg.windows_s, cfg.centre_quantile if cfg.centre_logit else None,
                          ignored, cfg.relative_features, level) for s in seqs]


def out_of_group(groups: Sequence[Sequence], cfg: LocalizerTrainConfig, ignored: Sequence[int] = (),
                 level: float = 0.0) -> list[list[np.ndarray]]:
    """Actionness of every sequence from a model that did not see its group (resting level at ``level``)."""
    if len(groups) == 1:  # one animal only: two halves of its sequences
        seqs = list(groups[0])
        if len(seqs) < 2:
            from mouseact.errors import MouseActError

            raise MouseActError("need at least two sequences (or two videos) to choose the operating point")
        groups = [seqs[: len(seqs) // 2], seqs[len(seqs) // 2:]]
    out = []
    for i, g in enumerate(groups):
        rest = [s for j, gg in enumerate(groups) if j != i for s in gg]
        out.append(predict(fit_estimator(rest, cfg, ignored), g, cfg, ignored, level))
    return out, groups


def _best_per_shape(curve: list[dict], cfg: LocalizerTrainConfig) -> list[dict]:
    """For each candidate (gap, min duration, pad, trimming): the point the selection rule picks among its thresholds."""
    shapes = sorted({shape_of(c) for c in curve})
    return [choose_operating_point([c for c in curve if shape_of(c) == sh],
                                   cfg.target_recall, cfg.frame_budget)[0] for sh in shapes]


def choose_point(curve: list[dict], cfg: LocalizerTrainConfig) -> tuple[dict, bool]:
    """The operating point; with several trimming candidates, the usual rule within each, then the best tIoU.

    Trimming exists to make proposals fit bouts (tIoU), not to save frames, so the fewest-frames rule
    alone would pick whichever threshold trims most; each candidate's point still meets the target
    (coverage) if any does.
    """
    refines = sorted({-1.0 if c.get("refine_threshold") is None else c["refine_threshold"] for c in curve})
    if len(refines) < 2:
        return choose_operating_point(curve, cfg.target_recall, cfg.frame_budget)
    picks = [choose_operating_point([c for c in curve if (-1.0 if c.get("refine_threshold") is None
                                                          else c["refine_threshold"]) == r],
                                    cfg.target_recall, cfg.frame_budget) for r in refines]
    return max(picks, key=lambda pm: (pm[1], pm[0]["recall_tiou"], pm[0]["recall"], -pm[0]["frames_proposed"]))


def train_localizer(groups: Sequence[Sequence], cfg: LocalizerTrainConfig, feature_names: Sequence[str],
                    provenance: dict | None = None, inputs: str = "video",
                    pose: dict | None = None) -> tuple[Localizer, dict]:
    """Fit the final model on all groups; operating point from out-of-group predictions.

    ``inputs``: ``video``, ``video+pose`` or ``pose`` (what the sequences' feature columns are).
    With pose, ``pose`` describes it: ``feature_names`` (the pose columns, last in
    ``feature_names``), ``format``, ``animals``, ``bodyparts``; stored in the card so the model
    refuses inputs of another kind.
    """
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}")
    if (inputs != "video") != bool(pose):
        raise ValueError("pose description needed exactly when inputs include pose")
    cfg.check_ignore_features(feature_names)
    ignored = cfg.ignored_columns(feature_names)
    final = fit_estimator([s for g in groups for s in g], cfg, ignored)
    # centring puts every video's resting level where the final model puts its training videos'
    # (card "resting_level"): actionness keeps the scale the model learnt, and the out-of-group
    # predictions the thresholds are chosen on use the same level, so the thresholds transfer
    level = (resting_level(final, [(s.features, s.fps) for g in groups for s in g], cfg.windows_s,
                           cfg.centre_quantile, ignored, cfg.relative_features) if cfg.centre_logit else 0.0)
    oog, used_groups = out_of_group(groups, cfg, ignored, level)
    acts = [a for g in oog for a in g]
    seqs = [s for g in used_groups for s in g]
    labels = [s.labels for s in seqs]
    fpss = [s.fps for s in seqs]
    refiner = refine_card = bounds = None
    if cfg.refine_window_s:
        # the short-window boundary model: fit, resting level and out-of-group predictions exactly as the main one
        rcfg = cfg.refine_config()
        refiner = fit_estimator([s for g in groups for s in g], rcfg, ignored)
        rlevel = (resting_level(refiner, [(s.features, s.fps) for g in groups for s in g], rcfg.windows_s,
                                rcfg.centre_quantile, ignored, rcfg.relative_features) if rcfg.centre_logit else 0.0)
        bounds = [a for g in out_of_group(groups, rcfg, ignored, rlevel)[0] for a in g]
        refine_card = {"estimator": "logreg", "windows_s": list(rcfg.windows_s), "resting_level": rlevel,
                       "file": REFINE_FILE}
    curve = operating_curve(acts, labels, fpss, cfg.proposal_bases(), threshold=cfg.tiou, match=cfg.match,
                            boundary_list=bounds)
    point, met = choose_point(curve, cfg)
    prop = ProposalConfig(**{k: point[k] for k in ("high", "low", *SHAPE_KEYS)})
    shape = {k: point[k] for k in SHAPE_KEYS}
    n_frames = sum(len(s.labels) for s in seqs)
    card = {
        "estimator": cfg.estimator,
        "feature_names": list(feature_names),
        "feature_config": cfg.features.model_dump(),
        "features_version": FEATURES_VERSION,  # provenance: which feature code the weights saw
        "windows_s": list(cfg.windows_s),
        "ignored_features": [feature_names[i] for i in ignored],
        "centre_logit": cfg.centre_logit,
        "centre_quantile": cfg.centre_quantile,
        "relative_features": cfg.relative_features,
        "resting_level": level,
        **({"refine": refine_card} if refine_card else {}),
        "train_fps": float(np.median(fpss)),
        "config": cfg.model_dump(),
        "classes": ["action"],
        "operating_point": {
            "target_recall": cfg.target_recall, "match": cfg.match, "tiou": cfg.tiou, "target_met": met,
            "frame_budget": cfg.frame_budget,
            "recall": point["recall"], "recall_tiou": point["recall_tiou"],
            "recall_coverage": point["recall_coverage"], "frames_proposed": point["frames_proposed"],
            "segments": point["segments"], "chosen_on": "out-of-group predictions",
            "proposal_config": prop.model_dump(),
        },
        # the threshold curve of the chosen gap/duration/pad, and the best point of every candidate
        "curve": [{k: round(v, 4) if isinstance(v, float) else v for k, v in c.items()}
                  for c in curve if all(c[k] == v for k, v in shape.items())],
        "candidates": [{k: round(v, 4) if isinstance(v, float) else v for k, v in c.items()}
                       for c in _best_per_shape(curve, cfg)],
        "inputs": inputs,
        **({"pose_feature_names": list(pose["feature_names"]), "pose_config": cfg.pose.model_dump(),
            "pose": {k: v for k, v in pose.items() if k != "feature_names"}} if pose else {}),
        "training_data": {"groups": len(used_groups), "sequences": len(seqs), "frames": int(n_frames),
                          "action_share": float(np.mean(np.concatenate(labels) > 0)),
                          **(provenance or {})},
    }
    return Localizer(card, final, refiner=refiner), {
        "operating_point": card["operating_point"],
        "oog_eval": evaluate(acts, labels, fpss, prop, cfg.tiou, cfg.match, bounds)}
