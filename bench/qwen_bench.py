"""Qwen-Image-Edit through ComfyUI's own loaders, random full-size weights: our encode + sample path against
stock TextEncodeQwenImageEditPlus, per model evaluation, for 1-3 references at 1 MP; the text encoder with and
without our cache; and the character-scene path's peak VRAM on a card capped at 24 GB (a 4090).

    COMFYUI_PATH=/path/to/ComfyUI python bench/qwen_bench.py            # on a GPU; writes BENCHMARKS.md
    COMFYUI_PATH=... python bench/qwen_bench.py --small --no-write       # CPU smoke test: tiny dims, same code

Models are built as ComfyUI builds them from files: a random state dict in the on-disk layout goes through
comfy.sd.load_diffusion_model_state_dict / load_text_encoder_state_dicts / VAE, so ModelPatcher, dtype choice
(bf16, or fp8 storage as UNETLoader's fp8_e4m3fn) and memory management are the real ones. Each time per
evaluation is set against the FLOP model (60 blocks: 226.5 MFLOP per token + 4 N^2 3072 attention) over the
device's measured bf16 matmul peak.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys

from common import REPO, machine, markdown_table, matmul_peak, median, timed, write_section

PROMPT = "The person from picture 1 stands on a beach at sunset, same face, same hair."


def setup(small: bool):
    """Import ComfyUI as its main.py would (CPU flag before model_management), plus the tiny-dims shim."""
    sys.path.insert(0, os.environ["COMFYUI_PATH"])
    from comfy.cli_args import args

    import torch

    args.cpu = small or not torch.cuda.is_available()
    if not args.cpu:
        import cuda_malloc  # noqa: F401  (stock main.py does this first)
    if small:
        sys.path.insert(0, str(REPO / "tests"))
        import comfy_test_pack  # noqa: F401  (reads tiny dims from tensor shapes; test-only)
    return torch.device("cpu") if args.cpu else torch.device("cuda")


def random_state_dict(module, device, dtype, seed: int) -> dict:
    """Random weights in `module`'s state-dict layout (built on the meta device): N(0, 1/fan_in), norms 1."""
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for name, t in module.state_dict().items():
        if name.startswith("__") or not t.dtype.is_floating_point:
            continue
        if t.ndim >= 2:
            x = torch.randn(t.shape, generator=g, device=device).mul_(t[0].numel() ** -0.5)
        elif any(k in name for k in ("norm", "gamma", "ln")) or name.endswith("scale"):
            x = torch.ones(t.shape, device=device)
        else:
            x = torch.randn(t.shape, generator=g, device=device).mul_(0.02)
        out[name] = x.to(dtype).cpu()
    return out


def modules(small: bool):
    """(DiT, text encoder, VAE) on the meta device, in the layout their files have."""
    import torch

    import comfy.ops
    from comfy.ldm.qwen_image.model import QwenImageTransformer2DModel
    from comfy.ldm.wan.vae import WanVAE
    from comfy.text_encoders import llama

    ops = comfy.ops.manual_cast
    with torch.device("meta"):
        if small:  # the dims of the tests' tiny models
            dit = QwenImageTransformer2DModel(num_layers=2, attention_head_dim=32, num_attention_heads=2,
                                              joint_attention_dim=64, axes_dims_rope=(4, 14, 14), in_channels=64,
                                              out_channels=16, image_model="qwen_image", operations=ops)
            te = llama.Qwen25_7BVLI({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                                     "num_attention_heads": 4, "num_key_value_heads": 4}, None, "meta", ops)
            te.visual = __import__("comfy.text_encoders.qwen_vl", fromlist=["x"]).Qwen2VLVisionTransformer(
                hidden_size=160, output_hidden_size=64, intermediate_size=96, num_heads=2, num_layers=2, ops=ops)
        else:
            dit = QwenImageTransformer2DModel(image_model="qwen_image", in_channels=64, num_layers=60,
                                              operations=ops)
            te = llama.Qwen25_7BVLI({}, None, "meta", ops)
        vae = WanVAE(dim=8 if small else 96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                     temperal_downsample=[False, True, True], dropout=0.0)
    return dit, te, vae


def references(n: int, size: int):
    """n different ComfyUI IMAGE tensors (1, size, size, 3) of a real portrait (scikit-image's astronaut, a public
    domain NASA photo that installs with scikit-image, also on the GPU machine): as is, mirrored, upside down."""
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    views = [lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1]]
    photo = data.astronaut()
    return [torch.from_numpy(np.array(Image.fromarray(np.ascontiguousarray(views[i](photo))).resize((size, size)))
                             .astype(np.float32) / 255.0)[None] for i in range(n)]


def stock_encode(clip, vae, images):
    from comfy_extras.nodes_qwen import TextEncodeQwenImageEditPlus as Node

    extra = {f"image{i + 1}": img for i, img in enumerate(images)}
    pos = Node.execute(clip=clip, prompt=PROMPT, vae=vae, **extra).args[0]
    neg = Node.execute(clip=clip, prompt="", vae=vae, **extra).args[0]
    return pos, neg


def our_encode(clip, vae, images, area):
    from likeness.qwen import encode

    enc = encode.encode_edit(clip, vae, PROMPT, "", images, "2509", area, 32)
    return enc.positive, enc.negative


def tokens(cond, latent) -> int:
    """Joint sequence length of one evaluation: image + reference + text tokens (2x2 patches)."""
    options = cond[0][1]
    refs = sum(r.shape[-1] * r.shape[-2] // 4 for r in options.get("reference_latents", []))
    return latent.shape[-1] * latent.shape[-2] // 4 + refs + cond[0][0].shape[1]


def flops(n_tokens: int, width: int, layers: int) -> float:
    return layers * (n_tokens * 24 * width * width + 4 * n_tokens ** 2 * width)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="tiny dims on the CPU: checks the script, not the speed")
    p.add_argument("--refs", default="1,2,3")
    p.add_argument("--configs", default="bf16,fp8", help="DiT weight storage: bf16, fp8 (UNETLoader fp8_e4m3fn)")
    p.add_argument("--steps", type=int, default=4, help="sampling steps per timing (cfg 1: one evaluation each)")
    p.add_argument("--cap-gib", type=float, default=24.0, help="VRAM cap for the character-scene run")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    device = setup(args.small)
    import torch

    import comfy.model_management as mm
    import comfy.sd
    import nodes
    from likeness.qwen import encode_cache

    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else None
    size = 128 if args.small else 1024
    area = size * size
    n_refs = [int(r) for r in args.refs.split(",")]
    dit_m, te_m, vae_m = modules(args.small)
    width, layers = dit_m.inner_dim, len(dit_m.transformer_blocks)
    wdtype = torch.bfloat16 if cuda else torch.float32
    gen = device if cuda else torch.device("cpu")
    clip = comfy.sd.load_text_encoder_state_dicts([random_state_dict(te_m, gen, wdtype, 1)],
                                                  clip_type=comfy.sd.CLIPType.QWEN_IMAGE)
    vae = comfy.sd.VAE(sd=random_state_dict(vae_m, gen, wdtype, 2))
    peak = matmul_peak(str(device), "bfloat16" if cuda else "float32")

    # -- 1. encoding: stock node, ours uncached, ours cached (a new seed) --------------------------------------
    enc_rows, conds = [], {}
    for n in n_refs:
        images = references(n, size)
        t_stock = median(timed(lambda: stock_encode(clip, vae, images), warmup=1, iters=3, sync=sync))

        def ours_fresh():
            encode_cache.TEXT.clear()
            encode_cache.VAE.clear()
            return our_encode(clip, vae, images, area)

        t_ours = median(timed(ours_fresh, warmup=1, iters=3, sync=sync))
        t_hit = median(timed(lambda: our_encode(clip, vae, images, area), warmup=1, iters=5, sync=sync))
        conds[n] = {"stock": stock_encode(clip, vae, images), "ours": our_encode(clip, vae, images, area)}
        enc_rows.append([n, 1000 * t_stock, 1000 * t_ours, 1000 * t_hit])
        print(enc_rows[-1], flush=True)

    # -- 2. one model evaluation, both paths, per weight storage ------------------------------------------------
    latent = {"samples": torch.zeros(1, 16, size // 8, size // 8)}
    nfe_rows = []
    for config in args.configs.split(","):
        options = {"dtype": torch.float8_e4m3fn} if config == "fp8" else {}
        sd = random_state_dict(dit_m, gen, wdtype, 3)
        model = comfy.sd.load_diffusion_model_state_dict(sd, model_options=options)
        del sd
        for n in n_refs:
            for path in ("stock", "ours"):
                pos, neg = conds[n][path]
                run = lambda: nodes.common_ksampler(model, 0, args.steps, 1.0, "euler", "simple", pos, neg,  # noqa
                                                    latent)
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                t = median(timed(run, warmup=1, iters=3, sync=sync)) / args.steps
                n_tok = tokens(pos, latent["samples"])
                ideal = flops(n_tok, width, layers) / peak
                vram = f"{torch.cuda.max_memory_allocated() / 2 ** 30:.2f}" if cuda else "-"
                storage = config if config == "fp8" or cuda else "fp32"  # the CPU has no bf16 matmuls
                nfe_rows.append([storage, n, path, n_tok, 1000 * t, flops(n_tok, width, layers) / 1e12,
                                 1000 * ideal, t / ideal, vram])
                print(nfe_rows[-1], flush=True)
        mm.unload_all_models()
        del model
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()

    # -- 3. character scene on a card capped like a 4090 --------------------------------------------------------
    cap_text = "not run: needs a CUDA device" if not cuda else character_scene_capped(
        args, dit_m, gen, wdtype, clip, vae, area)
    text = report(args, device, peak, enc_rows, nfe_rows, cap_text)
    print(text)
    if not args.no_write:
        write_section("qwen-bench", text)
    return 0


def character_scene_capped(args, dit_m, gen, wdtype, clip, vae, area) -> str:
    """Our character-scene path (encode, sample from the character's latent at denoise 0.7, decode) with ComfyUI
    told the card has `cap` GiB and torch unable to allocate more: peak allocated VRAM and wall time."""
    import time

    import torch

    import comfy.model_management as mm
    import comfy.sd
    import nodes
    from likeness.qwen import encode, encode_cache

    total = torch.cuda.get_device_properties(0).total_memory
    cap = int(args.cap_gib * 2 ** 30)
    mm.EXTRA_RESERVED_VRAM = max(0, total - cap)         # ComfyUI plans its loads for a `cap`-sized card
    torch.cuda.set_per_process_memory_fraction(cap / total)  # and torch cannot go past it
    mm.unload_all_models()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = comfy.sd.load_diffusion_model_state_dict(random_state_dict(dit_m, gen, wdtype, 3),
                                                     model_options={"dtype": torch.float8_e4m3fn})
    character = references(1, 1024)[0]
    t = time.perf_counter()
    encode_cache.TEXT.clear()
    encode_cache.VAE.clear()
    enc = encode.encode_edit(clip, vae, PROMPT, "", [character], "2509", area, 32)
    (out,) = nodes.common_ksampler(model, 0, args.steps, 4.0, "euler", "simple", enc.positive, enc.negative,
                                   {"samples": enc.reference_latents[0]}, denoise=0.7)
    vae.decode(out["samples"])
    torch.cuda.synchronize()
    wall = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2 ** 30
    return (f"fp8 DiT + bf16 text encoder, 1 reference at 1 MP, {args.steps} steps × denoise 0.7, cfg 4, VAE decode; "
            f"card capped at {args.cap_gib:g} GiB: **peak {peak:.2f} GiB allocated** (goal ≤ 22), {wall:.1f} s wall "
            "including model loads.")


def report(args, device, peak, enc_rows, nfe_rows, cap_text) -> str:
    cmd = "COMFYUI_PATH=... python bench/qwen_bench.py " + " ".join(a for a in sys.argv[1:] if a != "--no-write")
    return "\n\n".join([
        "## Qwen-Image-Edit (`bench/qwen_bench.py`)",
        f"Command: `{cmd}` · machine: {machine()} · "
        + ("tiny dims (CPU smoke test: checks the code path, not the speed; the stock node still resizes every "
           "reference to 1 MP, ours to the tiny size)" if args.small else
           "random full-size weights through ComfyUI's loaders") + f" · measured matmul peak {peak / 1e12:.1f} "
        "TFLOP/s.",
        "Encoding (text encoder + VAE references, positive and negative), ms:",
        markdown_table(["refs", "stock TextEncodeQwenImageEditPlus ×2", "ours, new content", "ours, cached (new seed)"],
                       enc_rows),
        f"One model evaluation (KSampler, cfg 1, {args.steps} steps, per step), ms:",
        markdown_table(["weights", "refs", "path", "tokens", "ms", "TFLOP", "ideal ms at peak", "× ideal",
                        "peak VRAM GiB"], nfe_rows),
        "Character scene on a 4090-sized card: " + cap_text,
    ])


if __name__ == "__main__":
    sys.exit(main())
