"""Identity scoring with dlib's real recogniser on real photos, plus the ArcFace path on synthetic models."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from likeness.errors import BadInputError, LikenessError, NoFaceError  # noqa: E402
from likeness.identity import calibration, gate, report, score  # noqa: E402
from likeness.identity.embed import BackendSpec, choose, load  # noqa: E402


def photo(faces_dir, name):
    return np.array(Image.open(faces_dir / name).convert("RGB"))


@pytest.fixture(scope="module")
def dlib():
    return load(BackendSpec("dlib"))


@pytest.fixture(scope="module")
def obama_ref(dlib, faces_dir):
    return score.reference_embedding(dlib, [photo(faces_dir, "obama_1.jpg")])[0]


def test_same_person_passes_and_different_people_fail(dlib, faces_dir, obama_ref):
    t = calibration.threshold_for("dlib")
    assert "equal-error threshold" in t.source
    results = score.score_images(dlib, [photo(faces_dir, n) for n in ("obama_2.jpg", "obama_3.jpg", "biden_1.jpg",
                                                                       "astronaut.png")], obama_ref, t)
    assert [s.verdict for s in results] == ["pass", "pass", "fail", "fail"]
    assert score.pass_rate(results) == 0.5


def test_several_references_are_combined(dlib, faces_dir, obama_ref):
    both, n = score.reference_embedding(dlib, [photo(faces_dir, "obama_1.jpg"), photo(faces_dir, "obama_2.jpg")])
    assert n == 2 and not np.allclose(both, obama_ref)
    t = calibration.threshold_for("dlib")
    one = score.score_images(dlib, [photo(faces_dir, "obama_3.jpg")], obama_ref, t)[0].similarity
    two = score.score_images(dlib, [photo(faces_dir, "obama_3.jpg")], both, t)[0].similarity
    assert two > 0.5 and one > 0.5


def test_every_face_in_an_output_is_scored_and_the_right_one_counts(dlib, faces_dir, obama_ref):
    t = calibration.threshold_for("dlib")
    [s] = score.score_images(dlib, [photo(faces_dir, "two_people.jpg")], obama_ref, t)
    assert len(s.faces) == 2 and s.verdict == "pass"
    obama = min(s.faces, key=lambda f: f.bbox[0])  # Obama stands left
    assert s.faces[s.counted] is obama and obama.similarity > max(f.similarity for f in s.faces if f is not obama)
    biden_ref = score.reference_embedding(dlib, [photo(faces_dir, "biden_1.jpg")])[0]
    [b] = score.score_images(dlib, [photo(faces_dir, "two_people.jpg")], biden_ref, t)
    assert b.faces[b.counted].bbox[0] > 560  # Biden stands right


def test_leakage_and_id_gain(dlib, faces_dir, obama_ref):
    t = calibration.threshold_for("dlib")
    # an "output" that is just the Biden photo, made from Biden: all leakage, negative gain
    [s] = score.score_images(dlib, [photo(faces_dir, "biden_2.jpg")], obama_ref, t,
                             originals=[photo(faces_dir, "biden_1.jpg")])
    assert s.leakage > s.similarity and s.id_gain < 0


def test_no_face_scores_zero_and_reference_rules(dlib, faces_dir):
    blank = np.full((80, 80, 3), 120, np.uint8)
    t = calibration.threshold_for("dlib")
    ref = np.zeros(128, np.float32)
    [s] = score.score_images(dlib, [blank], ref, t)
    assert s.similarity == 0.0 and s.verdict == "no face"
    with pytest.raises(NoFaceError, match="reference"):
        score.reference_embedding(dlib, [blank])
    group = photo(faces_dir, "two_people.jpg")
    with pytest.raises(BadInputError, match="2 faces"):
        score.reference_embedding(dlib, [group])
    largest, _ = score.reference_embedding(dlib, [group], "largest")
    right, _ = score.reference_embedding(dlib, [group], "1")
    assert np.allclose(largest, right)  # Biden's face is the larger one


def test_calibration_separates_every_pair(dlib, faces_dir, tmp_path):
    independent = ("obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "biden_1.jpg", "biden_2.jpg", "two_people.jpg",
                   "astronaut.png")  # obama_rgba and the edge photos are other copies of obama_2 and obama_1
    photos = [faces_dir / n for n in independent]
    entry = calibration.calibrate(dlib, photos, {"two_people.jpg": ["obama", "biden"]})
    assert entry["separable"] and entry["eer"] == 0.0
    assert entry["n_same"] == 9 and entry["n_diff"] == 19  # faces: 4 Obama, 3 Biden, 1 astronaut
    assert entry["diff_range"][1] < entry["threshold"] < entry["same_range"][0]
    out = tmp_path / "cal.json"
    calibration.write("dlib", entry, out)
    assert calibration.threshold_for("dlib", path=out).value == entry["threshold"]
    assert calibration.threshold_for("dlib", 0.3, path=out).source == "set on the node"


def test_gate_and_best_of_n():
    mk = lambda i, sim, v: score.Score(i, sim, v, 0.4, "test", "dlib")  # noqa: E731
    scores = [mk(0, 0.6, "pass"), mk(1, 0.2, "fail"), mk(2, 0.5, "pass"), mk(3, 0.3, "fail")]
    assert gate.keep(scores, "pass") == [0, 2]
    assert gate.keep(scores, "top-k", k=3) == [0, 2, 3]
    fails = [mk(0, 0.2, "fail"), mk(1, 0.3, "fail")]
    assert gate.keep(fails, "pass", if_none="keep best") == [1]
    assert gate.keep(fails, "pass", if_none="empty") == []
    with pytest.raises(LikenessError, match="No image kept"):
        gate.keep(fails, "pass", if_none="error")


def test_report_files(tmp_path):
    s = [score.Score(0, 0.6, "pass", 0.4, "src", "dlib"), score.Score(1, 0.0, "no face", 0.4, "src", "dlib")]
    j, c = report.write(report.summary(s), tmp_path, "run", ["a.png", "b.png"])
    assert '"pass_rate": 0.5' in j.read_text()
    assert c.read_text().splitlines()[1].startswith("0,a.png,pass,0.6")


def test_auto_backend_prefers_the_independent_scorer():
    assert choose({"dlib": None, "buffalo_l": "x", "antelopev2": "y"})[0] == "antelopev2"
    assert choose({"dlib": None})[0] == "dlib"
    with pytest.raises(LikenessError, match="not installed"):
        choose({"dlib": None}, "buffalo_l")


def test_arcface_backend_mechanics(tmp_path, faces_dir):
    from fixtures.onnx_models import build_arcface

    from likeness.runtime import dlib_models

    pack = tmp_path / "buffalo_l"
    build_arcface(pack / "w600k_r50.onnx")  # no detector: faces come from dlib, embeddings from ArcFace
    arc = load(BackendSpec("buffalo_l", str(pack)))
    img = photo(faces_dir, "two_people.jpg")
    faces = arc.faces(img)
    assert len(faces) == len(dlib_models.detect(img)) == 2
    assert all(f.embedding.shape == (512,) for f in faces)
    ref = score.reference_embedding(arc, [img], "0")[0]
    [s] = score.score_images(arc, [img], ref, calibration.threshold_for("buffalo_l"))
    assert s.similarity == pytest.approx(1.0, abs=1e-4) and s.verdict == "pass"
