"""models.yaml: what each shipped workflow needs, where it goes, where it comes from, and its checksum."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import PACK
from ..errors import LikenessError

MANIFEST = PACK / "models.yaml"
WORKFLOWS = ("character-scene", "faceswap", "faceswap-fast", "dataset-enrichment")


@dataclass(frozen=True)
class ModelEntry:
    key: str
    folder: str
    file: str
    urls: tuple[str, ...]
    sha256: str | None
    licence: str
    size: str = ""
    archive: str | None = None
    note: str = ""
    required_by: tuple[str, ...] = ()
    optional_for: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def verified(self) -> bool:
        return bool(self.sha256)

    def used_by(self, workflow: str, include_optional: bool = False) -> bool:
        return workflow in self.required_by or (include_optional and workflow in self.optional_for)


def _entry(key: str, raw: dict, source: Path) -> ModelEntry:
    missing = [k for k in ("folder", "file", "urls", "licence") if not raw.get(k)]
    if missing:
        raise LikenessError(f"{source}: model '{key}' lacks {', '.join(missing)}.")
    required, optional = [], []
    for item in raw.get("workflows") or []:
        if isinstance(item, dict):  # {workflow: optional}
            optional.extend(item)
        else:
            required.append(str(item))
    sha = raw.get("sha256")
    if sha is not None and (len(str(sha)) != 64 or any(c not in "0123456789abcdef" for c in str(sha).lower())):
        raise LikenessError(f"{source}: model '{key}' has a malformed sha256 '{sha}'.")
    unknown = sorted(set(required + optional) - set(WORKFLOWS))
    if unknown:
        raise LikenessError(f"{source}: model '{key}' names unknown workflow(s) {unknown}; known: {WORKFLOWS}.")
    return ModelEntry(key=key, folder=raw["folder"], file=raw["file"], urls=tuple(raw["urls"]),
                      sha256=str(sha).lower() if sha else None, licence=str(raw["licence"]),
                      size=str(raw.get("size", "")), archive=raw.get("archive"), note=str(raw.get("note", "")),
                      required_by=tuple(required), optional_for=tuple(optional))


def load_manifest(path: str | Path = MANIFEST) -> list[ModelEntry]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise LikenessError(f"Cannot read the model list {path}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise LikenessError(f"{path}: expected a top-level 'models:' mapping.")
    return [_entry(key, raw or {}, path) for key, raw in data["models"].items()]


def for_workflows(entries: list[ModelEntry], workflows: list[str] | None,
                  include_optional: bool = False) -> list[ModelEntry]:
    if not workflows:
        return entries
    unknown = sorted(set(workflows) - set(WORKFLOWS))
    if unknown:
        raise LikenessError(f"Unknown workflow(s) {unknown}. Choose from: {', '.join(WORKFLOWS)}.")
    return [e for e in entries if any(e.used_by(w, include_optional) for w in workflows)]
