"""The Likeness engine: faces, identity, Qwen-Edit helpers, model registry and runner.

Nothing here imports ComfyUI, except ``likeness.models.paths`` (the one bridge to
``folder_paths``), so every module can be used and tested on its own.
"""
from pathlib import Path

__version__ = "0.1.0"
PACK = Path(__file__).resolve().parent.parent  # the pack folder (ComfyUI/custom_nodes/<pack>)
