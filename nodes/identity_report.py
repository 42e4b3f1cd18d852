"""Identity Gate and Identity Report: keep the outputs that kept the person, save them with their scores."""
from __future__ import annotations

import json

from comfy_api.latest import io

from ..likeness.identity import gate
from ..likeness.identity import report as reports
from ..likeness.image import images_to_rgb_list


class LikenessIdentityGate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessIdentityGate", display_name="Identity Gate", category="Likeness/Identity",
            description="Passes on only the images that kept the identity, or the best k of the batch.",
            inputs=[io.Image.Input("images", tooltip="The batch that was scored (same order)."),
                    io.String.Input("report", force_input=True, tooltip="From Identity Score."),
                    io.Combo.Input("mode", options=["pass", "top-k"], default="pass",
                                   tooltip="pass: keep images whose verdict is pass; top-k: keep the k most similar."),
                    io.Int.Input("k", default=1, min=1, max=4096, tooltip="How many to keep in top-k mode."),
                    io.Combo.Input("if_none_pass", options=["keep best", "empty", "error"], default="keep best",
                                   tooltip="What to do when no image passes.")],
            outputs=[io.Image.Output(display_name="images"), io.Int.Output(display_name="count"),
                     io.String.Output(display_name="report",
                                      tooltip="The kept images' scores, in their order (for Dataset Writer and "
                                              "Identity Report); the pass rate stays that of every try.")],
        )

    @classmethod
    def execute(cls, images, report, mode, k, if_none_pass) -> io.NodeOutput:
        kept, kept_report = gate.apply(report, images.shape[0], mode, k, if_none_pass)
        return io.NodeOutput(images[kept] if kept else images[:0], len(kept), json.dumps(kept_report),
                             ui={"text": [f"kept {len(kept)} of {len(kept_report['tried'])}"]})


class LikenessIdentityReport(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessIdentityReport", display_name="Identity Report", category="Likeness/Identity",
            description="Saves the images with their identity report: the pass rate, and per image its score and "
                        "file, as JSON and CSV named with the same number as the first image.",
            inputs=[io.String.Input("report", force_input=True,
                                    tooltip="From Identity Score (every image) or Identity Gate (the kept ones; "
                                            "the report still lists every try)."),
                    io.String.Input("filename_prefix", default="Likeness/identity",
                                    tooltip="Where the images and the report go in the output folder."),
                    io.Image.Input("images", optional=True,
                                   tooltip="The images of that report, saved here (like Save Image) so each "
                                           "row names its file. Leave empty to write only the report.")],
            outputs=[io.String.Output(display_name="summary")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, report, filename_prefix, images=None) -> io.NodeOutput:
        import folder_paths

        data = reports.parse(report)
        frames = images_to_rgb_list(images, "images") if images is not None else []
        height, width = frames[0].shape[:2] if frames else (0, 0)
        full, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory(), width, height)
        files, json_path, csv_path = reports.save(data, frames, full, name, counter, cls._png_texts())
        text = reports.headline(data, detail=True)
        ref = lambda f: {"filename": f, "subfolder": subfolder, "type": "output"}  # noqa: E731
        return io.NodeOutput(text, ui={"text": [text], "images": [ref(f) for f in files],
                                       "files": [ref(p.name) for p in (json_path, csv_path)]})

    @classmethod
    def _png_texts(cls) -> dict[str, str]:
        """The prompt and workflow in each PNG, as Save Image stores them (dragging the image back loads it)."""
        texts = {"prompt": json.dumps(cls.hidden.prompt)} if cls.hidden.prompt is not None else {}
        for key, value in (cls.hidden.extra_pnginfo or {}).items():
            texts[key] = json.dumps(value)
        return texts
