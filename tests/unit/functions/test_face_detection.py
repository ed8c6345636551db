from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from teaclave.functions import FunctionError, face_detection, load_builtin_functions
from teaclave.worker.runtime import NoFilesRuntime

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"
PHOTO = FIXTURES / "face_detection/input.jpg"
needs_photo = pytest.mark.skipif(not PHOTO.exists(), reason="Teaclave fixtures not found")
#: Teaclave's example/test arguments.
TEACLAVE_ARGS = {
    "min_face_size": 20,
    "score_thresh": 2.0,
    "pyramid_scale_factor": 0.8,
    "slide_window_step_x": 4,
    "slide_window_step_y": 4,
}


def detect(arguments: dict[str, Any]) -> list[dict[str, Any]]:
    result = load_builtin_functions()["builtin-face-detection"](arguments, NoFilesRuntime())
    faces = json.loads(result)
    assert isinstance(faces, list)
    return faces


@pytest.fixture(scope="module")
def photo() -> bytes:
    return PHOTO.read_bytes()


def blank_png() -> list[int]:
    ok, encoded = cv2.imencode(".png", np.full((120, 160), 128, dtype=np.uint8))
    assert ok
    return list(encoded.tobytes())


def assert_inside(faces: list[dict[str, Any]], width: int, height: int) -> None:
    for face in faces:
        assert set(face) == {"bbox", "score"}
        box = face["bbox"]
        assert set(box) == {"x", "y", "width", "height"}
        assert all(isinstance(box[k], int) for k in box)
        assert isinstance(face["score"], float)
        assert box["x"] >= 0 and box["y"] >= 0 and box["width"] > 0 and box["height"] > 0
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height


@needs_photo
def test_teaclave_example_finds_the_faces(photo: bytes) -> None:
    started = time.monotonic()
    faces = detect({"image": list(photo), **TEACLAVE_ARGS})
    elapsed = time.monotonic() - started
    # rustface found 29 faces in this photo of 29 people; the Haar cascade finds 29 too (28
    # people and one tie).
    assert 15 <= len(faces) <= 35
    assert_inside(faces, 1666, 1136)
    scores = [face["score"] for face in faces]
    assert min(scores) >= 2.0
    assert scores == sorted(scores, reverse=True)
    assert all(face["bbox"]["width"] >= 20 for face in faces)
    assert elapsed < 10, f"detection took {elapsed:.1f} s"


@needs_photo
def test_base64_image_and_tuning_arguments(photo: bytes) -> None:
    base = detect({"image": base64.b64encode(photo).decode(), **TEACLAVE_ARGS})
    assert len(base) >= 15
    strict = detect(
        {"image": base64.b64encode(photo).decode(), **TEACLAVE_ARGS, "score_thresh": 7.0}
    )
    assert 0 < len(strict) < len(base)
    assert all(face["score"] >= 7.0 for face in strict)
    bounded = detect(
        {"image": list(photo), **TEACLAVE_ARGS, "min_face_size": 60, "max_face_size": 66}
    )
    assert bounded
    assert all(59 <= face["bbox"]["width"] <= 67 for face in bounded)  # rounding: +-1 px


def test_blank_image_has_no_faces() -> None:
    assert detect({"image": blank_png()}) == []


def test_oversized_image_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(face_detection, "MAX_PIXELS", 160 * 120 - 1)
    with pytest.raises(FunctionError, match="image: 160x120 is larger than 19199 pixels"):
        detect({"image": blank_png()})


@pytest.mark.parametrize("factor", [0.01, 0.99])
def test_pyramid_bounds_are_inclusive_in_single_precision(factor: float) -> None:
    assert detect({"image": blank_png(), "pyramid_scale_factor": factor}) == []


def test_max_below_min_finds_nothing() -> None:
    assert detect({"image": blank_png(), "min_face_size": 40, "max_face_size": 0}) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("min_face_size", 19, "Invalid argument min_face_size: 19"),
        ("window_size", 10, "Invalid argument window_size"),
        ("slide_window_step_x", 0, "Invalid argument slide_window_step_x"),
        ("pyramid_scale_factor", 1.0, "Invalid argument pyramid_scale_factor"),
        ("pyramid_scale_factor", 0.001, "Invalid argument pyramid_scale_factor"),
        ("score_thresh", 0, "Invalid argument score_thresh"),
        ("min_face_size", "20", "Cannot deserialize arguments: min_face_size"),
        ("max_face_size", -1, "Cannot deserialize arguments: max_face_size"),
        ("max_face_size", 2**32, "Cannot deserialize arguments: max_face_size"),
        ("score_thresh", "high", "Cannot deserialize arguments: score_thresh"),
        ("slide_window_step_y", 4.5, "Cannot deserialize arguments: slide_window_step_y"),
    ],
)
def test_argument_validation(key: str, value: object, message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        detect({"image": blank_png(), key: value})


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (None, "Cannot deserialize arguments: image: missing"),
        ({"a": 1}, "Cannot deserialize arguments: image"),
        ([1, 2, 256], "byte values must be in 0..255"),
        ([1, True], "expected an array of integers"),
        ([1.0], "expected an array of integers"),
        ("@@not base64@@", "not a byte array nor valid base64"),
        ([], "image: cannot decode"),
        (list(b"not an image at all"), "image: cannot decode"),
    ],
)
def test_image_validation(image: object, message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        detect({"image": image})
