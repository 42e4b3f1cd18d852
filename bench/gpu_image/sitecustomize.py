"""Rehearsal of the GPU machine's Python on this one (bench/gpu.sh --smoke puts this folder on PYTHONPATH): an
import of an installed package that the GPU image lacks, and that is not among the carried wheels, fails here as
it would there. What an image package needs here is allowed too (the image's own version brings its own)."""
import importlib.abc
import importlib.metadata
import os
import re
import sys
from pathlib import Path


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed() -> set[str]:
    lines = (Path(__file__).with_name("packages.txt")).read_text().splitlines()
    names = {_norm(n) for line in lines if not line.startswith("#") for n in line.split()}
    wheels = Path(os.environ.get("LIKENESS_GPU_WHEELS", ".gpu-carry/wheels"))
    names |= {_norm(w.name.split("-")[0]) for w in wheels.glob("*.whl")}
    todo = list(names)
    while todo:  # and everything those need, as installed here
        try:
            requires = importlib.metadata.requires(todo.pop()) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            dep = _norm(re.split(r"[\s;<>=!~\[(]", req, 1)[0])
            if dep not in names:
                names.add(dep)
                todo.append(dep)
    return names


class _NotOnTheGPUMachine(importlib.abc.MetaPathFinder):
    def __init__(self):
        allowed = _allowed()
        self.blocked = {top: dists for top, dists in importlib.metadata.packages_distributions().items()
                        if not any(_norm(d) in allowed for d in dists)}

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in self.blocked:
            raise ImportError(f"'{top}' ({', '.join(self.blocked[top])}) is not on the GPU machine: add it to "
                              "WHEELS in bench/gpu.sh", name=name)
        return None


sys.meta_path.insert(0, _NotOnTheGPUMachine())
