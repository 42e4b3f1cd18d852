"""Face restoration (GFPGAN 1.4, CodeFormer, RestoreFormer) through spandrel, only where asked.

Weights are read with `weights_only=True` (or from .safetensors) before spandrel sees them, so a .pth file can
never run code. GFPGAN and CodeFormer were trained on [-1, 1] images; spandrel hands them [0, 1], so the mapping is
done here. Crop fit, padding, 8-bit output and paste mask follow facexlib, as gfpgan's GFPGANer runs them: the same
weights restore a face to within 1/255 of GFPGANer's picture (tests/test_restore_parity.py).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import LikenessError, ModelMissingError
from ..image import Patch
from ..runtime import cache
from . import align
from .paste import crop_region

SIGNED_RANGE = {"GFPGAN", "CodeFormer", "RestoreFormer"}
# facexlib pads a face cut by the image edge with this grey (its BGR 135, 133, 132), and the restorers learnt it
PAD_RGB = (132, 133, 135)
NON_COMMERCIAL = {"CodeFormer"}


def crop_matrix(kps: np.ndarray, size: int) -> np.ndarray:
    """facexlib's (GFPGANer's, CodeFormer's) fit of the 5 keypoints to the FFHQ template: cv2's robust LMEDS partial
    affine, which leaves out keypoints that do not fit, not the least-squares fit of insightface's crops."""
    fit = align.crop_matrix(kps, size, template="ffhq")  # also rejects non-finite or coinciding keypoints
    m = cv2.estimateAffinePartial2D(np.asarray(kps, np.float32), align.ffhq_template(size).astype(np.float64),
                                    method=cv2.LMEDS)[0]
    return fit if m is None else m


def paste_face(image: np.ndarray, crop: np.ndarray, matrix: np.ndarray, strength: float = 1.0) -> Patch | None:
    """facexlib's paste_faces_to_input_image (square mask, upscale 1) of `crop`, the restored face as uint8 RGB,
    in place on the crop's region of `image`: the crop square in image space eroded 1 px, then by
    w_edge = sqrt(its area) // 20 px and blurred with a (2 w_edge + 1) Gaussian; the image edge does not erode it,
    so a face cut by the edge is restored up to it. Its arithmetic too, float for float (the 8-bit face warped as
    8 bits, the blend, truncation), so its pixels are GFPGANer's. Returns the region and its blend mask (None when
    the crop misses the image)."""
    size = crop.shape[0]
    y0, y1, x0, x1 = region = crop_region(matrix, size, image.shape[:2])
    if y1 <= y0 or x1 <= x0:
        return None
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    inverse[:, 2] -= (x0, y0)  # crop -> region pixels
    shape = (x1 - x0, y1 - y0)
    hard = cv2.erode(cv2.warpAffine(np.ones((size, size), np.float32), inverse, shape), np.ones((2, 2), np.uint8))
    w_edge = int(hard.sum() ** 0.5) // 20
    soft = cv2.erode(hard, np.ones((2 * w_edge, 2 * w_edge), np.uint8))
    soft = cv2.GaussianBlur(soft, (2 * w_edge + 1, 2 * w_edge + 1), 0)[..., None] * np.float32(strength)
    face = hard[..., None] * cv2.warpAffine(crop, inverse, shape)  # float32: the same floats as facexlib's
    blend = soft * face + (1 - soft) * image[y0:y1, x0:x1]
    image[y0:y1, x0:x1] = np.clip(blend, 0.0, 255.0).astype(np.uint8)
    return region, soft[..., 0]


def _state_dict(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            return sd[key]
    return sd


class Restorer:
    def __init__(self, path: str | Path, device: str = "cpu"):
        import torch
        from spandrel import ModelLoader

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelMissingError("facerestore_models", self.path.name, [str(self.path.parent)], "faceswap")
        from spandrel import UnsupportedModelError

        try:
            import spandrel_extra_arches

            spandrel_extra_arches.install(ignore_duplicates=True)  # ComfyUI may have done it
            extra_arches = True
        except ImportError:
            extra_arches = False
        try:
            descriptor = ModelLoader().load_from_state_dict(_state_dict(self.path))
        except UnsupportedModelError as e:
            extra = "" if extra_arches else (" CodeFormer and RestoreFormer need the package spandrel_extra_arches: "
                                             "pip install spandrel_extra_arches (or run install.py).")
            raise LikenessError(f"{self.path.name} is not a face restorer this pack can run.{extra} Supported: "
                                "GFPGAN 1.3/1.4, CodeFormer, RestoreFormer.") from e
        except Exception as e:
            raise LikenessError(f"Cannot load restorer {self.path.name}: {e}. The file may be corrupt or not a "
                                "face restorer: delete it and run `python install.py --workflow faceswap`.") from e
        self.arch = descriptor.architecture.name
        self.size = 512
        self.module = descriptor.model.eval().to(device)
        self.device = device
        self._torch = torch

    @property
    def backend(self) -> str:
        return f"{self.arch} on torch/{self.device}"

    @property
    def non_commercial(self) -> bool:
        return self.arch in NON_COMMERCIAL

    def restore_crops(self, crops: np.ndarray) -> np.ndarray:
        """(K, 512, 512, 3) float 0..1 -> restored crops, one batched forward."""
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))).to(self.device, torch.float32)
        signed = self.arch in SIGNED_RANGE
        with torch.inference_mode():
            y = self.module(x * 2 - 1 if signed else x)
            y = y[0] if isinstance(y, (tuple, list)) else y
            y = (y + 1) / 2 if signed else y
        return y.clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()

    def restore(self, rgb: np.ndarray, faces, visibility: float = 1.0, on_face=None) -> np.ndarray:
        """Restore the given faces of an image and blend them back with `visibility`."""
        if not faces:
            return rgb
        out = rgb.copy()
        self.restore_into(out, faces, visibility, on_face)
        return out

    def restore_into(self, rgb: np.ndarray, faces, visibility: float = 1.0, on_face=None) -> list[Patch]:
        """`restore` in place: returns where each face was pasted (what the node converts back)."""
        if not faces:
            return []
        if on_face:
            on_face(0, len(faces))  # a stop before the forward pass, too
        mats = [crop_matrix(f.kps, self.size) for f in faces]
        crops = np.stack([align.warp_in(rgb, m, self.size, PAD_RGB) for m in mats]).astype(np.float32) / 255.0
        restored = np.round(self.restore_crops(crops) * 255.0).astype(np.uint8)  # as GFPGANer's tensor2img
        patches = []
        for i, (new, m) in enumerate(zip(restored, mats)):
            patches.append(paste_face(rgb, new, m, visibility))
            if on_face:
                on_face(i, len(faces))
        return [p for p in patches if p is not None]


def load(path: str | Path, device: str = "cpu") -> Restorer:
    """The cached restorer for this file on this device."""
    return cache.load("restorer", [path], lambda: Restorer(path, device), str(device))
