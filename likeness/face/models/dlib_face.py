"""dlib's HOG detector, 68-point landmarks and 128-D recogniser (weights in the face_recognition_models wheel:
works with no download). Its embeddings live in their own space with dlib's metric (face/embedding.py)."""
from __future__ import annotations

import cv2
import numpy as np

from ...runtime import dlib_models
from ..types import Face

LONG_SIDE = 1280     # HOG is slow on big photos: detect on a copy scaled to this, map back
SPACE = "dlib_128"


class DlibFace:
    name = "dlib"
    backend = "detector dlib"

    def __init__(self, embed: bool = True):
        self.embed = embed  # False when an ArcFace recogniser gives the embeddings instead

    def detect(self, rgb: np.ndarray) -> list[Face]:
        scale = min(1.0, LONG_SIDE / max(rgb.shape[:2]))
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = dlib_models.detect(small)
        embs = dlib_models.embed(small, [p for _, _, p in found]) if self.embed else [None] * len(found)
        space = SPACE if self.embed else None
        return [Face(box / scale, kps / scale, 1.0, emb, landmarks=pts / scale, space=space)
                for (box, kps, pts), emb in zip(found, embs)]
