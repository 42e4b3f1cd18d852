"""What install.py does, without its argument parsing: find ComfyUI, check, download, install Python deps."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import PACK
from ..errors import LikenessError
from ..fileio import atomic_write
from .download import download, extract_zip, text_progress
from .registry import ModelEntry

LOCK_NAME = "likeness-models.lock.json"


def find_comfyui(explicit: str | None = None) -> Path | None:
    """--comfyui, then the folders above the pack (.../ComfyUI/custom_nodes/<pack>), then COMFYUI_PATH."""
    candidates = [Path(explicit)] if explicit else []
    candidates += list(PACK.parents)
    if os.environ.get("COMFYUI_PATH"):
        candidates.append(Path(os.environ["COMFYUI_PATH"]))
    for c in candidates:
        if (c / "main.py").is_file() and (c / "comfy").is_dir():
            return c
    if explicit:
        raise LikenessError(f"--comfyui {explicit}: no ComfyUI there (expected main.py and comfy/).")
    return None


@dataclass
class Status:
    entry: ModelEntry
    path: Path
    present: bool

    @property
    def line(self) -> str:
        state = "ok     " if self.present else "MISSING"
        check = "" if self.entry.verified else "  (unverified checksum)"
        return f"  {state} {self.entry.folder}/{self.entry.file}  [{self.entry.licence}]{check}"


def target_path(models_dir: Path, entry: ModelEntry) -> Path:
    return models_dir / entry.folder / entry.file


def status(models_dir: Path, entries: list[ModelEntry]) -> list[Status]:
    out = []
    for e in entries:
        path = target_path(models_dir, e)
        present = path.is_dir() and any(path.iterdir()) if e.archive else path.is_file()
        out.append(Status(e, path, present))
    return out


def _read_lock(models_dir: Path) -> dict:
    try:
        return json.loads((models_dir / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_lock(models_dir: Path, lock: dict) -> None:
    atomic_write(models_dir / LOCK_NAME, json.dumps(lock, indent=2, sort_keys=True))


def install_model(models_dir: Path, entry: ModelEntry, allow_unverified: bool, timeout: float = 60.0) -> str:
    """Download one entry into place; returns the sha256 of what was downloaded."""
    if not entry.verified and not allow_unverified:
        raise LikenessError(
            f"{entry.key}: no verified sha256 is recorded for {entry.file}, so it is not installed. "
            "Re-run with --allow-unverified to accept it (its checksum is then recorded in "
            f"{LOCK_NAME}), or place the file in models/{entry.folder}/ yourself.")
    dest = target_path(models_dir, entry)
    label = f"{entry.folder}/{entry.file}"
    if entry.archive:
        archive = dest.with_name(dest.name + ".zip")
        digest = download(entry.urls, archive, entry.sha256, timeout, text_progress(label))
        extract_zip(archive, dest)
        archive.unlink()
    else:
        digest = download(entry.urls, dest, entry.sha256, timeout, text_progress(label))
    lock = _read_lock(models_dir)
    lock[f"{entry.folder}/{entry.file}"] = {"sha256": digest, "verified": entry.verified}
    _write_lock(models_dir, lock)
    return digest


def cuda_present() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return subprocess.run(["nvidia-smi"], capture_output=True).returncode == 0 if _has("nvidia-smi") else False


def _has(cmd: str) -> bool:
    from shutil import which

    return which(cmd) is not None


def pip_requirements(requirements: Path, cuda: bool) -> list[str]:
    """requirements.txt lines, with onnxruntime swapped for onnxruntime-gpu when CUDA is present."""
    reqs = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if cuda and line.startswith("onnxruntime") and not line.startswith("onnxruntime-gpu"):
            line = "onnxruntime-gpu" + line[len("onnxruntime"):]
        reqs.append(line)
    return reqs


def pip_install(reqs: list[str]) -> int:
    return subprocess.run([sys.executable, "-m", "pip", "install", *reqs]).returncode
