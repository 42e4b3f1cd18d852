"""Keep only the outputs that kept the face: by verdict, or the best k (best-of-N)."""
from __future__ import annotations

from ..errors import LikenessError
from .score import Score


def keep(scores: list[Score], mode: str = "pass", k: int = 1, if_none: str = "keep best") -> list[int]:
    """Indexes of the images to keep, best first for top-k, in batch order for 'pass'."""
    if not scores:
        return []
    if mode == "top-k":
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i].similarity)
        return sorted(ranked[:max(1, k)])
    if mode != "pass":
        raise LikenessError(f"Unknown gate mode '{mode}': use pass or top-k.")
    kept = [i for i, s in enumerate(scores) if s.passed]
    if kept:
        return kept
    if if_none == "error":
        best = max(scores, key=lambda s: s.similarity)
        raise LikenessError(f"No image kept the identity (best similarity {best.similarity:.3f} < threshold "
                            f"{best.threshold:.3f}, {best.threshold_source}).")
    if if_none == "keep best":
        return [max(range(len(scores)), key=lambda i: scores[i].similarity)]
    return []
