"""The one model cache: every face/identity model is loaded once per (kind, file, device, options).

An entry remembers the size and modification time of the files it was loaded from: a re-downloaded file replaces
the old model instead of loading beside it. The cache is bounded by bytes (the least recently used model goes
first; `LIKENESS_MODEL_CACHE_MB`, default 6144) and emptied when ComfyUI unloads models (`/free`, "Unload models"),
so a 24 GB card gets its memory back for the diffusion model.
"""
from __future__ import annotations

import gc
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger("likeness")
_lock = threading.RLock()
_entries: OrderedDict[tuple, "_Entry"] = OrderedDict()
_release_hooks: list[Callable[[], None]] = []


@dataclass
class _Entry:
    model: Any
    stamp: tuple
    nbytes: int


def limit_bytes() -> int:
    return int(float(os.environ.get("LIKENESS_MODEL_CACHE_MB", "6144")) * (1 << 20))


def file_stamp(files: Iterable[str | Path]) -> tuple:
    """(size, mtime) of each file: changes when a file is replaced, even by one of the same size."""
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((str(f), st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((str(f), -1, 0))
    return tuple(out)


def load(kind: str, files: Iterable[str | Path], loader: Callable[[], Any], *options) -> Any:
    """The cached model for (kind, files, *options); `loader()` runs on a miss or when a file changed."""
    files = [Path(f).resolve() for f in files]
    key = (kind, tuple(map(str, files)), *options)
    stamp = file_stamp(files)
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry.stamp == stamp:
            _entries.move_to_end(key)
            return entry.model
        if entry is not None:
            log.info("likeness: %s changed on disk: reloading %s", ", ".join(f.name for f in files), kind)
            del _entries[key]
            gc.collect()
        model = loader()
        _entries[key] = _Entry(model, stamp, sum(max(s[1], 0) for s in stamp))
        _evict(keep=key)
        return model


def _evict(keep: tuple) -> None:
    total = sum(e.nbytes for e in _entries.values())
    for key in list(_entries):
        if total <= limit_bytes():
            break
        if key != keep:
            total -= _entries.pop(key).nbytes
            log.info("likeness: model cache over %d MB: released %s", limit_bytes() >> 20, key[0])


def entries() -> list[dict]:
    """What is loaded now, most recently used last (for /likeness/models and tests)."""
    with _lock:
        return [{"kind": k[0], "files": [Path(f).name for f in k[1]], "options": [str(o) for o in k[2:]],
                 "mb": round(e.nbytes / (1 << 20), 1)} for k, e in _entries.items()]


def on_release(hook: Callable[[], None]) -> None:
    """Register another cache (text encodings, face lists) to be emptied with the models."""
    _release_hooks.append(hook)


def release() -> int:
    """Drop every model and registered cache and give the memory back (torch's CUDA cache too)."""
    with _lock:
        count = len(_entries)
        _entries.clear()
        for hook in _release_hooks:
            hook()
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    _trim_heap()
    return count


def _trim_heap() -> None:
    """glibc keeps freed model memory in its arenas; hand it back to the system (Linux only, harmless elsewhere)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass(frozen=True)
class Handle:
    """What a loader node hands on: the file and device, not the model. `get()` returns the cached model and loads
    it again after a release, so ComfyUI's output cache never keeps a released model alive."""
    loader: Callable[[str, str], Any]
    path: str
    device: str

    def get(self) -> Any:
        return self.loader(self.path, self.device)
