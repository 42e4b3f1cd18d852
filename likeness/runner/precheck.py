"""Before anything is queued: every model file of models.yaml that the graph names must be on the server.

Without this, a graph with missing models fails one model at a time, the face models only after sampling has
run. The server's own `/models/<folder>` lists are asked once per folder; the error names every missing file,
the node that wants it, its folder, and the install command.
"""
from __future__ import annotations

from pathlib import PurePosixPath

from ..errors import LikenessError
from ..models.registry import WORKFLOWS, ModelEntry, load_manifest
from ..qwen.lora import presets
from ..workflows.shipped import MIN_COMFYUI, version_text
from . import graph_edit
from .client import ComfyClient, ComfyError


class ModelsMissing(LikenessError):
    pass


def wanted(graph: dict) -> list[tuple[str, ModelEntry]]:
    """(node title, models.yaml entry) for each model file the graph's inputs name: files by name, packs
    (buffalo_l) by folder name, LoRA Stack presets by preset name."""
    entries = load_manifest()
    by_value = {PurePosixPath(e.file).name if e.archive else e.file: e for e in entries}
    by_value.update({name: next(e for e in entries if e.file == p.name) for name, p in presets().items()})
    out = []
    for node_id, node in graph.items():
        for value in (node.get("inputs") or {}).values():
            if isinstance(value, str) and value in by_value:
                out.append((graph_edit.title_of(graph, node_id), by_value[value]))
    return out


def _present(entry: ModelEntry, listed: list[str]) -> bool:
    if entry.archive:  # a pack is there when its folder lists any file
        return any(name.startswith(entry.file + "/") for name in listed)
    return entry.file in listed


def user_loras(graph: dict) -> list[tuple[str, str, str]]:
    """(node title, input, file) for each LoRA Stack slot that names a file of the user's own (not a preset)."""
    return [(graph_edit.title_of(graph, node_id), key, value) for node_id, node in graph.items()
            if node.get("class_type") == "LikenessLoraStack"
            for key, value in (node.get("inputs") or {}).items()
            if key.startswith("lora_") and isinstance(value, str) and value != "None"]


def check_core(client: ComfyClient, workflow: str) -> None:
    """A shipped workflow that needs a newer core than the server's is refused with the version to update to."""
    need = MIN_COMFYUI.get(workflow)
    if need is None:
        return
    have = client.comfyui_version()
    if have < need[0]:
        raise ModelsMissing(f"{workflow} needs ComfyUI {version_text(need[0])} or newer ({need[1]}); {client.url} "
                            f"runs {version_text(have)}. Update that ComfyUI; nothing was queued.")


def check_models(graph: dict, client: ComfyClient, workflow: str) -> None:
    """Raise ModelsMissing naming every model file the graph needs that the server does not have."""
    check_core(client, workflow)
    listings: dict[str, list[str]] = {}

    def listed(folder: str) -> list[str]:
        if folder not in listings:
            try:
                listings[folder] = client.models(folder)
            except ComfyError:
                listings[folder] = []  # a folder the server does not know: nothing is there
        return listings[folder]

    needed = list(dict.fromkeys(wanted(graph)))
    missing = [(title, e) for title, e in needed if not _present(e, listed(e.folder))]
    known = {e.file for _, e in needed}
    own = [(title, key, f) for title, key, f in user_loras(graph) if f not in known and f not in listed("loras")]
    if not missing and not own:
        return
    lines = [f"  {e.folder}/{e.file}  (node '{title}'; {e.size or 'size unknown'})" for title, e in missing]
    lines += [f"  loras/{f}  (node '{title}', {key}): your own LoRA; train it (train-character-lora saves "
              f"likeness_<dataset>.safetensors) or pick yours with --set \"{title}.{key}=NAME\"" for title, key, f in own]
    text = f"{client.url} lacks {len(lines)} model file(s) this workflow needs; nothing was queued:\n" + "\n".join(lines)
    if missing:
        names = [workflow] if workflow in WORKFLOWS else sorted({w for _, e in missing for w in e.required_by})
        fix = " ".join(f"--workflow {w}" for w in names) if names else "--all"
        text += f"\nInstall them where that ComfyUI runs: python install.py {fix}"
    raise ModelsMissing(text)
