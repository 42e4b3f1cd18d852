"""Which faces to use: order, index lists, gender, likeness to a reference, and source -> target mappings.

ReActor users' most common complaint is the wrong face being swapped; here the choice can also be "the face that
looks most like this person", and every decision comes back with a reason for the per-face report.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from . import embedding
from .types import Face

ORDERS = ("large-small", "small-large", "left-right", "right-left", "top-bottom", "bottom-top")
GENDERS = ("any", "female", "male")


@dataclass
class Choice:
    face: Face
    index: int          # position after ordering and filtering
    reason: str


def order_faces(faces: list[Face], order: str = "large-small") -> list[Face]:
    keys = {
        "large-small": lambda f: -f.area, "small-large": lambda f: f.area,
        "left-right": lambda f: f.center[0], "right-left": lambda f: -f.center[0],
        "top-bottom": lambda f: f.center[1], "bottom-top": lambda f: -f.center[1],
    }
    if order not in keys:
        raise BadInputError(f"Unknown face order '{order}'; choose one of {', '.join(ORDERS)}.")
    # ties (equal boxes, one column of faces) fall back to left-right, then top-bottom: same input, same numbering
    return sorted(faces, key=lambda f: (keys[order](f), f.center[0], f.center[1]))


def filter_gender(faces: list[Face], gender: str = "any") -> list[Face]:
    """Keep faces of that gender (before indexing, so index 0 is the first face of that gender)."""
    if gender == "any":
        return faces
    if gender not in GENDERS:
        raise BadInputError(f"Unknown gender filter '{gender}'; choose one of {', '.join(GENDERS)}.")
    want = 0 if gender == "female" else 1
    return [f for f in faces if f.gender == want]


MAX_SPEC = 200  # characters of an index list or mapping: more is a mistake (or an attack), never a face list


def _spec(text: str, what: str) -> str:
    text = (text or "").strip().lower()
    if len(text) > MAX_SPEC:
        raise BadInputError(f"{what} is {len(text)} characters long; at most {MAX_SPEC}. "
                            "Use a range like 0-9 or 'all'.")
    return text


def parse_indexes(text: str, count: int) -> list[int]:
    """'0', '0,2', '1-3', 'all' or '' (= all) -> distinct indexes in the given order; out-of-range indexes are an
    error that names them (a face is never swapped twice)."""
    text = _spec(text, "target_index")
    if text in ("", "all", "*"):
        return list(range(count))
    out: dict[int, None] = {}
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise BadInputError(f"Face index '{part}' is not a number, a range like 1-3, or 'all'.")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise BadInputError(f"Face index range '{part}' runs backwards; write it low to high: {hi}-{lo}.")
        if hi >= count:
            raise BadInputError(f"Face index {hi} requested but only {count} face(s) found (indexes start at 0).")
        out.update(dict.fromkeys(range(lo, hi + 1)))
    return list(out)


def parse_mapping(text: str) -> list[tuple[int, int]]:
    """'0->1, 1->0' -> [(source 0, target 1), (source 1, target 0)]; a repeated pair counts once, and one target
    face given two sources is an error."""
    pairs: dict[int, int] = {}
    for part in _spec(text, "mapping").replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:->|:|=)(\d+)", part)
        if not m:
            raise BadInputError(f"Mapping '{part}' should look like 'source->target', e.g. '0->1, 1->0'.")
        s, t = int(m.group(1)), int(m.group(2))
        if pairs.setdefault(t, s) != s:
            raise BadInputError(f"Mapping gives target face {t} two sources ({pairs[t]} and {s}); "
                                "give each target one.")
    if text and text.strip() and not pairs:
        raise BadInputError(f"Mapping {text.strip()!r} names no pair; write 'source->target', e.g. '0->1, 1->0', "
                            "or leave it empty to choose faces by target_index.")
    return [(s, t) for t, s in pairs.items()]


def by_reference(faces: list[Face], reference: np.ndarray, threshold: float, space: str) -> Choice | None:
    """The face most like `reference` (an embedding of `space`) if its similarity reaches `threshold`, measured the
    way that space measures (0.4 is insightface's cosine default and dlib's 0.6 distance rule alike)."""
    for f in faces:
        embedding.require_same(space, f.space, "target_reference",
                               "Build that face model with the face analyzer's pack, or give Face Swap an analyzer "
                               "with the pack the face model was built with.")
    scored = [(embedding.similarity(space, f.embedding, reference), i, f) for i, f in enumerate(faces)
              if f.embedding is not None]
    if not scored:
        return None
    sim, i, face = max(scored, key=lambda s: s[0])
    if sim < threshold:
        return None
    return Choice(face, i, f"most like the reference (similarity {sim:.3f} >= {threshold:.2f})")


def select(faces: list[Face], indexes: str = "0", order: str = "large-small", gender: str = "any",
           reference: np.ndarray | None = None, threshold: float = 0.4, space: str = "w600k_r50") -> list[Choice]:
    """Order, filter by gender, then pick by reference identity (when given) or by index."""
    ranked = filter_gender(order_faces(faces, order), gender)
    if reference is not None:
        choice = by_reference(ranked, reference, threshold, space)
        return [choice] if choice else []
    return [Choice(ranked[i], i, f"index {i} in {order} order" + (f", {gender} only" if gender != "any" else ""))
            for i in parse_indexes(indexes, len(ranked))]
