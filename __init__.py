"""ComfyUI-Likeness: keep the same person across new images.

ComfyUI imports this file; everything it needs lives in ``nodes/`` (V3 nodes) and
``likeness/`` (the ComfyUI-free engine).
"""
from .nodes import comfy_entrypoint

__all__ = ["comfy_entrypoint"]
