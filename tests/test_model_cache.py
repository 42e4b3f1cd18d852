"""The one model cache: a changed file replaces its model, the byte bound evicts the least recently used."""
from __future__ import annotations

import os

from likeness.runtime import cache


class Model:
    def __init__(self, path):
        self.content = open(path, "rb").read()


def test_a_replaced_file_replaces_its_model_instead_of_loading_beside_it(tmp_path):
    cache.release()
    f = tmp_path / "GFPGANv1.4.pth"
    f.write_bytes(b"old weights")
    first = cache.load("restorer", [f], lambda: Model(f), "cpu")
    assert cache.load("restorer", [f], lambda: Model(f), "cpu") is first
    f.write_bytes(b"new weights, another size")
    second = cache.load("restorer", [f], lambda: Model(f), "cpu")
    assert second.content == b"new weights, another size"
    assert [e["files"] for e in cache.entries()] == [["GFPGANv1.4.pth"]]
    os.utime(f, ns=(1, 1))  # same size, other time: still a new file
    assert cache.load("restorer", [f], lambda: Model(f), "cpu") is not second
    assert cache.load("restorer", [f], lambda: Model(f), "cuda:0") is not second  # another device, another entry
    assert len(cache.entries()) == 2


def test_the_cache_is_bounded_by_bytes_least_recently_used_first(tmp_path, monkeypatch):
    cache.release()
    monkeypatch.setenv("LIKENESS_MODEL_CACHE_MB", str(2.5))
    files = []
    for name in "abc":
        files.append(tmp_path / f"{name}.onnx")
        files[-1].write_bytes(b"\0" * (1 << 20))
    a = cache.load("x", [files[0]], lambda: Model(files[0]))
    cache.load("x", [files[1]], lambda: Model(files[1]))
    assert cache.load("x", [files[0]], lambda: Model(files[0])) is a  # a is now the most recently used
    cache.load("x", [files[2]], lambda: Model(files[2]))
    assert [e["files"][0] for e in cache.entries()] == ["a.onnx", "c.onnx"]  # b went, 2 MB <= 2.5 MB
    released = []
    cache.on_release(lambda: released.append(True))
    assert cache.release() == 2 and cache.entries() == [] and released
