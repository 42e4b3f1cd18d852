"""Face analyzer loader and DetectFaces: which faces are in an image, with a numbered preview."""
from __future__ import annotations

import json

from comfy_api.latest import io

from ..likeness.face import draw
from ..likeness.face.analysis import AnalyzerSettings, analyzer
from ..likeness.image import images_to_rgb_list, rgb_list_to_images
from ..likeness.models import paths
from . import common
from .types import FaceAnalyzer

DLIB = "dlib (no download)"


class LikenessFaceAnalyzerLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessFaceAnalyzerLoader", display_name="Face Analyzer", category="Likeness/Face",
            description="Detector + recogniser (+ gender/age) used by every face node. buffalo_l gives the 512-D "
                        "ArcFace embeddings the swappers need; dlib works with no download.",
            inputs=[
                io.Combo.Input("pack", options=paths.list_packs("insightface") + [DLIB],
                               tooltip="insightface model pack in models/insightface/models/ (buffalo_l, antelopev2), "
                                       "or dlib's detector and recogniser that ship with the face_recognition_models "
                                       "package. Packs are non-commercial."),
                io.Combo.Input("detector", options=["auto", "scrfd", "dlib"], default="auto",
                               tooltip="auto = the pack's SCRFD detector, or dlib's HOG detector when the pack has none."),
                io.Int.Input("det_size", default=640, min=160, max=1280, step=32,
                             tooltip="Detection resolution for SCRFD models with a dynamic input (static 640 models "
                                     "ignore it). Higher finds smaller faces, slower."),
                io.Float.Input("det_thresh", default=0.5, min=0.05, max=0.99, step=0.01,
                               tooltip="Minimum detection score. Lower finds more (and more false) faces."),
                common.device_input("the face models"),
            ],
            outputs=[FaceAnalyzer.Output(display_name="analyzer")],
        )

    @classmethod
    def validate_inputs(cls, pack) -> bool | str:
        return pack == DLIB or common.check_model(pack, ("insightface",), (), kind="pack")

    @classmethod
    def execute(cls, pack, detector, det_size, det_thresh, device) -> io.NodeOutput:
        pack_dir = None if pack == DLIB else str(paths.resolve("insightface", pack, "faceswap", kind="pack"))
        settings = AnalyzerSettings(pack_dir, "dlib" if pack == DLIB else detector, det_size, det_thresh,
                                    common.device(device))
        common.log.info("likeness: face analyzer %s", analyzer(settings).backend)
        return io.NodeOutput(settings)


class LikenessDetectFaces(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessDetectFaces", display_name="Detect Faces", category="Likeness/Face",
            description="Finds faces and shows them numbered in the order the swap and score nodes use.",
            inputs=[
                io.Image.Input("image", tooltip="Image or batch to analyse."),
                FaceAnalyzer.Input("analyzer", tooltip="From Face Analyzer."),
                io.Combo.Input("order", options=["large-small", "small-large", "left-right", "right-left",
                                                 "top-bottom", "bottom-top"], default="large-small",
                               tooltip="How faces are numbered in the preview (use the same order in Face Swap)."),
            ],
            outputs=[io.Image.Output(display_name="preview", tooltip="Boxes, keypoints and face numbers."),
                     io.Int.Output(display_name="face_count", tooltip="Faces found in the whole batch."),
                     io.String.Output(display_name="faces_json", tooltip="Per image: box, score, gender, age.")],
        )

    @classmethod
    def execute(cls, image, analyzer, order) -> io.NodeOutput:
        from ..likeness.face.select import order_faces
        from ..likeness.face.analysis import analyzer as get

        an = get(analyzer)
        frames = images_to_rgb_list(image, "image")
        on_item = common.progress(len(frames))
        previews, report, count = [], [], 0
        for i, rgb in enumerate(frames):
            faces = order_faces(an.analyze(rgb, i), order)
            previews.append(draw.detections(rgb, faces))
            report.append([{"index": k, "bbox": [round(float(v), 1) for v in f.bbox], "score": round(f.det_score, 3),
                            "gender": {0: "female", 1: "male"}.get(f.gender), "age": f.age} for k, f in enumerate(faces)])
            count += len(faces)
            on_item(i + 1)
        text = f"{count} face(s) in {len(frames)} image(s)"
        return io.NodeOutput(rgb_list_to_images(previews, pad=True), count, json.dumps(report), ui={"text": [text]})
