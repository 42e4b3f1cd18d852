"""Qwen Edit Encode: a prompt and up to 6 reference images -> positive, negative and the output latent."""
from __future__ import annotations

from comfy_api.latest import io

from ..likeness.qwen.encode import encode_edit
from . import common
from .qwen_common import require_2511_support, require_qwen_clip

MAX_REFS = 6


def reference_inputs() -> list:
    return [io.Image.Input(f"image{i}", optional=i > 1,
                           tooltip="Reference 1: the image being edited (the output takes its size)." if i == 1 else
                           f"Reference {i} (optional): another view of the person, an object, a style.")
            for i in range(1, MAX_REFS + 1)]


def model_inputs() -> list:
    return [
        io.Combo.Input("version", options=["auto", "2511", "2509"], default="auto",
                       tooltip="auto = ComfyUI reads it from the checkpoint (0.5.0+ recognises 2511 files). Choose "
                               "one only to override: 2511 (needs ComfyUI 0.5.0+, reference method "
                               "index_timestep_zero) or 2509."),
        io.Float.Input("vae_megapixels", default=1.0, min=0.01, max=2.0, step=0.01,
                       tooltip="Size each reference is VAE-encoded at (about 1 MP, as Qwen was trained). Each extra "
                               "1 MP reference adds ~4k tokens of attention."),
        io.Combo.Input("align", options=["32", "112"], default="32",
                       tooltip="Round reference sizes to 32 px (as diffusers) or 112 px (the common grid of the VL "
                               "encoder and the latent: least zoom/shift)."),
    ]


class LikenessQwenEditEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessQwenEditEncode", display_name="Qwen Edit Encode (multi-reference)",
            category="Likeness/Qwen",
            description="Encodes an edit instruction with up to 6 reference images for Qwen-Image-Edit 2509/2511. "
                        "Positive and negative both carry the references; results are cached, so a new seed never "
                        "re-runs the text encoder.",
            inputs=[io.Clip.Input("clip", tooltip="Qwen2.5-VL (Load CLIP, type qwen_image)."),
                    io.Vae.Input("vae", tooltip="Qwen-Image VAE."),
                    io.String.Input("prompt", multiline=True, default="",
                                    tooltip="The edit, e.g. 'the man from picture 1 sits in a café in Paris'."),
                    io.String.Input("negative", multiline=True, default="", tooltip="Negative prompt (often empty)."),
                    *model_inputs(), *reference_inputs()],
            outputs=[io.Conditioning.Output(display_name="positive"), io.Conditioning.Output(display_name="negative"),
                     io.Latent.Output(display_name="latent", tooltip="Empty latent at reference 1's size."),
                     io.String.Output(display_name="info", tooltip="Reference sizes and cache hits.")],
        )

    @classmethod
    def execute(cls, clip, vae, prompt, negative, version, vae_megapixels, align, image1, **more) -> io.NodeOutput:
        require_qwen_clip(clip)
        if version == "2511":
            require_2511_support()
        images = [image1] + [more.get(f"image{i}") for i in range(2, MAX_REFS + 1)]
        enc = encode_edit(clip, vae, prompt, negative, images, version, int(vae_megapixels * 1024 * 1024), int(align))
        common.log.info("likeness: qwen edit encode\n%s", enc.info())
        return io.NodeOutput(enc.positive, enc.negative, enc.latent, enc.info(), ui={"text": [enc.info()]})
