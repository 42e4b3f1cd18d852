"""The stock-ComfyUI anchors' results (../shared/bench/stock_qwen_*_anchor.py, run in the same call as our
benchmarks, so every comparison is a ratio on one machine) as sections of BENCHMARKS.md.

    python bench/anchors.py dit RESULTS_DIR       # stock_qwen_dit_anchor.py's results.json
    python bench/anchors.py te_vae RESULTS_DIR    # stock_qwen_te_vae_anchor.py's results.json
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from common import machine, markdown_table, write_section

COLUMNS = {  # anchor -> (title, [(results.json key, column)])
    "dit": ("Stock ComfyUI Qwen-Image DiT, one evaluation (`stock_qwen_dit_anchor.py`)",
            [("config", "config"), ("scenario", "scenario"), ("tokens", "tokens"), ("ms", "ms (median)"),
             ("peak_gib", "peak GiB"), ("tflop", "TFLOP"), ("ideal_798", "ideal ms at 798 TFLOP/s")]),
    "te_vae": ("Stock ComfyUI Qwen text encoder and VAE (`stock_qwen_te_vae_anchor.py`)",
               [("stage", "stage"), ("config", "config"), ("scenario", "scenario"), ("tokens", "tokens"),
                ("ms", "ms (median)"), ("peak_gib", "peak GiB"), ("gflop", "GFLOP")]),
}


def section(anchor: str, rows: list[dict], command: str) -> str:
    title, columns = COLUMNS[anchor]
    table = markdown_table([c for _, c in columns], [[r.get(k, "") for k, _ in columns] for r in rows])
    return f"## {title}\n\nCommand: `{command}` · machine: {machine()}\n\n{table}"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in COLUMNS:
        print(__doc__, file=sys.stderr)
        return 2
    anchor, folder = argv[0], Path(argv[1])
    try:
        rows = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError) as e:
        print(f"no results from the {anchor} anchor in {folder}: {e}", file=sys.stderr)
        return 1
    knobs = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_")]
    command = " ".join(knobs + [f"python stock_qwen_{anchor}_anchor.py"])
    write_section(f"stock-{anchor.replace('_', '-')}", section(anchor, rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
