"""Qwen2-VL / Qwen2.5-VL as a segment embedder (transformers + qwen-vl-utils, local weights only).

The cropped frames are passed directly as a video (a list of frames) with a configurable
prompt; the embedding is read from the last hidden layer of the language model:

* ``pooling="video_mean"`` (default): the mean over the video tokens. It summarises what the
  model saw and does not depend on how the prompt is worded; with a frozen model and a small
  head trained on few labels, that stability matters more than the prompt conditioning.
* ``"last"``: the last token (end of the prompt, where generation would start): prompt-
  conditioned, one vector that "answers" the question; more sensitive to the wording.
* ``"both"``: the two concatenated (2 x hidden size).

Frames are resized to ``resized_height`` x ``resized_width`` (multiples of 28; 224² gives 64
tokens per 2 frames, 512 for 16 frames; the model's own default would give ~3,000 tokens for
a 640x480 clip). bf16 on a GPU that supports it (else fp16), float32 on CPU. Batches of
``batch_size`` segments run as one left-padded forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from mouseact.classifier.embedders import Item, check_item, uniform_indices
from mouseact.config import Config
from mouseact.crop import apply_crop
from mouseact.errors import ModelError
from pydantic import Field

DEFAULT_PROMPT = "What is the mouse doing in this video? Answer with one behaviour."
QWEN_TYPES = {
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
}


class QwenEmbedderConfig(Config):
    model_path: str = Field(
        ..., description="local directory with the Qwen2-VL/Qwen2.5-VL weights and processor"
    )
    n_frames: int = Field(16, ge=2, description="frames sampled uniformly from each segment (even)")
    resized_height: int = Field(224, ge=28, description="frame height fed to the model (multiple of 28)")
    resized_width: int = Field(224, ge=28, description="frame width fed to the model (multiple of 28)")
    prompt: str = Field(DEFAULT_PROMPT, description="text after the video in the user turn")
    pooling: Literal["video_mean", "last", "both"] = Field("video_mean", description="see module docstring")
    batch_size: int = Field(4, ge=1, description="segments per forward pass")
    device: str = Field("auto", description="auto (cuda if present), cpu, cuda, cuda:1 ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bf16 on GPUs that support it, else fp16; float32 on CPU"
    )


def resolve_device_dtype(device: str, dtype: str):
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float32"
    return device, getattr(torch, dtype)


class QwenEmbedder:
    kind = "qwen"

    def __init__(self, **config):
        self.cfg = QwenEmbedderConfig(**config)
        for side in (self.cfg.resized_height, self.cfg.resized_width):
            if side % 28:
                raise ModelError(f"resized_height/width must be multiples of 28 (got {side})")
        # model_path and device are run-time choices, not part of what the head was trained on
        self.config = {"kind": self.kind, **self.cfg.model_dump()}
        self.min_frames = 2
        self._model = None
        self._processor = None
        self.last_tokens_per_item: list[int] = []

    def _load(self):
        if self._model is not None:
            return
        import transformers
        from transformers import AutoConfig, AutoProcessor

        path = Path(self.cfg.model_path).expanduser()
        if not (path / "config.json").is_file():
            raise ModelError("not a Hugging Face model directory (no config.json)", path)
        try:
            hf_config = AutoConfig.from_pretrained(path, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds here
            raise ModelError(f"cannot read model config: {str(exc).splitlines()[0][:200]}", path) from None
        if hf_config.model_type not in QWEN_TYPES:
            raise ModelError(
                f"model type {hf_config.model_type!r} is not Qwen2-VL or Qwen2.5-VL "
                "(use --embedder hf for other video models)",
                path,
            )
        device, dtype = resolve_device_dtype(self.cfg.device, self.cfg.dtype)
        cls = getattr(transformers, QWEN_TYPES[hf_config.model_type])
        self._model = cls.from_pretrained(path, dtype=dtype, local_files_only=True).to(device).eval()
        self._processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self._processor.tokenizer.padding_side = "left"  # last position = last real token for every row
        self._device = device
        self._video_token_id = self._model.config.video_token_id

    def _messages(self, crops: np.ndarray) -> list[dict]:
        from PIL import Image

        frames = [Image.fromarray(f) for f in crops]
        return [
            {
                "role": "user",
                "content": [
                    {
                        "type": "video",
                        "video": frames,
                        "resized_height": self.cfg.resized_height,
                        "resized_width": self.cfg.resized_width,
                    },
                    {"type": "text", "text": self.cfg.prompt},
                ],
            }
        ]

    def embed_batch(self, items: Sequence[Item]) -> np.ndarray:
        import torch
        from qwen_vl_utils import process_vision_info

        self._load()
        side = (self.cfg.resized_width, self.cfg.resized_height)
        outs = []
        self.last_tokens_per_item = []
        for b in range(0, len(items), self.cfg.batch_size):
            convs, texts = [], []
            for i, (frames, rects) in enumerate(items[b : b + self.cfg.batch_size], start=b):
                frames, rects = check_item(frames, rects, self.min_frames, i)
                idx = uniform_indices(len(frames), self.cfg.n_frames)
                crops = apply_crop(frames[idx], rects[idx], max(side))
                if side[0] != side[1]:
                    import cv2

                    crops = np.stack([cv2.resize(c, side, interpolation=cv2.INTER_AREA) for c in crops])
                conv = self._messages(crops)
                convs.append(conv)
                texts.append(
                    self._processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
                )
            # transformers 5: ask for metadata and pass it on (the README's fps list no longer works)
            _, videos, video_kwargs = process_vision_info(
                convs, return_video_kwargs=True, return_video_metadata=True
            )
            videos, metadata = zip(*videos)
            inputs = self._processor(
                text=texts,
                videos=list(videos),
                video_metadata=list(metadata),
                do_resize=False,  # frames are already resized_height x resized_width
                cap_pixels_per_frame=False,  # no resize here, so no cap either (silences v5 warning)
                padding=True,
                return_tensors="pt",
                **video_kwargs,
            ).to(self._device)
            with torch.inference_mode():
                out = self._model(**inputs, output_hidden_states=True, return_dict=True)
            hidden = out.hidden_states[-1].float()  # (B, L, H)
            is_video = inputs["input_ids"] == self._video_token_id  # (B, L)
            self.last_tokens_per_item += inputs["attention_mask"].sum(1).tolist()
            mean = (hidden * is_video[..., None]).sum(1) / is_video.sum(1, keepdim=True).clamp(min=1)
            last = hidden[:, -1]
            vec = {"video_mean": mean, "last": last, "both": torch.cat([mean, last], 1)}[self.cfg.pooling]
            outs.append(vec.cpu().numpy())
        return np.concatenate(outs).astype(np.float32)
