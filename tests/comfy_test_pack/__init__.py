"""Test-only ComfyUI custom node (never shipped): lets core loaders load *tiny* Qwen-Image files.

Stock ComfyUI hard-codes the 7B text encoder's dims and most Qwen-Image DiT dims. This pack patches, at import,
the two places that build those models so they read the dims from the tensor shapes instead — but only when a
file's dims differ from the full-size model, so real checkpoints load exactly as in stock ComfyUI.
"""
import comfy.model_detection
import comfy.sd
import comfy.text_encoders.llama as llama
import comfy.text_encoders.qwen_vl as qwen_vl

NODE_CLASS_MAPPINGS = {}
FULL_DIT_WIDTH = 3072
FULL_TE_WIDTH = 3584

_detect_unet_config = comfy.model_detection.detect_unet_config


def _rope_axes(head_dim):
    # full size: head 128 -> (16, 56, 56); keep the same proportions for tiny heads
    return (head_dim // 8, 7 * head_dim // 16, 7 * head_dim // 16)


def detect_unet_config(state_dict, key_prefix, *args, **kwargs):
    config = _detect_unet_config(state_dict, key_prefix, *args, **kwargs)
    if not config or config.get("image_model") != "qwen_image":
        return config
    width = state_dict[f"{key_prefix}img_in.weight"].shape[0]
    if width == FULL_DIT_WIDTH:
        return config
    head_dim = state_dict[f"{key_prefix}transformer_blocks.0.attn.norm_q.weight"].shape[0]
    config.update(
        attention_head_dim=head_dim,
        num_attention_heads=width // head_dim,
        joint_attention_dim=state_dict[f"{key_prefix}txt_in.weight"].shape[1],
        out_channels=state_dict[f"{key_prefix}proj_out.weight"].shape[0] // 4,
        axes_dims_rope=_rope_axes(head_dim),
    )
    return config


comfy.model_detection.detect_unet_config = detect_unet_config

# --- text encoder -------------------------------------------------------------------------------------------
_vision_dims = {}
_FullVision = qwen_vl.Qwen2VLVisionTransformer


class _ShapeAwareVision(_FullVision):
    def __init__(self, hidden_size=3584, output_hidden_size=3584, **kwargs):
        if _vision_dims:
            hidden_size = _vision_dims["hidden"]
            kwargs.update(intermediate_size=_vision_dims["intermediate"], num_layers=_vision_dims["layers"],
                          num_heads=max(1, hidden_size // 80))  # full size: 1280 wide, 16 heads of 80
        super().__init__(hidden_size=hidden_size, output_hidden_size=output_hidden_size, **kwargs)


qwen_vl.Qwen2VLVisionTransformer = _ShapeAwareVision
_load_te = comfy.sd.load_text_encoder_state_dicts


def _count(sd, prefix):
    return len({k[len(prefix):].split(".")[0] for k in sd if k.startswith(prefix)})


def load_text_encoder_state_dicts(state_dicts=[], *args, model_options={}, **kwargs):
    _vision_dims.clear()
    for sd in state_dicts:
        emb = sd.get("model.embed_tokens.weight")
        if emb is None or emb.shape[1] == FULL_TE_WIDTH or "model.layers.0.self_attn.k_proj.bias" not in sd:
            continue
        hidden = emb.shape[1]
        kv = sd["model.layers.0.self_attn.k_proj.weight"].shape[0] // 128  # head_dim stays 128 (class constant)
        model_options = {**model_options, "qwen25_7b_model_config": {
            "hidden_size": hidden,
            "intermediate_size": sd["model.layers.0.mlp.gate_proj.weight"].shape[0],
            "num_hidden_layers": _count(sd, "model.layers."),
            "num_attention_heads": sd["model.layers.0.self_attn.q_proj.weight"].shape[0] // 128,
            "num_key_value_heads": kv,
        }}
        if "visual.blocks.0.attn.qkv.weight" in sd:
            _vision_dims.update(hidden=sd["visual.blocks.0.attn.qkv.weight"].shape[1],
                                intermediate=sd["visual.blocks.0.mlp.gate_proj.weight"].shape[0],
                                layers=_count(sd, "visual.blocks."))
    return _load_te(state_dicts, *args, model_options=model_options, **kwargs)


comfy.sd.load_text_encoder_state_dicts = load_text_encoder_state_dicts
