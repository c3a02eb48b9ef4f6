"""A tiny, randomly initialised Stable Diffusion pipeline, built offline for the local engine.

Real components (UNet2DConditionModel, AutoencoderKL, CLIPTextModel, CLIPTokenizer, a scheduler)
at toy sizes, saved with `save_pretrained` so the hub loads it through its real loading path.
Nothing is downloaded: the tokenizer's vocabulary is a few dozen characters written here. The
images are noise, but their count, size, format and seed behaviour are exactly the real thing's.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

_CHARS = string.ascii_lowercase + string.digits + ".,!?'-"
MAX_TOKENS = 16


def _tokenizer(folder: Path) -> CLIPTokenizer:
    """A character-level CLIP BPE tokenizer: every character is a token, no merges."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>", *_CHARS, *(char + "</w>" for char in _CHARS)]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer.from_pretrained(folder, model_max_length=MAX_TOKENS)


def build_tiny_pipeline(target: Path) -> Path:
    """Write a tiny SD pipeline folder (a few hundred KB) to `target` and return it.

    The VAE has four blocks, so it scales by 8 like a real one: 256x256 images are 32x32 latents.
    """
    tokenizer = _tokenizer(target.parent / f"{target.name}-tokenizer-source")
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=1,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(4, 4, 4, 4),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=2,
        sample_size=256,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(target)
    return target


if __name__ == "__main__":  # `python -m tests.local_pipeline DIR`, for the benchmark and by hand
    import sys

    print(build_tiny_pipeline(Path(sys.argv[1])))
