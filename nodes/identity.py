"""Identity nodes: choose a scorer, score every output face, gate on the score, write the report."""
from __future__ import annotations

import json

import torch
from comfy_api.latest import io

from ..likeness.errors import BadInputError
from ..likeness.face import draw, embedding
from ..likeness.identity import embed, gate, score
from ..likeness.identity import report as reports
from ..likeness.image import images_to_rgb_list, rgb_list_to_images
from ..likeness.models import paths
from . import common
from .types import FaceModel, IdentityScorer

REFERENCE_FACE = ["single", "largest", "0", "1", "2", "3"]


class LikenessIdentityScorer(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessIdentityScorer", display_name="Identity Scorer", category="Likeness/Identity",
            description="The face-recognition backend that judges likeness. auto = the best installed: antelopev2 "
                        "(independent of the buffalo_l swapper), buffalo_l, then dlib (no download needed).",
            inputs=[io.Combo.Input("backend", options=["auto", "dlib"] + paths.list_packs("insightface"),
                                   default="auto", tooltip="dlib is permissive and offline; insightface packs are "
                                                           "non-commercial."),
                    io.Float.Input("threshold", default=-1.0, min=-1.0, max=1.0, step=0.01,
                                   tooltip="Pass mark on the similarity. -1 = the backend's calibrated threshold."),
                    common.device_input("the recogniser")],
            outputs=[IdentityScorer.Output(display_name="scorer")],
        )

    @classmethod
    def execute(cls, backend, threshold, device) -> io.NodeOutput:
        available = {"dlib": None}
        for pack in paths.list_packs("insightface"):
            available[pack] = str(paths.resolve("insightface", pack, kind="pack"))
        name, why = embed.choose(available, backend)
        return io.NodeOutput(embed.Scorer(embed.BackendSpec(name, available[name], common.device(device)),
                                          threshold, why))


class LikenessIdentityScore(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessIdentityScore", display_name="Identity Score", category="Likeness/Identity",
            description="Scores every face of every image against the reference person, with a calibrated verdict. "
                        "Several reference photos are combined. With `originals` (the images before a swap) it also "
                        "measures leakage of the replaced face and the ID gain.",
            inputs=[io.Image.Input("images", tooltip="Outputs to check (a batch or a list of any sizes)."),
                    IdentityScorer.Input("scorer"),
                    io.Image.Input("reference", optional=True, tooltip="Photo(s) of the person."),
                    FaceModel.Input("face_model", optional=True, tooltip="Or a face model built with the same backend."),
                    io.Image.Input("originals", optional=True, tooltip="The images before the swap (for leakage)."),
                    io.Combo.Input("reference_face", options=REFERENCE_FACE, default="single",
                                   tooltip="Which face of a reference photo: single (error if several), largest, or "
                                           "an index from the left."),
                    io.Combo.Input("count", options=["most-similar", "largest"], default="most-similar",
                                   tooltip="Which face of an output decides its verdict.")],
            outputs=[io.Image.Output(display_name="preview", tooltip="Boxes with scores: green pass, red fail."),
                     io.String.Output(display_name="report", tooltip="JSON: per image and face, and the pass rate."),
                     io.Float.Output(display_name="best_score"),
                     io.Int.Output(display_name="pass_count"),
                     io.Mask.Output(display_name="pass_mask",
                                    tooltip="Per image: 1 over the face that passed, 0 where it failed or had no "
                                            "face (padded to the largest image).")],
            is_input_list=True,
        )

    @classmethod
    def execute(cls, images, scorer, reference_face, count, reference=None, face_model=None,
                originals=None) -> io.NodeOutput:
        scorer, reference_face, count = scorer[0], reference_face[0], count[0]
        backend, threshold = scorer.backend(), scorer.threshold()
        if face_model:
            ref = face_model[0].embedding
            embedding.require_same(face_model[0].space, backend.space, "The face model",
                                   f"Connect the person's photos to `reference` instead (the {backend.name} "
                                   f"scorer embeds them itself), or build the face model with a {backend.name} "
                                   "face analyzer.")
        elif reference:
            ref, _ = score.reference_embedding(backend, images_to_rgb_list(list(reference), "reference"),
                                               reference_face)
        else:
            raise BadInputError("Identity Score needs the person: connect `reference` photos or a `face_model`.")
        frames = images_to_rgb_list(list(images), "images")
        before = images_to_rgb_list(list(originals), "originals") if originals else None
        scores = score.score_images(backend, frames, ref, threshold, before, count, common.progress(len(frames)))
        summary = reports.summary(scores)
        previews = rgb_list_to_images([draw.scored(f, s) for f, s in zip(frames, scores)], pad=True)
        best = max((s.similarity for s in scores), default=0.0)
        text = f"{summary['passed']}/{len(scores)} kept the identity ({100 * summary['pass_rate']:.0f}%)"
        return io.NodeOutput(previews, json.dumps(summary), best, summary["passed"], 
                             torch.from_numpy(score.pass_masks([f.shape for f in frames], scores)),
                             ui={"text": [text]})


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
        data = reports.parse(report, images.shape[0])
        fields = set(score.Score.__dataclass_fields__) - {"faces"}
        scores = [score.Score(**{k: v for k, v in s.items() if k in fields}) for s in data["scores"]]
        kept = gate.keep(scores, mode, k, if_none_pass)
        out = images[kept] if kept else images[:0]
        chosen = [data["scores"][i] for i in kept]
        kept_report = {**data, "scores": chosen, "kept": kept, "tried": data["scores"]}  # totals stay the run's
        return io.NodeOutput(out, len(kept), json.dumps(kept_report),
                             ui={"text": [f"kept {len(kept)} of {len(scores)}"]})


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
        text = (f"{data['passed']}/{data['images']} kept the identity ({100 * data['pass_rate']:.0f}%) — "
                f"{data['backend']}, threshold {data['threshold']} ({data['threshold_source']})")
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
