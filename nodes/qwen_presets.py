"""Qwen Sampling Preset: shift + CFGNorm on the model, and the steps/cfg that go with it."""
from __future__ import annotations

from comfy_api.latest import io

from ..likeness.errors import pick
from ..likeness.qwen.presets import SAMPLING
from .qwen_common import require_qwen_model, run_core


class LikenessQwenSamplingPreset(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessQwenSamplingPreset", display_name="Qwen Sampling Preset", category="Likeness/Qwen",
            description="Applies the sampling settings the official templates use (ModelSamplingAuraFlow shift and "
                        "CFGNorm) and outputs the matching steps and cfg. Sampler: euler, scheduler: simple.",
            inputs=[io.Model.Input("model"),
                    io.Combo.Input("preset", options=list(SAMPLING), default=list(SAMPLING)[0],
                                   tooltip="Lightning presets need a Lightning LoRA in the stack.")],
            outputs=[io.Model.Output(display_name="model"), io.Int.Output(display_name="steps"),
                     io.Float.Output(display_name="cfg")],
        )

    @classmethod
    def execute(cls, model, preset) -> io.NodeOutput:
        require_qwen_model(model)
        p = pick(SAMPLING, preset, "sampling preset")
        model = run_core("ModelSamplingAuraFlow", model=model, shift=p.shift)
        model = run_core("CFGNorm", model=model, strength=p.cfg_norm)
        return io.NodeOutput(model, p.steps, p.cfg)
