"""Face models: one identity averaged from several photos, saved as .safetensors (ReActor's files load too)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInputError, LikenessError, NoFaceError
from ..fileio import atomic_path
from . import embedding


@dataclass
class FaceModel:
    embedding: np.ndarray                      # (D,) the identity (a unit vector in ArcFace spaces)
    embeddings: np.ndarray                     # (N, D) the embeddings it was built from
    backend: str = "unknown"                   # the embedding space: which recogniser made them (w600k_r50, ...)
    method: str = "mean"
    sources: list[str] = field(default_factory=list)
    gender: int | None = None

    @property
    def dim(self) -> int:
        return int(self.embedding.shape[0])

    @property
    def space(self) -> str:
        return embedding.space(self.backend).name


def _checked(v: np.ndarray, what: str = "the face model") -> np.ndarray:
    v = np.asarray(v, np.float32)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm < 1e-6:
        raise BadInputError(f"{what}: its identity embedding is {'zero' if np.isfinite(norm) else 'NaN/infinite'}, "
                            "so it holds no identity. Rebuild it with Build Face Model from photos with a clear face.")
    return v


def _unit(v: np.ndarray) -> np.ndarray:
    v = _checked(v)
    return v / np.linalg.norm(v)


def build(embeddings: list[np.ndarray], backend: str, method: str = "mean", sources: list[str] | None = None,
          gender: int | None = None) -> FaceModel:
    """Combine per-photo embeddings of one space (`backend`) the way that space compares them (face/embedding.py)."""
    if not embeddings:
        raise BadInputError("A face model needs at least one face: no embeddings were given.")
    dims = {np.asarray(e).shape for e in embeddings}
    if len(dims) > 1:
        raise BadInputError(f"Embeddings of different sizes {sorted(dims)} cannot be combined (mixed backends?).")
    if method not in ("mean", "median"):
        raise BadInputError(f"Unknown method '{method}': use mean or median.")
    stack = np.stack([_checked(e) for e in embeddings])
    cosine = embedding.space(backend).metric == "cosine"
    if cosine:
        stack = stack / np.linalg.norm(stack, axis=1, keepdims=True)
    combined = _checked(embedding.combine(backend, list(stack), method))
    return FaceModel(combined, stack, embedding.space(backend).name, method, list(sources or []), gender)


def file_stem(name: str) -> str:
    """A safe file name from a user's name: letters, digits, - _ space; no leading dot (hidden file); <= 80 chars."""
    safe = "".join(c for c in str(name) if c.isalnum() or c in "-_ .").strip().lstrip(".").strip()
    return safe[:80].rstrip(" .") or "person"


def save(model: FaceModel, path: str | Path) -> Path:
    """Write atomically (temp file + rename): an interrupted save never leaves a broken model behind."""
    from safetensors.numpy import save_file

    meta = {"format": "likeness-face-model/1", "backend": model.backend, "method": model.method,
            "sources": json.dumps(model.sources), "gender": "" if model.gender is None else str(model.gender)}
    with atomic_path(path) as tmp:
        save_file({"embedding": model.embedding.astype(np.float32),
                   "embeddings": model.embeddings.astype(np.float32)}, str(tmp), metadata=meta)
    return Path(path)


def load(path: str | Path) -> FaceModel:
    """Our face models, or ReActor's (raw 512-D `embedding` of buffalo_l, plus bbox/kps/gender/age)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise LikenessError(f"Cannot read face model {path}: {e}. Is it a .safetensors face model?") from e
    if "embedding" not in tensors:
        raise LikenessError(f"{path.name} has no 'embedding' tensor: it is not a face model.")
    emb = tensors["embedding"].reshape(-1)
    if meta.get("format", "").startswith("likeness-face-model"):
        gender = int(meta["gender"]) if meta.get("gender") else None
        space = embedding.space(meta.get("backend")).name
        emb = _unit(emb) if embedding.space(space).metric == "cosine" else _checked(emb)
        return FaceModel(emb, tensors.get("embeddings", emb[None]), space, meta.get("method", "mean"),
                         json.loads(meta.get("sources", "[]")), gender)
    # ReActor: an insightface Face saved field by field; its embedding is buffalo_l's, not normalised
    gender = int(tensors["gender"].reshape(-1)[0]) if "gender" in tensors else None
    return FaceModel(_unit(emb), _unit(emb)[None], "w600k_r50", "reactor", [path.name], gender)


def from_photos(analyzer, frames: list[np.ndarray], method: str = "mean", on_item=None) -> FaceModel:
    """A face model from photos of one person: the largest face of each, combined in the analyzer's space."""
    if analyzer.space is None:
        raise BadInputError("This face analyzer's pack has no recogniser, so photos give no identity: choose "
                            "buffalo_l (for swaps) or dlib in Face Analyzer.")
    largest = []
    for i, rgb in enumerate(frames):
        faces = analyzer.analyze(rgb, i)
        if not faces:
            raise NoFaceError("images", i, "Every photo of a face model must show the face clearly.")
        largest.append(max(faces, key=lambda f: f.area))
        if on_item:
            on_item(i + 1)
    genders = [f.gender for f in largest]
    gender = max(set(genders), key=genders.count) if None not in genders else None
    return build([f.embedding for f in largest], analyzer.space, method, [f"image {i}" for i in range(len(frames))],
                 gender)
