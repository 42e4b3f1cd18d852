"""A bounded cache for text-encoder and VAE results: a new seed or a re-run never re-runs the 7B encoder."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable

import torch

from ..runtime import cache


def tensor_digest(t: torch.Tensor) -> str:
    """Content hash of an image tensor (shape + bytes)."""
    t = t.detach().to("cpu").contiguous()
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(t.shape), str(t.dtype))).encode())
    h.update(t.numpy().tobytes())
    return h.hexdigest()


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
