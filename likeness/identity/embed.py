"""Identity embedding backends. Each one finds faces and says how alike two of its embeddings are.

- dlib: dlib's 128-D ResNet (weights ship in the face_recognition_models wheel, CC0): no download, permissive.
  Similarity is 1 - Euclidean distance, so dlib's own 0.6 distance rule is similarity 0.4.
- buffalo_l (ArcFace w600k_r50) and antelopev2 (ArcFace glintr100): cosine similarity of normalised embeddings.
  Score a swap made with buffalo_l embeddings with antelopev2: an encoder the swapper was not driven by.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LikenessError
from ..face import embedding
from ..face.analysis import AnalyzerSettings, analyzer
from ..face.types import Face

PREFERENCE = ("antelopev2", "buffalo_l", "dlib")


@dataclass(frozen=True)
class BackendSpec:
    name: str                      # dlib | buffalo_l | antelopev2
    pack_dir: str | None = None
    device: str = "cpu"


class Backend:
    """A scorer's recogniser: finds faces with embeddings of one space, and compares and combines them as that
    space does (face/embedding.py). dlib: its HOG detector and 128-D descriptors; packs: SCRFD (or dlib) + ArcFace."""

    def __init__(self, name: str, settings: AnalyzerSettings):
        self.name = name
        self.analyzer = analyzer(settings)
        if self.analyzer.space is None:
            raise LikenessError(f"The {name} pack in {settings.pack_dir} has no recogniser (.onnx ArcFace): "
                                "run `python install.py --workflow faceswap --optional`.")
        self.space = self.analyzer.space
        self.dim, self.metric = embedding.space(self.space).dim, embedding.space(self.space).metric

    def faces(self, rgb: np.ndarray, image_index: int = 0) -> list[Face]:
        return self.analyzer.analyze(rgb, image_index)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return embedding.similarity(self.space, a, b)

    def combine(self, embs: list[np.ndarray]) -> np.ndarray:
        return embedding.combine(self.space, embs)


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
        return Backend("dlib", AnalyzerSettings(detector="dlib", device=spec.device))
    if not spec.pack_dir or not Path(spec.pack_dir).is_dir():
        raise LikenessError(f"Identity backend {spec.name}: pack folder {spec.pack_dir} not found.")
    return Backend(spec.name, AnalyzerSettings(pack_dir=spec.pack_dir, device=spec.device))


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


def make_scorer(available: dict[str, str | None], backend: str = "auto", threshold: float = -1.0,
                device: str = "cpu") -> Scorer:
    """The Identity Scorer node's output: `available` maps backend name to its pack dir (None for dlib)."""
    name, why = choose(available, backend)
    return Scorer(BackendSpec(name, available[name], device), threshold, why)
