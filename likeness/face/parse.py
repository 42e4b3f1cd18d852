"""Face parsing (BiSeNet, 19 CelebAMask-HQ classes): keep hair, glasses, hands and hats out of the swap mask."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..runtime import cache, onnx as onnx_rt
from . import align

# CelebAMask-HQ labels that belong to the swapped face: skin, brows, eyes, nose, mouth, lips
FACE_CLASSES = (1, 2, 3, 4, 5, 10, 11, 12, 13)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class FaceParser:
    size = 512

    def __init__(self, path: str | Path, device: str = "cpu", backend: str = "auto"):
        self.model = onnx_rt.OnnxModel(path, device, backend)

    def face_mask(self, rgb: np.ndarray, kps: np.ndarray, out_size: int, blur: float = 0.02) -> np.ndarray:
        """Crop-space mask (out_size^2, 0..1) of the face classes, in the same alignment as the swap crop."""
        crop = align.warp_in(rgb, align.crop_matrix(kps, self.size), self.size).astype(np.float32) / 255.0
        blob = ((crop - MEAN) / STD).transpose(2, 0, 1)[None]
        [logits] = self.model.run(None, {self.model.get_inputs()[0].name: blob})
        labels = logits[0].argmax(0)
        mask = np.isin(labels, FACE_CLASSES).astype(np.float32)
        mask = cv2.resize(mask, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
        k = int(round(blur * out_size)) * 2 + 1
        return cv2.GaussianBlur(mask, (k, k), 0) if k > 1 else mask


def load(path: str | Path, device: str = "cpu", backend: str = "auto") -> FaceParser:
    """The cached parser for this file on this device."""
    return cache.load("parser", [path], lambda: FaceParser(path, device, backend), str(device), backend)
