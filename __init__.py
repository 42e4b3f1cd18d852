"""ComfyUI-Likeness: keep the same person across new images.

ComfyUI calls `comfy_entrypoint()`; the V3 nodes live in ``nodes/`` and the ComfyUI-free engine in ``likeness/``.
Nothing is imported until ComfyUI asks, so tools that import this folder as a package (pytest) stay light.
"""


async def comfy_entrypoint():
    from .nodes import comfy_entrypoint as entrypoint

    return await entrypoint()
