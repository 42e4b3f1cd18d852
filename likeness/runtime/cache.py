"""Process-wide model cache: each model is loaded once per (path, device, dtype, ...) key."""
from __future__ import annotations

import threading
from typing import Any, Callable

_models: dict[tuple, Any] = {}
_lock = threading.RLock()


def get_or_load(key: tuple, loader: Callable[[], Any]) -> Any:
    """Return the cached object for `key`, calling `loader()` the first time only."""
    with _lock:
        if key not in _models:
            _models[key] = loader()
        return _models[key]


def cached_keys() -> list[tuple]:
    with _lock:
        return list(_models)


def clear(predicate: Callable[[tuple], bool] | None = None) -> int:
    """Drop cached models (all, or those whose key matches); returns how many were dropped."""
    with _lock:
        keys = [k for k in _models if predicate is None or predicate(k)]
        for k in keys:
            del _models[k]
        return len(keys)
