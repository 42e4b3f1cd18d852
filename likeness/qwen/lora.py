"""LoRA stacks: entries, presets from models.yaml, and whether a file really is a LoRA for this model.

A LoRA is judged by what ComfyUI itself makes of it: `judge(sd, load)` runs core's loader (`load`, e.g.
`lambda d: comfy.lora.load_lora(d, key_map)` on the file after `comfy.lora_convert.convert_lora`) on a dict that
records which keys core read. Core's loader reads exactly the tensors it turns into patches, so the keys it never
read are the ones it did not match, whatever the format (diffusers/peft, kohya, mochi, LoHa, LoKr, GLoRA, OFT, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# what follows a module's name in the keys of the adapter formats core's loader reads (comfy/lora.py and
# comfy/weight_adapter/*): the tensors that carry a change ...
ADAPTER_SUFFIXES = (
    ".lora_up.weight", ".lora_down.weight", ".lora_mid.weight", "_lora.up.weight", "_lora.down.weight",
    ".lora_A.weight", ".lora_B.weight", ".lora_B.bias", ".lora.up.weight", ".lora.down.weight", ".lora_A", ".lora_B",
    ".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight", ".lora_A.default.weight",
    ".lora_B.default.weight", ".hada_w1_a", ".hada_w1_b", ".hada_w2_a", ".hada_w2_b", ".hada_t1", ".hada_t2",
    ".lokr_w1", ".lokr_w2", ".lokr_w1_a", ".lokr_w1_b", ".lokr_w2_a", ".lokr_w2_b", ".lokr_t2",
    ".a1.weight", ".a2.weight", ".b1.weight", ".b2.weight", ".oft_blocks", ".w_norm", ".b_norm", ".diff", ".diff_b",
    ".set_weight")
# ... and the ones that only qualify them
AUX_SUFFIXES = (".alpha", ".dora_scale", ".reshape_weight", ".rescale")


@dataclass(frozen=True)
class LoraEntry:
    name: str
    strength: float = 1.0


def module_of(key: str) -> str | None:
    """The module a LoRA key adapts (the key minus its adapter suffix); None for a key of no adapter format."""
    for suffix in sorted(ADAPTER_SUFFIXES + AUX_SUFFIXES, key=len, reverse=True):
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[:-len(suffix)]
    return None


def looks_like_lora(keys) -> bool:
    """Any key in an adapter format core reads (an alpha alone does not make a LoRA)."""
    return any(k.endswith(ADAPTER_SUFFIXES) for k in keys)


def lora_modules(keys) -> set[str]:
    """Distinct modules (layer names) a LoRA file adapts."""
    return {m for m in map(module_of, keys) if m is not None}


class _ReadRecorder(dict):
    """A state dict that remembers which keys were read (core's loader reads each tensor it uses)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.read: set = set()

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.read.add(key)
        return value

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return default


@dataclass
class LoraMatch:
    weights: set = field(default_factory=set)      # model weights core patches (real weights, not key aliases)
    missed: set = field(default_factory=set)       # modules of the LoRA core matched to no weight
    unmatched: list = field(default_factory=list)  # every key core did not use, sorted
    is_lora: bool = False                          # any key in an adapter format (or anything core patched)
    patches: dict = field(default_factory=dict)    # what `load` returned

    @property
    def matched(self) -> int:
        return len(self.weights)

    @property
    def modules(self) -> int:
        """The LoRA's layers: the weights it patches plus its modules that found no weight."""
        return len(self.weights) + len(self.missed)

    def summary(self, name: str, strength: float, show: int = 3) -> str:
        text = f"{name} @ {strength:g}: matched {self.matched} of {self.modules} layers"
        missed = sorted(self.missed)
        if missed:
            more = f" (+{len(missed) - show} more)" if len(missed) > show else ""
            text += f"; not matched: {', '.join(missed[:show])}{more}"
        return text


def judge(sd: dict, load) -> LoraMatch:
    """What core's `load(state_dict) -> patch dict` makes of the (already converted) LoRA `sd`."""
    recorder = _ReadRecorder(sd)
    patches = load(recorder) or {}
    weights = {k[0] if isinstance(k, tuple) else k for k in patches}  # (weight, offset): a slice of a weight
    unmatched = sorted(k for k in sd if k not in recorder.read)
    used = {module_of(k) for k in recorder.read}
    missed = {m for m in map(module_of, unmatched) if m is not None} - used
    return LoraMatch(weights, missed, unmatched, looks_like_lora(sd.keys()) or bool(patches), patches)


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
