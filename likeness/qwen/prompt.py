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


def edit_prompt(instruction: str, slots) -> str:
    """The user text the Qwen2.5-VL encoder sees, to be formatted into EDIT_TEMPLATE. Each image is announced by
    the number of its input slot, as core's TextEncodeQwenImageEditPlus does: with image1 and image3 connected the
    text says "Picture 1 ... Picture 3", so an instruction about picture 3 means the image in slot 3."""
    return "".join(f"Picture {slot}: {VISION}" for slot in slots) + instruction
