"""Shared by the benchmarks: timing, FLOP counting, peak memory, the device's measured matmul peak, and writing a
result section into BENCHMARKS.md (between `<!-- name:start -->` and `<!-- name:end -->`)."""
from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BENCHMARKS = Path(os.environ.get("LIKENESS_BENCHMARKS", REPO / "BENCHMARKS.md"))  # the smoke run writes a copy


def timed(fn, warmup: int = 1, iters: int = 3, sync=None) -> list[float]:
    """Wall seconds of `fn()` over `iters` runs after `warmup` runs; `sync()` waits for the device."""
    for _ in range(warmup):
        fn()
    sync = sync or (lambda: None)
    out = []
    for _ in range(iters):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


def median(xs) -> float:
    return statistics.median(xs)


def onnx_flops(path) -> float:
    """FLOPs (2 x MACs) of one forward of an ONNX model with static input shapes: Conv, ConvTranspose, MatMul,
    Gemm. Elementwise ops are left out (they are memory-bound)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    shapes = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for init in g.initializer:
        shapes[init.name] = list(numpy_helper.to_array(init).shape)
    total = 0.0
    for n in g.node:
        if n.op_type in ("Conv", "ConvTranspose") and n.output[0] in shapes:
            w = shapes[n.input[1]]
            out = shapes[n.output[0]]
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            macs = np.prod(out) * (w[1] if n.op_type == "Conv" else w[0] // max(group, 1)) * np.prod(w[2:])
            total += 2 * float(macs)
        elif n.op_type in ("MatMul", "Gemm") and n.output[0] in shapes and n.input[0] in shapes:
            a, out = shapes[n.input[0]], shapes[n.output[0]]
            total += 2 * float(np.prod(out)) * a[-1]
    return total


def torch_flops(module, *args) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(*args)
    return float(counter.get_total_flops())


def matmul_peak(device: str, dtype_name: str = "float32", n: int = 4096) -> float:
    """Measured FLOP/s of an n^3 matmul on this device: the honest ceiling for 'fraction of peak'."""
    import torch

    dtype = getattr(torch, dtype_name)
    n = n if device.startswith("cuda") else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    t = median(timed(lambda: a @ b, warmup=2, iters=5, sync=sync))
    return 2 * n ** 3 / t


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def machine() -> str:
    cpu = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    try:
        import torch

        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            return f"{p.name} ({p.total_memory / 2 ** 30:.0f} GiB), {cpu}, torch {torch.__version__}"
        return f"no GPU, {cpu}, torch {torch.__version__}"
    except ImportError:
        return cpu


def markdown_table(header: list[str], rows: list[list]) -> str:
    fmt = lambda v: (f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}") if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write_section(name: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section `name` of BENCHMARKS.md; the rest of the file is kept."""
    from likeness.fileio import atomic_write

    import datetime

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.strip()}\n\n_Measured {datetime.date.today().isoformat()}._\n{end}"
    old = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    if start in old and end in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    atomic_write(path, new)


def publish(name: str, text: str, write: bool = True) -> int:
    """Print a result section and, unless told not to, put it into BENCHMARKS.md; the exit status of a bench."""
    print(text)
    if write:
        write_section(name, text)
    return 0
