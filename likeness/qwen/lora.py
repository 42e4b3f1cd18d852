"""LoRA stacks: entries, presets from models.yaml, and checks that a file really is a LoRA for this model."""
from __future__ import annotations

from dataclasses import dataclass

LORA_MARKERS = (".lora_up.", ".lora_down.", ".lora_A.", ".lora_B.", ".lora.up.", ".lora.down.", "_lora.up.",
                ".alpha", ".lora_linear_layer.", ".hada_w1", ".lokr_w1", ".oft_blocks", ".diff", ".dora_scale")


@dataclass(frozen=True)
class LoraEntry:
    name: str
    strength: float = 1.0


def looks_like_lora(keys) -> bool:
    return any(any(m in k for m in LORA_MARKERS) for k in keys)


def lora_modules(keys) -> set[str]:
    """Distinct layer names a LoRA file adapts (its keys minus the adapter suffixes)."""
    out = set()
    for k in keys:
        for m in LORA_MARKERS:
            if m in k:
                out.add(k.split(m)[0])
                break
    return out


def presets() -> dict[str, LoraEntry]:
    """Named presets for the LoRAs models.yaml lists: Lightning at 1.0, multiple angles at 1.25."""
    from ..models.registry import load_manifest

    out = {}
    for e in load_manifest():
        if e.folder != "loras":
            continue
        strength = 1.25 if "angles" in e.key else 1.0
        out[e.key.replace("_", " ")] = LoraEntry(e.file, strength)
    return out


def is_lightning(name: str) -> bool:
    return "lightning" in name.lower()
