"""Downloads that resume, verify sha256 before anything is installed, and install atomically.

The sha256 a host announces for a file (Hugging Face sends it as `X-Linked-Etag` on the redirect to its CDN)
is collected on the way and handed to the caller's check, which decides what the download must match.
"""
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
Check = Callable[[str, int, "str | None"], None]  # (sha256, size, sha256 the host announced) -> raise to refuse


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


class _Announced(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, remembering the sha256 any hop announces."""

    def __init__(self):
        self.sha256: str | None = None

    def note(self, headers) -> None:
        for name in ("X-Linked-Etag", "ETag"):
            value = (headers.get(name) or "").strip().removeprefix("W/").strip('"').lower()
            if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
                self.sha256 = self.sha256 or value
                return

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.note(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_partial(partial: Path, append: bool) -> int:
    """The .partial file, never through a symlink someone planted in the models folder."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC) | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(partial, flags, 0o644)
    except OSError as e:
        raise DownloadError(f"{partial}: cannot write the download there ({e.strerror}); if it is a link, "
                            "remove it.") from None


def _fetch(url: str, partial: Path, timeout: float, progress: Progress | None) -> str | None:
    """Append the rest of `url` to `partial` (HTTP Range); restarts when the server ignores the range.
    Returns the sha256 the host announced for the file, if it did."""
    if partial.is_symlink():
        raise DownloadError(f"{partial} is a symbolic link; remove it and run again.")
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"User-Agent": "ComfyUI-Likeness-installer"}
    if have:
        headers["Range"] = f"bytes={have}-"
    announced = _Announced()
    opener = urllib.request.build_opener(announced)
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        announced.note(e.headers or {})
        if e.code == 416 and have:  # already complete
            return announced.sha256
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: {getattr(e, 'reason', e)}") from None
    with resp:
        announced.note(resp.headers)
        resumed = have and resp.status == 206
        if not resumed:
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with os.fdopen(_open_partial(partial, bool(resumed)), "wb") as out:
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
    return announced.sha256


def download(urls: list[str] | tuple[str, ...], dest: Path, check: Check, timeout: float = 60.0,
             progress: Progress | None = None) -> tuple[str, int]:
    """Download to `dest` (resuming `<dest>.partial`); `check` sees the result before it is renamed into place.
    Returns (sha256, size)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    errors = []
    for url in urls:
        try:
            announced = _fetch(url, partial, timeout, progress)
        except DownloadError as e:
            errors.append(str(e))
            continue
        digest, size = sha256_of(partial), partial.stat().st_size
        try:
            check(digest, size, announced)
        except DownloadError as e:
            partial.unlink(missing_ok=True)  # a wrong file must not be resumed either
            raise DownloadError(f"{e} (from {url}); nothing was installed.") from None
        os.replace(partial, dest)
        return digest, size
    raise DownloadError(f"Could not download {dest.name}:\n  " + "\n  ".join(errors))


def extract_zip(archive: Path, dest_dir: Path, check: Callable[[Path], None] = lambda root: None) -> None:
    """Extract a zip into dest_dir atomically; a single top folder (buffalo_l/...) is flattened.
    `check` sees the extracted folder before it replaces dest_dir (raise to refuse)."""
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
        check(root)
        if dest_dir.exists():
            shutil.rmtree(dest_dir)
        os.replace(root, dest_dir)
