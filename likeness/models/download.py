"""Downloads that resume, verify sha256 before anything is installed, and install atomically."""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import LikenessError

CHUNK = 1 << 20
Progress = Callable[[int, int | None], None]


class DownloadError(LikenessError):
    pass


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def text_progress(label: str) -> Progress:
    """A one-line progress bar on stderr (tqdm when it is installed)."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    state: dict = {}

    def update(done: int, total: int | None) -> None:
        if tqdm is not None:
            bar = state.get("bar") or state.setdefault("bar", tqdm(total=total, initial=done, unit="B",
                                                                     unit_scale=True, desc=label, leave=True))
            bar.update(done - bar.n)
            if total and done >= total:
                bar.close()
        else:
            pct = f"{100 * done / total:5.1f}%" if total else f"{done / 1e6:.1f} MB"
            print(f"\r{label}: {pct}", end="\n" if total and done >= total else "", file=sys.stderr)

    return update


def _fetch(url: str, partial: Path, timeout: float, progress: Progress | None) -> None:
    """Append the rest of `url` to `partial` (HTTP Range); restarts when the server ignores the range."""
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"User-Agent": "ComfyUI-Likeness-installer"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # already complete
            return
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: {getattr(e, 'reason', e)}") from None
    with resp:
        resumed = have and resp.status == 206
        if not resumed:
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(partial, "ab" if resumed else "wb") as out:
            done = have
            while True:
                try:
                    block = resp.read(CHUNK)
                except (OSError, ValueError) as e:
                    raise DownloadError(f"{url}: transfer broke off after {done} bytes ({e}); "
                                        "run again to resume.") from None
                if not block:
                    break
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done < total:
            raise DownloadError(f"{url}: transfer broke off after {done} of {total} bytes; run again to resume.")


def download(urls: list[str] | tuple[str, ...], dest: Path, sha256: str | None, timeout: float = 60.0,
             progress: Progress | None = None) -> str:
    """Download to `dest` (resuming `<dest>.partial`), check sha256, then rename into place. Returns the sha256."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    errors = []
    for url in urls:
        try:
            _fetch(url, partial, timeout, progress)
        except DownloadError as e:
            errors.append(str(e))
            continue
        digest = sha256_of(partial)
        if sha256 and digest != sha256.lower():
            partial.unlink(missing_ok=True)  # a wrong file must not be resumed either
            raise DownloadError(f"{dest.name}: checksum mismatch (expected {sha256}, got {digest}) from {url}; "
                                "nothing was installed.")
        os.replace(partial, dest)
        return digest
    raise DownloadError(f"Could not download {dest.name}:\n  " + "\n  ".join(errors))


def extract_zip(archive: Path, dest_dir: Path) -> None:
    """Extract a zip into dest_dir atomically; a single top folder (buffalo_l/...) is flattened."""
    dest_dir = Path(dest_dir)
    with tempfile.TemporaryDirectory(dir=dest_dir.parent, prefix=".extract-") as tmp:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                target = (Path(tmp) / member.filename).resolve()
                if not str(target).startswith(str(Path(tmp).resolve()) + os.sep):
                    raise DownloadError(f"{archive.name}: refusing member outside the archive root: {member.filename}")
            zf.extractall(tmp)
        root = Path(tmp)
        entries = [p for p in root.iterdir() if not p.name.startswith("__MACOSX")]
        while len(entries) == 1 and entries[0].is_dir():  # zips often nest: antelopev2/antelopev2/*.onnx
            root = entries[0]
            entries = list(root.iterdir())
        if dest_dir.exists():
            shutil.rmtree(dest_dir)
        os.replace(root, dest_dir)
