"""Tie the pack's model cache to ComfyUI's: "Unload models" and `/free` release the face models too.

ComfyUI knows only its own models; ours (ONNX sessions, restorers, cached encodings) would stay loaded beside a
20 GB Qwen model. Wrapping `unload_all_models` is the one call every unload path goes through. GET
/likeness/models lists what is loaded now.
"""
from aiohttp import web

from ..likeness.runtime import cache
from .common import log


def install() -> None:
    import comfy.model_management as mm

    if not getattr(mm.unload_all_models, "likeness_hook", False):
        core_unload = mm.unload_all_models

        def unload_all_models(*args, **kwargs):
            released = cache.release()
            log.info("likeness: released %d cached model(s) with ComfyUI's unload", released)
            return core_unload(*args, **kwargs)

        unload_all_models.likeness_hook = True
        mm.unload_all_models = unload_all_models

    from server import PromptServer

    if getattr(PromptServer, "instance", None) is not None:
        PromptServer.instance.routes.get("/likeness/models")(_loaded_models)


async def _loaded_models(request):
    entries = cache.entries()
    return web.json_response({"models": entries, "total_mb": round(sum(e["mb"] for e in entries), 1),
                              "limit_mb": cache.limit_bytes() >> 20})
