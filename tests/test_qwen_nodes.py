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


def cache_states(info: str) -> dict[str, str]:
    """{"vae ref 1": "hit", "positive": "encoded", ...} from the node's info text."""
    return dict(re.findall(r"(vae ref \d+|positive|negative) (hit|encoded)", info.splitlines()[-1]))


def te_lora(comfy, te_name: str, name: str) -> str:
    """A LoRA on every linear layer of the tiny text encoder's LLM, in ComfyUI's generic `text_encoders.<key>`
    format (the CLIP's own state-dict names: the file's keys under `qwen25_7b.transformer.`)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(3)
    lora = {}
    with safe_open(str(comfy.models_dir / "text_encoders" / te_name), "pt") as f:
        for key in f.keys():
            if key.startswith("model.layers.") and key.endswith("proj.weight"):
                out_dim, in_dim = f.get_slice(key).get_shape()
                base = "text_encoders.qwen25_7b.transformer." + key[:-len(".weight")]
                lora[f"{base}.lora_down.weight"] = torch.randn(4, in_dim, generator=g) * 0.5
                lora[f"{base}.lora_up.weight"] = torch.randn(out_dim, 4, generator=g) * 0.5
                lora[f"{base}.alpha"] = torch.tensor(4.0)
    assert len(lora) >= 3 * 2 * 7, sorted(lora)  # q/k/v/o + gate/up/down of both layers
    save_file(lora, str(comfy.models_dir / "loras" / name))
    return name


def test_encode_cache_hits_only_for_the_same_encoder_and_pixels(comfy, tiny_qwen, tmp_path):
    """Hits for the same CLIP and pixels (the same tensors on a re-run, or a new load of the same picture); misses
    for one pixel changed, a LoRA-patched CLIP, another CLIP object. ComfyUI re-runs the encode node only when one of
    its inputs changed, so every step below changes one (the version is applied after the cache: not in its key)."""
    a = ref(tmp_path, comfy, "cache_a.png", (128, 96), 42)

    def run(graph):
        out, info = run_with_info(comfy, graph)
        return comfy.images(out, "save")[0], cache_states(info)

    def graph(name=a, **kw):
        return encode_graph(tiny_qwen, [name], prompt="cache me", **kw)

    every = {"vae ref 1", "positive", "negative"}
    first, states = run(graph())
    assert states == dict.fromkeys(every, "encoded"), states
    # the same tensors again (LoadImage stays in ComfyUI's cache): away to version auto and back
    _, states = run(graph(version="auto"))
    assert states == dict.fromkeys(every, "hit"), states
    again, states = run(graph())
    assert states == dict.fromkeys(every, "hit"), states
    assert (again == first).all()
    # the same pixels from another file: new tensors, found by content
    b = ref(tmp_path, comfy, "cache_b.png", (128, 96), 42)
    same, states = run(graph(b))
    assert states == dict.fromkeys(every, "hit"), states
    assert (same == first).all()
    # one pixel changed by one level: another image
    pixels = np.array(Image.open(tmp_path / "cache_a.png"))
    pixels[50, 70, 1] = pixels[50, 70, 1] + 1 if pixels[50, 70, 1] < 255 else 254
    Image.fromarray(pixels).save(tmp_path / "cache_c.png")
    _, states = run(graph(comfy.upload(tmp_path / "cache_c.png", "cache_c.png")))
    assert states == dict.fromkeys(every, "encoded"), states
    # the same CLIP object through core LoraLoader (text-encoder keys, clip strength 1): another text encoder
    lora = te_lora(comfy, tiny_qwen["te"], "tiny_te_lora.safetensors")
    g = graph()
    g["lora"] = {"class_type": "LoraLoader", "inputs": {"model": ["unet", 0], "clip": ["clip", 0], "lora_name": lora,
                                                        "strength_model": 0.0, "strength_clip": 1.0}}
    g["enc"]["inputs"]["clip"] = ["lora", 1]
    log_start = len(comfy.log_path.read_text(errors="replace"))
    patched, states = run(g)
    assert states == {"vae ref 1": "hit", "positive": "encoded", "negative": "encoded"}, states
    assert np.abs(patched.astype(int) - first.astype(int)).mean() > 0.5  # the LoRA changed the conditioning
    assert "lora key not loaded" not in comfy.log_path.read_text(errors="replace")[log_start:]
    # the unpatched CLIP (still the same object: the loader stayed cached) still hits
    plain, states = run(graph())
    assert states == dict.fromkeys(every, "hit"), states
    assert (plain == first).all()
    # another CLIP object: the same text-encoder file under another name, loaded again
    copy = comfy.models_dir / "text_encoders" / "tiny_qwen_te_copy.safetensors"
    if not copy.exists():
        copy.write_bytes((comfy.models_dir / "text_encoders" / tiny_qwen["te"]).read_bytes())
    g = graph()
    g["clip"]["inputs"]["clip_name"] = copy.name
    other, states = run(g)
    assert states == {"vae ref 1": "hit", "positive": "encoded", "negative": "encoded"}, states
    assert (other == first).all()  # the same weights: encoded again to the same conditioning


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
    version = comfy.version()
    if version < (0, 5, 0):
        with pytest.raises(ExecutionFailed, match="needs ComfyUI 0.5.0 or newer"):
            comfy.run(graph)
    else:
        out, info = run_with_info(comfy, graph)
        assert comfy.images(out, "save")[0].shape[:2] == (96, 128)


def test_version_auto_lets_the_checkpoint_choose_the_reference_method(comfy, tiny_qwen, tmp_path):
    version = comfy.version()
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
