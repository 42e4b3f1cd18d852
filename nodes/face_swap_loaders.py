"""Face Swapper and Face Parser loaders: the models Face Swap runs, checked when the prompt is queued."""
from __future__ import annotations

from comfy_api.latest import io

from ..likeness.face import parse, swap
from ..likeness.runtime.cache import Handle
from . import common
from .types import FaceParser, FaceSwapper

SWAP_FOLDERS = ("insightface", "hyperswap", "reswapper")


class LikenessFaceSwapperLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessFaceSwapperLoader", display_name="Face Swapper", category="Likeness/Face",
            description="Loads inswapper_128, ReSwapper 128/256 or HyperSwap 256 (all non-commercial licences).",
            inputs=[io.Combo.Input("swapper", options=common.files(*SWAP_FOLDERS, suffixes=(".onnx",)) or ["(none found)"],
                                   tooltip="Swap model from models/insightface, models/reswapper or models/hyperswap. "
                                           "Missing? python install.py --workflow faceswap"),
                    common.device_input("the swapper")],
            outputs=[FaceSwapper.Output(display_name="swapper")],
        )

    @classmethod
    def validate_inputs(cls, swapper) -> bool | str:
        return common.check_model(swapper, SWAP_FOLDERS, (".onnx",))

    @classmethod
    def execute(cls, swapper, device) -> io.NodeOutput:
        handle = Handle(swap.load, str(common.resolve_file(swapper, SWAP_FOLDERS)), common.device(device))
        common.log.info("likeness: swapper %s", handle.get().backend)  # load now: a bad file fails at its loader
        return io.NodeOutput(handle)


class LikenessFaceParserLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessFaceParserLoader", display_name="Face Parser (occlusion mask)", category="Likeness/Face",
            description="BiSeNet face parsing: keeps hair, glasses, hands and hats in front of the face out of the swap.",
            inputs=[io.Combo.Input("parser", options=common.files("face_parsing", suffixes=(".onnx",)) or ["(none found)"],
                                   tooltip="BiSeNet .onnx from models/face_parsing."),
                    common.device_input("the parser")],
            outputs=[FaceParser.Output(display_name="parser")],
        )

    @classmethod
    def validate_inputs(cls, parser) -> bool | str:
        return common.check_model(parser, ("face_parsing",), (".onnx",))

    @classmethod
    def execute(cls, parser, device) -> io.NodeOutput:
        handle = Handle(parse.load, str(common.resolve_file(parser, ("face_parsing",))), common.device(device))
        handle.get()
        return io.NodeOutput(handle)
