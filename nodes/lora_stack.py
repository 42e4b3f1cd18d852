"""LoRA Stack (chainable list of LoRAs) and Apply LoRA Stack (patch a MODEL, report what matched)."""
from __future__ import annotations

import comfy.lora
import comfy.lora_convert
import comfy.sd
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io

from ..likeness.errors import BadInputError, pick
from ..likeness.qwen import lora
from . import common
from .qwen_common import require_qwen_model
from .types import LoraStack

SLOTS = 4
NONE = "None"


class LikenessLoraStack(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        files = [NONE] + folder_paths.get_filename_list("loras")
        slots = []
        for i in range(1, SLOTS + 1):
            slots += [io.Combo.Input(f"lora_{i}", options=files, default=NONE, tooltip=f"LoRA {i} (models/loras)."),
                      io.Float.Input(f"strength_{i}", default=1.0, min=-5.0, max=5.0, step=0.05,
                                     tooltip="Strengths add linearly across the stack."),
                      io.Boolean.Input(f"on_{i}", default=True, tooltip="Switch this entry off without removing it.")]
        return io.Schema(
            node_id="LikenessLoraStack", display_name="LoRA Stack", category="Likeness/LoRA",
            description="Up to 4 LoRAs (plus a preset), chainable: connect another stack to `stack` for more.",
            inputs=[io.Combo.Input("preset", options=[NONE] + list(lora.presets()), default=NONE,
                                   tooltip="Adds a known LoRA at its recommended strength (Lightning 1.0, multiple "
                                           "angles 1.25 — its prompts are camera commands)."),
                    *slots, LoraStack.Input("stack", optional=True, tooltip="Entries from another LoRA Stack.")],
            outputs=[LoraStack.Output(display_name="stack")],
        )

    @classmethod
    def execute(cls, preset, stack=None, **slots) -> io.NodeOutput:
        entries = list(stack or [])
        if preset != NONE:
            entries.append(pick(lora.presets(), preset, "LoRA preset"))
        for i in range(1, SLOTS + 1):
            name = slots.get(f"lora_{i}", NONE)
            if name != NONE and slots.get(f"on_{i}", True):
                entries.append(lora.LoraEntry(name, float(slots.get(f"strength_{i}", 1.0))))
        return io.NodeOutput(entries)


def _unscaled_fp8(model) -> bool:
    fp8 = {getattr(torch, n) for n in ("float8_e4m3fn", "float8_e5m2") if hasattr(torch, n)}
    sd_keys = model.model.diffusion_model.state_dict().keys()
    has_fp8 = any(p.dtype in fp8 for p in model.model.diffusion_model.parameters())
    return has_fp8 and not any(k.endswith(("scale_weight", "weight_scale")) for k in sd_keys)


class LikenessApplyLoraStack(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessApplyLoraStack", display_name="Apply LoRA Stack", category="Likeness/LoRA",
            description="Patches the model with every LoRA of the stack and reports how many layers each matched. "
                        "A LoRA that matches nothing (made for another base model) is an error, not a silent no-op.",
            inputs=[io.Model.Input("model"), LoraStack.Input("stack")],
            outputs=[io.Model.Output(display_name="model"),
                     io.String.Output(display_name="report", tooltip="Matched layers per LoRA, and warnings.")],
        )

    @classmethod
    def execute(cls, model, stack) -> io.NodeOutput:
        require_qwen_model(model)
        key_map = comfy.lora.model_lora_keys_unet(model.model, {})
        lines, fp8_warned = [], False
        for entry in stack:
            path = common.resolve_file(entry.name, ("loras",), "faceswap-fast")
            try:
                sd = comfy.utils.load_torch_file(str(path), safe_load=True)
            except Exception as e:  # a truncated download or a foreign file
                raise BadInputError(f"Cannot read the LoRA {entry.name} ({type(e).__name__}: {e}). The file is corrupt "
                                    "or incomplete: download it again (python install.py --workflow faceswap-fast for "
                                    "the shipped ones).") from e
            # judged by what core itself makes of the file: its conversion, then the patches its loader builds
            # (the very calls load_lora_for_models makes), so every format core applies is accepted
            converted = comfy.lora_convert.convert_lora(sd)
            match = lora.judge(converted, lambda d: comfy.lora.load_lora(d, key_map, log_missing=False))
            if not match.is_lora:
                raise BadInputError(f"{entry.name} is not a LoRA: none of its {len(sd)} keys is in a LoRA/LyCORIS "
                                    "format ComfyUI reads (lora_A/lora_B, lora_down/lora_up, hada_*, lokr_*, ...). "
                                    "Is it a full model? Load it with Load Diffusion Model instead.")
            if not match.weights:
                examples = ", ".join(sorted(match.missed)[:2])
                raise BadInputError(f"{entry.name} matched 0 of {match.modules} layers: it matched none of this "
                                    "model's weights" + (f" (it adapts e.g. {examples})" if examples else "")
                                    + ", so it was made for another base model (e.g. SDXL, Flux, Wan). Use a LoRA "
                                    "trained for Qwen-Image / Qwen-Image-Edit, or take it out of the stack.")
            model, _ = comfy.sd.load_lora_for_models(model, None, sd, entry.strength, 0)  # as LoraLoaderModelOnly
            lines.append(match.summary(entry.name, entry.strength))
            if lora.is_lightning(entry.name) and not fp8_warned and _unscaled_fp8(model):
                fp8_warned = True
                lines.append("warning: a Lightning LoRA on an unscaled fp8 base gives grid artefacts; use the "
                             "fp8 'scaled'/'fp8mixed' base or bf16.")
        text = "\n".join(lines) or "empty stack: model unchanged"
        common.log.info("likeness: lora stack\n%s", text)
        return io.NodeOutput(model, text, ui={"text": [text]})
