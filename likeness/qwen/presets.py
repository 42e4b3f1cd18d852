"""Sampling presets for Qwen-Image(-Edit): what the official ComfyUI templates and Lightning use."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingPreset:
    shift: float            # ModelSamplingAuraFlow shift
    steps: int
    cfg: float
    cfg_norm: float = 1.0   # CFGNorm strength
    sampler: str = "euler"
    scheduler: str = "simple"


SAMPLING = {
    "2511 base (40 steps, cfg 4)": SamplingPreset(3.1, 40, 4.0),
    "2509 base (20 steps, cfg 4)": SamplingPreset(3.0, 20, 4.0),
    "2509 base (40 steps, cfg 4)": SamplingPreset(3.0, 40, 4.0),
    "Qwen-Image 2512 base (50 steps, cfg 4)": SamplingPreset(3.1, 50, 4.0),
    "Lightning 4-step (cfg 1)": SamplingPreset(3.0, 4, 1.0),
    "Lightning 8-step (cfg 1)": SamplingPreset(3.0, 8, 1.0),
}
