"""Encode a multi-reference Qwen-Image-Edit prompt with ComfyUI's own CLIP and VAE objects (passed in).

Positive and negative both carry every reference (the model expects the images in both). Results are cached by
(text encoder, prompt, image content, sizes) and VAE latents by (VAE, image content, size); the keys are looked up
before any reference is resized, so a hit costs the lookups (and, for a tensor not seen before, hashing it).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch

from ..errors import BadInputError
from . import encode_cache, prompt as prompt_layout, refs

METHODS = {"2509": "index", "2511": "index_timestep_zero"}


@dataclass
class EditEncoding:
    positive: list
    negative: list
    latent: dict
    plan: list[dict]
    reference_latents: list = field(default_factory=list)
    cached: dict = field(default_factory=dict)

    def info(self) -> str:
        lines = [f"reference {i + 1}: input {p['input'][0]}x{p['input'][1]}, VL {p['vl'][0]}x{p['vl'][1]}, "
                 f"VAE {p['vae'][0]}x{p['vae'][1]} ({refs.tokens_per_reference(p['vae'])} tokens)"
                 for i, p in enumerate(self.plan)]
        lines.append("cache: " + ", ".join(f"{k} {'hit' if v else 'encoded'}" for k, v in self.cached.items()))
        return "\n".join(lines)


def _owned(cache: encode_cache.EncodeCache, owner, key: tuple, compute):
    """Cache keyed by the owning model object's identity; a weak reference guards against a reused id()."""
    ref, value = None, None

    def make():
        return weakref.ref(owner), compute()

    (ref, value), hit = cache.get_or_compute((id(owner),) + key, make)
    if ref() is not owner:  # the old model is gone and another took its id: encode again
        cache.clear()
        (ref, value), hit = cache.get_or_compute((id(owner),) + key, make)
    return value, hit


def with_references(conditioning: list, latents: list[torch.Tensor], method: str | None) -> list:
    """Append reference latents (and the reference method) to every conditioning entry, as core does."""
    out = []
    for tensor, options in conditioning:
        options = dict(options)
        options["reference_latents"] = list(options.get("reference_latents", [])) + list(latents)
        if method:
            options["reference_latents_method"] = method
        out.append([tensor, options])
    return out


def _text(clip, text: str, images_vl, slots: tuple, digests: tuple, vl_sizes: tuple) -> tuple[list, bool]:
    """`images_vl()`: the references at their VL sizes, called only when the encoding is not cached."""
    patcher = getattr(clip, "patcher", None)
    owner = getattr(patcher, "model", clip)

    def compute():
        tokens = clip.tokenize(prompt_layout.edit_prompt(text, slots), images=images_vl(),
                               llama_template=prompt_layout.EDIT_TEMPLATE)
        return clip.encode_from_tokens_scheduled(tokens)

    if getattr(patcher, "forced_hooks", None) or getattr(clip, "apply_hooks_to_conds", None):
        return compute(), False  # hooked CLIPs (SetClipHooks) schedule their own weights: never cached
    options = getattr(clip, "tokenizer_options", None) or {}
    key = (str(getattr(patcher, "patches_uuid", None)), getattr(clip, "layer_idx", None),
           repr(sorted(options.items())), text, slots, digests, vl_sizes)
    return _owned(encode_cache.TEXT, owner, key, compute)


def encode_edit(clip, vae, instruction: str, negative: str, images: list[torch.Tensor], model: str = "auto",
                vae_area: int = refs.VAE_AREA, align: int = 32) -> EditEncoding:
    """`images`: ComfyUI IMAGE tensors by input slot, reference 1 first; None for an empty slot (only the first item
    of each batch is used)."""
    slots = tuple(k + 1 for k, img in enumerate(images) if img is not None)
    originals = [img for img in images if img is not None]
    images = [img[:1] for img in originals]
    if not images:
        raise BadInputError("Qwen edit encode needs at least one reference image (image1).")
    if model not in METHODS and model != "auto":
        raise BadInputError(f"Unknown model '{model}': choose auto, 2509 or 2511.")
    plan = refs.plan([(int(i.shape[2]), int(i.shape[1])) for i in images], vae_area, align)
    digests = encode_cache.digests(originals, rows=1)  # remembered per tensor object: a re-run costs nothing
    vl: list[torch.Tensor] = []

    def images_vl() -> list[torch.Tensor]:  # resized only when the text encoder has to run, once for both
        if not vl:
            vl.extend(refs.resize(img, *p["vl"]) for img, p in zip(images, plan))
        return vl

    latents, cached = [], {}
    for k, (img, p, d) in enumerate(zip(images, plan, digests)):
        lat, hit = _owned(encode_cache.VAE, getattr(vae, "first_stage_model", vae), (d, p["vae"]),
                          lambda img=img, p=p: vae.encode(refs.resize(img, *p["vae"])))
        latents.append(lat)
        cached[f"vae ref {k + 1}"] = hit
    vl_sizes = tuple(p["vl"] for p in plan)
    pos, cached["positive"] = _text(clip, instruction, images_vl, slots, digests, vl_sizes)
    neg, cached["negative"] = _text(clip, negative, images_vl, slots, digests, vl_sizes)
    method = METHODS.get(model)  # auto: no method in the conditioning, the checkpoint's own default applies
    positive = with_references(pos, latents, method)
    negative_c = with_references(neg, latents, method)
    w, h = plan[0]["vae"]
    empty = torch.zeros((1, latents[0].shape[1], h // 8, w // 8)) if latents[0].ndim == 4 else \
        torch.zeros((1, latents[0].shape[1], 1, h // 8, w // 8))
    return EditEncoding(positive, negative_c, {"samples": empty}, plan, latents, cached)
