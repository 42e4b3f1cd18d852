"""Write one dataset item: the image, its caption (.txt beside it), a face crop, and a metadata.jsonl line.

File names come from the image content and the seed, so items made on several servers never collide and a
retried item overwrites itself instead of doubling. Every file is written atomically.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from ..image import png_bytes

METADATA = "metadata.jsonl"
CROPS = "faces"


@dataclass
class DatasetItem:
    rgb: np.ndarray
    caption: str
    prompt: str = ""
    seed: int = 0
    sources: list[str] = field(default_factory=list)
    score: dict | None = None          # the identity score of this image, when it was scored


def item_name(rgb: np.ndarray, seed: int) -> str:
    digest = hashlib.blake2b(rgb.tobytes(), digest_size=6, key=repr(rgb.shape).encode()).hexdigest()
    return f"{seed}_{digest}"


def write_item(directory: str | Path, item: DatasetItem, crop: np.ndarray | None = None,
               crop_detector: str | None = None) -> dict:
    """Writes the files of one item and returns its metadata record (paths relative to `directory`)."""
    d = Path(directory)
    name = item_name(item.rgb, item.seed)
    atomic_write(d / f"{name}.png", png_bytes(item.rgb))
    atomic_write(d / f"{name}.txt", item.caption.strip() + "\n")
    record = {"file": f"{name}.png", "caption": item.caption.strip(), "prompt": item.prompt, "seed": item.seed,
              "source": item.sources, "width": int(item.rgb.shape[1]), "height": int(item.rgb.shape[0]),
              "identity": _score_fields(item.score), "face_crop": None, "face_detector": None,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if crop is not None:
        atomic_write(d / CROPS / f"{name}.png", png_bytes(crop))
        atomic_write(d / CROPS / f"{name}.txt", item.caption.strip() + "\n")
        record["face_crop"], record["face_detector"] = f"{CROPS}/{name}.png", crop_detector
    return record


def write_batch(directory: str | Path, frames: list[np.ndarray], scores: list[dict | None], caption: str,
                prompt: str, seed: int, sources: list[str], find=None, crop_size: int = 1024, margin: float = 0.8,
                detector: str | None = None, on_item=None) -> list[dict]:
    """Write every image of a batch (with a face crop where `find` locates a face) and add them to metadata.jsonl."""
    from .crop import square_crop

    records = []
    for i, (rgb, score) in enumerate(zip(frames, scores)):
        box = find(rgb, i) if find else None
        face = square_crop(rgb, box, crop_size, margin) if box is not None else None
        records.append(write_item(directory, DatasetItem(rgb, caption, prompt, seed, sources, score), face, detector))
        if on_item:
            on_item(i + 1)
    if records:
        append_metadata(directory, records)
    return records


def files_of(record: dict) -> list[str]:
    """Every file one record owns beside its image: the caption, and the crop with its caption."""
    stem = lambda f: f.rsplit(".", 1)[0]  # noqa: E731
    crop = [record["face_crop"], stem(record["face_crop"]) + ".txt"] if record.get("face_crop") else []
    return [stem(record["file"]) + ".txt", *crop]


def graph_sources(graph: dict | None) -> list[str]:
    """The files an API-format graph loads with LoadImage: the provenance of what it made."""
    return sorted({n["inputs"]["image"] for n in (graph or {}).values() if isinstance(n, dict)
                   and n.get("class_type") == "LoadImage" and isinstance(n.get("inputs", {}).get("image"), str)})


def _score_fields(score: dict | None) -> dict | None:
    if not score:
        return None
    keys = ("similarity", "verdict", "threshold", "threshold_source", "backend", "leakage", "id_gain")
    return {k: score.get(k) for k in keys if k in score}


def read_metadata(directory: str | Path) -> list[dict]:
    path = Path(directory) / METADATA
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def append_metadata(directory: str | Path, records: list[dict]) -> Path:
    """Adds records to metadata.jsonl; a record for a file already listed replaces the old line."""
    new = {r["file"]: r for r in records}
    kept = [r for r in read_metadata(directory) if r.get("file") not in new]
    lines = [json.dumps(r, ensure_ascii=False) for r in kept + list(new.values())]
    return atomic_write(Path(directory) / METADATA, "\n".join(lines) + "\n")
