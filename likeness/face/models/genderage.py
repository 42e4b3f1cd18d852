"""insightface's gender/age model (genderage.onnx in buffalo_l): a 96-px crop around the face box -> gender
(0 female, 1 male) and age in years (insightface's model_zoo/attribute.py is the reference)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...runtime import onnx as onnx_rt
from .. import align
from ..types import Face

FILE = "genderage.onnx"
SIZE = 96
BOX_SCALE = 1.5      # the crop spans 1.5 x the box's longer side
AGE_SCALE = 100      # the third output is age / 100


class GenderAge:
    def __init__(self, path: str | Path, device: str = "cpu", backend: str = "auto"):
        self.model = onnx_rt.OnnxModel(path, device, backend)

    def annotate(self, rgb: np.ndarray, faces: list[Face]) -> None:
        """Sets each face's gender and age."""
        name = self.model.get_inputs()[0].name
        for face in faces:  # the published model has a static batch of 1
            [out] = self.model.run(None, {name: self.preprocess(rgb, face)})
            face.gender, face.age = self.postprocess(out)

    @staticmethod
    def preprocess(rgb: np.ndarray, face: Face) -> np.ndarray:
        x1, y1, x2, y2 = face.bbox
        scale = SIZE / (max(x2 - x1, y2 - y1) * BOX_SCALE)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        m = np.array([[scale, 0, SIZE / 2 - cx * scale], [0, scale, SIZE / 2 - cy * scale]], np.float32)
        return align.warp_in(rgb, m, SIZE).astype(np.float32).transpose(2, 0, 1)[None]

    @staticmethod
    def postprocess(out: np.ndarray) -> tuple[int, float]:
        return int(np.argmax(out[0][:2])), float(out[0][2] * AGE_SCALE)
