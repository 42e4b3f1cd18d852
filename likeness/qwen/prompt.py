"""The multi-reference prompt layout: each image is announced as "Picture i:" before the instruction."""
from __future__ import annotations

VISION = "<|vision_start|><|image_pad|><|vision_end|>"


def edit_prompt(instruction: str, n_images: int) -> str:
    """The user text the Qwen2.5-VL encoder sees (its system template is added by ComfyUI's tokenizer)."""
    return "".join(f"Picture {i + 1}: {VISION}" for i in range(n_images)) + instruction
