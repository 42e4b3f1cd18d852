"""ArcFace, the recogniser of insightface's packs (w600k_r50 in buffalo_l, glintr100 in antelopev2): a 512-D
identity embedding per face from its 112-px aligned crop, all faces of an image in one call (insightface's
model_zoo/arcface.py is the reference)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...runtime import onnx as onnx_rt
from .. import align
from ..types import Face

FILES = ("w600k_r50.onnx", "glintr100.onnx", "w600k_mbf.onnx")
SIZE = 112                 # aligned crop side, arcface template
MEAN, STD = 127.5, 127.5   # pixels to [-1, 1]


class ArcFace:
    def __init__(self, path: str | Path, device: str = "cpu", backend: str = "auto"):
        self.model = onnx_rt.OnnxModel(path, device, backend)
        self.space = Path(path).stem  # the embedding space is the recogniser that makes it (face/embedding.py)

    @property
    def backend(self) -> str:
        return f"recogniser {self.space} ({self.model.backend})"

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> None:
        """Sets each face's embedding (unit length) and space."""
        crops = [align.warp_in(rgb, align.crop_matrix(f.kps, SIZE), SIZE) for f in faces]
        for face, emb in zip(faces, self.embed_crops(crops)):
            face.embedding, face.space = emb.astype(np.float32), self.space

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit embeddings (N, D) of aligned 112 x 112 RGB crops."""
        return self.postprocess(self.forward(self.preprocess(crops)))

    @staticmethod
    def preprocess(crops: list[np.ndarray]) -> np.ndarray:
        return ((np.stack(crops).astype(np.float32) - MEAN) / STD).transpose(0, 3, 1, 2)

    def forward(self, blob: np.ndarray) -> np.ndarray:
        [feats] = self.model.run(None, {self.model.get_inputs()[0].name: blob})
        return feats

    @staticmethod
    def postprocess(feats: np.ndarray) -> np.ndarray:
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
