"""Restorer loader and Face Restore: GFPGAN / CodeFormer on chosen faces only, blended by visibility."""
from __future__ import annotations

import numpy as np
from comfy_api.latest import io

from ..likeness.face import restore
from ..likeness.face.analysis import analyzer as get_analyzer
from ..likeness.runtime.cache import Handle
from ..likeness.image import images_to_rgb_list, with_patches
from . import common
from .types import FaceAnalyzer, FaceRestorer

FOLDERS = ("facerestore_models",)


class LikenessFaceRestorerLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessFaceRestorerLoader", display_name="Face Restorer", category="Likeness/Face",
            description="Loads GFPGAN 1.4 (Apache-2.0) or CodeFormer (S-Lab licence: non-commercial) safely "
                        "(weights only, no code from the file runs).",
            inputs=[io.Combo.Input("restorer", options=common.files(*FOLDERS, suffixes=(".pth", ".safetensors"))
                                   or ["(none found)"], tooltip="From models/facerestore_models. Missing? "
                                                               "python install.py --workflow faceswap"),
                    common.device_input("the restorer")],
            outputs=[FaceRestorer.Output(display_name="restorer")],
        )

    @classmethod
    def validate_inputs(cls, restorer) -> bool | str:
        return common.check_model(restorer, FOLDERS, (".pth", ".safetensors"))

    @classmethod
    def execute(cls, restorer, device) -> io.NodeOutput:
        handle = Handle(restore.load, str(common.resolve_file(restorer, FOLDERS)), common.device(device))
        model = handle.get()  # load now: a corrupt file fails here, at its loader
        common.log.info("likeness: restorer %s%s", model.backend, " (non-commercial licence)" * model.non_commercial)
        return io.NodeOutput(handle)


class LikenessFaceRestore(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessFaceRestore", display_name="Face Restore", category="Likeness/Face",
            description="Restores faces (all, or only those inside `only_in_mask`, e.g. Face Swap's swapped_mask). "
                        "Restoring shifts identity a little: score after this node.",
            inputs=[io.Image.Input("image"),
                    FaceAnalyzer.Input("analyzer"),
                    FaceRestorer.Input("restorer"),
                    io.Float.Input("visibility", default=1.0, min=0.0, max=1.0, step=0.05,
                                   tooltip="Blend of the restored face over the input (1 = fully restored)."),
                    io.Mask.Input("only_in_mask", optional=True,
                                  tooltip="Restore only faces whose centre is inside this mask (swapped faces).")],
            outputs=[io.Image.Output(display_name="image")],
        )

    @classmethod
    def execute(cls, image, analyzer, restorer, visibility, only_in_mask=None) -> io.NodeOutput:
        an = get_analyzer(analyzer)
        frames = images_to_rgb_list(image, "image")
        on_item = common.progress(len(frames))
        model = restorer.get()
        patches = []
        for i, rgb in enumerate(frames):
            faces = an.analyze(rgb, i)
            if only_in_mask is not None:
                mask = only_in_mask[min(i, only_in_mask.shape[0] - 1)].cpu().numpy()
                faces = [f for f in faces if _inside(mask, f.center)]
            patches.append(model.restore_into(rgb, faces, visibility, on_face=lambda *_: common.check_interrupt()))
            on_item(i + 1)
        return io.NodeOutput(with_patches(image, frames, patches))


def _inside(mask: np.ndarray, point) -> bool:
    x, y = int(point[0]), int(point[1])
    return 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x] > 0.5
