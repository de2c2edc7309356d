"""Two-stage vs --dense with an expensive stage 2, measured -> docs/benchmarks/07c-two-stage-heavy.md.

With the fast default, stage 2 costs less than the decode + detection pass both modes share, so
the wall-time ratio of ``bench/two_stage.py`` stays near 1.5x however few segments stage 1 sends.
The design is for an expensive stage 2 (a video transformer, a VLM). This script measures that case
instead of projecting it: stage 2 is the VideoMAE-base architecture (transformers' ``VideoMAEConfig``
defaults: 16 frames of 224², 12 layers, hidden 768, ~86 M parameters) through the ``hf`` embedder.

**No weights can be downloaded here, so the model has random weights.** Its cost per clip is the
real model's (same architecture, same number of tokens and multiply-adds); its labels are
meaningless, so only the speed columns of its report mean anything. The classifier head on top is
trained on B-SOiD windows (every 64th frame, to keep the embedding pass short) only so that the
pipeline has a complete model to run.

    nice -n 10 .venv/bin/python bench/two_stage_heavy.py [--seeds 7] [--mice mouse1,mouse2] [--append]

Builds (once, in the two-stage bench's cache directory) the random model and the classifier, then
runs ``bench/two_stage.py --model <classifier>`` on the same sparse recordings as the default bench.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from two_stage import BSOID, CACHE  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "07c-two-stage-heavy.md"
MODEL = CACHE / "videomae-base-random"
CLASSIFIER = CACHE / "classifier-videomae-base-random"


def build_model() -> None:
    import torch
    from transformers import VideoMAEConfig, VideoMAEImageProcessor, VideoMAEModel

    if (MODEL / "config.json").is_file():
        return
    torch.manual_seed(0)
    tmp = MODEL.with_name(MODEL.name + ".tmp")
    VideoMAEModel(VideoMAEConfig()).save_pretrained(tmp)
    VideoMAEImageProcessor().save_pretrained(tmp)
    tmp.rename(MODEL)


def train_classifier() -> None:
    if (CLASSIFIER / "model_card.json").is_file():
        return
    subprocess.run([sys.executable, "-m", "mouseact", "train", "classifier", "--bsoid", str(BSOID),
                    "--embedder", "hf", "--model-path", str(MODEL), "--cache", str(CACHE / "embeddings"),
                    "--set", "stride=64", "--out", str(CLASSIFIER)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="7", help="comma-separated sequence seeds (one sequence per mouse each)")
    ap.add_argument("--mice", default="mouse1,mouse2")
    ap.add_argument("--append", action="store_true", help="add this run's section after the existing report")
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    build_model()
    train_classifier()
    subprocess.run([sys.executable, str(ROOT / "bench" / "two_stage.py"), "--model", str(CLASSIFIER),
                    "--seeds", args.seeds, "--mice", args.mice, "--out", str(OUT), "--about",
                    "stage 2 = VideoMAE-base architecture with **random weights** (a cost proxy: speed columns only, "
                    "its F1 means nothing), command `nice -n 10 .venv/bin/python bench/two_stage_heavy.py "
                    + shlex.join(sys.argv[1:]) + "`"] + (["--append"] if args.append else []), check=True)


if __name__ == "__main__":
    main()
