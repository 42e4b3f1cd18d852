"""Our Qwen-Image-Edit reference sizes and prompt layout match diffusers' QwenImageEditPlusPipeline, and ComfyUI's
own tokenizer turns our prompt into exactly one image embedding per reference."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from comfy_server import comfyui_path

from likeness.qwen import prompt, refs

edit_plus = pytest.importorskip("diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus",
                                reason="diffusers is not installed")
SIZES = [(1024, 1024), (1024, 768), (768, 1024), (1920, 1080), (640, 480), (3000, 2000), (512, 1536), (111, 97)]


@pytest.mark.parametrize("w,h", SIZES)
def test_reference_sizes_match_diffusers(w, h):
    [p] = refs.plan([(w, h)])
    assert p["vl"] == tuple(edit_plus.calculate_dimensions(edit_plus.CONDITION_IMAGE_SIZE, w / h))
    assert p["vae"] == tuple(edit_plus.calculate_dimensions(edit_plus.VAE_IMAGE_SIZE, w / h))
    assert (refs.VL_AREA, refs.VAE_AREA) == (edit_plus.CONDITION_IMAGE_SIZE, edit_plus.VAE_IMAGE_SIZE)


def diffusers_text(instruction: str, n: int) -> str:
    """The text diffusers' pipeline feeds its tokenizer for n images (read from its own source)."""
    import inspect

    src = inspect.getsource(edit_plus.QwenImageEditPlusPipeline)
    template = eval(src.split("prompt_template_encode = ", 1)[1].split("\n", 1)[0])  # a plain string literal
    picture = eval(src.split("img_prompt_template = ", 1)[1].split("\n", 1)[0])
    return template.format("".join(picture.format(i + 1) for i in range(n)) + instruction)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_prompt_layout_matches_diffusers(n):
    text = "the woman from picture 1 on a beach"
    assert prompt.EDIT_TEMPLATE.format(prompt.edit_prompt(text, range(1, n + 1))) == diffusers_text(text, n)


def test_pictures_are_numbered_by_slot_as_core_numbers_them():
    # core's TextEncodeQwenImageEditPlus announces "Picture {i + 1}" for each connected input i: 1 and 3 here
    text = prompt.edit_prompt("the person of picture 3 in the garden of picture 1", (1, 3))
    assert text.index("Picture 1: ") < text.index("Picture 3: ") and "Picture 2" not in text


TOKENIZE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from comfy.cli_args import args
args.cpu = True
import torch
from comfy.text_encoders.qwen_image import QwenImageTokenizer
text, template, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
images = [torch.full((1, 32, 32, 3), float(i) / 10) for i in range(n)]
tokens = QwenImageTokenizer().tokenize_with_weights(text, images=images, llama_template=template)
flat = [t[0] for row in next(iter(tokens.values())) for t in row]
embeds = [float(t["data"].mean()) for t in flat if isinstance(t, dict)]
print(json.dumps({"embeds": embeds, "bare_pads": sum(1 for t in flat if t == 151655)}))
"""


@pytest.mark.parametrize("n", [1, 3])
def test_comfyui_tokenizer_gets_one_image_per_reference_in_order(n):
    text = prompt.edit_prompt("put them in a garden", range(1, n + 1))
    out = subprocess.run([sys.executable, "-c", TOKENIZE, str(comfyui_path()), text, prompt.EDIT_TEMPLATE,
                          str(n)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["embeds"] == pytest.approx([i / 10 for i in range(n)])  # picture i gets image i
    assert result["bare_pads"] == 0  # no placeholder left without its image
