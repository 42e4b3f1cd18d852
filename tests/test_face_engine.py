"""Face engine on real photos with synthetic models: detection, alignment, selection, swap, paste-back."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.onnx_models import build_buffalo_pack, build_face_parser, build_inswapper  # noqa: E402

from likeness.errors import BadInputError, NoFaceError  # noqa: E402
from likeness.face import align, facemodel, select  # noqa: E402
from likeness.face.analysis import AnalyzerSettings, FaceAnalyzer  # noqa: E402
from likeness.face.parse import FaceParser  # noqa: E402
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
    faces = [select.Face(b, k, embedding=e) for (b, k, _), e in
             zip(found, dlib_models.embed(two_people, [p for _, _, p in found]))]
    dist_sim = lambda a, b: 1.0 - float(np.linalg.norm(a - b))  # noqa: E731 - dlib: similarity = 1 - distance
    for photo, expected_left in (("obama_1.jpg", True), ("biden_1.jpg", False)):
        img = load(faces_dir, photo)
        (b, k, p), = dlib_models.detect(img)
        ref = dlib_models.embed(img, [p])[0]
        [choice] = select.select(faces, order="left-right", reference=ref, threshold=0.4, similarity=dist_sim)
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
def swappers(tmp_path_factory):
    d = tmp_path_factory.mktemp("swappers")
    return (Swapper(build_inswapper(d / "inswapper_128.onnx")),
            Swapper(build_inswapper(d / "identity_inswapper_128.onnx", identity=True)))


@pytest.mark.parametrize("boost", [1, 2, 4])
def test_identity_swapper_gives_back_the_original(analyzer, swappers, two_people, boost):
    """Alignment and paste-back add no blur or shift: PSNR >= 40 dB over the whole image (here: exact)."""
    src = analyzer.analyze(two_people)[1].embedding
    res = swap_batch([two_people], analyzer, swappers[1], [src], SwapOptions(target_indexes="all", pixel_boost=boost,
                                                                              color_match=0.0))
    assert psnr(res.images[0], two_people) >= 40.0
    assert res.masks[0].max() > 0.9 and len(res.swapped[0]) == 2


def test_swap_changes_only_the_chosen_face(analyzer, swappers, two_people):
    src = analyzer.analyze(two_people)[0].embedding
    res = swap_batch([two_people], analyzer, swappers[0], [src], SwapOptions(order="left-right", target_indexes="1"))
    out = res.images[0]
    diff = np.abs(out.astype(int) - two_people.astype(int)).sum(-1)
    x1, y1, x2, y2 = analyzer.analyze(two_people)[1].bbox.astype(int)
    assert diff[y1:y2, x1:x2].mean() > 2.0, "the chosen face did not change"
    outside = diff.copy()
    outside[max(0, y1 - 80):y2 + 80, max(0, x1 - 80):x2 + 80] = 0
    assert outside.max() == 0, "pixels far from the face changed"
    assert [r.status for r in res.reports] == ["swapped"] and res.reports[0].target == 1


def test_parsing_mask_keeps_occluders(tmp_path, analyzer, swappers, two_people):
    """A green bar across the face (a stand-in for a hand) survives when the parsing mask is on."""
    img = two_people.copy()
    x1, y1, x2, y2 = analyzer.analyze(two_people)[0].bbox.astype(int)
    img[(y1 + y2) // 2 - 6:(y1 + y2) // 2 + 6, x1:x2] = (0, 255, 0)
    parser = FaceParser(build_face_parser(tmp_path / "bisenet.onnx"))
    src = analyzer.analyze(two_people)[1].embedding
    an = FaceAnalyzer(analyzer.settings)  # same replayed boxes on the edited photo
    plain = swap_batch([img], an, swappers[0], [src], SwapOptions(order="left-right"))
    parsed = swap_batch([img], an, swappers[0], [src], SwapOptions(order="left-right"), parser=parser)
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


def test_no_face_is_an_error_or_a_pass_through(analyzer, swappers):
    blank = np.full((64, 80, 3), 128, np.uint8)
    an = FaceAnalyzer(AnalyzerSettings(detector="dlib"))
    with pytest.raises(NoFaceError, match="batch item 0"):
        swap_batch([blank], an, swappers[0], [np.ones(512, np.float32)], SwapOptions())
    res = swap_batch([blank], an, swappers[0], [np.ones(512, np.float32)], SwapOptions(on_no_face="skip"))
    assert (res.images[0] == blank).all() and res.reports[0].status == "no face"


def test_dlib_embedding_cannot_drive_inswapper(swappers):
    with pytest.raises(BadInputError, match="512-D ArcFace"):
        swappers[0].latent(np.ones(128, np.float32))


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
