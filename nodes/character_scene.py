"""Character Scene: put the person from a photo into a new scene, starting from the photo, partially noised."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..likeness.qwen.encode import encode_edit
from . import common
from .qwen_common import require_2511_support, require_qwen_clip, require_qwen_model
from .qwen_encode import model_inputs


class LikenessCharacterScene(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessCharacterScene", display_name="Character Scene", category="Likeness/Qwen",
            description="Qwen-Image-Edit from the character's own latent: denoise 0.7 keeps the person and "
                        "re-imagines the scene; 1.0 is a fresh edit; 0 returns the photo.",
            inputs=[io.Model.Input("model", tooltip="Qwen-Image-Edit, patched by Qwen Sampling Preset."),
                    io.Clip.Input("clip"), io.Vae.Input("vae"),
                    io.Image.Input("character", tooltip="The person (reference 1; the output has its size)."),
                    io.String.Input("instruction", multiline=True, default="",
                                    tooltip="The scene, e.g. 'the woman stands on a beach at sunset, same face'."),
                    io.String.Input("negative", multiline=True, default=""),
                    io.Float.Input("denoise", default=0.7, min=0.0, max=1.0, step=0.01,
                                   tooltip="How much is re-drawn: 0 = the photo, 0.7 = new scene, same person, "
                                           "1 = a fresh edit."),
                    io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                    io.Int.Input("steps", default=40, min=1, max=200, tooltip="40 for 2511 base, 4 with Lightning."),
                    io.Float.Input("cfg", default=4.0, min=0.0, max=30.0, step=0.1,
                                   tooltip="4 for the base model, 1 with Lightning."),
                    io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler"),
                    io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default="simple"),
                    *model_inputs(),
                    io.Image.Input("image2", optional=True, tooltip="Another reference (other view, outfit...)."),
                    io.Image.Input("image3", optional=True)],
            outputs=[io.Image.Output(display_name="image"), io.Latent.Output(display_name="latent"),
                     io.String.Output(display_name="info")],
        )

    @classmethod
    def execute(cls, model, clip, vae, character, instruction, negative, denoise, seed, steps, cfg, sampler_name,
                scheduler, version, vae_megapixels, align, image2=None, image3=None) -> io.NodeOutput:
        import nodes as core

        require_qwen_model(model)
        require_qwen_clip(clip)
        if version == "2511":
            require_2511_support()
        enc = encode_edit(clip, vae, instruction, negative, [character, image2, image3], version,
                          int(vae_megapixels * 1024 * 1024), int(align))
        start = {"samples": enc.reference_latents[0]}  # the character itself, at reference 1's size
        (latent,) = core.common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, enc.positive,
                                         enc.negative, start, denoise=denoise)
        common.log.info("likeness: character scene, denoise %.2f\n%s", denoise, enc.info())
        images = vae.decode(latent["samples"])
        if images.ndim == 5:  # video-style VAEs decode (B, T, H, W, C)
            images = images.reshape(-1, *images.shape[-3:])
        return io.NodeOutput(images, latent, enc.info())
