"""Any Hugging Face video model from a local directory as a segment embedder (e.g. VideoMAE).

``AutoModel`` + the directory's own processor (video processor if it has one, else image
processor); the embedding is the model's pooled output when it has one, else the mean of the
last hidden state over tokens. Frame count defaults to the model config's ``num_frames``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from mouseact.classifier.embedders import Item, check_item, uniform_indices
from mouseact.classifier.qwen import resolve_device_dtype
from mouseact.config import Config
from mouseact.crop import apply_crop
from mouseact.errors import ModelError
from pydantic import Field


class HFEmbedderConfig(Config):
    model_path: str = Field(..., description="local directory of a Hugging Face video model + its processor")
    n_frames: int | None = Field(None, description="frames per segment (default: the model's num_frames)")
    crop_size: int = Field(224, ge=16, description="side of the square crop handed to the processor")
    batch_size: int = Field(8, ge=1)
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


class HFVideoEmbedder:
    kind = "hf"

    def __init__(self, **config):
        self.cfg = HFEmbedderConfig(**config)
        self._model = None
        path = Path(self.cfg.model_path).expanduser()
        if self.cfg.n_frames is None:
            self.cfg.n_frames = self._config_frames(path)
        self.config = {"kind": self.kind, **self.cfg.model_dump()}
        self.min_frames = 1

    @staticmethod
    def _config_frames(path: Path) -> int:
        import json

        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise ModelError("not a Hugging Face model directory (no config.json)", path)
        try:
            data = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"config.json is not valid JSON: {exc}", path) from None
        return int(data.get("num_frames") or data.get("vision_config", {}).get("num_frames") or 16)

    def _load(self):
        if self._model is not None:
            return
        from transformers import AutoConfig, AutoModel

        path = Path(self.cfg.model_path).expanduser()
        try:
            hf_config = AutoConfig.from_pretrained(path, local_files_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"cannot read model config: {str(exc).splitlines()[0][:200]}", path) from None
        if hf_config.model_type in ("qwen2_vl", "qwen2_5_vl"):
            raise ModelError("this is a Qwen-VL model: use --embedder qwen", path)
        device, dtype = resolve_device_dtype(self.cfg.device, self.cfg.dtype)
        try:
            self._model = (
                AutoModel.from_pretrained(path, dtype=dtype, local_files_only=True).to(device).eval()
            )
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"cannot load model: {str(exc).splitlines()[0][:200]}", path) from None
        self._processor = None
        self._is_video_processor = False
        try:
            from transformers import AutoVideoProcessor

            self._processor = AutoVideoProcessor.from_pretrained(path, local_files_only=True)
            self._is_video_processor = True
        except Exception:  # noqa: BLE001 - no video processor in the directory: fall back
            from transformers import AutoImageProcessor

            try:
                self._processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
            except Exception as exc:  # noqa: BLE001
                raise ModelError(
                    f"no video/image processor: {str(exc).splitlines()[0][:200]}", path
                ) from None
        self._device, self._dtype = device, dtype

    def embed_batch(self, items: Sequence[Item]) -> np.ndarray:
        import torch

        self._load()
        outs = []
        for b in range(0, len(items), self.cfg.batch_size):
            videos = []
            for i, (frames, rects) in enumerate(items[b : b + self.cfg.batch_size], start=b):
                frames, rects = check_item(frames, rects, self.min_frames, i)
                idx = uniform_indices(len(frames), self.cfg.n_frames)
                videos.append(list(apply_crop(frames[idx], rects[idx], self.cfg.crop_size)))
            if self._is_video_processor:
                inputs = self._processor(videos=[np.stack(v) for v in videos], return_tensors="pt")
            else:
                inputs = self._processor(videos, return_tensors="pt")
            inputs = {
                k: (v.to(self._device, self._dtype) if v.is_floating_point() else v.to(self._device))
                for k, v in inputs.items()
                if hasattr(v, "to")
            }
            if "pixel_values_videos" in inputs and "pixel_values" not in inputs:
                inputs["pixel_values"] = inputs.pop("pixel_values_videos")
            with torch.inference_mode():
                out = self._model(**inputs)
            pooled = getattr(out, "pooler_output", None)
            vec = pooled if pooled is not None else out.last_hidden_state.mean(1)
            outs.append(vec.float().cpu().numpy())
        return np.concatenate(outs).astype(np.float32)
