"""Build, save and load face models: one identity averaged over several photos."""
from __future__ import annotations

import os

import folder_paths
from comfy_api.latest import io

from ..likeness.face import facemodel
from ..likeness.face.analysis import analyzer as get_analyzer
from ..likeness.image import images_to_rgb_list
from ..likeness.runtime import cache
from . import common
from .types import FaceAnalyzer, FaceModel

FOLDERS = ("face_models",)


class LikenessBuildFaceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessBuildFaceModel", display_name="Build Face Model", category="Likeness/Face",
            description="Averages the identity embedding of the largest face in each photo (several photos of the "
                        "same person give a steadier identity than one).",
            inputs=[io.Image.Input("images", tooltip="Photos of one person (a batch, or a list of different sizes)."),
                    FaceAnalyzer.Input("analyzer", tooltip="Its recogniser defines the embedding (buffalo_l for swaps)."),
                    io.Combo.Input("method", options=["mean", "median"], default="mean",
                                   tooltip="median resists one bad photo better.")],
            outputs=[FaceModel.Output(display_name="face_model")],
            is_input_list=True,
        )

    @classmethod
    def execute(cls, images, analyzer, method) -> io.NodeOutput:
        frames = images_to_rgb_list(list(images), "images")
        return io.NodeOutput(facemodel.from_photos(get_analyzer(analyzer[0]), frames, method[0],
                                                   common.progress(len(frames))))


class LikenessSaveFaceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessSaveFaceModel", display_name="Save Face Model", category="Likeness/Face",
            description="Saves a face model to models/face_models as .safetensors (written atomically).",
            inputs=[FaceModel.Input("face_model"),
                    io.String.Input("name", default="person", tooltip="File name without extension.")],
            outputs=[io.String.Output(display_name="path")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, face_model, name) -> io.NodeOutput:
        path = facemodel.save(face_model, os.path.join(folder_paths.get_folder_paths("face_models")[0],
                                                       f"{facemodel.file_stem(name)}.safetensors"))
        return io.NodeOutput(str(path), ui={"text": [f"saved {path.name}"]})


class LikenessLoadFaceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessLoadFaceModel", display_name="Load Face Model", category="Likeness/Face",
            description="Loads a face model (this pack's or ReActor's) from models/face_models or models/reactor/faces.",
            inputs=[io.Combo.Input("face_model", options=common.files(*FOLDERS, suffixes=(".safetensors",))
                                   or ["(none found)"], tooltip="A .safetensors face model.")],
            outputs=[FaceModel.Output(display_name="face_model")],
        )

    @classmethod
    def validate_inputs(cls, face_model) -> bool | str:
        return common.check_model(face_model, FOLDERS, (".safetensors",))

    @classmethod
    def fingerprint_inputs(cls, face_model):
        """A re-saved file under the same name is loaded again, not served from ComfyUI's cache."""
        return cache.file_stamp([common.resolve_file(face_model, FOLDERS)])

    @classmethod
    def execute(cls, face_model) -> io.NodeOutput:
        return io.NodeOutput(facemodel.load(common.resolve_file(face_model, FOLDERS)))
