"""Paste a processed face crop back into the image: soft mask, optional parsing mask, colour match.

The paste adds the *change* the model made (swapped - original crop), warped back once, to the full-resolution
image. Where the model changed nothing the original pixels come back untouched (an identity swapper returns the
image unchanged), and `keep_detail` keeps the target's own high-frequency detail (skin, hair strands) that a
128-px model cannot produce.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import align


def soft_mask(size: int, erode: float = 0.08, feather: float = 0.08) -> np.ndarray:
    """Crop-space face mask: the aligned crop minus a margin, with feathered edges — both scale with the face."""
    m = np.zeros((size, size), np.float32)
    margin = int(round(erode * size))
    m[margin:size - margin, margin:size - margin] = 1.0
    k = int(round(feather * size)) * 2 + 1
    if k > 1:
        m = cv2.GaussianBlur(m, (k, k), 0)
    return m


def color_match(swapped: np.ndarray, original: np.ndarray, mask: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Match the swapped crop's mean and spread per Lab channel to the original inside the mask."""
    total = float(mask.sum())
    if strength <= 0 or total < 16:
        return swapped
    w = mask.reshape(1, -1).astype(np.float32) / np.float32(total)  # weighted sums as one matrix product each
    src = cv2.cvtColor(swapped.astype(np.float32), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    ref = cv2.cvtColor(original.astype(np.float32), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    src -= w @ src
    mu_r = w @ ref
    ref -= mu_r
    src *= (np.sqrt(w @ (ref * ref)) + 1e-6) / (np.sqrt(w @ (src * src)) + 1e-6)
    src += mu_r
    matched = cv2.cvtColor(src.reshape(swapped.shape), cv2.COLOR_LAB2RGB)
    if strength != 1.0:
        matched = swapped + np.float32(strength) * (matched - swapped)
    return np.clip(matched, 0.0, 1.0, out=matched)


def crop_region(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the image pixels a size x size crop with this matrix can touch, clipped to the image."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = align.transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float32), inverse)
    h, w = shape
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    return max(0, y0), min(h, y1), max(0, x0), min(w, x1)


def paste_back(image: np.ndarray, new_crop: np.ndarray, old_crop: np.ndarray, matrix: np.ndarray,
               mask: np.ndarray, keep_detail: float = 1.0, strength: float = 1.0, inplace: bool = False):
    """Blend a processed crop into `image` (uint8 RGB). Returns the new image, the image-space mask (0..1) of the
    face's region and that region (y0, y1, x0, x1). Only the region is converted, warped and blended: the cost
    is the face's, not the frame's (a 4K frame costs what a 1080p one does). `inplace` writes into `image`."""
    y0, y1, x0, x1 = region = crop_region(matrix, new_crop.shape[0], image.shape[:2])
    out = image if inplace else image.copy()
    if y1 <= y0 or x1 <= x0:  # the crop lies wholly outside the image
        return out, np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.float32), region
    shifted = matrix.astype(np.float64).copy()  # maps region pixels (not image pixels) into the crop
    shifted[:, 2] += shifted[:, :2] @ np.array([x0, y0], np.float64)
    shape = (y1 - y0, x1 - x0)
    img = image[y0:y1, x0:x1].astype(np.float32)
    img /= np.float32(255.0)
    m = align.warp_out(mask.astype(np.float32), shifted, shape)
    np.clip(m, 0.0, 1.0, out=m)
    if strength != 1.0:
        m *= np.float32(strength)
    delta = align.warp_out((new_crop - old_crop).astype(np.float32), shifted, shape)
    if keep_detail < 1.0:  # move toward the model's own pixels: original minus its low-resolution version
        delta += (1.0 - keep_detail) * (align.warp_out(old_crop.astype(np.float32), shifted, shape) - img)
    # img + m * delta, clipped, to 8 bits, in place: the same floats as the plain expression, without its
    # temporaries (and m as three channels: numpy broadcasting over a last axis of 1 is ten times slower)
    delta *= cv2.merge([m, m, m])
    delta += img
    np.clip(delta, 0.0, 1.0, out=delta)
    delta *= np.float32(255.0)
    delta += np.float32(0.5)
    out[y0:y1, x0:x1] = delta
    return out, m, region
