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


def apply(report_text: str, n_images: int, mode: str = "pass", k: int = 1, if_none: str = "keep best"
          ) -> tuple[list[int], dict]:
    """(kept image indexes, the kept images' report). The report keeps every try (`tried`), so its pass rate
    stays that of the whole run."""
    from . import report as reports
    from .score import Score

    data = reports.parse(report_text, n_images)
    fields = set(Score.__dataclass_fields__) - {"faces"}
    kept = keep([Score(**{f: v for f, v in s.items() if f in fields}) for s in data["scores"]], mode, k, if_none)
    return kept, {**data, "scores": [data["scores"][i] for i in kept], "kept": kept, "tried": data["scores"]}
