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


def check_models(graph: dict, client: ComfyClient, workflow: str) -> None:
    """Raise ModelsMissing naming every model file the graph needs that the server does not have."""
    listings: dict[str, list[str]] = {}
    missing = []
    for title, entry in wanted(graph):
        if entry.folder not in listings:
            try:
                listings[entry.folder] = client.models(entry.folder)
            except ComfyError:
                listings[entry.folder] = []  # a folder the server does not know: nothing is there
        if not _present(entry, listings[entry.folder]) and (title, entry) not in missing:
            missing.append((title, entry))
    if not missing:
        return
    names = [workflow] if workflow in WORKFLOWS else sorted({w for _, e in missing for w in e.required_by})
    lines = [f"  {e.folder}/{e.file}  (node '{title}'; {e.size or 'size unknown'})" for title, e in missing]
    fix = " ".join(f"--workflow {w}" for w in names) if names else "--all"
    raise ModelsMissing(f"{client.url} lacks {len(missing)} model file(s) this workflow needs; nothing was queued:\n"
                        + "\n".join(lines) + f"\nInstall them where that ComfyUI runs: python install.py {fix}")
