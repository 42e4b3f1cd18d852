"""Dataset Writer: images + captions + metadata.jsonl + face crops, ready for LoRA training."""
from __future__ import annotations

import re
from pathlib import Path

from comfy_api.latest import io

from ..likeness.dataset import crop, writer
from ..likeness.face.analysis import analyzer as get_analyzer
from ..likeness.identity import report as reports
from ..likeness.image import images_to_rgb_list
from ..likeness.models import paths
from . import common
from .types import FaceAnalyzer

ROOT = "Likeness/datasets"


def dataset_folder(dataset: str):
    """A dataset by name (output/Likeness/datasets/<name>) or as a folder inside ComfyUI's output folder."""
    import folder_paths

    from ..likeness.errors import BadInputError

    base, name = Path(folder_paths.get_output_directory()), dataset.strip()
    folder = paths.safe_join(base, f"{ROOT}/{name}") if "/" not in name else None
    if folder is None or not folder.is_dir():
        folder = paths.safe_join(base, name)
    if folder is None:
        raise BadInputError(f"dataset {dataset!r} is not a folder inside ComfyUI's output folder; give a dataset "
                            f"name (output/{ROOT}/<name>) or a path relative to the output folder.")
    return folder


def _mediapipe_model():
    """A Blaze face-detector .tflite in models/mediapipe, when the mediapipe package can run it."""
    names = [n for n in paths.list_names("mediapipe") if "face_detect" in n.lower()]
    if not names or not crop.mediapipe_available():
        return None
    return paths.resolve("mediapipe", sorted(names, key=lambda n: "short" not in n)[0])


class LikenessDatasetWriter(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessDatasetWriter", display_name="Dataset Writer", category="Likeness/Dataset",
            description="Adds images to a LoRA-training dataset in output/Likeness/datasets/<dataset>: each image "
                        "with a caption .txt, a line in metadata.jsonl (prompt, seed, source, identity score) and a "
                        "square face-centred crop in faces/. Re-running an item overwrites it, never doubles it.",
            inputs=[io.Image.Input("images", tooltip="The images to keep (e.g. Identity Gate's output)."),
                    io.String.Input("dataset", default="character", tooltip="Dataset folder name."),
                    io.String.Input("caption", multiline=True, default="",
                                    tooltip="Caption text for every image of this batch (the scene)."),
                    io.String.Input("trigger", default="", tooltip="Trigger word put before every caption, "
                                                                   "e.g. 'ohwx woman'. Empty = none."),
                    io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=False,
                                 tooltip="The seed that made these images (recorded; link it from the sampler's "
                                         "seed)."),
                    io.Boolean.Input("face_crops", default=True, tooltip="Also write a square crop around the face."),
                    io.Int.Input("crop_size", default=1024, min=64, max=4096, step=8,
                                 tooltip="Side of the face crops in pixels."),
                    io.Float.Input("crop_margin", default=0.8, min=0.0, max=4.0, step=0.05,
                                   tooltip="Room around the face on each side, in face sizes (0.8 = head and "
                                           "shoulders)."),
                    io.String.Input("prompt", optional=True, force_input=True,
                                    tooltip="The instruction that made the images (recorded in metadata.jsonl)."),
                    io.String.Input("report", optional=True, force_input=True,
                                    tooltip="Identity report of these images (Identity Gate's report)."),
                    FaceAnalyzer.Input("analyzer", optional=True,
                                       tooltip="Finds the face for crops when no MediaPipe face detector is in "
                                               "models/mediapipe.")],
            outputs=[io.String.Output(display_name="summary")],
            hidden=[io.Hidden.prompt],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, images, dataset, caption, trigger, seed, face_crops, crop_size, crop_margin, prompt=None,
                report=None, analyzer=None) -> io.NodeOutput:
        import folder_paths

        name = re.sub(r"[^\w\- ]+", "_", dataset).strip(" ._") or "character"
        subfolder = f"{ROOT}/{name}"
        directory = paths.safe_join(folder_paths.get_output_directory(), subfolder)
        frames = images_to_rgb_list(images, "images") if images.shape[0] else []
        scores = reports.parse(report, len(frames))["scores"] if report else [None] * len(frames)
        text = ", ".join(t for t in (trigger.strip(), caption.strip()) if t)
        model = _mediapipe_model() if face_crops else None
        an = get_analyzer(analyzer) if face_crops and analyzer is not None and model is None else None
        detector, find = crop.face_finder(model, an)
        records = writer.write_batch(directory, frames, scores, text, prompt or caption, seed,
                                     writer.graph_sources(cls.hidden.prompt), find, crop_size, crop_margin, detector,
                                     common.progress(len(frames)))
        ref = lambda f: {"filename": f.rsplit("/", 1)[-1], "type": "output",  # noqa: E731
                         "subfolder": "/".join([subfolder] + f.split("/")[:-1])}
        summary = f"{len(records)} image(s) added to {subfolder} ({sum(bool(r['face_crop']) for r in records)} crops)"
        return io.NodeOutput(summary, ui={"text": [summary], "images": [ref(r["file"]) for r in records],
                                          "files": [ref(f) for r in records for f in writer.files_of(r)],
                                          "metadata": [{"subfolder": subfolder, "record": r} for r in records]})
