"""Qwen-Image-Edit nodes through a live ComfyUI with tiny real-architecture models."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from likeness.runner.client import ExecutionFailed

VAE_MP = 12288 / (1024 * 1024)  # references of 128x96 keep their exact size


def ref(tmp_path, comfy, name, size, seed):
    rng = np.random.default_rng(seed)
    img = (rng.uniform(0, 1, (size[1] // 8, size[0] // 8, 3)) * 255).astype(np.uint8)
    path = tmp_path / name
    Image.fromarray(img).resize(size, Image.NEAREST).save(path)
    return comfy.upload(path, name)


def loaders(tiny, dit="dit"):
    return {"unet": {"class_type": "UNETLoader", "inputs": {"unet_name": tiny[dit], "weight_dtype": "default"}},
            "clip": {"class_type": "CLIPLoader", "inputs": {"clip_name": tiny["te"], "type": "qwen_image"}},
            "vae": {"class_type": "VAELoader", "inputs": {"vae_name": tiny["vae"]}}}


def encode_graph(tiny, images, version="2509", prompt="the person from picture 1 in a garden", seed=5, model=None):
    g = loaders(tiny)
    enc = {"clip": ["clip", 0], "vae": ["vae", 0], "prompt": prompt, "negative": "", "version": version,
           "vae_megapixels": VAE_MP, "align": "32"}
    for i, name in enumerate(images, 1):
        g[f"img{i}"] = {"class_type": "LoadImage", "inputs": {"image": name}}
        enc[f"image{i}"] = [f"img{i}", 0]
    g["enc"] = {"class_type": "LikenessQwenEditEncode", "inputs": enc}
    g["sample"] = {"class_type": "KSampler", "inputs": {
        "model": model or ["unet", 0], "positive": ["enc", 0], "negative": ["enc", 1], "latent_image": ["enc", 2],
        "seed": seed, "steps": 2, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}}
    g["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["vae", 0]}}
    g["save"] = {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": "qwen"}}
    return g


def run_with_info(comfy, graph):
    events = []
    out = comfy.run(graph, on_event=events.append)
    info = next(e["data"]["output"]["text"][0] for e in events
                if e.get("type") == "executed" and e["data"].get("node") == "enc")
    return out, info


def test_every_reference_reaches_the_model_at_its_size(comfy, tiny_qwen, tmp_path):
    names = [ref(tmp_path, comfy, "r1.png", (128, 96), 1), ref(tmp_path, comfy, "r2.png", (96, 128), 2)]
    out, info = run_with_info(comfy, encode_graph(tiny_qwen, names))
    sizes = re.findall(r"VAE (\d+)x(\d+)", info)
    assert sizes == [("128", "96"), ("96", "128")], info
    assert "VL 448x320" in info  # ~384^2 pixels for the vision encoder, aspect kept, /32 as diffusers
    [image] = comfy.images(out, "save")
    assert image.shape[:2] == (96, 128) and image.std() > 0  # the output latent follows reference 1


def test_four_references_sample(comfy, tiny_qwen, tmp_path):
    names = [ref(tmp_path, comfy, f"q{i}.png", (128, 96), 10 + i) for i in range(4)]
    out, info = run_with_info(comfy, encode_graph(tiny_qwen, names))
    assert len(re.findall(r"reference \d:", info)) == 4
    assert comfy.images(out, "save")[0].shape[:2] == (96, 128)


def test_encode_cache_hits_for_the_same_content(comfy, tiny_qwen, tmp_path):
    a = ref(tmp_path, comfy, "cache_a.png", (128, 96), 42)
    _, first = run_with_info(comfy, encode_graph(tiny_qwen, [a], prompt="cache me"))
    assert "positive encoded" in first
    b = ref(tmp_path, comfy, "cache_b.png", (128, 96), 42)  # same pixels, another file: the node runs again
    _, second = run_with_info(comfy, encode_graph(tiny_qwen, [b], prompt="cache me", seed=6))
    assert "positive hit" in second and "negative hit" in second and "vae ref 1 hit" in second


def lora_graph(tiny, names, stack_inputs):
    g = encode_graph(tiny, names, model=["apply", 0])
    slots = {"preset": "None", "lora_1": "None", "strength_1": 1.0, "on_1": True}
    for i in range(2, 5):
        slots.update({f"lora_{i}": "None", f"strength_{i}": 1.0, f"on_{i}": True})
    slots.update(stack_inputs)
    g["stack"] = {"class_type": "LikenessLoraStack", "inputs": slots}
    g["apply"] = {"class_type": "LikenessApplyLoraStack", "inputs": {"model": ["unet", 0], "stack": ["stack", 0]}}
    return g


@pytest.mark.parametrize("kind", ["lora_diffusers", "lora_kohya"])
def test_lora_stack_changes_the_output(comfy, tiny_qwen, tmp_path, kind):
    names = [ref(tmp_path, comfy, "lora_ref.png", (128, 96), 7)]
    [plain] = comfy.images(comfy.run(encode_graph(tiny_qwen, names)), "save")
    events = []
    out = comfy.run(lora_graph(tiny_qwen, names, {"lora_1": tiny_qwen[kind], "strength_1": 2.0}), on_event=events.append)
    [patched] = comfy.images(out, "save")
    assert np.abs(patched.astype(int) - plain.astype(int)).mean() > 0.5
    report = next(e["data"]["output"]["text"][0] for e in events
                  if e.get("type") == "executed" and e["data"].get("node") == "apply")
    assert re.search(r"matched 6 of 6 layers", report), report


def test_unmatched_or_foreign_lora_is_an_error(comfy, tiny_qwen, tmp_path):
    names = [ref(tmp_path, comfy, "bad_lora_ref.png", (128, 96), 8)]
    with pytest.raises(ExecutionFailed, match="matched none of this model"):
        comfy.run(lora_graph(tiny_qwen, names, {"lora_1": tiny_qwen["lora_wrong"]}))
    with pytest.raises(ExecutionFailed, match="is not a LoRA"):
        comfy.run(lora_graph(tiny_qwen, names, {"lora_1": tiny_qwen["not_a_lora"]}))


def scene_graph(tiny, name, denoise, seed=3):
    g = loaders(tiny)
    g["char"] = {"class_type": "LoadImage", "inputs": {"image": name}}
    g["scene"] = {"class_type": "LikenessCharacterScene", "inputs": {
        "model": ["unet", 0], "clip": ["clip", 0], "vae": ["vae", 0], "character": ["char", 0],
        "instruction": "same person on a beach", "negative": "", "denoise": denoise, "seed": seed, "steps": 2,
        "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple", "version": "2509", "vae_megapixels": VAE_MP,
        "align": "32"}}
    g["save"] = {"class_type": "SaveImage", "inputs": {"images": ["scene", 0], "filename_prefix": "scene"}}
    return g


def test_character_scene_denoise_ends(comfy, tiny_qwen, tmp_path):
    name = ref(tmp_path, comfy, "character.png", (128, 96), 9)
    # denoise 0 gives back the character, up to the VAE round trip
    [zero] = comfy.images(comfy.run(scene_graph(tiny_qwen, name, 0.0)), "save")
    g = loaders(tiny_qwen)
    g["char"] = {"class_type": "LoadImage", "inputs": {"image": name}}
    g["enc"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["char", 0], "vae": ["vae", 0]}}
    g["dec"] = {"class_type": "VAEDecode", "inputs": {"samples": ["enc", 0], "vae": ["vae", 0]}}
    g["save"] = {"class_type": "SaveImage", "inputs": {"images": ["dec", 0], "filename_prefix": "roundtrip"}}
    [roundtrip] = comfy.images(comfy.run(g), "save")
    assert np.abs(zero.astype(int) - roundtrip.astype(int)).max() <= 1
    # denoise 1 is a fresh edit: the same as encode + KSampler from an empty latent with the same seed
    [one] = comfy.images(comfy.run(scene_graph(tiny_qwen, name, 1.0, seed=11)), "save")
    fresh = encode_graph(tiny_qwen, [name], prompt="same person on a beach", seed=11)
    [edit] = comfy.images(comfy.run(fresh), "save")
    assert np.abs(one.astype(int) - edit.astype(int)).max() <= 1
    # and in between something new is drawn
    [mid] = comfy.images(comfy.run(scene_graph(tiny_qwen, name, 0.7)), "save")
    assert np.abs(mid.astype(int) - zero.astype(int)).mean() > 0.5


def test_2511_needs_a_comfyui_that_supports_it(comfy, tiny_qwen, tmp_path):
    names = [ref(tmp_path, comfy, "r2511.png", (128, 96), 21)]
    graph = encode_graph(tiny_qwen, names, version="2511")
    graph["unet"]["inputs"]["unet_name"] = tiny_qwen["dit_2511"]
    version = tuple(int(x) for x in comfy.client._json("GET", "/system_stats")["system"]["comfyui_version"]
                    .split(".")[:3])
    if version < (0, 5, 0):
        with pytest.raises(ExecutionFailed, match="needs ComfyUI 0.5.0 or newer"):
            comfy.run(graph)
    else:
        out, info = run_with_info(comfy, graph)
        assert comfy.images(out, "save")[0].shape[:2] == (96, 128)


def test_version_auto_lets_the_checkpoint_choose_the_reference_method(comfy, tiny_qwen, tmp_path):
    version = tuple(int(x) for x in comfy.client._json("GET", "/system_stats")["system"]["comfyui_version"]
                    .split(".")[:3])
    if version < (0, 5, 0):
        pytest.skip("needs ComfyUI 0.5.0+: older cores cannot tell a 2511 checkpoint from the file")
    names = [ref(tmp_path, comfy, "auto2511.png", (128, 96), 22)]
    images = {}
    for choice in ("auto", "2511", "2509"):
        graph = encode_graph(tiny_qwen, names, version=choice)
        graph["unet"]["inputs"]["unet_name"] = tiny_qwen["dit_2511"]
        [images[choice]] = comfy.images(comfy.run(graph), "save")
    assert (images["auto"] == images["2511"]).all(), "auto must give what the 2511 checkpoint says"
    assert (images["auto"] != images["2509"]).any(), "the method must matter, or this test proves nothing"


def test_sampling_preset_feeds_ksampler(comfy, tiny_qwen, tmp_path):
    names = [ref(tmp_path, comfy, "preset.png", (128, 96), 31)]
    g = encode_graph(tiny_qwen, names, model=["preset", 0])
    g["preset"] = {"class_type": "LikenessQwenSamplingPreset",
                   "inputs": {"model": ["unet", 0], "preset": "Lightning 4-step (cfg 1)"}}
    g["sample"]["inputs"].update(steps=["preset", 1], cfg=["preset", 2])
    assert comfy.images(comfy.run(g), "save")[0].std() > 0
