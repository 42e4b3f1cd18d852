"""What ComfyUI's own trainer (Train LoRA, Make Training Dataset, Resolution Bucket) cannot do for a character LoRA:
read our Dataset Writer folder (checked, optionally only the images that kept the identity), and save the result
into models/loras under the dataset's name with its trigger word."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..likeness.dataset import training
from ..likeness.errors import LikenessError
from .dataset import dataset_folder
from .qwen_common import comfy_version


class LikenessLoadCharacterDataset(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessLoadCharacterDataset", display_name="Load Character Dataset",
            category="Likeness/Training",
            description="Reads a dataset the Dataset Writer made, checks it (every image opens and has a caption "
                        "holding the trigger word) and sizes each image for training, keeping its aspect.",
            inputs=[io.String.Input("dataset", default="character",
                                    tooltip="The dataset's name (output/Likeness/datasets/<name>) or a folder inside "
                                            "ComfyUI's output folder. The LoRA is named after it."),
                    io.String.Input("trigger", default="", tooltip="The trigger word every caption holds, e.g. "
                                                                   "'ohwx person'. Empty = read it from the captions."),
                    io.Boolean.Input("only_passed", default=True,
                                     tooltip="Train only on images whose identity verdict in metadata.jsonl is pass "
                                             "(the ones that kept the person)."),
                    io.Boolean.Input("face_crops", default=True,
                                     tooltip="Add each image's square face crop (faces/): more of the face to learn."),
                    io.Int.Input("resolution", default=1024, min=256, max=2048, step=32,
                                 tooltip="Training size: each image is resized to about this² pixels with sides a "
                                         "multiple of 32, keeping its aspect (1024 = the users' setting).")],
            outputs=[io.Image.Output(display_name="images", is_output_list=True),
                     io.String.Output(display_name="captions", is_output_list=True),
                     io.String.Output(display_name="name"),
                     io.String.Output(display_name="trigger")],
        )

    @classmethod
    def validate_inputs(cls, **_) -> bool | str:
        try:
            training.require_training_core(comfy_version())
        except LikenessError as e:
            return str(e)
        return True

    @classmethod
    def fingerprint_inputs(cls, dataset, **_):
        """Images added to (or removed from) the dataset since the last run are read again."""
        return training.folder_stamp(dataset_folder(dataset))

    @classmethod
    def execute(cls, dataset, trigger, only_passed, face_crops, resolution) -> io.NodeOutput:
        s = training.training_set(dataset_folder(dataset), trigger.strip() or None, only_passed, face_crops,
                                  resolution)
        images = [torch.from_numpy(rgb).float().div(255).unsqueeze(0) for rgb in s.images]
        return io.NodeOutput(images, s.captions, s.name, s.trigger,
                             ui={"text": [f"{len(images)} image(s) from {s.name}, trigger '{s.trigger}'"
                                          + (f"; {len(s.dropped)} left out (identity not passed)" if s.dropped
                                             else "")]})


class LikenessSaveCharacterLora(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessSaveCharacterLora", display_name="Save Character LoRA", category="Likeness/Training",
            description="Saves the trained LoRA into models/loras as likeness_<dataset>.safetensors (a new name "
                        "when that exists: never overwrites), with the trigger word and the loss curve in its "
                        "metadata, so LoRA Stack lists it at once.",
            inputs=[io.Custom("LORA_MODEL").Input("lora", tooltip="Train LoRA's lora output."),
                    io.String.Input("name", default="character", tooltip="The dataset's name (Load Character "
                                                                         "Dataset's name output)."),
                    io.String.Input("trigger", default="", tooltip="The trigger word (recorded in the file)."),
                    io.Int.Input("steps", optional=True, force_input=True, tooltip="Train LoRA's steps output."),
                    io.Custom("LOSS_MAP").Input("loss", optional=True, tooltip="Train LoRA's loss_map output.")],
            outputs=[io.String.Output(display_name="lora_name")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, lora, name, trigger, steps=None, loss=None) -> io.NodeOutput:
        import folder_paths

        curve = list((loss or {}).get("loss", []))
        path = training.save_lora(lora, folder_paths.get_folder_paths("loras")[0], name, trigger, steps, curve)
        summary = f"saved models/loras/{path.name} ({training.loss_summary(curve)})"
        return io.NodeOutput(path.name, ui={"text": [summary]})
