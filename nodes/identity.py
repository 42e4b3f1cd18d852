"""Identity Scorer and Identity Score: choose the judge, then score every output face against the person."""
from __future__ import annotations

import json

import torch
from comfy_api.latest import io

from ..likeness.identity import embed, score
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
        packs = {p: str(paths.resolve("insightface", p, kind="pack")) for p in paths.list_packs("insightface")}
        return io.NodeOutput(embed.make_scorer({"dlib": None, **packs}, backend, threshold, common.device(device)))


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
        frames = images_to_rgb_list(list(images), "images")
        run = score.score_batch(
            scorer[0].backend(), scorer[0].threshold(), frames,
            images_to_rgb_list(list(reference), "reference") if reference else None,
            face_model[0] if face_model else None, reference_face[0],
            images_to_rgb_list(list(originals), "originals") if originals else None, count[0],
            common.progress(len(frames)))
        summary = reports.summary(run.scores)
        return io.NodeOutput(rgb_list_to_images(run.previews, pad=True), json.dumps(summary), run.best,
                             summary["passed"], torch.from_numpy(run.masks), ui={"text": [reports.headline(summary)]})
