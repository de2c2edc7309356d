"""Stage 2: classify candidate segments.

``Classifier.load(dir)`` → ``.embedder.embed_batch([(frames, crop_rects), ...])`` → ``.predict(embeddings)``.
Embedders: ``fast`` (default, CPU, no weights), ``qwen`` (Qwen2/2.5-VL from a local dir),
``hf`` (any Hugging Face video model from a local dir). See docs/notes/issue-6-classifier.md.
The default model standardises by its training statistics. A model trained with
``head.standardise=per_video`` wants all embeddings of one video as
``.predict(embeddings, video_embeddings=all_of_the_video)`` (without them it falls back to its
training statistics); see ``Classifier.needs_video_statistics``.
"""

from mouseact.classifier.embedders import KINDS, Embedder, make_embedder, whole_frame_rect
from mouseact.classifier.heads import UNKNOWN
from mouseact.classifier.model import DEFAULT_MODEL_DIR, Classifier, HeadConfig

__all__ = [
    "DEFAULT_MODEL_DIR",
    "KINDS",
    "UNKNOWN",
    "Classifier",
    "Embedder",
    "HeadConfig",
    "make_embedder",
    "whole_frame_rect",
]
