"""Checks shared by the Qwen nodes: model family, ComfyUI features, running a core node's logic."""
from __future__ import annotations

from ..likeness.errors import BadInputError, LikenessError


def comfy_version() -> tuple[int, ...]:
    try:
        from comfyui_version import __version__
    except ImportError:
        return (0,)
    return tuple(int(p) for p in __version__.split(".")[:3] if p.isdigit())


def require_2511_support() -> None:
    """2511 needs the `index_timestep_zero` reference method, added in ComfyUI 0.5.0."""
    if comfy_version() < (0, 5, 0):
        have = ".".join(map(str, comfy_version()))
        raise LikenessError(f"Qwen-Image-Edit-2511 needs ComfyUI 0.5.0 or newer (its index_timestep_zero reference "
                            f"method); this ComfyUI is {have}. Update ComfyUI, or choose model 2509.")


def require_qwen_clip(clip) -> None:
    name = type(getattr(clip, "cond_stage_model", None)).__name__
    if "Qwen" not in name:
        raise BadInputError(f"This CLIP is {name}, not the Qwen2.5-VL text encoder: load "
                            "qwen_2.5_vl_7b_fp8_scaled.safetensors with Load CLIP, type qwen_image.")


def require_qwen_model(model) -> None:
    name = type(getattr(model, "model", None)).__name__
    if name != "QwenImage":
        raise BadInputError(f"This MODEL is {name}, not Qwen-Image: load a Qwen-Image(-Edit) diffusion model.")


def run_core(node_id: str, **inputs):
    """First output of a core node, whether it is a V1 or a V3 node in this ComfyUI."""
    import nodes as core_nodes

    cls = core_nodes.NODE_CLASS_MAPPINGS[node_id]
    if hasattr(cls, "define_schema"):
        out = cls.execute(**inputs)
        return out.args[0] if hasattr(out, "args") else out[0]
    return getattr(cls(), cls.FUNCTION)(**inputs)[0]
