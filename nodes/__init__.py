"""V3 node registration: one extension, the node list gathered from the node modules."""
from comfy_api.latest import ComfyExtension, io

from ..likeness.models.paths import register_folders
from .info import LikenessInfo

NODES: list[type[io.ComfyNode]] = [LikenessInfo]


class LikenessExtension(ComfyExtension):
    async def on_load(self) -> None:
        register_folders()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> LikenessExtension:
    return LikenessExtension()
