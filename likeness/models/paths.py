"""The one bridge between the engine and ComfyUI's `folder_paths`.

Model names that arrive through the API are resolved only inside the registered model folders
(extra_model_paths.yaml included); a name that climbs out of its folder is refused.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import LikenessError, ModelMissingError

# Folders this pack reads, with the file types ComfyUI should list in them.
PACK_FOLDERS: dict[str, set[str]] = {
    "insightface": {".onnx"},
    "hyperswap": {".onnx"},
    "reswapper": {".onnx"},
    "facerestore_models": {".pth", ".safetensors", ".onnx"},
    "face_parsing": {".pth", ".safetensors", ".onnx"},
    "face_models": {".safetensors"},
    "mediapipe": {".tflite"},
}
# Folders of other packs we also read from, when they exist (ReActor keeps face models here).
ALIASES: dict[str, list[str]] = {"face_models": ["reactor/faces"]}


def _folder_paths():
    try:
        import folder_paths  # noqa: PLC0415 - only importable inside ComfyUI
    except ImportError as e:  # pragma: no cover - only outside ComfyUI
        raise LikenessError("likeness.models.paths needs ComfyUI's folder_paths (run inside ComfyUI).") from e
    return folder_paths


def register_folders() -> None:
    """Register our model folders once, without clobbering folders another pack or a yaml registered."""
    fp = _folder_paths()
    for name, exts in PACK_FOLDERS.items():
        default = os.path.join(fp.models_dir, name)
        os.makedirs(default, exist_ok=True)  # ComfyUI caches file lists per existing folder: create it up front
        if name not in fp.folder_names_and_paths:
            fp.folder_names_and_paths[name] = ([default], set(exts))
        else:
            paths, known = fp.folder_names_and_paths[name]
            if default not in paths:
                paths.append(default)
            if known:  # an empty set means "list every file": keep it that way
                known.update(exts)
        for alias in ALIASES.get(name, []):
            extra = os.path.join(fp.models_dir, alias)
            if os.path.isdir(extra) and extra not in fp.folder_names_and_paths[name][0]:
                fp.folder_names_and_paths[name][0].append(extra)


def folder_dirs(folder: str) -> list[Path]:
    fp = _folder_paths()
    try:
        return [Path(p) for p in fp.get_folder_paths(folder)]
    except KeyError:
        return []


def list_names(folder: str) -> list[str]:
    """File names ComfyUI lists for a folder (sorted, relative to the folder, '/'-separated)."""
    fp = _folder_paths()
    try:
        return sorted(n.replace(os.sep, "/") for n in fp.get_filename_list(folder))
    except KeyError:
        return []


def list_packs(folder: str = "insightface") -> list[str]:
    """insightface-style model packs: sub-folders of <folder>/models holding .onnx files (buffalo_l, antelopev2)."""
    packs = set()
    for d in folder_dirs(folder):
        root = d / "models"
        if root.is_dir():
            packs.update(p.name for p in root.iterdir() if p.is_dir() and any(p.rglob("*.onnx")))
    return sorted(packs)


def safe_join(base: Path, name: str) -> Path | None:
    """base/name if name stays inside base (no absolute paths, no '..' escape), else None."""
    if not name or os.path.isabs(name) or "\x00" in name:
        return None
    joined = os.path.normpath(os.path.join(str(base), name))
    if os.path.commonpath([joined, os.path.normpath(str(base))]) != os.path.normpath(str(base)):
        return None
    return Path(joined)


def resolve(folder: str, name: str, workflow: str | None = None, kind: str = "file") -> Path:
    """Full path of `name` inside `folder` (kind="file") or of a pack directory under <folder>/models (kind="pack")."""
    dirs = folder_dirs(folder)
    for d in dirs:
        base = d / "models" if kind == "pack" else d
        path = safe_join(base, name)
        if path is None:
            raise LikenessError(f"Model name '{name}' is not a plain name inside models/{folder}; refusing it.")
        if (path.is_dir() if kind == "pack" else path.is_file()):
            return path
    searched = [str(d / "models" if kind == "pack" else d) for d in dirs]
    raise ModelMissingError(folder, name, searched, workflow)
