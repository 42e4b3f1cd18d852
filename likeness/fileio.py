"""Atomic file writes: a reader (or a crash, or Ctrl-C) never sees a half-written file."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _temporary(folder: Path, name: str) -> Path:
    """A new empty file in `folder` with a unique name (mkstemp), readable by all."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".partial")
    os.fchmod(fd, 0o644)  # mkstemp makes 0600; the files we write are for sharing
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path`; on success it replaces `path`, on any error it is removed.
    The temporary name is unique (mkstemp), so threads writing the same target never share one."""
    path = Path(path)
    tmp = _temporary(path.parent, path.name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def atomic_new(folder: str | Path, names):
    """Like atomic_path for a file that must not replace any other: yields (temporary path, saved) and on success
    moves the file to the first of `names` (file names) that does not exist yet; saved[0] is then its path. The
    name is claimed with O_EXCL first, so two writers never take the same one."""
    folder = Path(folder)
    tmp, saved = _temporary(folder, "new"), []
    try:
        yield tmp, saved
        for candidate in names:
            try:
                os.close(os.open(folder / candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                continue
            os.replace(tmp, folder / candidate)
            saved.append(folder / candidate)
            return
    finally:
        tmp.unlink(missing_ok=True)
