"""Bad face-engine input — repeated or backwards indexes, empty mappings, NaN weights, empty identities, unsafe
names, degenerate keypoints — is a clear error that names the input, never a silent no-op or a raw exception."""
from __future__ import annotations

import time

import numpy as np
import pytest

from likeness.errors import BadInputError, pick
from likeness.face import align, facemodel, select
from likeness.face.analysis import AnalyzerSettings, FaceAnalyzer
from likeness.face.pipeline import SwapOptions
from likeness.face.types import Face


def test_repeated_indexes_count_once_and_huge_specs_stop_at_once():
    assert select.parse_indexes("1,1,1,0-1", 3) == [1, 0]
    start = time.perf_counter()
    for spec in (",".join(["1"] * 5000), "0-1000000000"):
        with pytest.raises(BadInputError, match="at most 200|only 3 face"):
            select.parse_indexes(spec, 3)
    assert time.perf_counter() - start < 1.0  # refused before any work, not after minutes


def test_backwards_ranges_and_empty_mappings_are_errors():
    with pytest.raises(BadInputError, match="runs backwards; write it low to high: 1-3"):
        select.parse_indexes("3-1", 5)
    with pytest.raises(BadInputError, match="names no pair"):
        select.parse_mapping(",,,")
    assert select.parse_mapping("0->1, 0->1, 1->0") == [(0, 1), (1, 0)]
    with pytest.raises(BadInputError, match="target face 1 two sources"):
        select.parse_mapping("0->1, 2->1")


def test_equal_boxes_are_numbered_the_same_way_every_time():
    def face(x, y):
        return Face(np.array([x, y, x + 50, y + 50], np.float32), np.zeros((5, 2), np.float32))

    faces = [face(300, 0), face(0, 200), face(0, 0)]
    for shuffled in (faces, faces[::-1], faces[1:] + faces[:1]):
        assert [tuple(f.bbox[:2]) for f in select.order_faces(shuffled, "large-small")] == \
            [(0, 0), (0, 200), (300, 0)]


@pytest.mark.parametrize("field,value", [("weight", float("nan")), ("feather", float("inf")), ("erode", "0.1")])
def test_swap_settings_must_be_numbers(field, value):
    with pytest.raises(BadInputError, match=f"{field} must be a number"):
        SwapOptions(**{field: value})


def test_erode_and_feather_are_separate_settings():
    opts = SwapOptions(erode=0.2, feather=0.0)
    assert (opts.erode, opts.feather) == (0.2, 0.0)


@pytest.mark.parametrize("vector", [np.zeros(512), np.full(512, np.nan)])
def test_an_empty_identity_is_refused_not_painted_black(vector):
    with pytest.raises(BadInputError, match="holds no identity"):
        facemodel.build([vector], "w600k_r50")


def test_face_model_names_are_safe_file_names():
    assert facemodel.file_stem("..hidden") == "hidden"
    assert facemodel.file_stem("a" * 10000) == "a" * 80
    assert facemodel.file_stem("../../etc/passwd") == "etcpasswd"
    assert facemodel.file_stem("...") == "person"


def test_coincident_keypoints_cannot_be_aligned():
    with pytest.raises(BadInputError, match="keypoints coincide"):
        align.crop_matrix(np.full((5, 2), 10.0, np.float32), 112)
    with pytest.raises(BadInputError, match="not finite"):
        align.crop_matrix(np.full((5, 2), np.nan, np.float32), 112)


def test_unknown_names_list_the_choices():
    with pytest.raises(BadInputError, match="Unknown detector 'retina'; choose one of: auto, scrfd, dlib"):
        FaceAnalyzer(AnalyzerSettings(detector="retina"))
    with pytest.raises(BadInputError, match="Unknown sampling preset 'fast'; choose one of: a, b"):
        pick({"a": 1, "b": 2}, "fast", "sampling preset")
