"""Conversions at the node boundary: ComfyUI IMAGE tensors <-> uint8 RGB arrays the engine works on."""
from __future__ import annotations

import numpy as np
import torch

from .errors import BadInputError


def to_rgb_uint8(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Any HxW, HxWx1, HxWx3 or HxWx4 array (float 0..1 or uint8) -> contiguous HxWx3 uint8 RGB.

    RGBA is composited on black (ComfyUI's LoadImage already splits alpha into a MASK)."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[0] < 1 or a.shape[1] < 1 or a.shape[2] not in (1, 3, 4):
        raise BadInputError(f"{what}: expected an image of shape HxW, HxWx1, HxWx3 or HxWx4, got {tuple(a.shape)}.")
    if a.dtype != np.uint8:
        a = _to_uint8(torch.from_numpy(np.ascontiguousarray(a, np.float32)), what).numpy()
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3].astype(np.float32) * alpha + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def images_to_rgb_list(images: torch.Tensor | list, what: str = "image") -> list[np.ndarray]:
    """ComfyUI IMAGE (B,H,W,C float 0..1), a single HxWxC tensor, or a list of them -> list of HxWx3 uint8."""
    if isinstance(images, (list, tuple)):
        out: list[np.ndarray] = []
        for i, item in enumerate(images):
            out.extend(images_to_rgb_list(item, f"{what}[{i}]"))
        return out
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4:
        raise BadInputError(f"{what}: expected a ComfyUI IMAGE batch (B,H,W,C), got shape {tuple(images.shape)}.")
    arr = _to_uint8(images.detach(), what).cpu().numpy()  # once for the batch, on the tensor's device
    return [to_rgb_uint8(arr[i], f"{what} (batch item {i})") for i in range(arr.shape[0])]


def _to_uint8(t: torch.Tensor, what: str) -> torch.Tensor:
    """Float 0..1 -> uint8 (rounded, clamped); NaN/inf is an error naming the input, never silently black."""
    if t.dtype == torch.uint8:
        return t
    t = t.float()
    if not torch.isfinite(t.sum()):  # one cheap pass; count only to say how bad it is
        bad = int((~torch.isfinite(t)).sum())
        if bad:
            raise BadInputError(f"{what}: {bad} pixel value(s) are NaN or infinite, so faces in it cannot be found. "
                                "The node before it produced invalid values (often a VAE decode in fp16): run the "
                                "VAE in fp32 (--fp32-vae) or check that node's inputs.")
    # in blocks through one small buffer: a 4K frame never allocates (and page-faults) a second float copy
    flat, out = t.contiguous().view(-1), torch.empty(t.shape, dtype=torch.uint8, device=t.device)
    buffer = torch.empty(min(flat.numel(), 1 << 20), dtype=torch.float32, device=t.device)
    for start in range(0, flat.numel(), buffer.numel()):
        chunk = flat[start:start + buffer.numel()]
        scaled = torch.mul(chunk, 255.0, out=buffer[:chunk.numel()]).add_(0.5).clamp_(0.0, 255.0)
        out.view(-1)[start:start + chunk.numel()].copy_(scaled)
    return out


def rgb_list_to_images(frames: list[np.ndarray], pad: bool = False, what: str = "images") -> torch.Tensor:
    """List of HxWx3 uint8 -> ComfyUI IMAGE. Different sizes are an error unless pad=True (pads bottom/right)."""
    if not frames:
        raise BadInputError(f"{what}: nothing to return (empty batch).")
    sizes = {f.shape[:2] for f in frames}
    if len(sizes) > 1 and not pad:
        raise BadInputError(
            f"{what}: images of different sizes {sorted(sizes)} cannot form one batch. "
            "Resize them to one size first (e.g. ImageScale) or run them as separate batches."
        )
    h = max(s[0] for s in sizes)
    w = max(s[1] for s in sizes)
    same = len(sizes) == 1  # nothing to pad: skip zero-filling a frame-sized buffer that is overwritten anyway
    out = (torch.empty if same else torch.zeros)((len(frames), h, w, 3), dtype=torch.float32)
    for i, f in enumerate(frames):
        out[i, : f.shape[0], : f.shape[1]].copy_(torch.from_numpy(to_rgb_uint8(f)))
    return out.div_(255.0)


def masks_to_tensor(masks: list[np.ndarray]) -> torch.Tensor:
    """List of HxW float 0..1 masks -> ComfyUI MASK (B,H,W), zero-padded to the largest (images of mixed sizes)."""
    h, w = max(m.shape[0] for m in masks), max(m.shape[1] for m in masks)
    return torch.from_numpy(np.stack([np.pad(np.asarray(m, np.float32), ((0, h - m.shape[0]), (0, w - m.shape[1])))
                                      for m in masks]))


def png_bytes(rgb: np.ndarray, texts: dict[str, str] | None = None) -> bytes:
    """A PNG of an RGB uint8 array; `texts` become tEXt chunks (ComfyUI keeps the prompt and workflow there)."""
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in (texts or {}).items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.fromarray(to_rgb_uint8(rgb)).save(buf, format="PNG", pnginfo=info, compress_level=4)
    return buf.getvalue()
