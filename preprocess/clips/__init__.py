"""Training data from a labelled video project: clip cutting, idle balancing, split by video,
resumable manifest. Entry point: :func:`preprocess` (CLI: ``mouseact preprocess``)."""

from mouseact.preprocess.clips.config import PreprocessConfig
from mouseact.preprocess.clips.plan import ClipPlan, idle_clips, pad_range, positive_clips, split_range
from mouseact.preprocess.clips.run import PROJECT_NAME, TEST_DATASET, preprocess
from mouseact.preprocess.clips.split import assign_splits, group_of, target_counts

__all__ = ["PreprocessConfig", "ClipPlan", "idle_clips", "pad_range", "positive_clips", "split_range",
           "PROJECT_NAME", "TEST_DATASET", "preprocess", "assign_splits", "group_of", "target_counts"]
