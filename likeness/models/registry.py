"""models.yaml: what each shipped workflow needs, where it goes, where it comes from, and how it is checked."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from .. import PACK
from ..errors import LikenessError

MANIFEST = PACK / "models.yaml"
WORKFLOWS = ("character-scene", "faceswap", "faceswap-fast", "dataset-enrichment", "train-character-lora", "character-lora")
HOST = "host"  # sha256: host = verified against the sha256 the host announces, then locked
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    """What one file must be: its sha256 (None = not known in advance) and byte size (None = not known)."""
    sha256: str | None
    bytes: int | None


@dataclass(frozen=True)
class ModelEntry:
    key: str
    folder: str
    file: str
    urls: tuple[str, ...]
    sha256: str | None      # 64 hex, HOST, or None (unverified: needs --allow-unverified)
    licence: str
    size: str = ""          # for people: "20.4 GB"
    bytes: int | None = None
    archive: str | None = None
    members: tuple[tuple[str, Pin], ...] = ()  # archive members, relative to `file`
    note: str = ""
    required_by: tuple[str, ...] = ()
    optional_for: tuple[str, ...] = ()

    @property
    def pinned(self) -> bool:
        return self.sha256 not in (None, HOST)

    @property
    def how_verified(self) -> str:
        return "pinned" if self.pinned else "host" if self.sha256 == HOST else "unverified"

    @property
    def pin(self) -> Pin:
        return Pin(self.sha256 if self.pinned else None, self.bytes)

    def used_by(self, workflow: str, include_optional: bool = False) -> bool:
        return workflow in self.required_by or (include_optional and workflow in self.optional_for)


def _relative(value, what: str, where: str) -> str:
    """A path from the manifest that stays inside its folder: relative, no '..', no backslashes or NULs."""
    text = str(value or "")
    path = PurePosixPath(text)
    if (not text or path.is_absolute() or ".." in path.parts or "\\" in text or "\x00" in text
            or re.match(r"^[A-Za-z]:", text)):
        raise LikenessError(f"{where}: {what} '{text}' must be a relative path inside the models folder "
                            "(no leading '/', no drive letter, no '..'); refusing this manifest.")
    return text


def _sha(value, where: str) -> str | None:
    if value is None or value == HOST:
        return value
    text = str(value).lower()
    if not _HEX64.fullmatch(text):
        raise LikenessError(f"{where}: sha256 '{value}' is neither 64 hex digits nor '{HOST}'.")
    return text


def _bytes(value, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise LikenessError(f"{where}: bytes '{value}' must be a positive whole number of bytes.")
    return value


def _entry(key: str, raw: dict, source) -> ModelEntry:
    where = f"{source}: model '{key}'"
    missing = [k for k in ("folder", "file", "urls", "licence") if not raw.get(k)]
    if missing:
        raise LikenessError(f"{where} lacks {', '.join(missing)}.")
    required, optional = [], []
    for item in raw.get("workflows") or []:
        if isinstance(item, dict):  # {workflow: optional}
            optional.extend(item)
        else:
            required.append(str(item))
    unknown = sorted(set(required + optional) - set(WORKFLOWS))
    if unknown:
        raise LikenessError(f"{where} names unknown workflow(s) {unknown}; known: {WORKFLOWS}.")
    members = tuple(
        (_relative(name, "member", where), Pin(_sha(m.get("sha256"), f"{where} member {name}"),
                                               _bytes(m.get("bytes"), f"{where} member {name}")))
        for name, m in (raw.get("members") or {}).items())
    return ModelEntry(key=key, folder=_relative(raw["folder"], "folder", where),
                      file=_relative(raw["file"], "file", where), urls=tuple(raw["urls"]),
                      sha256=_sha(raw.get("sha256"), where), licence=str(raw["licence"]),
                      size=str(raw.get("size", "")), bytes=_bytes(raw.get("bytes"), where),
                      archive=raw.get("archive"), members=members, note=str(raw.get("note", "")),
                      required_by=tuple(required), optional_for=tuple(optional))


def load_manifest(path=MANIFEST) -> list[ModelEntry]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
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
