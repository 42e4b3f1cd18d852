"""Read a dataset folder the Dataset Writer made, and check it can be trained on: every image opens, has its
caption, and every caption holds the trigger word; optionally only the items whose identity verdict passed."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import LikenessError
from .writer import METADATA

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # what ComfyUI's dataset nodes and the trainers read


@dataclass
class Item:
    image: Path
    caption: str


def listing(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _records(d: Path) -> dict[str, dict]:
    path, records = d / METADATA, {}
    if not path.is_file():
        return records
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            raise LikenessError(f"{path}: line {i} is not JSON. Fix that line (or delete it) and export "
                                "again.") from None
        if isinstance(r, dict) and isinstance(r.get("file"), str):
            records[r["file"]] = r
    return records


def _verdict(record: dict | None) -> str:
    score = (record or {}).get("identity") or {}
    return str(score.get("verdict") or "unscored") if isinstance(score, dict) else "unscored"


def _unreadable(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        return False
    except Exception:  # noqa: BLE001 - PIL raises many kinds for a broken file; all mean "cannot train on it"
        return True


def has_trigger(caption: str, trigger: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(trigger)}(?!\w)", caption) is not None


def infer_trigger(items: list[Item], where_from: Path | str = "the dataset") -> str:
    """The first comma-separated phrase every caption starts with (the Dataset Writer puts the trigger there)."""
    first = {it.image.name: it.caption.split(",")[0].strip() for it in items}
    heads = Counter(first.values())
    head = next(iter(heads))
    if len(heads) == 1 and head and len(head.split()) <= 4:
        return head
    where = "; ".join(f"'{h}' in {n} ({listing([f for f, x in first.items() if x == h], 2)})"
                      for h, n in heads.most_common(4))
    raise LikenessError(
        f"The captions in {where_from} disagree on the trigger word or lack one (their first phrases: {where}). "
        "Fix: pass --trigger WORD (it must be in every caption), or re-run the Dataset Writer with its trigger "
        "input so every caption starts with it.")


def read_dataset(directory: str | Path, trigger: str | None = None, only_passed: bool = False
                 ) -> tuple[Path, list[Item], str, list[str]]:
    """(dataset folder, the items to train on, the trigger word, the names dropped by only_passed)."""
    d = Path(directory).expanduser()
    if not d.is_dir():
        what = "is a file, not a folder" if d.exists() else "does not exist"
        raise LikenessError(f"Dataset folder {d} {what}. Give the folder the Dataset Writer made "
                            "(ComfyUI/output/Likeness/datasets/<dataset>).")
    d = d.resolve()
    images = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                    and not p.name.startswith("."))
    records = _records(d)
    if not images:
        if not records and not (d / METADATA).is_file():
            raise LikenessError(f"{d} is not a dataset: no images and no {METADATA}. Give the folder the Dataset "
                                "Writer made (ComfyUI/output/Likeness/datasets/<dataset>).")
        raise LikenessError(f"Dataset {d} has no images ({', '.join(IMAGE_SUFFIXES)}) beside its {METADATA}. Add "
                            "images with the Dataset Writer (or put them back) and export again.")
    dropped = []
    if only_passed:
        verdicts = {p.name: _verdict(records.get(p.name)) for p in images}
        dropped = [n for n, v in verdicts.items() if v != "pass"]
        images = [p for p in images if verdicts[p.name] == "pass"]
        if not images:
            counts = ", ".join(f"{v} {n}" for v, n in Counter(verdicts.values()).items())
            raise LikenessError(f"--only-passed leaves no image in {d}: none passed the identity check ({counts}; "
                                f"verdicts come from {METADATA}). Fix: export without --only-passed, or add images "
                                "that pass (write through Identity Gate with a report).")
    bad = [p.name for p in images if _unreadable(p)]
    if bad:
        raise LikenessError(f"Dataset {d}: unreadable image(s) {listing(bad)}. Fix: delete them (and their .txt) or "
                            "write them again with the Dataset Writer.")
    missing = [p.name for p in images if not p.with_suffix(".txt").is_file()]
    if missing:
        raise LikenessError(f"Dataset {d}: image(s) without a caption: {listing(missing)}. Fix: write a .txt with the "
                            "same name beside each (trigger word + a short description), or delete the image.")
    items = [Item(p, p.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").strip()) for p in images]
    if trigger is None:
        trigger = infer_trigger(items, d)
    trigger = trigger.strip()
    if not trigger or "\n" in trigger:
        raise LikenessError("--trigger must be one line of text, e.g. 'ohwx woman'.")
    lacking = [it.image.with_suffix(".txt").name for it in items if not has_trigger(it.caption, trigger)]
    if lacking:
        raise LikenessError(f"Caption(s) without the trigger '{trigger}': {listing(lacking)} (in {d}). Every caption "
                            "needs it: ai-toolkit caches text embeddings on 24 GB, which ignores its trigger_word "
                            "option. Fix: add the trigger to those captions (e.g. at the start), or pass the --trigger "
                            "they do share.")
    return d, items, trigger, dropped
