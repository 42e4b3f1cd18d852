"""Face analysis: a detector (SCRFD from an insightface pack, or dlib's HOG: works with no download), the pack's
ArcFace recogniser (all faces of an image in one call) and its gender/age model, composed; the models themselves
are in `face/models/`. Results are cached per image content, so a graph that analyses the same frame twice (swap,
then score) detects once.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from ..errors import BadInputError, LikenessError, ModelMissingError
from ..runtime import cache
from .models import arcface, genderage, scrfd
from .models.arcface import ArcFace
from .models.dlib_face import SPACE as DLIB_SPACE, DlibFace
from .models.genderage import GenderAge
from .models.scrfd import SCRFD
from .types import Face

DETECTORS = ("auto", "scrfd", "dlib")
FACE_LIST_CACHE = 256  # images whose faces are remembered


@dataclass(frozen=True)
class AnalyzerSettings:
    pack_dir: str | None = None
    detector: str = "auto"        # auto | scrfd | dlib
    det_size: int = 640
    det_thresh: float = 0.5
    device: str = "cpu"
    backend: str = "auto"


def _first(directory: Path, names) -> Path | None:
    return next((directory / n for n in names if (directory / n).is_file()), None)


def pack_files(settings: AnalyzerSettings) -> tuple[Path | None, Path | None, Path | None]:
    """The detector, recogniser and attribute model files of the chosen pack (None where absent)."""
    pack = Path(settings.pack_dir) if settings.pack_dir else None
    if pack is None or not pack.is_dir():
        return None, None, None
    return _first(pack, scrfd.FILES), _first(pack, arcface.FILES), _first(pack, [genderage.FILE])


class FaceAnalyzer:
    def __init__(self, settings: AnalyzerSettings):
        self.settings = settings
        pack = Path(settings.pack_dir) if settings.pack_dir else None
        if pack is not None and not pack.is_dir():
            raise ModelMissingError("insightface", f"models/{pack.name}", [str(pack.parent)], "faceswap")
        det_file, rec_file, ga_file = pack_files(settings)
        kind = settings.detector
        if kind not in DETECTORS:
            raise BadInputError(f"Unknown detector {kind!r}; choose one of: {', '.join(DETECTORS)}.")
        if kind == "auto":
            kind = "scrfd" if det_file else "dlib"
        if kind == "scrfd" and det_file is None:
            raise ModelMissingError("insightface", f"models/{pack.name if pack else 'buffalo_l'}/det_10g.onnx",
                                    [str(pack) if pack else "(no pack chosen)"], "faceswap")
        device, backend = settings.device, settings.backend
        self.detector = (SCRFD(det_file, device, backend, settings.det_size, settings.det_thresh)
                         if kind == "scrfd" else DlibFace(embed=rec_file is None))
        self.recogniser = ArcFace(rec_file, device, backend) if rec_file else None
        self.attributes = GenderAge(ga_file, device, backend) if ga_file else None
        # the embedding space: the pack's recogniser, else dlib's own descriptors when dlib detects
        self.space = self.recogniser.space if self.recogniser else (DLIB_SPACE if kind == "dlib" else None)
        self._cache: OrderedDict[str, list[Face]] = OrderedDict()

    @property
    def backend(self) -> str:
        parts = [self.detector.backend]
        if self.recogniser:
            parts.append(self.recogniser.backend)
        elif self.space:
            parts.append(f"recogniser {self.space}")
        return ", ".join(parts)

    def analyze(self, rgb: np.ndarray, image_index: int = 0) -> list[Face]:
        """All faces in an HxWx3 uint8 RGB image, left to right, with embeddings when a recogniser is loaded."""
        # content key for the face-list cache: every pixel counts (a sampled hash would hand one frame another's
        # faces); XXH3-128 reads a 1080p frame in a fraction of a millisecond, where SHA-1 took 4
        key = repr(rgb.shape) + xxhash.xxh3_128_hexdigest(np.ascontiguousarray(rgb))
        if key in self._cache:
            self._cache.move_to_end(key)
            faces = self._cache[key]
        else:
            faces = self.detector.detect(rgb)
            if faces and self.recogniser is not None:
                self.recogniser.embed(rgb, faces)
            if faces and self.attributes is not None:
                self.attributes.annotate(rgb, faces)
            self._cache[key] = faces
            if len(self._cache) > FACE_LIST_CACHE:
                self._cache.popitem(last=False)
        return [Face(f.bbox, f.kps, f.det_score, f.embedding, f.gender, f.age, f.landmarks, image_index,
                     space=f.space) for f in faces]

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit embeddings (N, D) for aligned 112 x 112 RGB crops, one batched model call."""
        if self.recogniser is None:
            raise LikenessError("This face analyzer has no recogniser (no w600k_r50/glintr100 in the pack).")
        return self.recogniser.embed_crops(crops)


def analyzer(settings: AnalyzerSettings) -> FaceAnalyzer:
    """The cached analyzer for these settings (reloaded when one of its model files changes)."""
    files = [f for f in pack_files(settings) if f is not None]
    return cache.load("analyzer", files, lambda: FaceAnalyzer(settings), settings)
