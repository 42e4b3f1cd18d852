"""Done-when of the foundation: core loaders read the tiny Qwen files, a 2-reference edit samples into an image."""
import numpy as np
from PIL import Image


def _reference(tmp_path, name, color):
    path = tmp_path / name
    img = np.zeros((48, 64, 3), np.uint8)
    img[...] = color
    img[8:40, 16:48] = 255 - np.array(color, np.uint8)
    Image.fromarray(img).save(path)
    return path


def test_two_reference_edit_samples_an_image(comfy, tiny_qwen, tmp_path):
    a = comfy.upload(_reference(tmp_path, "ref_a.png", (200, 40, 40)))
    b = comfy.upload(_reference(tmp_path, "ref_b.png", (40, 40, 200)))
    graph = {
        "unet": {"class_type": "UNETLoader", "inputs": {"unet_name": tiny_qwen["dit"], "weight_dtype": "default"}},
        "clip": {"class_type": "CLIPLoader", "inputs": {"clip_name": tiny_qwen["te"], "type": "qwen_image"}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_qwen["vae"]}},
        "img_a": {"class_type": "LoadImage", "inputs": {"image": a}},
        "img_b": {"class_type": "LoadImage", "inputs": {"image": b}},
        # VL tokens from both images; the reference latents are encoded at their own (small) size
        "encode": {"class_type": "TextEncodeQwenImageEditPlus",
                   "inputs": {"clip": ["clip", 0], "prompt": "put the two objects side by side",
                              "image1": ["img_a", 0], "image2": ["img_b", 0]}},
        "lat_a": {"class_type": "VAEEncode", "inputs": {"pixels": ["img_a", 0], "vae": ["vae", 0]}},
        "lat_b": {"class_type": "VAEEncode", "inputs": {"pixels": ["img_b", 0], "vae": ["vae", 0]}},
        "ref_a": {"class_type": "ReferenceLatent", "inputs": {"conditioning": ["encode", 0], "latent": ["lat_a", 0]}},
        "ref_b": {"class_type": "ReferenceLatent", "inputs": {"conditioning": ["ref_a", 0], "latent": ["lat_b", 0]}},
        "neg": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["ref_b", 0]}},
        "empty": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
        "sample": {"class_type": "KSampler",
                   "inputs": {"model": ["unet", 0], "positive": ["ref_b", 0], "negative": ["neg", 0],
                              "latent_image": ["empty", 0], "seed": 7, "steps": 2, "cfg": 2.5,
                              "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["vae", 0]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": "tiny_qwen"}},
    }
    outputs = comfy.run(graph)
    [image] = comfy.images(outputs, "save")
    assert image.shape == (48, 64, 3)
    assert np.isfinite(image.astype(np.float32)).all()
    assert image.std() > 0, "decoded image is constant"
