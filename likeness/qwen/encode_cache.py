"""A bounded cache for text-encoder and VAE results: a new seed or a re-run never re-runs the 7B encoder.

Images are keyed by content: shape, dtype and SHA-1 over every byte (4 MiB chunks hashed on a thread pool, then
the chunk digests hashed: two images that differ in one bit get different keys). A digest is also remembered per
tensor object, so the tensors ComfyUI hands back on a re-run (its cached outputs, the same objects) cost nothing
to key again. An object whose memory was written in place since is hashed again: tensors that track versions are
checked by their version counter; inference tensors (what nodes produce under ComfyUI's inference mode), which
track none, by their data pointer and a strided sample of their values.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import torch
from torch.utils.weak import WeakIdKeyDictionary

from ..runtime import cache

CHUNK = 4 << 20  # bytes per SHA-1 chunk: the digest does not depend on how many threads hash them
SAMPLES = 4096   # values compared to tell an inference tensor written in place from the one hashed

_pool: ThreadPoolExecutor | None = None
_memo = WeakIdKeyDictionary()  # tensor object -> (stamp, sample, {rows: digest})
_memo_lock = threading.Lock()


def _hash_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)),
                                   thread_name_prefix="likeness-digest")
    return _pool


def _chunks(t: torch.Tensor) -> list[memoryview]:
    """The tensor's bytes in CHUNK-sized views (no copy when it is a contiguous CPU tensor)."""
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    data = memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else memoryview(b"")
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [data]


def _sha1(chunk: memoryview) -> bytes:
    return hashlib.sha1(chunk).digest()  # hashlib lets go of the GIL while it hashes


def _digests(tensors: Sequence[torch.Tensor]) -> list[str]:
    """Content digests of `tensors`, every tensor's chunks hashed together on the pool."""
    parts = [_chunks(t) for t in tensors]
    flat = [c for p in parts for c in p]
    hashed = iter(list(_hash_pool().map(_sha1, flat)) if len(flat) > 1 else [_sha1(c) for c in flat])
    out = []
    for t, p in zip(tensors, parts):
        h = hashlib.sha1(repr((tuple(t.shape), str(t.dtype))).encode())
        for _ in p:
            h.update(next(hashed))
        out.append(h.hexdigest())
    return out


def tensor_digest(t: torch.Tensor) -> str:
    """Content hash of a tensor (shape, dtype and every byte); not remembered."""
    return _digests([t])[0]


def _stamp(t: torch.Tensor) -> tuple:
    version = None if t.is_inference() else t._version
    return version, t.device, t.dtype, tuple(t.shape), tuple(t.stride()), t.storage_offset(), t.data_ptr()


def _sample(t: torch.Tensor) -> torch.Tensor | None:
    """A strided sample of an inference tensor's values (they keep no version counter to check)."""
    if not t.is_inference() or not t.numel():
        return None
    flat = t.detach().reshape(-1)
    return flat[::max(1, flat.numel() // SAMPLES)].clone()


def digests(tensors: Sequence[torch.Tensor], rows: int | None = None) -> tuple[str, ...]:
    """Content digests of `tensors` (of their first `rows` batch items when given), remembered per tensor object
    and hashed again only for objects that are new or were written in place."""
    out: list[str | None] = []
    todo = []
    with _memo_lock:
        for k, t in enumerate(tensors):
            entry = _memo.get(t)
            if entry is not None and entry[0] == _stamp(t) and rows in entry[2] and (
                    entry[1] is None or torch.equal(entry[1], _sample(t))):
                out.append(entry[2][rows])
            else:
                out.append(None)
                todo.append(k)
    if todo:
        fresh = _digests([tensors[k] if rows is None else tensors[k][:rows] for k in todo])
        with _memo_lock:
            for k, d in zip(todo, fresh):
                t = tensors[k]
                stamp, entry = _stamp(t), _memo.get(t)
                if entry is None or entry[0] != stamp:
                    entry = (stamp, _sample(t), {})
                    _memo[t] = entry
                entry[2][rows] = d
                out[k] = d
    return tuple(out)


class EncodeCache:
    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: tuple, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, was_cached)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key], True
        value = compute()
        with self._lock:
            self._items[key] = value
            self.misses += 1
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value, False

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


TEXT = EncodeCache(32)
VAE = EncodeCache(64)

# emptied with the face models when ComfyUI unloads models: the encodings may sit on the GPU
cache.on_release(TEXT.clear)
cache.on_release(VAE.clear)
