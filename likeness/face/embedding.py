"""Embedding spaces: which recogniser made a vector, how two vectors of that space compare, how several combine.

A vector means something only next to others of its own space: a buffalo_l (w600k_r50) embedding against an
antelopev2 (glintr100) one gives a number, but not a likeness. Every face and face model says its space, and
comparing two spaces is an error that says what to connect instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError


@dataclass(frozen=True)
class Space:
    name: str
    dim: int
    metric: str          # "cosine", or "1 - euclidean distance" (dlib's rule: distance 0.6 = similarity 0.4)
    pack: str            # where it comes from, for messages


SPACES = {s.name: s for s in (
    Space("w600k_r50", 512, "cosine", "the buffalo_l pack"),
    Space("glintr100", 512, "cosine", "the antelopev2 pack"),
    Space("w600k_mbf", 512, "cosine", "the buffalo_s/buffalo_sc pack"),
    Space("dlib_128", 128, "1 - euclidean distance", "dlib (no download)"),
)}
ALIASES = {"dlib": "dlib_128", "reactor": "w600k_r50"}  # names older face models were saved with
SWAPPER_SPACE = "w600k_r50"  # inswapper, ReSwapper and HyperSwap were all trained on buffalo_l's ArcFace


def space(name: str | None) -> Space:
    """The space of a recogniser or face-model backend name."""
    key = ALIASES.get(name or "", name or "")
    if key not in SPACES:
        raise BadInputError(f"Unknown embedding space {name!r}: this pack knows {', '.join(SPACES)}. Rebuild the face "
                            "model with Build Face Model.")
    return SPACES[key]


def similarity(space_name: str, a: np.ndarray, b: np.ndarray) -> float:
    """How alike two embeddings of one space are: cosine for ArcFace, 1 - Euclidean distance for dlib."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if space(space_name).metric == "cosine":
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    return 1.0 - float(np.linalg.norm(a - b))


def combine(space_name: str, embeddings: list[np.ndarray], method: str = "mean") -> np.ndarray:
    """One identity from several: ArcFace vectors are normalised, averaged and normalised again; dlib's are averaged
    as they are (its distance rule is on the raw vectors)."""
    stack = np.stack([np.asarray(e, np.float32) for e in embeddings])
    cosine = space(space_name).metric == "cosine"
    if cosine:
        stack = stack / np.linalg.norm(stack, axis=1, keepdims=True)
    combined = np.median(stack, 0) if method == "median" else stack.mean(0)
    return (combined / np.linalg.norm(combined) if cosine else combined).astype(np.float32)


def require_same(have: str | None, want: str | None, what: str, fix: str) -> None:
    """Refuse a comparison across spaces, saying what to connect instead."""
    if have is None or want is None or space(have).name == space(want).name:
        return
    raise BadInputError(f"{what} holds {space(have).name} embeddings ({space(have).pack}) but this needs "
                        f"{space(want).name} ({space(want).pack}); they cannot be compared. {fix}")
