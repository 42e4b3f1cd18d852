"""What install.py does, without its argument parsing: find ComfyUI, check, download, verify, lock, pip.

A download is held to every sha256 we know for it before it is moved into place: the one models.yaml pins,
the one the lock file recorded at first install, and the one the host announces. An entry with none of these
is installed only with --allow-unverified; what it saw is then locked, and a later change is refused.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import PACK
from ..errors import LikenessError
from ..fileio import atomic_write
from .download import DownloadError, download, extract_zip, sha256_of, text_progress
from .registry import ModelEntry, Pin

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


def target_path(models_dir: Path, entry: ModelEntry) -> Path:
    return models_dir / entry.folder / entry.file


def lock_key(entry: ModelEntry) -> str:
    return f"{entry.folder}/{entry.file}"


def read_lock(models_dir: Path) -> dict:
    try:
        lock = json.loads((models_dir / LOCK_NAME).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise LikenessError(f"{models_dir / LOCK_NAME} cannot be read ({e}); restore it from a backup or delete "
                            "it to verify every model afresh.") from None
    return lock if isinstance(lock, dict) else {}


def _write_lock(models_dir: Path, lock: dict) -> None:
    atomic_write(models_dir / LOCK_NAME, json.dumps(lock, indent=2, sort_keys=True))


def expected_files(entry: ModelEntry, locked: dict | None) -> dict[str, Pin]:
    """What is installed for an entry, relative to its target (archives: each member), and what each must be:
    the manifest's pin, filled in from the lock where the manifest does not know."""
    locked = locked or {}
    if not entry.archive:
        return {"": Pin(entry.pin.sha256 or locked.get("sha256"), entry.bytes or locked.get("bytes"))}
    files = {name: Pin(m.get("sha256"), m.get("bytes")) for name, m in (locked.get("members") or {}).items()}
    for name, pin in entry.members:
        seen = files.get(name, Pin(None, None))
        files[name] = Pin(pin.sha256 or seen.sha256, pin.bytes or seen.bytes)
    return files


@dataclass
class Status:
    entry: ModelEntry
    path: Path
    state: str          # ok | missing | wrong size | changed | unknown
    detail: str = ""

    @property
    def wrong(self) -> bool:
        """There, but not the file models.yaml (or the lock) describes."""
        return self.state in ("wrong size", "changed")

    @property
    def line(self) -> str:
        label = {"ok": "ok     ", "missing": "MISSING", "wrong size": "WRONG SIZE", "changed": "CHANGED",
                 "unknown": "present"}[self.state]
        how = {"pinned": "", "host": "  (host-verified)", "unverified": "  (unverified checksum)"}
        text = f"  {label} {lock_key(self.entry)}  [{self.entry.licence}]{how[self.entry.how_verified]}"
        return text + (f"\n           {self.detail}" if self.detail else "")


def _file_state(path: Path, pin: Pin, verify: bool) -> tuple[str, str]:
    if not path.is_file():
        return "missing", f"{path.name} is missing"
    if pin.bytes is None and (pin.sha256 is None or not verify):
        return "unknown", f"{path.name}: nothing to compare it with (no size or checksum recorded)"
    size = path.stat().st_size
    if pin.bytes is not None and size != pin.bytes:
        return "wrong size", f"{path.name} is {size} bytes, expected {pin.bytes}: a stand-in or broken file"
    if verify and pin.sha256 and sha256_of(path) != pin.sha256:
        return "changed", f"{path.name}: sha256 differs from the recorded {pin.sha256}"
    return "ok", ""


def status(models_dir: Path, entries: list[ModelEntry], verify: bool = False) -> list[Status]:
    """Each entry's state: sizes are compared always, sha256 only with verify (it reads every byte)."""
    lock = read_lock(models_dir)
    out = []
    for e in entries:
        path = target_path(models_dir, e)
        present = (path.is_dir() and any(path.iterdir())) if e.archive else path.is_file()
        if not present:
            out.append(Status(e, path, "missing"))
            continue
        states = [_file_state(path / name if name else path, pin, verify)
                  for name, pin in sorted(expected_files(e, lock.get(lock_key(e))).items())]
        bad = [s for s in states if s[0] != "ok"]
        out.append(Status(e, path, bad[0][0], bad[0][1]) if bad else Status(e, path, "ok"))
    return out


def install_model(models_dir: Path, entry: ModelEntry, allow_unverified: bool, timeout: float = 60.0) -> str:
    """Download one entry, verify it, move it into place and lock it; returns the sha256 of the download."""
    label = lock_key(entry)
    lock = read_lock(models_dir)
    locked = lock.get(label) or {}
    expectations = [("models.yaml", entry.sha256)] if entry.pinned else []
    if locked.get("sha256"):
        expectations.append((f"{LOCK_NAME} (recorded at first install)", locked["sha256"]))
    if not expectations and entry.sha256 is None and not allow_unverified:
        raise LikenessError(
            f"{entry.key}: no verified sha256 is recorded for {entry.file}, so it is not installed. Re-run with "
            f"--allow-unverified to accept it (its checksum is then locked in {LOCK_NAME}), or place the file "
            f"in models/{entry.folder}/ yourself.")
    how = locked.get("how") or ("pinned" if entry.pinned else "unverified")

    def check(digest: str, size: int, announced: str | None) -> None:
        """The download must match every sha256 we know for it: models.yaml's, the lock's, the host's."""
        nonlocal how
        if entry.bytes and size != entry.bytes:
            raise DownloadError(f"{label}: size mismatch: models.yaml says {entry.bytes} bytes, the download has "
                                f"{size}")
        if not expectations and not announced and not allow_unverified:
            raise DownloadError(f"{label}: the host announced no sha256 to verify it against; re-run with "
                                "--allow-unverified to accept it (its checksum is then locked)")
        for who, sha in expectations + ([("the host", announced)] if announced else []):
            if digest != sha:
                raise DownloadError(f"{label}: checksum mismatch: {who} says sha256 {sha}, the download has "
                                    f"{digest}")
        if announced and how == "unverified":
            how = "host"

    dest = target_path(models_dir, entry)
    progress = text_progress(label)
    if entry.archive:
        archive = dest.with_name(dest.name + ".zip")
        digest, size = download(entry.urls, archive, check, timeout, progress)
        members: dict[str, dict] = {}

        def check_members(root: Path) -> None:
            for name, pin in expected_files(entry, locked).items():
                path = root / name
                state, detail = _file_state(path, pin, verify=True)
                if state not in ("ok", "unknown"):
                    raise DownloadError(f"{label}: {detail}; nothing was installed.")
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                members[path.relative_to(root).as_posix()] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}

        try:
            extract_zip(archive, dest, check_members)
        finally:
            archive.unlink(missing_ok=True)
    else:
        digest, size = download(entry.urls, dest, check, timeout, progress)
        members = {}
    lock = read_lock(models_dir)
    lock[label] = {"sha256": digest, "bytes": size, "how": how, **({"members": members} if members else {})}
    _write_lock(models_dir, lock)
    return digest


def cuda_version() -> str | None:
    """The CUDA version torch runs with here (None: no GPU, a CPU or ROCm build, or no torch)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.version.cuda if torch.cuda.is_available() else None


def pip_requirements(requirements: Path) -> list[str]:
    reqs = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            reqs.append(line)
    return reqs


_ONNXRUNTIME = re.compile(r"onnxruntime(-gpu)?(?![\w-])(.*)")


def onnxruntime_plan(reqs: list[str], installed: set[str], cuda: str | None) -> tuple[list[str], list[str]]:
    """(packages to uninstall, requirements to install) so that exactly one onnxruntime ends up installed:
    onnxruntime-gpu when torch runs on CUDA, onnxruntime otherwise. Both at once fight over one module."""
    want, other = ("onnxruntime-gpu", "onnxruntime") if cuda else ("onnxruntime", "onnxruntime-gpu")
    out = []
    for line in reqs:
        m = _ONNXRUNTIME.fullmatch(line)
        out.append(want + m.group(2) if m else line)
    return ([other] if other in installed else []), out


def installed_packages() -> set[str]:
    from importlib.metadata import distributions

    return {(d.metadata["Name"] or "").lower() for d in distributions()}


def pip(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "pip", *args]).returncode
