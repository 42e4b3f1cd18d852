"""Odd images — RGBA, grayscale, 1x1, float out of range, batches of mixed sizes — either work or fail with a
message that says what was wrong and how to fix it; the server keeps serving."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from likeness.errors import BadInputError, NoFaceError
from likeness.face.analysis import AnalyzerSettings, FaceAnalyzer
from likeness.image import images_to_rgb_list, rgb_list_to_images, to_rgb_uint8
from likeness.runner.client import ExecutionFailed


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
def test_any_channel_layout_becomes_rgb(shape):
    rgb = to_rgb_uint8(np.full(shape, 0.5, np.float32))
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8
    assert np.all(rgb == (64 if shape[-1] == 4 else 128))  # RGBA is composited on black by its alpha


def test_out_of_range_values_are_clamped_and_nan_is_an_error_naming_the_input():
    rgb = to_rgb_uint8(np.array([[[-1.0, 2.0, 0.5]]], np.float32))
    assert rgb.tolist() == [[[0, 255, 128]]]
    for bad in (np.nan, np.inf):
        with pytest.raises(BadInputError, match=r"target: 1 pixel value\(s\) are NaN or infinite.*fp32"):
            to_rgb_uint8(np.array([[[0.1, bad, 0.5]]], np.float32), "target")


def test_nan_anywhere_in_a_large_batch_is_found_and_huge_values_clamp():
    """The 8-bit conversion checks finiteness block by block: a NaN far into the batch is still an error."""
    image = torch.rand(2, 700, 900, 3)
    image[1, 650, 880, 2] = float("nan")
    with pytest.raises(BadInputError, match=r"image: 1 pixel value\(s\) are NaN"):
        images_to_rgb_list(image)
    image[1, 650, 880, 2] = 1e38  # finite, but x 255 overflows: white, like any value above 1
    assert images_to_rgb_list(image)[1][650, 880, 2] == 255


@pytest.mark.parametrize("shape", [(2, 3, 5), (0, 4, 3), (4,)])
def test_unusable_shapes_name_the_input(shape):
    with pytest.raises(BadInputError, match=r"reference: expected an image"):
        to_rgb_uint8(np.zeros(shape, np.float32), "reference")


def test_mixed_sizes_work_as_lists_and_are_refused_as_one_batch_with_a_fix():
    frames = images_to_rgb_list([torch.rand(1, 8, 8, 3), torch.rand(2, 5, 6, 3)])
    assert [f.shape for f in frames] == [(8, 8, 3), (5, 6, 3), (5, 6, 3)]
    with pytest.raises(BadInputError, match="different sizes.*ImageScale"):
        rgb_list_to_images(frames)
    padded = rgb_list_to_images(frames, pad=True)
    assert padded.shape == (3, 8, 8, 3) and float(padded[1, 5:, :].abs().sum()) == 0.0


def test_a_1x1_image_has_no_face_and_says_so():
    an = FaceAnalyzer(AnalyzerSettings(detector="dlib"))
    assert an.analyze(np.zeros((1, 1, 3), np.uint8)) == []
    err = NoFaceError("the target image", 0)
    assert "batch item 0" in str(err) and "det_thresh" in str(err)


def analyzer_node():
    return {"class_type": "LikenessFaceAnalyzerLoader", "inputs": {
        "pack": "dlib (no download)", "detector": "dlib", "det_size": 640, "det_thresh": 0.5, "device": "auto"}}


def test_rgba_and_grayscale_photos_go_through_the_server(comfy, faces_dir, tmp_path):
    gray = tmp_path / "gray.png"
    Image.open(faces_dir / "obama_2.jpg").convert("L").save(gray)
    for path in (faces_dir / "obama_rgba.png", gray):  # RGBA, then single-channel
        graph = {"an": analyzer_node(), "img": {"class_type": "LoadImage", "inputs": {"image": comfy.upload(path)}},
                 "det": {"class_type": "LikenessDetectFaces",
                         "inputs": {"image": ["img", 0], "analyzer": ["an", 0], "order": "left-right"}},
                 "out": {"class_type": "PreviewImage", "inputs": {"images": ["det", 0]}}}
        assert comfy.run(graph)["det"]["text"] == ["1 face(s) in 1 image(s)"], path


def test_a_1x1_target_is_a_clear_error_and_the_server_keeps_serving(comfy, faces_dir, tmp_path):
    tiny = tmp_path / "one_pixel.png"
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(tiny)
    graph = {"an": analyzer_node(),
             "target": {"class_type": "LoadImage", "inputs": {"image": comfy.upload(tiny)}},
             "score": {"class_type": "LikenessIdentityScore", "inputs": {
                 "images": ["target", 0], "scorer": ["scorer", 0], "reference": ["target", 0],
                 "reference_face": "single", "count": "most-similar"}},
             "scorer": {"class_type": "LikenessIdentityScorer",
                        "inputs": {"backend": "dlib", "threshold": -1.0, "device": "auto"}},
             "out": {"class_type": "PreviewImage", "inputs": {"images": ["score", 0]}}}
    with pytest.raises(ExecutionFailed, match="No face found in reference"):
        comfy.run(graph)
    assert comfy.client.alive()
