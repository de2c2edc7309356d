"""Settings of ``mouseact preprocess`` (defaults follow the seed app: 5 s clips, short side 480)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from mouseact.config import Config

# Settings that change what gets cut; a resumed run must use the same values (see manifest).
PLAN_KEYS = ("max_clip_s", "min_clip_s", "short_side", "idle_ratio", "idle_clip_s", "idle_margin_s",
             "idle_label", "val_fraction", "test_fraction", "seed", "group_regex", "group_map",
             "detector", "detector_model", "crf", "classes", "out_of_range")


class PreprocessConfig(Config):
    max_clip_s: float = Field(5.0, gt=0, description="longer behaviour bouts are split into clips of at most this")
    min_clip_s: float = Field(1.0, ge=0, description="shorter bouts are padded (centred) to this length")
    short_side: int = Field(480, ge=0, description="downscale clips so the short side is at most this (0 = keep)")
    idle_ratio: float = Field(1.0, ge=0, description="idle frames per behaviour frame, per video (0 = no idle clips)")
    idle_clip_s: float = Field(3.0, gt=0, description="length of each idle clip")
    idle_margin_s: float = Field(1.0, ge=0, description="idle clips stay this far from any behaviour bout")
    idle_label: str = Field("idle", min_length=1, description="dataset name of the idle (no behaviour) clips")
    val_fraction: float = Field(0.15, ge=0, lt=1, description="share of videos (or animals) for validation")
    test_fraction: float = Field(0.15, ge=0, lt=1, description="share of videos (or animals) kept whole for testing")
    seed: int = Field(0, description="seed of the split and of idle clip positions")
    group_regex: str | None = Field(None, description="regex on the video name whose group(1) (or match) is the "
                                    "animal/session id; videos of one id stay in one split")
    group_map: str | None = Field(None, description="CSV (video,group) or JSON {video: group} file of animal/session ids")
    detector: Literal["none", "classical", "yolo", "rtdetr"] = Field(
        "classical", description="mouse detector for videos without boxes in the project ('none' = no boxes)")
    detector_model: str | None = Field(None, description="model directory for the yolo/rtdetr detector")
    crf: int = Field(18, ge=0, le=51, description="H.264 quality of the cut clips (lower = better, bigger)")
    classes: list[str] | None = Field(None, description="behaviours to keep, in order (others are an error); "
                                      "default: every tag in the project")
    out_of_range: Literal["error", "clamp"] = Field("error", description="tags past the end of a video: fail or clip")

    @field_validator("group_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    def plan_settings(self) -> dict:
        return {k: getattr(self, k) for k in PLAN_KEYS}
