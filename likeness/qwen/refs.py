"""Reference image sizes for Qwen-Image-Edit (2509/2511).

Each reference goes twice into the model: to the vision-language encoder at about 384 x 384 px and to the VAE at
about 1 MP. Sizes follow diffusers' QwenImageEditPlusPipeline (area-preserving, rounded to multiples of 32), or
multiples of 112 — the common multiple of the VL grid (28 px) and the latent patch grid (16 px), which stops the
edit from zooming or shifting. The output latent is sized from reference 1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

VL_AREA = 384 * 384
VAE_AREA = 1024 * 1024


def fit(width: int, height: int, area: int, multiple: int = 32) -> tuple[int, int]:
    """(w, h) with about `area` pixels, the aspect of width x height, both multiples of `multiple`."""
    ratio = width / height
    w = math.sqrt(area * ratio)
    h = w / ratio
    return max(multiple, round(w / multiple) * multiple), max(multiple, round(h / multiple) * multiple)


def resize(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI IMAGE (B,H,W,C) -> (B,height,width,3), antialiased; alpha dropped."""
    x = images[..., :3].movedim(-1, 1).float()
    if x.shape[-1] == width and x.shape[-2] == height:
        return x.movedim(1, -1)
    y = F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return y.clamp(0, 1).movedim(1, -1)


def plan(sizes: list[tuple[int, int]], vae_area: int = VAE_AREA, align: int = 32,
         vl_area: int = VL_AREA) -> list[dict]:
    """Per reference (w, h): its VL size and VAE size; the output latent follows reference 1's VAE size."""
    return [{"input": (w, h), "vl": fit(w, h, vl_area, 28 if align == 112 else 32), "vae": fit(w, h, vae_area, align)}
            for w, h in sizes]


def tokens_per_reference(vae_size: tuple[int, int]) -> int:
    """DiT image tokens a reference adds (8x VAE, 2x2 patches): what each extra reference costs."""
    return (vae_size[0] // 16) * (vae_size[1] // 16)
