"""The Face record shared by detection, selection, swap and identity scoring."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    bbox: np.ndarray                      # (4,) float32 x1, y1, x2, y2 in image pixels
    kps: np.ndarray                       # (5, 2) float32: left eye, right eye, nose, mouth left, mouth right
    det_score: float = 1.0
    embedding: np.ndarray | None = None   # identity embedding, of the space below
    gender: int | None = None             # 0 female, 1 male (insightface convention)
    age: float | None = None
    landmarks: np.ndarray | None = None   # optional dense landmarks (e.g. dlib 68)
    image_index: int = 0                  # which batch item it came from
    extra: dict = field(default_factory=dict)
    space: str | None = None              # the recogniser that made `embedding` (face/embedding.py)

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.bbox
        return float(max(0.0, x2 - x1) * max(0.0, y2 - y1))

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.bbox
        return float(x1 + x2) / 2, float(y1 + y2) / 2

    @property
    def size(self) -> float:
        """Face scale in pixels (sqrt of the box area): drives mask erosion/feathering."""
        return self.area ** 0.5
