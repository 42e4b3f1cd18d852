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
    """ComfyUI IMAGE (B,H,W,C float 0..1), a single HxWxC tensor, or a list of them -> list of HxWx3 uint8 arrays
    of the caller's own (never views of the input, so they may be changed in place)."""
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
    arr = _to_uint8(images.detach(), what)  # once for the batch, on the tensor's device
    arr = (arr.clone() if images.dtype == torch.uint8 else arr).cpu().numpy()
    return [to_rgb_uint8(arr[i], f"{what} (batch item {i})") for i in range(arr.shape[0])]


def _to_uint8(t: torch.Tensor, what: str) -> torch.Tensor:
    """Float 0..1 -> uint8 (rounded, clamped); NaN/inf is an error naming the input, never silently black."""
    if t.dtype == torch.uint8:
        return t
    # in blocks through one small buffer: one pass over the frame, and a 4K frame never allocates (and page-faults)
    # a second float copy; each block's sum is the NaN/inf check, done while the block is still in the cache
    t = t.float()
    flat, out = t.contiguous().view(-1), torch.empty(t.shape, dtype=torch.uint8, device=t.device)
    buffer = torch.empty(min(flat.numel(), 1 << 20), dtype=torch.float32, device=t.device)
    for start in range(0, flat.numel(), buffer.numel()):
        chunk = flat[start:start + buffer.numel()]
        scaled = torch.mul(chunk, 255.0, out=buffer[:chunk.numel()])
        if not torch.isfinite(scaled.sum()):
            _refuse_non_finite(t, what)
        out.view(-1)[start:start + chunk.numel()].copy_(scaled.add_(0.5).clamp_(0.0, 255.0))
    return out


def _refuse_non_finite(t: torch.Tensor, what: str) -> None:
    bad = int((~torch.isfinite(t)).sum())
    if bad:  # else only huge finite values overflowed the sum: they clamp to white like any value above 1
        raise BadInputError(f"{what}: {bad} pixel value(s) are NaN or infinite, so faces in it cannot be found. "
                            "The node before it produced invalid values (often a VAE decode in fp16): run the VAE in "
                            "fp32 (--fp32-vae) or check that node's inputs.")


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


# a changed rectangle of a frame: (y0, y1, x0, x1), and the 0..1 mask of what changed inside it
Patch = tuple[tuple[int, int, int, int], np.ndarray]


def with_patches(image: torch.Tensor, frames: list[np.ndarray], patches: list[list[Patch]]) -> torch.Tensor:
    """The IMAGE a face node returns: a copy of `image` in which the pixels each patch of batch item i marks come
    from frames[i] (uint8). Only the patches are converted; every other pixel is returned exactly as it came in
    (no 8-bit rounding, no clamping)."""
    b, h, w, c = image.shape if isinstance(image, torch.Tensor) and image.ndim == 4 else (0, 0, 0, 0)
    if c != 3 or image.dtype != torch.float32 or len(frames) != b or any(f.shape != (h, w, 3) for f in frames):
        return rgb_list_to_images(frames, pad=True)  # not a plain RGB float batch: convert every frame
    if not any(patches):
        return image
    out = image.clone()
    for i, (frame, items) in enumerate(zip(frames, patches)):
        for (y0, y1, x0, x1), mask in items:
            new = torch.from_numpy(frame[y0:y1, x0:x1]).to(out.device, torch.float32).div_(255.0)
            changed = torch.from_numpy(mask > 0).to(out.device)[..., None]
            out[i, y0:y1, x0:x1] = torch.where(changed, new, out[i, y0:y1, x0:x1])
    return out


def patch_masks(frames: list[np.ndarray], patches: list[list[Patch]]) -> torch.Tensor:
    """ComfyUI MASK (B,H,W) of where the patches changed each frame (overlaps keep the larger value), zero-padded
    to the largest frame."""
    h, w = max(f.shape[0] for f in frames), max(f.shape[1] for f in frames)
    out = np.zeros((len(frames), h, w), np.float32)
    for i, items in enumerate(patches):
        for (y0, y1, x0, x1), mask in items:
            np.maximum(out[i, y0:y1, x0:x1], mask, out=out[i, y0:y1, x0:x1])
    return torch.from_numpy(out)


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
