"""Run an ONNX model on onnxruntime, or through torch on the GPU when onnxruntime has no CUDA provider.

ReActor users lose the GPU whenever onnxruntime-gpu fails to install or load. Here a CUDA device is used either
way: onnxruntime's CUDA provider when it works, otherwise the graph is converted to a torch module (onnx2torch)
and run by torch on the same device ComfyUI uses. `OnnxModel` also speaks the onnxruntime session interface
(`run`, `get_inputs`, `get_outputs`), so insightface's model classes can use it as their session.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LikenessError, ModelMissingError
from . import cache

log = logging.getLogger("likeness")


@dataclass(frozen=True)
class Port:
    """What onnxruntime's NodeArg offers: a name and a shape (str for symbolic dims)."""
    name: str
    shape: list


def _ort_cuda_available() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def choose_backend(device: str, requested: str = "auto") -> str:
    if requested in ("onnxruntime", "torch"):
        return requested
    if str(device).startswith("cuda") and not _ort_cuda_available():
        return "torch"
    return "onnxruntime"


class OnnxModel:
    def __init__(self, path: str | Path, device: str = "cpu", backend: str = "auto", fp16: bool = False,
                 workflow: str = "faceswap"):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelMissingError(self.path.parent.name, self.path.name, [str(self.path.parent)], workflow)
        self.device = str(device)
        self.kind = choose_backend(self.device, backend)
        self.fp16 = fp16 and self.kind == "torch" and self.device.startswith("cuda")
        try:
            if self.kind == "onnxruntime":
                self._init_ort()
            if self.kind == "torch":
                self._init_torch()
        except (LikenessError, MemoryError):
            raise
        except Exception as e:  # a truncated or foreign file: say which, and how to get a good one
            raise LikenessError(f"Cannot load ONNX model {self.path} ({type(e).__name__}: {e}). The file may be "
                                f"corrupt or incomplete: delete it and run `python install.py --workflow {workflow}`."
                                ) from e
        log.info("likeness: %s runs on %s", self.path.name, self.backend)

    # -- backends --------------------------------------------------------------------------------------------
    def _init_ort(self):
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if self.device.startswith("cuda") and _ort_cuda_available():
            index = int(self.device.split(":")[1]) if ":" in self.device else 0
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # idle onnxruntime threads otherwise spin on every core for a while after each run, starving the numpy/torch
        # work between model calls (conversion, alignment, paste-back) of the same cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        if len(providers) > 1 and "CUDAExecutionProvider" not in self._session.get_providers():
            # onnxruntime-gpu present but its CUDA libraries did not load: it would silently run on the CPU
            log.warning("likeness: onnxruntime could not use CUDA for %s (CUDA/cuDNN libraries mismatch?); running "
                        "it with torch on %s instead", self.path.name, self.device)
            self.kind = "torch"
            return
        self._inputs = [Port(i.name, list(i.shape)) for i in self._session.get_inputs()]
        self._outputs = [Port(o.name, list(o.shape)) for o in self._session.get_outputs()]
        self.backend = f"onnxruntime/{self._session.get_providers()[0]}"

    def _init_torch(self):
        import onnx
        import torch
        from onnx2torch import convert

        proto = onnx.load(str(self.path))
        graph = proto.graph
        init_names = {i.name for i in graph.initializer}
        dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
        self._inputs = [Port(i.name, dims(i)) for i in graph.input if i.name not in init_names]
        self._outputs = [Port(o.name, dims(o)) for o in graph.output]
        module = convert(proto).eval().to(self.device)
        self._module = module.half() if self.fp16 else module
        self.backend = f"torch/{self.device}" + (" fp16" if self.fp16 else "")
        self._torch = torch

    # -- onnxruntime-compatible interface ---------------------------------------------------------------------
    def get_inputs(self) -> list[Port]:
        return self._inputs

    def get_outputs(self) -> list[Port]:
        return self._outputs

    def run(self, output_names, feeds: dict) -> list[np.ndarray]:
        if self.kind == "onnxruntime":
            return self._session.run(output_names, {k: np.asarray(v, np.float32) for k, v in feeds.items()})
        torch = self._torch
        tensors = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in feeds.items()}
        outs = self.run_torch(tensors)
        names = [o.name for o in self._outputs]
        wanted = output_names or names
        return [outs[names.index(n)].float().cpu().numpy() for n in wanted]

    def run_torch(self, feeds: dict) -> list:
        """Torch tensors in, torch tensors out (on the model's device): no host round trip on the GPU path."""
        torch = self._torch if self.kind == "torch" else __import__("torch")
        if self.kind == "onnxruntime":
            outs = self.run(None, {k: v.detach().float().cpu().numpy() for k, v in feeds.items()})
            return [torch.from_numpy(o) for o in outs]
        dtype = torch.float16 if self.fp16 else torch.float32
        args = [feeds[p.name].to(self.device, dtype) for p in self._inputs]
        with torch.inference_mode():
            out = self._module(*args)
        return list(out) if isinstance(out, (tuple, list)) else [out]


def load(path: str | Path, device: str = "cpu", backend: str = "auto", fp16: bool = False,
         workflow: str = "faceswap") -> OnnxModel:
    """The cached OnnxModel for (file, device, backend, fp16)."""
    return cache.load("onnx", [path], lambda: OnnxModel(path, device, backend, fp16, workflow),
                      str(device), backend, fp16)
