"""Face Swap: put the source identity onto the chosen faces, seamlessly."""
from __future__ import annotations

import json

from comfy_api.latest import io

from ..likeness.face.analysis import analyzer as get_analyzer
from ..likeness.face.pipeline import SwapOptions, swap_images
from ..likeness.face.select import ORDERS, GENDERS
from ..likeness.image import images_to_rgb_list, patch_masks, with_patches
from . import common
from .types import FaceAnalyzer, FaceModel, FaceParser, FaceSwapper


class LikenessFaceSwap(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessFaceSwap", display_name="Face Swap", category="Likeness/Face",
            description="Swaps the source identity (a photo or a face model) onto the chosen faces of every image, "
                        "pastes back with a feathered, colour-matched mask, and reports each face.",
            inputs=[
                io.Image.Input("image", tooltip="Target image(s): the faces here get the source identity."),
                FaceAnalyzer.Input("analyzer", tooltip="From Face Analyzer (buffalo_l for inswapper)."),
                FaceSwapper.Input("swapper", tooltip="From Face Swapper."),
                io.Image.Input("source_image", optional=True, tooltip="Photo of the person to swap in."),
                FaceModel.Input("face_model", optional=True, tooltip="Or a face model (several photos averaged)."),
                io.String.Input("source_index", default="0", tooltip="Which face(s) of the source photo, e.g. 0 or 0,1."),
                io.String.Input("target_index", default="0",
                                tooltip="Which target faces: 0, 0,2, 1-3 or all (in the order below, after the gender "
                                        "filter: a wrong-gender face is skipped before counting)."),
                io.Combo.Input("order", options=list(ORDERS), default="large-small", tooltip="How faces are numbered."),
                io.Combo.Input("gender", options=list(GENDERS), default="any", tooltip="Only swap faces of this gender."),
                FaceModel.Input("target_reference", optional=True,
                                tooltip="Swap the face that looks most like this person instead of choosing by index."),
                io.Float.Input("reference_threshold", default=0.4, min=0.0, max=1.0, step=0.01,
                               tooltip="Minimum cosine similarity for target_reference (0.4 is insightface's default)."),
                io.String.Input("mapping", default="",
                                tooltip="Several people: 'source->target' pairs, e.g. '0->1, 1->0'. Overrides the index."),
                io.Combo.Input("pixel_boost", options=["1", "2", "4"], default="1",
                               tooltip="Run the 128-px model on N x N interleaved sub-crops: sharper faces, N^2 the cost."),
                io.Float.Input("weight", default=1.0, min=0.0, max=1.5, step=0.05,
                               tooltip="1 = source identity; lower keeps more of the target's; >1 pushes away from it."),
                io.Float.Input("feather", default=0.08, min=0.0, max=0.3, step=0.01,
                               tooltip="Mask edge softness, as a fraction of the face size."),
                io.Float.Input("color_match", default=1.0, min=0.0, max=1.0, step=0.05,
                               tooltip="Match the swapped face's colour to the target's skin (1 = fully)."),
                io.Float.Input("keep_detail", default=1.0, min=0.0, max=1.0, step=0.05,
                               tooltip="Keep the target's fine detail (skin, stubble) that the 128-px model cannot make."),
                FaceParser.Input("parser", optional=True, tooltip="Keep hair, glasses and hands over the face."),
                io.Combo.Input("on_no_face", options=["error", "skip"], default="error",
                               tooltip="An image with no (chosen) face: stop with an error, or pass it through."),
                # last and optional, so graphs saved before it existed (UI or API) still load and run
                io.Float.Input("erode", default=0.08, min=0.0, max=0.3, step=0.01, optional=True,
                               tooltip="How far inside the aligned crop the mask starts, as a fraction of the face "
                                       "size: more keeps the target's jaw line and hairline, less swaps more."),
            ],
            outputs=[io.Image.Output(display_name="image"),
                     io.Mask.Output(display_name="swapped_mask", tooltip="Where faces were swapped (feed Face Restore)."),
                     io.String.Output(display_name="report", tooltip="JSON: one entry per face, with the reason.")],
        )

    @classmethod
    def execute(cls, image, analyzer, swapper, source_index, target_index, order, gender, reference_threshold,
                mapping, pixel_boost, weight, feather, color_match, keep_detail, on_no_face, erode=0.08,
                source_image=None, face_model=None, target_reference=None, parser=None) -> io.NodeOutput:
        opts = SwapOptions(target_index, order, gender, mapping=mapping, pixel_boost=int(pixel_boost), weight=weight,
                           erode=erode, feather=feather, color_match=color_match, keep_detail=keep_detail,
                           on_no_face=on_no_face, reference_threshold=reference_threshold)
        if target_reference is not None:
            opts.target_reference, opts.reference_space = target_reference.embedding, target_reference.space
        frames, model = images_to_rgb_list(image, "image"), swapper.get()
        source = images_to_rgb_list(source_image, "source_image")[0] if source_image is not None else None
        res = swap_images(frames, get_analyzer(analyzer), model, source, face_model, source_index, opts,
                          parser and parser.get(), common.progress(len(frames)), common.check_interrupt, inplace=True)
        common.log.info("likeness: swapped %d face(s) with %s", sum(map(len, res.swapped)), model.backend)
        return io.NodeOutput(with_patches(image, res.images, res.patches), patch_masks(res.images, res.patches),
                             json.dumps(res.report_dicts()))
