"""Pictures are numbered by input slot, as core's TextEncodeQwenImageEditPlus numbers them: our Qwen Edit Encode with
image1 and image3 connected (image2 empty) samples exactly what core's node with image1 and image3 samples, and
not what core samples with the same two images in image1 and image2 — the slot is part of the prompt."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

# 384 x 384 is the size both sides give the vision encoder (core scales to 384^2 px, ours to 384^2 rounded to 32):
# no resampling on either side. The reference latents are encoded at that size too (our vae_megapixels).
SIDE = 384
VAE_MP = SIDE * SIDE / 2 ** 20
PROMPT = "the person of picture 3 stands in the garden of picture 1"


def picture(tmp_path, comfy, name: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    img = (rng.uniform(0, 1, (SIDE // 16, SIDE // 16, 3)) * 255).astype(np.uint8)
    path = tmp_path / name
    Image.fromarray(img).resize((SIDE, SIDE), Image.NEAREST).save(path)
    return comfy.upload(path, name)


def common(tiny, images: dict[str, str]) -> dict:
    g = {"unet": {"class_type": "UNETLoader", "inputs": {"unet_name": tiny["dit"], "weight_dtype": "default"}},
         "clip": {"class_type": "CLIPLoader", "inputs": {"clip_name": tiny["te"], "type": "qwen_image"}},
         "vae": {"class_type": "VAELoader", "inputs": {"vae_name": tiny["vae"]}},
         "empty": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 96, "height": 64, "batch_size": 1}}}
    for slot, name in images.items():
        g[f"load_{slot}"] = {"class_type": "LoadImage", "inputs": {"image": name}}
    return g


def finish(g: dict, positive: list, negative: list, tag: str) -> dict:
    """The same KSampler, decode and saves for every graph of this file."""
    g["sample"] = {"class_type": "KSampler", "inputs": {
        "model": ["unet", 0], "positive": positive, "negative": negative, "latent_image": ["empty", 0], "seed": 23,
        "steps": 2, "cfg": 2.5, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}}
    g["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["vae", 0]}}
    g["save"] = {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": f"slots_{tag}"}}
    g["latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sample", 0],
                                                          "filename_prefix": f"latents/slots_{tag}"}}
    return g


def ours(tiny, images: dict[str, str]) -> dict:
    """LikenessQwenEditEncode with the images in the given slots ("image1", "image3", ...)."""
    g = common(tiny, images)
    enc = {"clip": ["clip", 0], "vae": ["vae", 0], "prompt": PROMPT, "negative": "", "version": "auto",
           "vae_megapixels": VAE_MP, "align": "32"}
    enc.update({slot: [f"load_{slot}", 0] for slot in images})
    g["enc"] = {"class_type": "LikenessQwenEditEncode", "inputs": enc}
    return finish(g, ["enc", 0], ["enc", 1], "ours")


def core(tiny, images: dict[str, str]) -> dict:
    """Core's TextEncodeQwenImageEditPlus (positive and an empty negative, both seeing the images) + the reference
    latents appended with ReferenceLatent in slot order, as our node appends them."""
    g = common(tiny, images)
    for role, text in (("pos", PROMPT), ("neg", "")):
        inputs = {"clip": ["clip", 0], "prompt": text}
        inputs.update({slot: [f"load_{slot}", 0] for slot in images})
        g[f"{role}_text"] = {"class_type": "TextEncodeQwenImageEditPlus", "inputs": inputs}
        last = [f"{role}_text", 0]
        for slot in sorted(images):
            g[f"lat_{slot}"] = {"class_type": "VAEEncode", "inputs": {"pixels": [f"load_{slot}", 0], "vae": ["vae", 0]}}
            g[f"{role}_ref_{slot}"] = {"class_type": "ReferenceLatent",
                                       "inputs": {"conditioning": last, "latent": [f"lat_{slot}", 0]}}
            last = [f"{role}_ref_{slot}", 0]
        g[role] = last
    positive, negative = g.pop("pos"), g.pop("neg")
    return finish(g, positive, negative, "core")


def sample(comfy, g: dict) -> tuple[np.ndarray, np.ndarray]:
    out = comfy.run(g)
    [image] = comfy.images(out, "save")
    [ref] = out["latent"]["latents"]
    latent = safetensors_torch.load_file(str(comfy.output_dir / ref.get("subfolder", "") / ref["filename"]))
    return image, latent["latent_tensor"].float().numpy()


@pytest.fixture(scope="module")
def pictures(comfy, tiny_qwen, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slots")
    return picture(tmp, comfy, "slots_garden.png", 1), picture(tmp, comfy, "slots_person.png", 2)


def test_image1_and_image3_give_what_core_gives_with_image1_and_image3(comfy, tiny_qwen, pictures):
    garden, person = pictures
    ours_image, ours_latent = sample(comfy, ours(tiny_qwen, {"image1": garden, "image3": person}))
    core_image, core_latent = sample(comfy, core(tiny_qwen, {"image1": garden, "image3": person}))
    assert np.abs(ours_latent - core_latent).max() == 0.0
    assert np.abs(ours_image.astype(int) - core_image.astype(int)).max() == 0
    # the slot matters: core with the same two images in image1 and image2 says "Picture 2", and samples otherwise
    _, core12_latent = sample(comfy, core(tiny_qwen, {"image1": garden, "image2": person}))
    assert np.abs(ours_latent - core12_latent).max() > 1e-4, "image3 was numbered as if it were image2"
