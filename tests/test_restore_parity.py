"""Parity with gfpgan's own `GFPGANer(arch='clean', channel_multiplier=2, upscale=1)` on the same synthetic GFPGAN
weights and real photos, including faces cut by the image edge: a face restored by this pack is the face GFPGANer
restores, 8-bit for 8-bit.

The reference is gfpgan 1.3.8's real `GFPGANer.enhance` (facexlib's FaceRestoreHelper: align_warp_face, basicsr's
img2tensor and tensor2img, normalize(0.5, 0.5), get_inverse_affine, paste_faces_to_input_image). Only its two
network downloads are left out, as there is no network here: its RetinaFace detector is replaced by one that
replays dlib's detections on the photo (the 5 keypoints our restorer is given), and its parsing network is not
loaded: the paste uses facexlib's own square mask (`use_parse=False`; GFPGANer itself turns parsing on, which this
pack has no counterpart for).

Each photo goes once through both; the network input and output of each side are captured on the way, so the
tests compare what `Restorer.restore` really feeds the network and really pastes, not a re-implementation of it.
The synthetic network's output hardly depends on its input (two different faces: at most 11/255 apart), so the
crop and network-input tests, not the output ones, are what pin the crop template, padding colour and input range.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.functional
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.restore_models import gfpgan_pth  # noqa: E402

from likeness.face.restore import PAD_RGB, Restorer  # noqa: E402
from likeness.face.types import Face  # noqa: E402
from likeness.runtime import dlib_models  # noqa: E402

# basicsr 1.4.2 (gfpgan's dependency) imports torchvision.transforms.functional_tensor, a module newer torchvision
# folded into torchvision.transforms.functional (it only takes rgb_to_grayscale from it). Give it that name for the
# import, then take the name away again so nothing else in the session sees it.
_SHIM = "torchvision.transforms.functional_tensor"
_added_shim = _SHIM not in sys.modules
sys.modules.setdefault(_SHIM, torchvision.transforms.functional)
try:
    gfpgan = pytest.importorskip("gfpgan")
    from facexlib.utils import face_restoration_helper  # noqa: E402
finally:
    if _added_shim:
        sys.modules.pop(_SHIM, None)

# faces cut by the left and by the right image edge; two faces in one picture (facexlib's robust LMEDS fit drops
# two keypoints of the left one: the crop must follow it)
PHOTOS = ("obama_edge_1.jpg", "obama_edge_2.jpg", "two_people.jpg")

class ReplayDetector:
    """Stands in for facexlib's RetinaFace: `detect_faces` returns the given boxes and 5 keypoints, in its layout
    (x1, y1, x2, y2, score, then the keypoints x, y interleaved)."""

    def __init__(self, faces: list[Face]):
        self.rows = np.array([np.concatenate([f.bbox, [0.99], f.kps.reshape(-1)]) for f in faces], np.float32)

    def detect_faces(self, image, conf_threshold=0.8):
        return self.rows.copy()


@pytest.fixture(scope="module")
def gfpganer():
    """GFPGANer on the synthetic weights, built without its RetinaFace and parsing downloads."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(face_restoration_helper, "init_detection_model", lambda *a, **k: None)
        mp.setattr(face_restoration_helper, "init_parsing_model", lambda *a, **k: None)
        ref = gfpgan.GFPGANer(str(gfpgan_pth()), upscale=1, arch="clean", channel_multiplier=2,
                              device=torch.device("cpu"))
    ref.face_helper.use_parse = False  # the square mask: there is no parsing network
    return ref


@pytest.fixture(scope="module")
def restorer():
    ours = Restorer(gfpgan_pth())
    # StyleGAN noise is drawn anew on each call on both sides (randomize_noise=True); its strength in these
    # weights is 0, so both sides are deterministic and can be compared pixel for pixel
    noise = [p for n, p in ours.module.named_parameters() if n.endswith(".weight") and p.numel() == 1]
    assert noise and all(float(p.detach().abs().max()) == 0 for p in noise)
    return ours


def run_gfpganer(ref, rgb: np.ndarray, faces: list[Face]) -> dict:
    ref.face_helper.face_det = ReplayDetector(faces)
    inputs = []
    hook = ref.gfpgan.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    try:
        crops, restored, pasted = ref.enhance(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), has_aligned=False,
                                              only_center_face=False, paste_back=True)
    finally:
        hook.remove()
    return {"crops": np.stack(crops)[..., ::-1], "net_in": torch.cat(inputs).numpy(),
            "restored": np.stack(restored)[..., ::-1], "pasted": pasted[..., ::-1],
            "matrices": [np.asarray(m, np.float64) for m in ref.face_helper.affine_matrices]}


def run_ours(ours: Restorer, rgb: np.ndarray, faces: list[Face]) -> dict:
    seen = {}
    restore_crops = ours.restore_crops

    def spy(crops):
        seen["crops"] = np.round(crops * 255.0)  # restore's align.warp_in crops, made float; back to 8 bits
        seen["restored"] = restore_crops(crops)
        return seen["restored"]

    hook = ours.module.register_forward_pre_hook(lambda module, args: seen.setdefault("net_in", args[0].clone()))
    ours.restore_crops = spy
    try:
        pasted = ours.restore(rgb, faces, visibility=1.0)
    finally:
        hook.remove()
        del ours.restore_crops
    return {"crops": seen["crops"], "net_in": seen["net_in"].cpu().numpy(), "restored": seen["restored"],
            "pasted": pasted}


@pytest.fixture(scope="module", params=PHOTOS)
def case(request, faces_dir, gfpganer, restorer):
    """Both restorers on one photo, the same dlib faces for both."""
    rgb = np.array(Image.open(faces_dir / request.param).convert("RGB"))
    faces = [Face(bbox=box, kps=kps) for box, kps, _ in dlib_models.detect(rgb)]
    assert faces, request.param
    return {"name": request.param, "rgb": rgb, "faces": faces, "theirs": run_gfpganer(gfpganer, rgb, faces),
            "ours": run_ours(restorer, rgb, faces)}


def levels_apart(a, b) -> tuple[int, int]:
    """(largest difference, pixels more than 1 level apart) of two uint8-valued images."""
    d = np.abs(np.asarray(a, np.int32) - np.asarray(b, np.int32))
    d = d.max(-1) if d.shape[-1] == 3 else d  # the worst channel of each pixel
    return int(d.max()), int((d > 1).sum())


def test_aligned_crop_is_facexlibs(case):
    """The 512 crops Restorer.restore cuts (align.warp_in with its crop matrix, FFHQ template, PAD_RGB beyond the
    image) are facexlib's align_warp_face crops."""
    ours, theirs = case["ours"]["crops"], case["theirs"]["crops"]
    assert ours.shape == theirs.shape == (len(case["faces"]), 512, 512, 3)
    worst, off = levels_apart(ours, theirs)
    assert worst <= 1, f"{case['name']}: crops {worst}/255 apart, {off} pixels more than 1/255"


def test_pad_grey_is_facexlibs(case):
    """Where facexlib's crop leaves the image it holds its pad grey, which is our PAD_RGB: the crops above are
    compared on the padding too, and this names the cause if they differ there."""
    h, w = case["rgb"].shape[:2]
    ys, xs = np.mgrid[:512, :512]
    padded = 0
    for crop, m in zip(case["theirs"]["crops"], case["theirs"]["matrices"]):
        inv = cv2.invertAffineTransform(m)
        ix, iy = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2], inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
        outside = (ix < -1) | (iy < -1) | (ix > w) | (iy > h)  # more than a pixel beyond the image
        assert (crop[outside] == PAD_RGB).all(), case["name"]
        padded += int(outside.sum())
    if case["name"].startswith("obama_edge"):
        assert padded > 10_000, case["name"]


def test_network_input_is_gfpganers(case):
    """What Restorer.restore feeds the network (the crop, channel order and [-1, 1] range) is what GFPGANer feeds
    it, within 1/255 of a pixel."""
    ours, theirs = case["ours"]["net_in"], case["theirs"]["net_in"]
    assert ours.shape == theirs.shape == (len(case["faces"]), 3, 512, 512)
    worst = float(np.abs(ours - theirs).max()) * 127.5  # in 8-bit levels: [-1, 1] spans 255
    assert worst <= 1 + 1e-3, f"{case['name']}: network inputs {worst:.2f}/255 apart"


def test_restored_crop_is_gfpganers(case):
    """The network output, mapped back from [-1, 1], is GFPGANer's restored face at 8 bits (tensor2img rounds)."""
    ours = np.round(np.clip(case["ours"]["restored"], 0, 1) * 255.0)
    worst, off = levels_apart(ours, case["theirs"]["restored"])
    assert worst <= 1, f"{case['name']}: restored crops {worst}/255 apart, {off} pixels more than 1/255"


def test_pasted_image_is_gfpganers(case):
    """The whole restored picture, visibility 1.0, equals GFPGANer's paste_back result within 1/255, and a pixel
    is off at all only where the two networks' crops already differ by a level (facexlib's arithmetic: the 8-bit
    face warped as 8 bits, a float blend, truncation)."""
    ours, theirs = case["ours"]["pasted"], case["theirs"]["pasted"]
    worst, off = levels_apart(ours, theirs)
    assert worst <= 1, f"{case['name']}: pictures {worst}/255 apart, {off} pixels more than 1/255"
    share = float((ours != theirs).any(-1).mean())
    assert share < 0.01, f"{case['name']}: {share:.1%} of the pixels differ"
