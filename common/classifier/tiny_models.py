"""Tiny random-weight Hugging Face models built offline, for tests and benchmarks of the real
embedder code paths (no hub access; nothing here is a useful model).

* :func:`build_tiny_qwen` — a 2-layer Qwen2-VL or Qwen2.5-VL with a small byte-level BPE
  tokenizer carrying Qwen's special tokens, the real image/video processors and a chat
  template; saved with ``save_pretrained`` and reloadable with ``AutoProcessor.from_pretrained``.
* :func:`build_tiny_videomae` — a 2-layer VideoMAE with its image processor.
"""

from __future__ import annotations

from pathlib import Path

QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL's chat template, reduced to what the embedders send (text + image/video parts).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "What is the mouse doing in this video? Describe the behaviour in one word.",
    "grooming rearing walking resting sniffing turning scratching the mouse is",
    "user assistant system You are a helpful assistant.",
] * 20


def _tokenizer(out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=QWEN_SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE
    )
    return fast


def build_tiny_qwen(out: str | Path, version: str = "2.5", hidden: int = 64, layers: int = 2) -> Path:
    """Write a random tiny Qwen2-VL (``version="2"``) or Qwen2.5-VL (``"2.5"``) to ``out``."""
    import torch
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(out)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    heads = 4
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    common = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    torch.manual_seed(0)
    if version == "2":
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

        vision = dict(
            depth=layers,
            embed_dim=32,
            hidden_size=hidden,
            num_heads=heads,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            in_chans=3,
        )
        config = Qwen2VLConfig(text_config=text, vision_config=vision, **common)
        model = Qwen2VLForConditionalGeneration(config)
        proc_cls = Qwen2VLProcessor
    elif version == "2.5":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

        vision = dict(
            depth=layers,
            hidden_size=32,
            out_hidden_size=hidden,
            intermediate_size=64,
            num_heads=heads,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            in_channels=3,
            window_size=112,
            fullatt_block_indexes=[layers - 1],
        )
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
        model = Qwen2_5_VLForConditionalGeneration(config)
        proc_cls = Qwen2_5_VLProcessor
    else:
        raise ValueError(f"version must be '2' or '2.5', not {version!r}")
    model.save_pretrained(out)
    processor = proc_cls(
        image_processor=Qwen2VLImageProcessor(),
        video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    return out


def build_tiny_videomae(out: str | Path, num_frames: int = 8, image_size: int = 64, hidden: int = 64) -> Path:
    """Write a random tiny VideoMAE (``VideoMAEModel``) and its image processor to ``out``."""
    import torch
    from transformers import VideoMAEConfig, VideoMAEImageProcessor, VideoMAEModel

    out = Path(out)
    torch.manual_seed(0)
    config = VideoMAEConfig(
        image_size=image_size,
        patch_size=16,
        num_frames=num_frames,
        tubelet_size=2,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=hidden * 2,
    )
    VideoMAEModel(config).save_pretrained(out)
    VideoMAEImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    ).save_pretrained(out)
    return out
