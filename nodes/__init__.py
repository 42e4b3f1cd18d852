"""V3 node registration: one extension, the node list gathered from the node modules."""
from comfy_api.latest import ComfyExtension, io

from ..likeness.models.paths import register_folders
from .face_analysis import LikenessDetectFaces, LikenessFaceAnalyzerLoader
from .face_model import LikenessBuildFaceModel, LikenessLoadFaceModel, LikenessSaveFaceModel
from .face_restore import LikenessFaceRestore, LikenessFaceRestorerLoader
from .face_swap import LikenessFaceSwap
from .face_swap_loaders import LikenessFaceParserLoader, LikenessFaceSwapperLoader
from .character_scene import LikenessCharacterScene
from .dataset import LikenessDatasetWriter
from .dataset_export import LikenessExportDataset
from .training import LikenessLoadCharacterDataset, LikenessSaveCharacterLora
from .identity import LikenessIdentityScore, LikenessIdentityScorer
from .identity_report import LikenessIdentityGate, LikenessIdentityReport
from .identity_grid import LikenessIdentityGrid
from .info import LikenessInfo
from .lifecycle import install as install_lifecycle
from .lora_stack import LikenessApplyLoraStack, LikenessLoraStack
from .qwen_encode import LikenessQwenEditEncode
from .qwen_presets import LikenessQwenSamplingPreset

NODES: list[type[io.ComfyNode]] = [
    LikenessInfo,
    LikenessFaceAnalyzerLoader, LikenessDetectFaces, LikenessBuildFaceModel, LikenessSaveFaceModel,
    LikenessLoadFaceModel, LikenessFaceSwapperLoader, LikenessFaceParserLoader, LikenessFaceSwap,
    LikenessFaceRestorerLoader, LikenessFaceRestore,
    LikenessIdentityScorer, LikenessIdentityScore, LikenessIdentityGate, LikenessIdentityReport, LikenessIdentityGrid,
    LikenessQwenEditEncode, LikenessCharacterScene, LikenessQwenSamplingPreset, LikenessLoraStack,
    LikenessApplyLoraStack, LikenessDatasetWriter, LikenessExportDataset, LikenessLoadCharacterDataset,
    LikenessSaveCharacterLora,
]


class LikenessExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> LikenessExtension:
    register_folders()  # here, not in on_load: ComfyUI 0.3.75 never calls on_load
    install_lifecycle()
    return LikenessExtension()
