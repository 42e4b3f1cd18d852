"""A character LoRA's training set and its result: the Dataset Writer folder read, checked and sized for ComfyUI's
own trainer (TrainLoraNode), and the trained weights saved into models/loras with what they were trained on.

The images keep their aspect: each is resized to about `resolution`² pixels with sides a multiple of 32, so images
of one aspect share a resolution bucket (core's ResolutionBucket batches them; nothing is cropped away).
"""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LikenessError
from ..fileio import atomic_new
from .reader import read_dataset
from .writer import CROPS

# TrainLoraNode's inputs and outputs as the shipped train-character-lora workflow wires them (lora/loss/steps
# outputs, bucket_mode, offloading, quantized_backward) exist from ComfyUI 0.19.0 on.
TRAINING_CORE = (0, 19, 0)
SIDE_STEP = 32


@dataclass
class TrainingSet:
    name: str                      # the dataset's folder name: the LoRA is named after it
    trigger: str
    images: list[np.ndarray]       # RGB uint8, sides multiples of 32
    captions: list[str]
    dropped: list[str] = field(default_factory=list)  # left out by only_passed


def require_training_core(version: tuple[int, ...]) -> None:
    if version < TRAINING_CORE:
        have, need = ".".join(map(str, version)), ".".join(map(str, TRAINING_CORE))
        raise LikenessError(f"train-character-lora needs ComfyUI {need} or newer (its Train LoRA node with "
                            f"resolution buckets and offloading); this ComfyUI is {have}. Update ComfyUI, or train "
                            "elsewhere: python -m likeness dataset export DIR --for ai-toolkit|musubi|diffusers.")


def folder_stamp(folder: Path) -> str:
    """Changes when a file of the dataset (or of its faces/) is added, removed or rewritten."""
    files = sorted(p for d in (folder, folder / CROPS) if d.is_dir() for p in d.iterdir() if p.is_file())
    return repr([(p.name, st.st_size, st.st_mtime_ns) for p, st in ((p, p.stat()) for p in files)])


def bucket_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """(w, h) with about resolution² pixels, the same aspect, and sides a multiple of 32."""
    scale = resolution / (width * height) ** 0.5
    return (max(SIDE_STEP, round(width * scale / SIDE_STEP) * SIDE_STEP),
            max(SIDE_STEP, round(height * scale / SIDE_STEP) * SIDE_STEP))


def _load(path: Path, resolution: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    size = bucket_size(*rgb.size, resolution)
    return np.asarray(rgb if rgb.size == size else rgb.resize(size, Image.LANCZOS))


def training_set(folder: str | Path, trigger: str | None = None, only_passed: bool = False,
                 face_crops: bool = True, resolution: int = 1024) -> TrainingSet:
    """The images and captions to train on; the face crop of each kept image too when `face_crops`."""
    dataset, items, trigger, dropped = read_dataset(folder, trigger, only_passed)
    pairs = [(it.image, it.caption) for it in items]
    if face_crops:  # a crop's caption is its image's (the Dataset Writer writes both)
        pairs += [(dataset / CROPS / it.image.name, it.caption) for it in items
                  if (dataset / CROPS / it.image.name).is_file()]
    return TrainingSet(dataset.name, trigger, [_load(p, resolution) for p, _ in pairs], [c for _, c in pairs],
                       dropped)


def lora_file_names(dataset: str):
    """likeness_<dataset>.safetensors, then _2, _3 …: a new training never overwrites an earlier one."""
    stem = "likeness_" + (re.sub(r"[^\w\-]+", "_", dataset).strip("._") or "character")
    yield f"{stem}.safetensors"
    yield from (f"{stem}_{n}.safetensors" for n in itertools.count(2))


def save_lora(weights: dict, folder: str | Path, dataset: str, trigger: str, steps: int | None,
              loss: list[float] | None) -> Path:
    """Write the trained weights into `folder` (models/loras) under a new name, with the trigger word, the dataset,
    the steps and the loss curve in the file's metadata (what Save Character LoRA reports and the tests read)."""
    import safetensors.torch

    meta = {"likeness.dataset": dataset, "likeness.trigger": trigger, "likeness.steps": str(steps or ""),
            "likeness.loss": json.dumps([round(float(v), 6) for v in (loss or [])]),
            "modelspec.trigger_phrase": trigger}
    with atomic_new(folder, lora_file_names(dataset)) as (tmp, saved):
        safetensors.torch.save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp), metadata=meta)
    return saved[0]


def loss_summary(loss: list[float]) -> str:
    """'loss 0.412 → 0.118' (means of the first and last tenth: single steps are noisy)."""
    if not loss:
        return "no loss recorded"
    k = max(1, len(loss) // 10)
    return f"loss {np.mean(loss[:k]):.3f} → {np.mean(loss[-k:]):.3f} over {len(loss)} steps"
