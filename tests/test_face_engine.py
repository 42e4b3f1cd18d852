"""Face engine on real photos with synthetic models: detection, alignment, selection, swap, paste-back."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.onnx_models import (build_buffalo_pack, build_face_parser, build_inswapper,  # noqa: E402
                                  build_marking_swapper)

from likeness.errors import BadInputError, NoFaceError  # noqa: E402
from likeness.face import align, facemodel, select  # noqa: E402
from likeness.face.analysis import AnalyzerSettings, FaceAnalyzer  # noqa: E402
from likeness.face.parse import FaceParser  # noqa: E402
from likeness.face.paste import paste_back, soft_mask  # noqa: E402
from likeness.face.pipeline import SwapOptions, swap_batch  # noqa: E402
from likeness.face.swap import Swapper  # noqa: E402
from likeness.runtime import dlib_models  # noqa: E402


def load(faces_dir, name):
    return np.array(Image.open(faces_dir / name).convert("RGB"))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope="module")
def two_people(faces_dir):
    return load(faces_dir, "two_people.jpg")


@pytest.fixture(scope="module")
def pack(tmp_path_factory, two_people):
    """A buffalo_l-shaped pack whose detector replays dlib's real detections on two_people.jpg."""
    found = dlib_models.detect(two_people)
    d = tmp_path_factory.mktemp("insightface") / "models" / "buffalo_l"
    build_buffalo_pack(d, [(b, k) for b, k, _ in found], (two_people.shape[1], two_people.shape[0]))
    return d, found


@pytest.fixture(scope="module")
def analyzer(pack):
    return FaceAnalyzer(AnalyzerSettings(pack_dir=str(pack[0])))


def test_scrfd_decode_returns_the_real_landmarks(analyzer, pack, two_people):
    faces = analyzer.analyze(two_people)
    assert len(faces) == 2
    for face, (box, kps, _) in zip(faces, pack[1]):
        assert np.abs(face.bbox - box).max() < 0.01 and np.abs(face.kps - kps).max() < 0.01
        assert face.embedding.shape == (512,) and abs(np.linalg.norm(face.embedding) - 1) < 1e-5
        assert face.gender == 1 and face.age == pytest.approx(35, abs=0.5)


def test_scrfd_decode_matches_insightface(pack, two_people, analyzer):
    cv2 = pytest.importorskip("cv2")
    model_zoo = pytest.importorskip("insightface.model_zoo")
    det = model_zoo.get_model(str(pack[0] / "det_10g.onnx"), providers=["CPUExecutionProvider"])
    det.prepare(ctx_id=-1, input_size=(640, 640), det_thresh=0.5)
    boxes, kpss = det.detect(cv2.cvtColor(two_people, cv2.COLOR_RGB2BGR), input_size=(640, 640))
    order = np.argsort(boxes[:, 0])
    ours = analyzer.analyze(two_people)
    assert np.abs(np.stack([f.bbox for f in ours]) - boxes[order, :4]).max() < 0.01
    assert np.abs(np.stack([f.kps for f in ours]) - kpss[order]).max() < 0.01


def test_aligned_crop_puts_the_eyes_on_the_template(pack, two_people):
    _, kps, pts = pack[1][0]
    m = align.crop_matrix(kps, 112)
    eyes = align.transform_points(np.stack([pts[36:42].mean(0), pts[42:48].mean(0)]), m)
    assert np.abs(eyes - align.ARCFACE_112[:2]).max() < 6.0  # within 5% of the 112 crop
    from skimage.transform import SimilarityTransform  # the fit insightface uses, as a reference

    ref = SimilarityTransform.from_estimate(kps, align.ARCFACE_112) if hasattr(SimilarityTransform, "from_estimate") \
        else SimilarityTransform()
    if not hasattr(SimilarityTransform, "from_estimate"):
        ref.estimate(kps, align.ARCFACE_112)
    assert np.abs(ref.params[:2] - m).max() < 1e-3


def test_dlib_detector_needs_no_files_and_scales_8k(two_people):
    an = FaceAnalyzer(AnalyzerSettings(detector="dlib"))
    big = np.kron(two_people, np.ones((4, 4, 1), np.uint8))  # 4480 px wide
    small_faces = an.analyze(two_people)
    big_faces = an.analyze(big)
    assert len(small_faces) == len(big_faces) == 2
    width = small_faces[0].bbox[2] - small_faces[0].bbox[0]
    assert np.abs(big_faces[0].bbox / 4 - small_faces[0].bbox).max() < 0.1 * width  # dlib's boxes come in steps


def test_selection_by_reference_identity_picks_the_right_person(faces_dir, two_people):
    """dlib's real 128-D embeddings: given another photo of each person, the right face in two_people.jpg."""
    found = dlib_models.detect(two_people)
    faces = [select.Face(b, k, embedding=e, space="dlib_128") for (b, k, _), e in
             zip(found, dlib_models.embed(two_people, [p for _, _, p in found]))]
    for photo, expected_left in (("obama_1.jpg", True), ("biden_1.jpg", False)):
        img = load(faces_dir, photo)
        (b, k, p), = dlib_models.detect(img)
        ref = dlib_models.embed(img, [p])[0]
        [choice] = select.select(faces, order="left-right", reference=ref, threshold=0.4, space="dlib_128")
        assert (choice.face.bbox[0] < two_people.shape[1] / 2) == expected_left, photo


def test_order_gender_index_and_mapping_parsing():
    f = lambda x, w, g: select.Face(np.array([x, 0, x + w, w], np.float32), np.zeros((5, 2)), gender=g)  # noqa
    faces = [f(0, 10, 0), f(100, 50, 1), f(300, 30, 0)]
    assert [c.face.bbox[0] for c in select.select(faces, "0,1", "large-small")] == [100, 300]
    assert [c.face.bbox[0] for c in select.select(faces, "all", "right-left", gender="female")] == [300, 0]
    assert select.parse_mapping("0->1, 1:0") == [(0, 1), (1, 0)]
    with pytest.raises(BadInputError, match="only 3 face"):
        select.select(faces, "5")


@pytest.fixture(scope="module")
def swapper(tmp_path_factory):
    return Swapper(build_inswapper(tmp_path_factory.mktemp("swapper") / "inswapper_128.onnx"))


@pytest.mark.parametrize("boost", [1, 2, 4])
def test_the_swap_lands_on_the_face(analyzer, two_people, boost, tmp_path):
    """A swapper that paints red dots on the template's eyes and mouth corners (128-px crop pixels): after crop,
    pixel-boost split/merge and paste-back, each dot lands where the crop matrix says, within 0.5 px, and on the
    face's own landmark within the 5-point fit's residual. A shifted, scaled or flipped matrix fails."""
    points = [(int(round(x)), int(round(y))) for x, y in align.arcface_template(128)[[0, 1, 3, 4]]]
    swapper = Swapper(build_marking_swapper(tmp_path / "inswapper_128.onnx", points))
    face = analyzer.analyze(two_people)[1]
    opts = SwapOptions(order="left-right", target_indexes="1", pixel_boost=boost, color_match=0.0, feather=0.0)
    out = swap_batch([two_people], analyzer, swapper, [face.embedding], opts).images[0]
    redness = np.clip(out[..., 0].astype(float) - two_people[..., 0] - np.abs(out[..., 1].astype(float) -
                                                                              two_people[..., 1]), 0, None)
    inverse = cv2.invertAffineTransform(align.crop_matrix(face.kps, 128 * boost))
    # where the template's points fall in the image: the landmarks up to the 5-point fit's residual
    fitted = align.transform_points(align.arcface_template(128), cv2.invertAffineTransform(align.crop_matrix(face.kps,
                                                                                                            128)))
    for (x, y), landmark, fit in zip(points, face.kps[[0, 1, 3, 4]], fitted[[0, 1, 3, 4]]):
        centre = np.array([x * boost + (boost - 1) / 2, y * boost + (boost - 1) / 2], np.float32)  # the dot's block
        expected = align.transform_points(centre[None], inverse)[0]
        x0, y0 = np.round(expected).astype(int) - 6
        window = redness[y0:y0 + 13, x0:x0 + 13]
        assert window.sum() > 50, "no mark near where the crop matrix puts it"
        ys, xs = np.mgrid[y0:y0 + 13, x0:x0 + 13]
        found = np.array([(xs * window).sum(), (ys * window).sum()]) / window.sum()
        assert np.abs(found - expected).max() <= 0.5
        # on the landmark, up to the fit's residual and the dot's rounding to a whole crop pixel
        slack = np.linalg.norm(fit - landmark) + np.linalg.norm(expected - fit) + 0.5
        assert np.linalg.norm(found - landmark) <= slack


def test_paste_back_touches_only_the_face_region_and_equals_a_full_frame_paste():
    """The paste works on the face's bounding region only; its pixels equal blending over the whole frame."""
    rng = np.random.default_rng(0)
    for trial in range(40):
        h, w = rng.integers(100, 500, 2)
        image = rng.integers(0, 256, (h, w, 3), np.uint8)
        angle = rng.uniform(-0.6, 0.6)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        kps = (align.ARCFACE_112 * rng.uniform(0.5, 3)) @ rot.T + rng.uniform(-80, max(h, w), 2)  # some off the edge
        size = int(rng.choice([128, 256]))
        m = align.crop_matrix(kps.astype(np.float32), size)
        old = align.warp_in(image, m, size).astype(np.float32) / 255
        new = np.clip(old + rng.uniform(-0.3, 0.3, old.shape), 0, 1).astype(np.float32)
        mask, keep, strength = soft_mask(size), float(rng.choice([1.0, 0.5, 0.0])), float(rng.choice([1.0, 0.7]))
        out, region_mask, (y0, y1, x0, x1) = paste_back(image, new, old, m, mask, keep, strength)
        # the reference: every step over the whole frame
        whole = lambda crop: align.warp_out(crop.astype(np.float32), m, (h, w))  # noqa: E731
        img = image.astype(np.float32) / 255
        alpha = np.clip(whole(mask), 0, 1)[..., None] * strength
        delta = whole(new - old) + (1 - keep) * (whole(old) - img)
        reference = (np.clip(img + alpha * delta, 0, 1) * 255 + 0.5).astype(np.uint8)
        assert np.array_equal(out, reference), trial
        full_mask = np.zeros((h, w), np.float32)
        full_mask[y0:y1, x0:x1] = region_mask
        assert np.abs(full_mask - alpha[..., 0]).max() < 1e-5


def test_detector_input_is_the_letterboxed_image_whatever_came_before(analyzer):
    """SCRFD reuses one input buffer: each image's blob is still insightface's letterbox (black canvas, image
    top-left, (x - 127.5) / 128), with nothing left over from a wider or taller image before it."""
    det, rng = analyzer.detector, np.random.default_rng(0)
    for h, w in [(300, 500), (500, 300), (64, 64), (700, 90), (300, 500)]:
        rgb = rng.integers(0, 256, (h, w, 3), np.uint8)
        blob, scale = det.preprocess(rgb)
        new_h, new_w = (det.size, int(det.size * w / h)) if h > w else (int(det.size * h / w), det.size)
        canvas = np.zeros((det.size, det.size, 3), np.float32)
        canvas[:new_h, :new_w] = cv2.resize(rgb, (new_w, new_h))
        assert np.array_equal(blob, ((canvas - 127.5) / 128).transpose(2, 0, 1)[None]) and scale == new_h / h


def test_face_swap_returns_only_the_pasted_pixels_changed(analyzer, swapper, two_people):
    """What the Face Swap node returns. From an 8-bit IMAGE: exactly what converting every swapped frame back
    gives. From a finer one: every pixel no paste touched exactly as it came in, the pasted ones as the 8-bit
    result; the input tensor itself is never written."""
    import torch

    from likeness.image import images_to_rgb_list, patch_masks, rgb_list_to_images, with_patches

    src = analyzer.analyze(two_people)[0].embedding
    opts = SwapOptions(target_indexes="all")
    eight_bit = torch.from_numpy(np.stack([two_people, two_people])).float() / 255
    fine = (eight_bit + torch.rand(eight_bit.shape, generator=torch.Generator().manual_seed(0)) * 0.9 / 255)
    for image in (eight_bit, fine):
        before = image.clone()
        frames = images_to_rgb_list(image)
        copied = swap_batch(frames, analyzer, swapper, [src], opts)
        res = swap_batch(frames, analyzer, swapper, [src], opts, inplace=True)
        assert all(np.array_equal(a, b) for a, b in zip(copied.images, res.images))  # in place = on a copy
        out, mask = with_patches(image, res.images, res.patches), patch_masks(res.images, res.patches)
        assert torch.equal(image, before)
        converted = rgb_list_to_images(res.images)
        changed = (mask > 0)[..., None].expand_as(out)
        assert 0.005 < changed.float().mean() < 0.5  # two faces, not the frame
        assert torch.equal(out[changed], converted[changed])
        if image is eight_bit:
            assert torch.equal(out, converted)
        else:
            assert torch.equal(out[~changed], image[~changed]) and not torch.equal(out, converted)
        # the mask is the faces' blend weights, each paste where its face is
        for face, ((y0, y1, x0, x1), m) in zip(res.swapped[0], res.patches[0]):
            x, y = face.center
            assert y0 <= y < y1 and x0 <= x < x1 and float(mask[0, int(y), int(x)]) == pytest.approx(1.0)


def test_frames_from_an_image_are_the_callers_own():
    """In-place swapping needs frames that are not views of the IMAGE: a uint8 tensor is copied, not shared."""
    import torch

    from likeness.image import images_to_rgb_list

    for image in (torch.full((1, 4, 5, 3), 7, dtype=torch.uint8), torch.full((1, 4, 5, 3), 0.5)):
        frames = images_to_rgb_list(image)
        frames[0][:] = 0
        assert float(image.flatten()[0]) in (7, 0.5)


def test_swap_changes_only_the_chosen_face(analyzer, swapper, two_people):
    src = analyzer.analyze(two_people)[0].embedding
    res = swap_batch([two_people], analyzer, swapper, [src], SwapOptions(order="left-right", target_indexes="1"))
    out = res.images[0]
    diff = np.abs(out.astype(int) - two_people.astype(int)).sum(-1)
    x1, y1, x2, y2 = analyzer.analyze(two_people)[1].bbox.astype(int)
    assert diff[y1:y2, x1:x2].mean() > 2.0, "the chosen face did not change"
    outside = diff.copy()
    outside[max(0, y1 - 80):y2 + 80, max(0, x1 - 80):x2 + 80] = 0
    assert outside.max() == 0, "pixels far from the face changed"
    assert [r.status for r in res.reports] == ["swapped"] and res.reports[0].target == 1


def test_parsing_mask_keeps_occluders(tmp_path, analyzer, swapper, two_people):
    """A green bar across the face (a stand-in for a hand) survives when the parsing mask is on."""
    img = two_people.copy()
    x1, y1, x2, y2 = analyzer.analyze(two_people)[0].bbox.astype(int)
    img[(y1 + y2) // 2 - 6:(y1 + y2) // 2 + 6, x1:x2] = (0, 255, 0)
    parser = FaceParser(build_face_parser(tmp_path / "bisenet.onnx"))
    src = analyzer.analyze(two_people)[1].embedding
    an = FaceAnalyzer(analyzer.settings)  # same replayed boxes on the edited photo
    plain = swap_batch([img], an, swapper, [src], SwapOptions(order="left-right"))
    parsed = swap_batch([img], an, swapper, [src], SwapOptions(order="left-right"), parser=parser)
    bar = (slice((y1 + y2) // 2 - 3, (y1 + y2) // 2 + 3), slice(x1 + 20, x2 - 20))
    changed = lambda out: np.abs(out[bar].astype(int) - img[bar].astype(int)).mean()  # noqa: E731
    assert changed(plain.images[0]) > 1.0 and changed(parsed.images[0]) < 0.5 * changed(plain.images[0])


def test_color_match_moves_the_crop_toward_the_target():
    from likeness.face.paste import color_match

    rng = np.random.default_rng(0)
    target = rng.uniform(0.4, 0.6, (64, 64, 3)).astype(np.float32)
    swapped = np.clip(target * 0.5 + 0.4, 0, 1).astype(np.float32)
    matched = color_match(swapped, target, np.ones((64, 64), np.float32))
    assert abs(matched.mean() - target.mean()) < 0.2 * abs(swapped.mean() - target.mean())
    # the definition: inside the mask, each Lab channel's weighted mean and spread become the target's
    mask = soft_mask(64, 0.1, 0.1)
    swapped = np.clip(target[::-1] * 0.7 + 0.2, 0, 1).astype(np.float32)
    matched = color_match(swapped, target, mask)
    w = mask[..., None] / mask.sum()

    def stats(rgb):
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
        mean = (lab * w).sum((0, 1))
        return mean, np.sqrt(((lab - mean) ** 2 * w).sum((0, 1)))

    for got, want, before in zip(stats(matched), stats(target), stats(swapped)):
        assert np.abs(got - want).max() < 0.05 * np.abs(before - want).max()  # Lab -> RGB -> Lab loses a little
    half = color_match(swapped, target, mask, 0.5)
    assert np.abs(half - (swapped + matched) / 2).max() < 1e-5


def test_no_face_is_an_error_or_a_pass_through(analyzer, swapper):
    blank = np.full((64, 80, 3), 128, np.uint8)
    an = FaceAnalyzer(AnalyzerSettings(detector="dlib"))
    with pytest.raises(NoFaceError, match="batch item 0"):
        swap_batch([blank], an, swapper, [np.ones(512, np.float32)], SwapOptions())
    res = swap_batch([blank], an, swapper, [np.ones(512, np.float32)], SwapOptions(on_no_face="skip"))
    assert (res.images[0] == blank).all() and res.reports[0].status == "no face"


def test_dlib_embedding_cannot_drive_inswapper(swapper):
    with pytest.raises(BadInputError, match="512-D ArcFace"):
        swapper.latent(np.ones(128, np.float32))


def test_face_model_round_trip_and_reactor_format(tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    embs = [rng.standard_normal(512).astype(np.float32) for _ in range(3)]
    model = facemodel.build(embs, "w600k_r50", "median", ["a.png", "b.png", "c.png"])
    path = facemodel.save(model, tmp_path / "me.safetensors")
    back = facemodel.load(path)
    assert np.allclose(back.embedding, model.embedding) and back.sources == model.sources
    assert back.method == "median" and back.embeddings.shape == (3, 512)
    raw = embs[0] * 23.0  # ReActor stores insightface's raw, unnormalised embedding
    save_file({"embedding": raw, "gender": np.array([1]), "bbox": np.zeros(4, np.float32)},
              str(tmp_path / "reactor.safetensors"))
    r = facemodel.load(tmp_path / "reactor.safetensors")
    assert abs(np.linalg.norm(r.embedding) - 1) < 1e-5 and r.gender == 1 and r.backend == "w600k_r50"


def test_restore_touches_only_the_given_faces(analyzer, two_people):
    from fixtures.restore_models import gfpgan_pth

    from likeness.face.restore import Restorer

    restorer = Restorer(gfpgan_pth())
    assert restorer.arch == "GFPGAN" and not restorer.non_commercial
    left, right = analyzer.analyze(two_people)
    out = restorer.restore(two_people, [right], visibility=1.0)
    diff = np.abs(out.astype(int) - two_people.astype(int)).sum(-1)
    x1, y1, x2, y2 = right.bbox.astype(int)
    assert diff[y1:y2, x1:x2].mean() > 5.0
    lx1, ly1, lx2, ly2 = left.bbox.astype(int)
    assert diff[ly1:ly2, lx1:lx2].max() == 0, "a face that was not asked for changed"
    assert (restorer.restore(two_people, [right], visibility=0.0) == two_people).all()
    # what the Face Restore node returns: the restored region from the 8-bit result, every other pixel as it came
    import torch

    from likeness.image import images_to_rgb_list, with_patches

    fine = torch.from_numpy(two_people[None]).float().div(255).add_(0.4 / 255)
    [frame] = images_to_rgb_list(fine)
    patches = restorer.restore_into(frame, [right], visibility=1.0)
    result = with_patches(fine, [frame], [patches])
    (y0, y1, x0, x1), mask = patches[0]
    assert np.array_equal(frame, out) and torch.equal(fine[0, :y0], result[0, :y0])
    inside = torch.from_numpy(mask > 0)
    assert inside.float().mean() > 0.5
    assert torch.equal(result[0, y0:y1, x0:x1][inside], torch.from_numpy(out[y0:y1, x0:x1]).float()[inside] / 255)
    assert torch.equal(result[0, y0:y1, x0:x1][~inside], fine[0, y0:y1, x0:x1][~inside])


def test_the_dlib_analyzer_gives_dlib_identities_that_select_and_build_face_models(faces_dir, two_people, tmp_path):
    """No download: dlib's analyzer yields dlib_128 embeddings, so Build Face Model and selection by reference work
    offline with dlib's own metric; its face models keep the space through a save and load."""
    an = FaceAnalyzer(AnalyzerSettings(detector="dlib"))
    photos = [load(faces_dir, n) for n in ("obama_1.jpg", "obama_2.jpg")]
    faces = [an.analyze(p)[0] for p in photos]
    assert {f.space for f in faces} == {"dlib_128"} and faces[0].embedding.shape == (128,)
    model = facemodel.build([f.embedding for f in faces], an.space)
    saved = facemodel.load(facemodel.save(model, tmp_path / "obama.safetensors"))
    assert saved.space == "dlib_128" and np.allclose(saved.embedding, model.embedding)
    [choice] = select.select(an.analyze(two_people), order="left-right", reference=saved.embedding, space=saved.space)
    assert choice.index == 0 and "similarity" in choice.reason  # Obama is on the left


def test_embeddings_of_different_spaces_are_never_compared(analyzer, swapper, two_people):
    dlib_faces = FaceAnalyzer(AnalyzerSettings(detector="dlib")).analyze(two_people)
    arc = analyzer.analyze(two_people)[0].embedding  # w600k_r50 stand-in
    with pytest.raises(BadInputError, match="holds w600k_r50 embeddings .* needs dlib_128"):
        select.select(dlib_faces, reference=arc, space="w600k_r50")
    with pytest.raises(BadInputError, match="source identity holds dlib_128 .*buffalo_l"):
        swap_batch([two_people], analyzer, swapper, [dlib_faces[0].embedding], SwapOptions(), source_space="dlib_128")
