"""Stage 1: cheap per-frame features → per-frame actionness → candidate action segments.

    loc = Localizer.load(model_dir)
    fx = loc.feature_extractor(fps)                       # a FeatureExtractor
    for start, frames in reader.iter_chunks(64):
        feats.append(fx.process(start, frames, boxes))    # (T, F) float32, streaming
    a = loc.actionness(np.concatenate(feats), fps)        # (N,) in [0, 1]
    segments = loc.propose(a, fps)                        # list[Interval], label "action"

Nothing here imports torch; features need only OpenCV and NumPy.
"""

from pathlib import Path

from mouseact.localizer.features import FeatureConfig, FeatureExtractor, extract_video
from mouseact.localizer.model import KIND, Localizer, window_features
from mouseact.localizer.proposals import ProposalConfig, propose

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default" / "localizer"

__all__ = ["DEFAULT_MODEL_DIR", "KIND", "FeatureConfig", "FeatureExtractor", "Localizer", "ProposalConfig",
           "extract_video", "propose", "window_features"]
