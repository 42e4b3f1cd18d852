"""Face swappers: one model table instead of insightface's shape-based router.

insightface routes 256-px swappers to ArcFace because of their input shape; here the kind comes from the file
name and the model's inputs, and each kind declares its crop size, value range and how the source identity is
fed in. Pixel boost (FaceFusion's idea): crop at N x 128, split the crop into N^2 interleaved 128-px images,
swap each, and interleave them back — more output pixels from a 128-px model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInputError, LikenessError
from ..runtime import cache, onnx as onnx_rt
from . import align
from .types import Face


@dataclass(frozen=True)
class SwapperKind:
    name: str
    size: int                 # the model's crop size
    target_range: tuple       # value range of the target crop it expects (and returns)
    latent: str               # "emap": embedding @ emap (inswapper family), "embedding": the normalised embedding
    licence: str


KINDS = {
    "inswapper": SwapperKind("inswapper", 128, (0.0, 1.0), "emap", "non-commercial (insightface)"),
    "reswapper": SwapperKind("reswapper", 128, (0.0, 1.0), "emap", "distilled from inswapper: non-commercial"),
    "hyperswap": SwapperKind("hyperswap", 256, (-1.0, 1.0), "embedding", "ResearchRAIL (FaceFusion Labs)"),
}


def detect_kind(path: Path, input_shapes: dict[str, list]) -> SwapperKind:
    name = path.name.lower()
    size = next((s[-1] for n, s in input_shapes.items() if n == "target" and isinstance(s[-1], int)), 128)
    for key in ("hyperswap", "reswapper"):
        if key in name:
            return SwapperKind(key, int(size), KINDS[key].target_range, KINDS[key].latent, KINDS[key].licence)
    if set(input_shapes) >= {"target", "source"}:
        return SwapperKind("inswapper", int(size), (0.0, 1.0), "emap", KINDS["inswapper"].licence)
    raise LikenessError(f"{path.name} is not a face swapper this pack knows (inputs {sorted(input_shapes)}); "
                        "supported: inswapper_128, ReSwapper 128/256, HyperSwap 1a/1b/1c 256.")


def _read_emap(path: Path) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=False).graph
    emap = numpy_helper.to_array(graph.initializer[-1]).astype(np.float32)
    if emap.shape != (512, 512):
        raise LikenessError(f"{path.name}: its last initializer is {emap.shape}, not the 512x512 embedding map.")
    return emap


class Swapper:
    def __init__(self, path: str | Path, device: str = "cpu", backend: str = "auto"):
        self.path = Path(path)
        self.model = onnx_rt.OnnxModel(self.path, device, backend)
        shapes = {p.name: p.shape for p in self.model.get_inputs()}
        self.kind = detect_kind(self.path, shapes)
        self.emap = _read_emap(self.path) if self.kind.latent == "emap" else None

    @property
    def backend(self) -> str:
        return f"{self.kind.name} {self.kind.size}px on {self.model.backend}"

    def latent(self, source: np.ndarray, target: np.ndarray | None = None, weight: float = 1.0) -> np.ndarray:
        """The identity fed to the model. weight 1 = the source; 0.5 = halfway to the target face; >1 pushes further
        away from the target (FaceFusion's 'balance' goes up to 1.35 x source - 0.35 x target)."""
        source = np.asarray(source, np.float32)
        if source.shape != (512,):
            raise BadInputError(f"The swapper needs a 512-D ArcFace embedding (buffalo_l); got {source.shape}. "
                                "Use an insightface pack (e.g. buffalo_l) in the face analyzer, or a face model built "
                                "with one.")
        if not np.isfinite(source).all() or np.linalg.norm(source) < 1e-6:
            raise BadInputError("The source identity embedding is zero or NaN: the source face or face model holds "
                                "no identity. Use another source photo, or rebuild the face model.")
        if not np.isfinite(weight):
            raise BadInputError(f"weight must be a number (got {weight}); 1.0 swaps in the source identity.")
        emb = source / np.linalg.norm(source)
        if target is not None and weight != 1.0:
            t = np.asarray(target, np.float32)
            emb = weight * emb + (1.0 - weight) * t / np.linalg.norm(t)
            emb /= np.linalg.norm(emb)
        if self.kind.latent == "emap":
            lat = emb @ self.emap
            return (lat / np.linalg.norm(lat)).astype(np.float32)[None]
        return emb.astype(np.float32)[None]

    def _run(self, crops: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """crops (K, s, s, 3) float 0..1 -> swapped crops of the same shape."""
        lo, hi = self.kind.target_range
        out = np.empty_like(crops)
        for k, crop in enumerate(crops):  # the published models have a static batch of 1
            blob = (crop * (hi - lo) + lo).transpose(2, 0, 1)[None].astype(np.float32)
            [res] = self.model.run(None, {"target": blob, "source": latent})
            out[k] = np.clip((res[0].transpose(1, 2, 0) - lo) / (hi - lo), 0.0, 1.0)
        return out

    def swap_face(self, rgb: np.ndarray, face: Face, latent: np.ndarray, pixel_boost: int = 1):
        """Returns (swapped crop, original crop) as float32 0..1 at size*pixel_boost, and the crop matrix."""
        if pixel_boost not in (1, 2, 4, 8):
            raise BadInputError(f"pixel_boost must be 1, 2, 4 or 8, not {pixel_boost}.")
        size = self.kind.size * pixel_boost
        matrix = align.crop_matrix(face.kps, size)
        crop = align.warp_in(rgb, matrix, size).astype(np.float32) / 255.0
        n, s = pixel_boost, self.kind.size
        # polyphase split: sub-image (i, j) holds crop[i::n, j::n]
        subs = crop.reshape(s, n, s, n, 3).transpose(1, 3, 0, 2, 4).reshape(n * n, s, s, 3)
        swapped = self._run(subs, latent)
        merged = swapped.reshape(n, n, s, s, 3).transpose(2, 0, 3, 1, 4).reshape(size, size, 3)
        return merged, crop, matrix


def load(path: str | Path, device: str = "cpu", backend: str = "auto") -> Swapper:
    """The cached swapper for this file on this device."""
    return cache.load("swapper", [path], lambda: Swapper(path, device, backend), str(device), backend)
