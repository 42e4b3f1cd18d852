"""Apply LoRA Stack judges a LoRA by what ComfyUI itself makes of it (core's conversion, then the patches core's
loader builds): every format core applies is accepted and gives exactly what core's LoraLoaderModelOnly gives, the
report counts real weights, and a file that is no LoRA, or a LoRA for another model, is a clear error."""
from __future__ import annotations

import re

import numpy as np
import pytest

from likeness.runner.client import ExecutionFailed

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

RANK = 4
PATHS = [f"transformer_blocks.{b}.attn.{p}" for b in range(2) for p in ("to_q", "to_k", "to_v")]  # 6 weights


def _kohya(path: str) -> str:
    return "lora_unet_" + path.replace(".", "_")


def _lycoris(path: str) -> str:
    return "lycoris_" + path.replace(".", "_")


def build(fmt: str, shapes: dict, g: torch.Generator) -> dict:
    """A LoRA in format `fmt` on the 6 attention projections of the tiny DiT (core applies each of them)."""
    sd = {}
    for path in PATHS:
        out_f, in_f = shapes[path]

        def rnd(*shape, scale=0.5):
            return torch.randn(*shape, generator=g) * scale

        down, up = rnd(RANK, in_f), rnd(out_f, RANK)
        if fmt == "diffusers":  # diffusers / peft
            sd[f"transformer.{path}.lora_A.weight"], sd[f"transformer.{path}.lora_B.weight"] = down, up
        elif fmt == "kohya":  # kohya / musubi: lora_unet_<path with _>, an alpha that scales (alpha / rank)
            k = _kohya(path)
            sd[f"{k}.lora_down.weight"], sd[f"{k}.lora_up.weight"] = down, up
            sd[f"{k}.alpha"] = torch.tensor(2.0)
        elif fmt == "mochi":  # <path>.lora_A / .lora_B, no '.weight'
            sd[f"{path}.lora_A"], sd[f"{path}.lora_B"] = down, up
        elif fmt == "loha":  # LyCORIS LoHa: (w1_a @ w1_b) * (w2_a @ w2_b)
            k = _lycoris(path)
            sd.update({f"{k}.hada_w1_a": rnd(out_f, RANK), f"{k}.hada_w1_b": rnd(RANK, in_f),
                       f"{k}.hada_w2_a": rnd(out_f, RANK), f"{k}.hada_w2_b": rnd(RANK, in_f),
                       f"{k}.alpha": torch.tensor(float(RANK))})
        elif fmt == "lokr":  # LyCORIS LoKr: kron(w1, w2_a @ w2_b)
            k = _lycoris(path)
            sd.update({f"{k}.lokr_w1": rnd(4, 4), f"{k}.lokr_w2_a": rnd(out_f // 4, RANK),
                       f"{k}.lokr_w2_b": rnd(RANK, in_f // 4), f"{k}.alpha": torch.tensor(float(RANK))})
        elif fmt == "glora":  # LyCORIS GLoRA: W a1 a2 + b1 b2
            sd.update({f"{path}.a1.weight": rnd(in_f, RANK, scale=0.2), f"{path}.a2.weight": rnd(RANK, in_f, scale=0.2),
                       f"{path}.b1.weight": rnd(out_f, RANK), f"{path}.b2.weight": rnd(RANK, in_f)})
        else:
            raise ValueError(fmt)
    return {k: v.contiguous() for k, v in sd.items()}


FORMATS = ["diffusers", "kohya", "mochi", "loha", "lokr", "glora"]


@pytest.fixture(scope="module")
def loras(comfy, tiny_qwen):
    """File names (in the server's loras folder) of one LoRA per format, plus the bad ones."""
    from safetensors import safe_open

    with safe_open(str(comfy.models_dir / "diffusion_models" / tiny_qwen["dit"]), "pt") as f:
        shapes = {p: tuple(f.get_slice(f"{p}.weight").get_shape()) for p in PATHS}
        dit_weights = {k: f.get_tensor(k) for k in list(f.keys())[:6]}
    g = torch.Generator().manual_seed(1234)
    names = {}
    for fmt in FORMATS:
        names[fmt] = f"precheck_{fmt}.safetensors"
        safetensors_torch.save_file(build(fmt, shapes, g), str(comfy.models_dir / "loras" / names[fmt]))
    # a diffusers LoRA that also carries text-encoder layers: 6 weights patched, 2 layers core leaves alone
    partial = build("diffusers", shapes, g)
    partial.update({f"lora_te_text_model_encoder_layers_{i}_mlp_fc1.{n}": torch.randn(RANK, RANK, generator=g)
                    for i in range(2) for n in ("lora_down.weight", "lora_up.weight")})
    names["partial"] = "precheck_partial.safetensors"
    safetensors_torch.save_file(partial, str(comfy.models_dir / "loras" / names["partial"]))
    # no LoRA at all: some of the DiT's own weights (a full model's keys)
    names["full_model"] = "precheck_full_model.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in dit_weights.items()},
                                str(comfy.models_dir / "loras" / names["full_model"]))
    # a real kohya LoRA, but for SDXL: 3 layers, none of them in Qwen-Image
    foreign = {}
    for i in range(3):
        k = f"lora_unet_input_blocks_{i + 1}_1_transformer_blocks_0_attn1_to_q"
        foreign.update({f"{k}.lora_down.weight": torch.randn(RANK, 32, generator=g),
                        f"{k}.lora_up.weight": torch.randn(32, RANK, generator=g), f"{k}.alpha": torch.tensor(4.0)})
    names["foreign"] = "precheck_sdxl_lora.safetensors"
    safetensors_torch.save_file(foreign, str(comfy.models_dir / "loras" / names["foreign"]))
    return names


def graph(tiny, model: str, lora_name: str | None = None, strength: float = 1.0) -> dict:
    """Text-to-image on the tiny Qwen DiT; `model` is "plain", "core" (LoraLoaderModelOnly) or "stack" (ours)."""
    g = {"unet": {"class_type": "UNETLoader", "inputs": {"unet_name": tiny["dit"], "weight_dtype": "default"}},
         "clip": {"class_type": "CLIPLoader", "inputs": {"clip_name": tiny["te"], "type": "qwen_image"}},
         "vae": {"class_type": "VAELoader", "inputs": {"vae_name": tiny["vae"]}},
         "pos": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["clip", 0], "text": "a lighthouse at dusk"}},
         "neg": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["clip", 0], "text": ""}},
         "empty": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}
    source = ["unet", 0]
    if model == "core":
        g["lora"] = {"class_type": "LoraLoaderModelOnly",
                     "inputs": {"model": ["unet", 0], "lora_name": lora_name, "strength_model": strength}}
        source = ["lora", 0]
    elif model == "stack":
        slots = {"preset": "None"}
        for i in range(1, 5):
            slots.update({f"lora_{i}": "None", f"strength_{i}": 1.0, f"on_{i}": True})
        slots.update(lora_1=lora_name, strength_1=strength)
        g["stack"] = {"class_type": "LikenessLoraStack", "inputs": slots}
        g["apply"] = {"class_type": "LikenessApplyLoraStack", "inputs": {"model": ["unet", 0], "stack": ["stack", 0]}}
        source = ["apply", 0]
    g["sample"] = {"class_type": "KSampler", "inputs": {
        "model": source, "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["empty", 0], "seed": 17,
        "steps": 2, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}}
    g["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["vae", 0]}}
    g["save"] = {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": f"precheck_{model}"}}
    g["latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sample", 0],
                                                          "filename_prefix": f"latents/precheck_{model}"}}
    return g


def run(comfy, g: dict) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(decoded image, sampled latent as float32, Apply LoRA Stack's report) of one run."""
    events = []
    out = comfy.run(g, on_event=events.append)
    [image] = comfy.images(out, "save")
    [ref] = out["latent"]["latents"]
    latent = safetensors_torch.load_file(str(comfy.output_dir / ref.get("subfolder", "") / ref["filename"]))
    report = next((e["data"]["output"]["text"][0] for e in events
                   if e.get("type") == "executed" and e["data"].get("node") == "apply"), None)
    return image, latent["latent_tensor"].float().numpy(), report


@pytest.fixture(scope="module")
def plain(comfy, tiny_qwen):
    return run(comfy, graph(tiny_qwen, "plain"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_core_applies_is_accepted_and_equals_core(comfy, tiny_qwen, loras, plain, fmt):
    ours_image, ours_latent, report = run(comfy, graph(tiny_qwen, "stack", loras[fmt], 1.5))
    core_image, core_latent, _ = run(comfy, graph(tiny_qwen, "core", loras[fmt], 1.5))
    assert report == f"{loras[fmt]} @ 1.5: matched 6 of 6 layers", report  # real weights, not key aliases
    assert np.abs(ours_latent - core_latent).max() == 0.0
    assert np.abs(ours_image.astype(int) - core_image.astype(int)).max() == 0
    # the LoRA really acts, or the equality above would prove nothing
    assert np.abs(ours_latent - plain[1]).max() > 1e-3


def test_layers_core_leaves_alone_are_reported_not_matched(comfy, tiny_qwen, loras):
    _, _, report = run(comfy, graph(tiny_qwen, "stack", loras["partial"]))
    assert re.search(r"matched 6 of 8 layers; not matched: lora_te_text_model_encoder_layers_0_mlp_fc1, "
                     r"lora_te_text_model_encoder_layers_1_mlp_fc1$", report), report


def test_a_file_without_lora_keys_is_not_a_lora(comfy, tiny_qwen, loras):
    with pytest.raises(ExecutionFailed) as e:
        comfy.run(graph(tiny_qwen, "stack", loras["full_model"]))
    text = str(e.value)
    assert f"{loras['full_model']} is not a LoRA" in text and "Load Diffusion Model" in text, text


def test_a_lora_for_another_model_matches_0_and_says_what_to_do(comfy, tiny_qwen, loras):
    with pytest.raises(ExecutionFailed) as e:
        comfy.run(graph(tiny_qwen, "stack", loras["foreign"]))
    text = str(e.value)
    assert f"{loras['foreign']} matched 0 of 3 layers" in text, text
    assert "another base model" in text and "Use a LoRA trained for Qwen-Image" in text, text
