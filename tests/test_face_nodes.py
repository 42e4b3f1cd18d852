"""Face nodes through a live ComfyUI: detect, swap, restore only swapped faces, face models, clear errors."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.onnx_models import build_arcface, build_genderage, build_inswapper  # noqa: E402

from likeness.runner.client import ExecutionFailed  # noqa: E402


@pytest.fixture(scope="module")
def face_models(comfy):
    """buffalo_l's recogniser + attributes (detection by dlib), an inswapper, a GFPGAN-shaped restorer."""
    from fixtures.restore_models import gfpgan_pth

    root = comfy.models_dir / "insightface"
    build_arcface(root / "models" / "buffalo_l" / "w600k_r50.onnx")
    build_genderage(root / "models" / "buffalo_l" / "genderage.onnx")
    build_inswapper(root / "inswapper_128.onnx")
    (root / "broken_inswapper.onnx").write_bytes(b"this is not an onnx file")
    restorer = comfy.models_dir / "facerestore_models" / "GFPGANv1.4.pth"
    if not restorer.exists():
        restorer.symlink_to(gfpgan_pth())
    return comfy


def analyzer_node():
    return {"class_type": "LikenessFaceAnalyzerLoader",
            "inputs": {"pack": "buffalo_l", "detector": "dlib", "det_size": 640, "det_thresh": 0.5, "device": "auto"}}


def test_detect_faces_counts_and_previews(face_models, faces_dir):
    name = face_models.upload(faces_dir / "two_people.jpg")
    graph = {"an": analyzer_node(), "img": {"class_type": "LoadImage", "inputs": {"image": name}},
             "det": {"class_type": "LikenessDetectFaces",
                     "inputs": {"image": ["img", 0], "analyzer": ["an", 0], "order": "left-right"}},
             "save": {"class_type": "SaveImage", "inputs": {"images": ["det", 0], "filename_prefix": "detect"}}}
    out = face_models.run(graph)
    [preview] = face_models.images(out, "save")
    assert preview.shape[:2] == (np.array(face_models.images(out, "save")[0]).shape[:2])
    # the boxes are drawn in green: the preview differs from the photo around both faces
    from PIL import Image

    photo = np.array(Image.open(faces_dir / "two_people.jpg").convert("RGB"))
    diff = np.abs(preview[..., :3].astype(int) - photo.astype(int)).sum(-1)
    assert diff[47:202, 240:420].max() > 100 and diff[57:242, 770:970].max() > 100


def swap_graph(target, source, **swap_inputs):
    inputs = {"image": ["target", 0], "analyzer": ["an", 0], "swapper": ["sw", 0], "source_image": ["source", 0],
              "source_index": "0", "target_index": "1", "order": "left-right", "gender": "any",
              "reference_threshold": 0.4, "mapping": "", "pixel_boost": "1", "weight": 1.0, "feather": 0.08,
              "color_match": 1.0, "keep_detail": 1.0, "on_no_face": "error"}
    inputs.update(swap_inputs)
    return {"an": analyzer_node(),
            "sw": {"class_type": "LikenessFaceSwapperLoader", "inputs": {"swapper": "inswapper_128.onnx",
                                                                         "device": "auto"}},
            "target": {"class_type": "LoadImage", "inputs": {"image": target}},
            "source": {"class_type": "LoadImage", "inputs": {"image": source}},
            "swap": {"class_type": "LikenessFaceSwap", "inputs": inputs}}


def with_restore(graph, visibility=1.0):
    """Face Restore (GFPGAN) on the faces Face Swap swapped."""
    graph["rest"] = {"class_type": "LikenessFaceRestorerLoader", "inputs": {"restorer": "GFPGANv1.4.pth",
                                                                           "device": "auto"}}
    graph["restore"] = {"class_type": "LikenessFaceRestore",
                        "inputs": {"image": ["swap", 0], "analyzer": ["an", 0], "restorer": ["rest", 0],
                                   "visibility": visibility, "only_in_mask": ["swap", 1]}}
    return graph


def test_swap_then_restore_only_the_swapped_face(face_models, faces_dir):
    target = face_models.upload(faces_dir / "two_people.jpg")
    source = face_models.upload(faces_dir / "obama_1.jpg")
    graph = with_restore(swap_graph(target, source))
    graph["save_swap"] = {"class_type": "SaveImage", "inputs": {"images": ["swap", 0], "filename_prefix": "swap"}}
    graph["save"] = {"class_type": "SaveImage", "inputs": {"images": ["restore", 0], "filename_prefix": "restored"}}
    # the baseline is the photo as this ComfyUI decodes it (0.33 decodes JPEG with PyAV, not PIL)
    graph["save_in"] = {"class_type": "SaveImage", "inputs": {"images": ["target", 0], "filename_prefix": "in"}}
    out = face_models.run(graph)
    [photo] = face_models.images(out, "save_in")
    photo = photo[..., :3].astype(int)
    [swapped] = face_models.images(out, "save_swap")
    [restored] = face_models.images(out, "save")
    d_swap = np.abs(swapped[..., :3].astype(int) - photo).sum(-1)
    d_rest = np.abs(restored[..., :3].astype(int) - photo).sum(-1)
    assert d_swap[57:242, 778:964].mean() > 2, "Biden's face (index 1, left-right) was not swapped"
    assert d_swap[47:202, 253:408].max() == 0, "Obama's face must stay untouched"
    assert d_rest[47:202, 253:408].max() == 0, "restore must touch only the swapped face"
    assert np.abs(restored.astype(int) - swapped.astype(int))[57:242, 778:964].mean() > 2


def test_no_face_in_source_is_a_clear_error_and_the_server_keeps_serving(face_models, faces_dir, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64, 3), 127, np.uint8)).save(blank)
    graph = swap_graph(face_models.upload(faces_dir / "two_people.jpg"), face_models.upload(blank))
    graph["save"] = {"class_type": "SaveImage", "inputs": {"images": ["swap", 0], "filename_prefix": "x"}}
    with pytest.raises(ExecutionFailed, match="No face found in source_image"):
        face_models.run(graph)
    assert "ComfyUI-Likeness" in face_models.run({"1": {"class_type": "LikenessInfo", "inputs": {}}})["1"]["text"][0]


def test_corrupt_model_names_the_file_and_the_fix(face_models, faces_dir):
    graph = swap_graph(face_models.upload(faces_dir / "two_people.jpg"), face_models.upload(faces_dir / "obama_1.jpg"))
    graph["sw"]["inputs"]["swapper"] = "broken_inswapper.onnx"
    graph["save"] = {"class_type": "SaveImage", "inputs": {"images": ["swap", 0], "filename_prefix": "x"}}
    with pytest.raises(ExecutionFailed) as err:
        face_models.run(graph)
    assert "broken_inswapper.onnx" in str(err.value) and "install.py --workflow faceswap" in str(err.value)


def test_missing_face_models_are_all_named_when_queued_before_anything_runs(face_models, faces_dir):
    from likeness.runner.client import PromptRejected

    graph = swap_graph(face_models.upload(faces_dir / "two_people.jpg"), face_models.upload(faces_dir / "obama_1.jpg"))
    graph["sw"]["inputs"]["swapper"] = "inswapper_missing.onnx"
    graph["an"]["inputs"]["pack"] = "antelopev2"
    graph["save"] = {"class_type": "SaveImage", "inputs": {"images": ["swap", 0], "filename_prefix": "x"}}
    before = len(face_models.client._json("GET", "/history"))
    with pytest.raises(PromptRejected) as err:
        face_models.run(graph)
    text = str(err.value)
    for name, folder in (("inswapper_missing.onnx", "insightface"), ("antelopev2", "insightface")):
        assert f"Model '{name}' ({folder}) not found" in text, text
    assert text.count("python install.py --workflow faceswap") >= 2 and "Searched:" in text
    assert "reswapper" in text and "hyperswap" in text, "every folder searched is named"
    assert len(face_models.client._json("GET", "/history")) == before, "something ran"
    graph["sw"]["inputs"]["swapper"] = "../../../etc/passwd.onnx"
    with pytest.raises(PromptRejected, match="not a plain name"):
        face_models.run(graph)


def test_face_model_build_save_load_and_swap(face_models, faces_dir, request):
    photos = [face_models.upload(faces_dir / n) for n in ("obama_1.jpg", "obama_2.jpg")]
    graph = {"an": analyzer_node(),
             "a": {"class_type": "LoadImage", "inputs": {"image": photos[0]}},
             "b": {"class_type": "LoadImage", "inputs": {"image": photos[1]}},
             "build_a": {"class_type": "LikenessBuildFaceModel",
                         "inputs": {"images": ["a", 0], "analyzer": ["an", 0], "method": "mean"}},
             "save": {"class_type": "LikenessSaveFaceModel", "inputs": {"face_model": ["build_a", 0],
                                                                        "name": "obama_test"}}}
    face_models.run(graph)
    saved = Path(face_models.comfyui) / "models" / "face_models" / "obama_test.safetensors"
    request.addfinalizer(lambda: saved.unlink(missing_ok=True))  # SaveFaceModel writes into ComfyUI's models dir
    info = face_models.object_info("LikenessLoadFaceModel")["LikenessLoadFaceModel"]
    spec = info["input"]["required"]["face_model"]
    options = spec[1]["options"] if spec[0] == "COMBO" else spec[0]
    assert "obama_test.safetensors" in options, options
    g2 = swap_graph(face_models.upload(faces_dir / "two_people.jpg"), photos[1])
    del g2["swap"]["inputs"]["source_image"], g2["source"]
    g2["fm"] = {"class_type": "LikenessLoadFaceModel", "inputs": {"face_model": "obama_test.safetensors"}}
    g2["swap"]["inputs"]["face_model"] = ["fm", 0]
    g2["out"] = {"class_type": "PreviewImage", "inputs": {"images": ["swap", 0]}}
    out = face_models.run(g2)
    [swapped] = face_models.images(out, "out")
    assert swapped.ndim == 3


def test_unload_models_releases_the_face_models_and_the_next_run_reloads_them(face_models, faces_dir):
    """ComfyUI's "Unload models" (POST /free) empties the pack's model cache too (GET /likeness/models shows it)."""
    import time

    graph = with_restore(swap_graph(face_models.upload(faces_dir / "two_people.jpg"),
                                    face_models.upload(faces_dir / "obama_1.jpg")), visibility=0.9)
    graph["save"] = {"class_type": "SaveImage", "inputs": {"images": ["restore", 0], "filename_prefix": "unload"}}
    loaded = lambda: {m["kind"] for m in face_models.client._json("GET", "/likeness/models")["models"]}  # noqa: E731
    first = face_models.images(face_models.run(graph), "save")[0]
    assert {"swapper", "restorer", "dlib"} <= loaded()
    face_models.client.free(unload_models=True)
    deadline = time.time() + 30
    while loaded() and time.time() < deadline:  # the prompt worker handles the flag between prompts
        time.sleep(0.2)
    assert loaded() == set()
    again = face_models.images(face_models.run(graph), "save")[0]  # the loader outputs were cached: they reload
    assert {"swapper", "restorer", "dlib"} <= loaded()
    assert np.array_equal(first, again)


def test_erode_and_feather_are_two_settings(face_models, faces_dir):
    """erode moves where the swap mask starts; feather only softens its edge (they were once one input)."""
    target, source = face_models.upload(faces_dir / "two_people.jpg"), face_models.upload(faces_dir / "obama_1.jpg")

    def mask(erode, feather):
        graph = swap_graph(target, source, erode=erode, feather=feather)
        graph["m"] = {"class_type": "MaskToImage", "inputs": {"mask": ["swap", 1]}}
        graph["save"] = {"class_type": "SaveImage", "inputs": {"images": ["m", 0], "filename_prefix": "mask"}}
        return face_models.images(face_models.run(graph), "save")[0][..., 0].astype(int)

    hard, eroded, soft = mask(0.05, 0.0), mask(0.25, 0.0), mask(0.05, 0.1)
    assert (eroded > 127).sum() < 0.6 * (hard > 127).sum()           # erode shrinks the swapped area
    assert ((hard > 0) & (hard < 255)).sum() < ((soft > 0) & (soft < 255)).sum() / 4  # feather 0: a hard edge
