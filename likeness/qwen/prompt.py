"""The multi-reference prompt layout: each image is announced as "Picture i:" before the instruction, inside the
edit system template (the one diffusers' QwenImageEditPlusPipeline and core's TextEncodeQwenImageEditPlus use).

The template must be passed to the tokenizer explicitly: ComfyUI's default image template already holds one
image placeholder of its own, which would shift every reference by one.
"""
from __future__ import annotations

VISION = "<|vision_start|><|image_pad|><|vision_end|>"
EDIT_TEMPLATE = ("<|im_start|>system\nDescribe the key features of the input image (color, shape, size, texture, "
                 "objects, background), then explain how the user's text instruction should alter or modify the "
                 "image. Generate a new image that meets the user's requirements while maintaining consistency with "
                 "the original input where appropriate.<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
                 "<|im_start|>assistant\n")


def edit_prompt(instruction: str, n_images: int) -> str:
    """The user text the Qwen2.5-VL encoder sees, to be formatted into EDIT_TEMPLATE."""
    return "".join(f"Picture {i + 1}: {VISION}" for i in range(n_images)) + instruction
