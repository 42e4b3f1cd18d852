"""Identity embedding backends. Each one finds faces and says how alike two of its embeddings are.

- dlib: dlib's 128-D ResNet (weights ship in the face_recognition_models wheel, CC0): no download, permissive.
  Similarity is 1 - Euclidean distance, so dlib's own 0.6 distance rule is similarity 0.4.
- buffalo_l (ArcFace w600k_r50) and antelopev2 (ArcFace glintr100): cosine similarity of normalised embeddings.
  Score a swap made with buffalo_l embeddings with antelopev2: an encoder the swapper was not driven by.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import LikenessError
from ..face.analysis import AnalyzerSettings, analyzer
from ..face.types import Face
from ..runtime import dlib_models

PREFERENCE = ("antelopev2", "buffalo_l", "dlib")


@dataclass(frozen=True)
class BackendSpec:
    name: str                      # dlib | buffalo_l | antelopev2
    pack_dir: str | None = None
    device: str = "cpu"


class DlibBackend:
    name, dim, metric = "dlib", 128, "1 - euclidean distance"
    long_side = 1280

    def faces(self, rgb: np.ndarray, image_index: int = 0) -> list[Face]:
        scale = min(1.0, self.long_side / max(rgb.shape[:2]))
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = dlib_models.detect(small)
        embs = dlib_models.embed(small, [pts for _, _, pts in found])
        return [Face(box / scale, kps / scale, embedding=e, landmarks=pts / scale, image_index=image_index)
                for (box, kps, pts), e in zip(found, embs)]

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return 1.0 - float(np.linalg.norm(np.asarray(a) - np.asarray(b)))

    @staticmethod
    def combine(embs: list[np.ndarray]) -> np.ndarray:
        return np.mean(np.stack(embs), 0).astype(np.float32)


class ArcFaceBackend:
    dim, metric = 512, "cosine"

    def __init__(self, name: str, pack_dir: str, device: str = "cpu"):
        self.name = name
        self.analyzer = analyzer(AnalyzerSettings(pack_dir=pack_dir, device=device))
        if self.analyzer.rec is None:
            raise LikenessError(f"The {name} pack in {pack_dir} has no recogniser (.onnx ArcFace): "
                                "run `python install.py --workflow faceswap --optional`.")

    def faces(self, rgb: np.ndarray, image_index: int = 0) -> list[Face]:
        return self.analyzer.analyze(rgb, image_index)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))

    @staticmethod
    def combine(embs: list[np.ndarray]) -> np.ndarray:
        m = np.mean([e / np.linalg.norm(e) for e in embs], 0)
        return (m / np.linalg.norm(m)).astype(np.float32)


def choose(available: dict[str, str | None], wanted: str = "auto") -> tuple[str, str]:
    """(backend name, why) — `available` maps backend name to its pack dir (None for dlib)."""
    if wanted != "auto":
        if wanted not in available:
            raise LikenessError(f"Identity backend '{wanted}' is not installed here (have: {sorted(available)}). "
                                "Run `python install.py --workflow faceswap --optional`, or choose dlib.")
        return wanted, "chosen"
    for name in PREFERENCE:
        if name in available:
            return name, f"auto: best installed of {', '.join(PREFERENCE)}"
    return "dlib", "auto: no insightface pack installed"


def load(spec: BackendSpec):
    """The backend for a spec (cheap: its models come from the model cache)."""
    if spec.name == "dlib":
        return DlibBackend()
    if not spec.pack_dir or not Path(spec.pack_dir).is_dir():
        raise LikenessError(f"Identity backend {spec.name}: pack folder {spec.pack_dir} not found.")
    return ArcFaceBackend(spec.name, spec.pack_dir, spec.device)


@dataclass(frozen=True)
class Scorer:
    """What the IdentityScorer node hands on: a backend and an optional threshold override (< 0 = calibrated)."""
    spec: BackendSpec
    threshold_override: float = -1.0
    reason: str = ""

    def backend(self):
        return load(self.spec)

    def threshold(self):
        from .calibration import threshold_for

        return threshold_for(self.spec.name, self.threshold_override)
