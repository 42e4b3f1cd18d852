"""Face alignment: the 5-point templates, a similarity transform fit, and warps into and out of a crop.

Every model that takes an aligned face (ArcFace 112, inswapper 128 and its N x 128 pixel-boost sizes, 256-px
swappers, GFPGAN 512) gets its crop from here, so crop and paste-back always use the same matrix.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import BadInputError

# ArcFace's 112 x 112 template: left eye, right eye, nose, mouth left, mouth right
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
# FFHQ 512 template used by GFPGAN / CodeFormer
FFHQ_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                     [201.26117, 371.41043], [313.08905, 371.15118]], np.float32)


def arcface_template(size: int) -> np.ndarray:
    """The ArcFace template at `size`: 112-multiples scale it; 128-multiples (inswapper) also shift it 8/128 right."""
    if size % 112 == 0:
        return ARCFACE_112 * (size / 112)
    ratio = size / 128
    return ARCFACE_112 * ratio + np.array([8 * ratio, 0], np.float32)


def ffhq_template(size: int = 512) -> np.ndarray:
    return FFHQ_512 * (size / 512)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift) mapping src points onto dst: 2x3."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if not np.isfinite(src).all():
        raise BadInputError("The face keypoints are not finite numbers: the detector returned NaN/inf for this face.")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    if s.var(0).sum() < 1e-6:  # all keypoints on one spot: no scale or rotation to fit
        raise BadInputError("The face's 5 keypoints coincide, so it cannot be aligned: the detection is degenerate "
                            "(a tiny or broken face). Raise det_thresh or choose another face.")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    rot = u @ fix @ vt
    scale = (sig * np.diag(fix)).sum() / s.var(0).sum()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m.astype(np.float32)


def crop_matrix(kps: np.ndarray, size: int, template: str = "arcface") -> np.ndarray:
    dst = arcface_template(size) if template == "arcface" else ffhq_template(size)
    return similarity(kps, dst)


def warp_in(image: np.ndarray, matrix: np.ndarray, size: int, border=0) -> np.ndarray:
    """The aligned size x size crop of `image`. Outside the image it is `border` (black), as insightface's
    norm_crop pads: a face cut by the edge then gets the same embedding and swap as with insightface."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def warp_out(crop: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Put a crop (float) back into image space of `shape` (h, w) with the inverse of `matrix`."""
    h, w = shape
    return cv2.warpAffine(crop, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float32)
    return p @ matrix[:, :2].T + matrix[:, 2]
